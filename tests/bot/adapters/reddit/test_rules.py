"""Who the Reddit bot may answer."""

import pytest

from bot.adapters.reddit.rules import Facts, Summon, live_reason, place_reason, skip_reason
from bot.config import RedditConfig

RC = RedditConfig(subreddits=["Oz"], deny_subreddits=["r/quiet"], ignore_users=["u/AutoMod"],
                  per_thread_cap=3, per_user_hourly=5)


def summon(**kw) -> Summon:
    base = dict(fullname="t1_a", kind="mention", body="u/bot hi", author="alice",
                subreddit="oz", link_id="t3_l", parent_id="t3_l")
    return Summon(**{**base, **kw})


@pytest.mark.parametrize("changes, facts, reason", [
    ({}, Facts(), None),
    ({"author": "Bot"}, Facts(), "own comment"),
    ({"author": None}, Facts(), "author deleted"),
    ({"author": "automod"}, Facts(), "ignored user"),
    ({}, Facts(opted_out=True), "opted out"),
    ({"parent_is_me": True}, Facts(), "summon chain"),
    ({}, Facts(parent_is_bot_reply=True), "summon chain"),
    ({}, Facts(banned=True), "banned from subreddit"),
    ({"body": "[removed]"}, Facts(), "target deleted"),
    ({}, Facts(thread_replies=3), "thread cap reached"),
    ({}, Facts(user_replies_last_hour=5), "user hourly cap reached"),
    ({}, Facts(user_replies_last_hour=4, thread_replies=2), None),
])
def test_skip_reason(changes, facts, reason):
    assert skip_reason(summon(**changes), "bot", RC, facts) == reason


def test_places():
    assert place_reason(summon(kind="keyword", subreddit="oz"), RC) is None
    assert place_reason(summon(kind="keyword", subreddit="other"), RC) == "subreddit not listed"
    assert place_reason(summon(kind="mention", subreddit="other"), RC) is None
    assert place_reason(summon(kind="mention", subreddit="quiet"), RC) == "subreddit denied"


def test_live_reason():
    assert live_reason(summon()) is None
    assert live_reason(summon(locked=True)) == "THREAD_LOCKED"
    assert live_reason(summon(author=None)) == "target deleted"
    assert live_reason(summon(removed=True)) == "target deleted"

"""The synchronous praw side of the Reddit adapter: one client, plain-data results.

Everything here blocks; the adapter runs it on its own single worker thread. Results are
converted to `Summon`s straight away, reading praw's already-fetched fields (`vars(obj)`)
so no attribute access triggers a hidden extra request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import praw
import prawcore
from praw.exceptions import RedditAPIException
from prawcore.exceptions import RequestException

from bot.adapters.reddit.rules import Summon
from bot.adapters.reddit.text import parse_retry_seconds
from bot.config import Config, RedditConfig
from bot.errors import ConfigError

PERMANENT_API_ERRORS = {"THREAD_LOCKED", "DELETED_COMMENT", "TOO_LONG", "USER_BLOCKED",
                        "SUBREDDIT_NOTALLOWED", "NOT_WHITELISTED_BY_USER_MESSAGE",
                        "SOMETHING_IS_BROKEN", "INVALID_USER", "USER_DOESNT_EXIST"}
_CONTEXT_LINK = re.compile(r"/comments/([a-z0-9]+)/")


class AmbiguousWrite(Exception):
    """A write whose outcome is unknown: the server failed or timed out after receiving it."""


class WriteOnceRequestor(prawcore.Requestor):
    """A requestor that turns a failed write into an error prawcore does not retry.

    prawcore retries 5xx answers and timeouts on every method, POST included, so a server
    that created the comment and then failed would get it twice. Here such a write raises
    AmbiguousWrite at once; the adapter checks the bot's own comments before trying again.
    """

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any):
        method = str(kwargs.get("method") or (args[0] if args else "")).upper()
        url = str(kwargs.get("url") or (args[1] if len(args) > 1 else ""))
        write = method == "POST" and "/api/v1/access_token" not in url
        try:
            response = super().request(*args, timeout=timeout, **kwargs)
        except RequestException as exc:
            if not write:
                raise
            raise RequestException(AmbiguousWrite(repr(exc.original_exception)), args,
                                   kwargs) from None
        if write and response.status_code >= 500:
            raise RequestException(AmbiguousWrite(f"HTTP {response.status_code}"), args, kwargs)
        return response


@dataclass(frozen=True)
class RedditCredentials:
    """A script app's credentials, read from the environment (never from the config file)."""

    client_id: str
    client_secret: str
    username: str
    password: str


def credentials_from_env(cfg: Config) -> RedditCredentials:
    """Read the script app's credentials from the variables [reddit] names."""
    r = cfg.reddit if cfg.reddit is not None else RedditConfig()
    names = [r.client_id_env, r.client_secret_env, r.username_env, r.password_env]
    values = [cfg.secret(n) or "" for n in names]
    missing = [n for n, v in zip(names, values, strict=True) if not v]
    if missing:
        raise ConfigError(
            f"[reddit] is configured but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: export the script app's "
            "credentials (README: 'Run it on a subreddit') or set [reddit] enabled = false")
    return RedditCredentials(*values)


@dataclass
class Failure:
    """How a failed Reddit call should be handled."""

    kind: str  # ratelimit | transient | permanent | banned
    code: str
    message: str
    retry_after: float | None = None


def classify(exc: Exception) -> Failure:
    """Sort an exception from praw/prawcore into ratelimit, transient, permanent or banned."""
    if isinstance(exc, RedditAPIException):
        item = exc.items[0]
        code, msg = item.error_type or "API_ERROR", item.message or str(exc)
        if code == "RATELIMIT":
            return Failure("ratelimit", code, msg, parse_retry_seconds(msg) or 60.0)
        kind = "permanent" if code in PERMANENT_API_ERRORS else "transient"
        return Failure(kind, code, msg)
    if isinstance(exc, prawcore.Forbidden):
        return Failure("banned", "FORBIDDEN", str(exc))
    if isinstance(exc, prawcore.TooManyRequests):
        return Failure("ratelimit", "TOO_MANY_REQUESTS", str(exc), 60.0)
    if isinstance(exc, prawcore.ServerError | prawcore.RequestException):
        return Failure("transient", type(exc).__name__, str(exc))
    if isinstance(exc, prawcore.NotFound):
        return Failure("permanent", "NOT_FOUND", str(exc))
    if isinstance(exc, prawcore.ResponseException):
        return Failure("transient", f"HTTP_{exc.response.status_code}", str(exc))
    return Failure("transient", type(exc).__name__, str(exc))


def connect(creds: RedditCredentials, rc: RedditConfig) -> praw.Reddit:
    """A praw client for a script app; oauth_url/reddit_url point it elsewhere (tests)."""
    settings: dict[str, Any] = {k: v for k, v in (("oauth_url", rc.oauth_url),
                                                  ("reddit_url", rc.reddit_url)) if v}
    return praw.Reddit(client_id=creds.client_id, client_secret=creds.client_secret,
                       username=creds.username, password=creds.password,
                       user_agent=rc.user_agent, requestor_class=WriteOnceRequestor,
                       check_for_async=False, check_for_updates=False, **settings)


def _link_of(d: dict[str, Any]) -> str | None:
    if d.get("link_id"):
        return str(d["link_id"])
    m = _CONTEXT_LINK.search(str(d.get("context") or ""))
    return f"t3_{m.group(1)}" if m else None


def to_summon(obj: Any, kind: str) -> Summon:
    """Plain data from a praw Comment or Message (already-fetched fields only)."""
    d = vars(obj)
    author, sub = d.get("author"), d.get("subreddit")
    return Summon(
        fullname=obj.fullname, kind=kind, body=str(d.get("body") or ""),
        author=str(author) if author is not None else None,
        subreddit=str(sub).lower() if sub else None, link_id=_link_of(d),
        parent_id=d.get("parent_id"), created_utc=float(d.get("created_utc") or 0),
        parent_is_me=d.get("type") == "comment_reply" or d.get("subject") == "comment reply",
        locked=bool(d.get("locked")),
        removed=bool(d.get("removed_by_category") or d.get("removed")),
    )


def _inbox_kind(obj: Any) -> str:
    d = vars(obj)
    if not d.get("was_comment", isinstance(obj, praw.models.Comment)):
        return "message"
    if d.get("type") == "username_mention" or d.get("subject") == "username mention":
        return "mention"
    return "reply"


def unread(reddit: praw.Reddit, limit: int = 100) -> list[Summon]:
    """Unread inbox items (mentions, replies to the bot, private messages), oldest first."""
    items = [to_summon(o, _inbox_kind(o)) for o in reddit.inbox.unread(limit=limit)]
    return sorted(items, key=lambda s: s.created_utc)


def subreddit_comments(reddit: praw.Reddit, subreddits: list[str],
                       limit: int = 100) -> list[Summon]:
    """The newest comments across the watched subreddits, oldest first."""
    if not subreddits:
        return []
    sub = reddit.subreddit("+".join(s.removeprefix("r/") for s in subreddits))
    items = [to_summon(c, "keyword") for c in sub.comments(limit=limit)]
    return sorted(items, key=lambda s: s.created_utc)


def own_replies(reddit: praw.Reddit, me: str, limit: int = 100) -> dict[str, str]:
    """{parent fullname: reply fullname} for the bot's own recent comments."""
    out: dict[str, str] = {}
    for c in reddit.redditor(me).comments.new(limit=limit):
        parent = vars(c).get("parent_id")
        if parent:
            out.setdefault(str(parent), c.fullname)
    return out


def info(reddit: praw.Reddit, fullnames: list[str]) -> dict[str, Any]:
    """The live things behind fullnames (comments, posts), by fullname; missing = gone."""
    wanted = [f for f in fullnames if f]
    return {t.fullname: t for t in reddit.info(fullnames=wanted)} if wanted else {}


def live_summon(reddit: praw.Reddit, fullname: str, link_id: str | None,
                kind: str) -> Summon | None:
    """The target as it is now, with its thread's lock state folded in; None when gone."""
    things = info(reddit, [fullname, link_id or ""])
    if fullname not in things:
        return None
    s = to_summon(things[fullname], kind)
    link = things.get(s.link_id or link_id or "")
    if link is not None:
        ld = vars(link)
        s.locked = s.locked or bool(ld.get("locked")) or bool(ld.get("archived"))
        s.removed = s.removed or bool(ld.get("removed_by_category"))
    return s


def post_reply(reddit: praw.Reddit, fullname: str, text: str) -> str:
    """Reply to a comment; returns the new comment's fullname."""
    made = reddit.comment(id=fullname.removeprefix("t1_")).reply(text)
    if made is None:  # reddit created it but did not say which (quarantined subs)
        raise AmbiguousWrite("reply created without an id")
    return made.fullname


def send_message(reddit: praw.Reddit, user: str, subject: str, text: str) -> None:
    """Send a private message to a user."""
    reddit.redditor(user).message(subject=subject, message=text)


def mark_read(reddit: praw.Reddit, fullnames: list[str]) -> None:
    """Mark inbox items read by fullname."""
    if fullnames:
        reddit.post("api/read_message/", data={"id": ",".join(fullnames)})


def whoami(reddit: praw.Reddit) -> str:
    """The bot account's name (also fetches the first token)."""
    return str(reddit.user.me())


def is_moderator(reddit: praw.Reddit, subreddit: str, user: str) -> bool:
    """True when ``user`` moderates ``subreddit`` (Reddit's moderator list, asked by name)."""
    mods = reddit.subreddit(subreddit.removeprefix("r/")).moderator(redditor=user)
    return any(str(m).lower() == user.lower() for m in mods)


def reply_to_message(reddit: praw.Reddit, fullname: str, text: str) -> str:
    """Answer a private message in its conversation; returns the new message's fullname."""
    made = reddit.post("api/comment", data={"thing_id": fullname, "text": text})
    if isinstance(made, list):
        made = made[0] if made else None
    if made is None:
        raise AmbiguousWrite("message reply created without an id")
    return str(made.fullname)

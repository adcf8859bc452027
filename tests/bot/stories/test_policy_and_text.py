"""Who may press what, and what a continuation is conditioned on: pure functions."""

import pytest

from bot.stories.policy import refusal
from bot.stories.text import context_budget, extend, message_prompt, tail, thread_title


@pytest.mark.parametrize("policy, requester, moderator, allowed", [
    ("everyone", False, False, True),
    ("requester", True, False, True),
    ("requester", False, True, True),
    ("requester", False, False, False),
    ("moderators", True, False, False),
    ("moderators", False, True, True),
])
@pytest.mark.parametrize("action", ["regenerate", "continue", "stop"])
def test_press_policies(action, policy, requester, moderator, allowed):
    why = refusal(action, policy, is_requester=requester, is_moderator=moderator)
    assert (why is None) == allowed
    if why:
        assert action in why  # says what may not be done, and by whom
        assert ("asked for" in why) == (policy == "requester")


def test_extend_adds_a_readers_words_as_a_new_paragraph():
    assert extend("Dorothy walked on. ", "The Lion roared.") == \
        "Dorothy walked on.\n\nThe Lion roared."
    assert extend("Dorothy walked on.", "") == "Dorothy walked on."
    assert extend("  ", "The Lion roared.") == "The Lion roared."


def test_tail_keeps_the_end_from_a_word_start():
    text = "one two three four five"
    assert tail(text, 100) == text
    assert tail(text, 10) == "four five"  # "ree four five" cut back to a whole word
    assert tail("x" * 50, 10) == "x" * 10  # one long word: its end rather than nothing
    assert len(tail("word " * 10_000, 4096)) <= 4096


def test_context_budget_follows_the_memory_window():
    assert context_budget(512) == 4096 and context_budget(0) > 0


def test_message_prompt_and_thread_title():
    assert message_prompt("a   b\n\nc", 100) == "a b c"
    assert message_prompt("alpha beta gamma", 10) == "gamma"
    assert thread_title("A short prompt") == "A short prompt"
    long = thread_title("word " * 40)
    assert len(long) <= 100 and long.endswith("…") and not long.startswith(" ")
    assert thread_title("   ") == "A story"

"""Reading progress: what a reader may see, policies, chapter numbers, typed commands."""

from dataclasses import dataclass

import pytest

from bot.dispatch import parse_command_line
from bot.errors import BadRequest
from bot.safety import spoilers
from bot.safety.progress import (
    Entry,
    chapter_index,
    describe_policy,
    parse_policy,
    visibility,
)


@dataclass
class B:
    code: str
    title: str
    n_chapters: int


BOOKS = [B("twok", "The Way of Kings", 80), B("wor", "Words of Radiance", 90),
         B("ob", "Oathbringer", 120)]


def test_progress_reads_earlier_books_whole_the_current_one_partly_later_ones_not():
    v = visibility(BOOKS, {"wor": Entry(44)}, "all", "policy")
    assert [v.chapters_read(b.code) for b in BOOKS] == [None, 45, 0]
    assert not v.everything and v.source == "your reading progress"
    assert visibility(BOOKS, {"wor": Entry(44)}, "all", "", reveal=True).everything


def test_the_furthest_entry_counts_and_finished_opens_that_book_only():
    v = visibility(BOOKS, {"twok": Entry(3), "wor": Entry(None, True)}, "none", "policy")
    assert [v.chapters_read(b.code) for b in BOOKS] == [None, None, 0]
    assert v.chapters_read("new-book") == 0  # ingested later: hidden until known


@pytest.mark.parametrize(("typed", "stored", "read"), [
    ("all", "all", [None, None, None]), ("none", "none", [0, 0, 0]),
    ("first", "first:1", [None, 0, 0]), ("First 2 books", "first:2", [None, None, 0]),
    ("through wor", "through:wor", [None, None, 0]), ("Oathbringer", "through:ob",
                                                      [None, None, None]),
])
def test_policies_for_readers_without_progress(typed, stored, read):
    assert parse_policy(typed, BOOKS) == stored
    v = visibility(BOOKS, {}, stored, "this server's spoiler policy")
    assert [v.chapters_read(b.code) for b in BOOKS] == read
    assert describe_policy(stored)


@pytest.mark.parametrize("bad", ["some", "first -1", "through nothing", ""])
def test_a_bad_policy_is_one_clear_line(bad):
    with pytest.raises(BadRequest, match="all, none"):
        parse_policy(bad, BOOKS)


def test_chapter_numbers_follow_the_titles_when_they_carry_them():
    titles = ["Prologue: To Kill", "1. Stormblessed", "2. Honor Is Dead", "Interlude I-1",
              "Chapter Three", "Chapter IV: Four", "5: Five"]
    assert chapter_index(titles, 2) == 2 and chapter_index(titles, 3) == 4
    assert chapter_index(titles, 4) == 5
    with pytest.raises(BadRequest, match="up to 5"):
        chapter_index(titles, 9)
    plain = ["The Cyclone", "The Council", "The Road"]
    assert chapter_index(plain, 3) == 2
    with pytest.raises(BadRequest, match="3 chapters"):
        chapter_index(plain, 4)
    with pytest.raises(BadRequest):
        chapter_index(plain, 0)


@pytest.mark.parametrize(("line", "args"), [
    ("/progress", {}),
    ("/progress wor 45", {"book": "wor", "chapter": "45"}),
    ("!progress Words of Radiance chapter 45", {"book": "Words of Radiance", "chapter": "45"}),
    ("/progress wor finished", {"book": "wor", "finished": True}),
    ("/progress book:wor chapter:45", {"book": "wor", "chapter": "45"}),
    ("/progress clear", {"clear": True}),
    ("/wordcount Kaladin exact reveal", {"term": "Kaladin", "exact": True, "reveal": True}),
    ("/sentiment wor last 200 reveal:true", {"book": "wor", "range": "last 200",
                                             "reveal": True}),
    ("/mod block u/Someone", {"action": "block", "user": "someone"}),
    ("/mod spoilers first 1", {"action": "spoilers", "value": "first 1"}),
])
def test_typed_commands(line, args):
    assert parse_command_line(line, "oz")[1] == args


def test_spoiler_spans_render_per_platform_and_markers_never_leak_in():
    text = "open " + spoilers.hide("secret" + spoilers.OPEN + " more") + " tail"
    assert spoilers.render(text, "||", "||") == "open ||secret more|| tail"
    assert spoilers.render(text, ">!", "!<") == "open >!secret more!< tail"
    assert spoilers.clean("a\x0eb\x0fc") == "abc"
    pieces = spoilers.balance(["a" + spoilers.OPEN + "b", "c" + spoilers.CLOSE + "d"])
    assert [spoilers.render(p, "[", "]") for p in pieces] == ["a[b]", "[c]d"]

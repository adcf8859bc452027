"""The passage tree in SQLite: rows as passages start and end, lines through regenerations
and continuations, stories, and passages cut off by a restart."""

import dataclasses

import pytest

from bot import migrate
from bot.store import Store
from bot.stories.export import heading_of, passage_markdown, story_markdown
from bot.stories.tree import PassageTree, Plan
from engine.generation.params import GenParams, GenResult


@pytest.fixture
def tree(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    store = Store(url, salt="s")
    yield PassageTree(store)
    store.dispose()


def plan(rid, relation="root", prompt="Dorothy walked", context=None, parent=None, story=None,
         seed=1, name=None):
    return Plan(platform="discord", request_id=rid, user="u1", relation=relation, prompt=prompt,
                context=prompt if context is None else context,
                params=GenParams(seed=seed, temperature=0.7), heading=None,
                parent_id=parent, story_id=story, asked_by=name)


def done(tree, pid, text, state="done"):
    seed = tree.get(pid).seed  # the engine reports the seed it was given
    tree.finish(pid, GenResult("", text, seed, 3, "sentence", "m", None, 0.1), state)


def test_a_retried_request_reuses_its_row_and_keeps_every_option(tree):
    first = tree.begin(plan("r1"))
    assert tree.begin(plan("r1", seed=5)) == first  # the same request (a Reddit retry)
    done(tree, first, " and sat down.")
    p = tree.by_request("discord", "r1")
    assert (p.state, p.seed, p.output, p.model_id) == ("done", 5, " and sat down.", "m")
    assert p.gen_params() == GenParams(seed=5, temperature=0.7)  # the retry's options won
    assert tree.begin(plan(None)) != tree.begin(plan(None))  # no request id: new rows


def test_lines_follow_continuations_and_replace_regenerated_passages(tree):
    root = tree.begin(plan("a"))
    done(tree, root, " to the gate.")
    regen = tree.begin(plan("b", "regenerate", parent=root))  # replaces the root
    done(tree, regen, " into the wood.")
    cont = tree.begin(plan("c", "continue", prompt="", parent=regen))
    done(tree, cont, " It was dark.")
    added = tree.begin(plan("d", "continue", prompt="The Lion roared.", parent=cont))
    done(tree, added, " Toto ran.")
    again = tree.begin(plan("e", "regenerate", prompt="The Lion roared.", parent=added))
    done(tree, again, " Toto hid.")
    assert tree.line_text(again, 10_000) == \
        "Dorothy walked into the wood. It was dark.\n\nThe Lion roared. Toto hid."
    assert tree.line_text(root, 10_000) == "Dorothy walked to the gate."
    assert tree.base_of(tree.get(again)).id == cont and tree.base_of(tree.get(regen)) is None
    assert heading_of(tree.get(regen), None) == "Dorothy walked"


def test_a_long_line_is_read_only_as_far_as_the_budget_needs(tree):
    parent = tree.begin(plan("0", prompt="Once."))
    done(tree, parent, " One.")
    for i in range(1, 60):
        parent_id = parent
        parent = tree.begin(plan(str(i), "continue", prompt="", parent=parent_id))
        done(tree, parent, f" Step {i}.")
    text = tree.line_text(parent, 60)
    assert text.endswith(" Step 58. Step 59.") and len(text) < 200
    assert not text.startswith("Once.")  # the start was never read


def test_stories_and_unfinished_passages(tree):
    story = tree.create_story("discord", "thread-1", "A title", "u1")
    assert tree.story_in("discord", "thread-1").id == story
    assert tree.story_in("discord", "thread-2") is None
    root = tree.begin(plan("a", story=story, name="alice"))
    done(tree, root, " ran.")
    stopped = tree.begin(plan("b", "continue", prompt="", parent=root, story=story))
    done(tree, stopped, " and", "stopped")
    writing = tree.begin(plan("c", "continue", prompt="", parent=stopped, story=story))
    assert tree.latest_in_story(story).id == stopped  # still generating: not continuable
    assert tree.interrupt_stale() == 1  # the process that wrote it has gone
    assert tree.get(writing).state == "interrupted"
    assert tree.story_size(story) == 3


def test_the_export_lists_finished_passages_with_who_and_how(tree):
    story = tree.create_story("discord", "t", "Dorothy's door", "u1")
    root = tree.begin(plan("a", prompt="Dorothy *found*", story=story, name="alice", seed=11))
    done(tree, root, " a door.")
    cont = tree.begin(plan("b", "continue", prompt="It opened.", parent=root, story=story,
                           name="bob", seed=12))
    done(tree, cont, " Light spilled out.", "stopped")
    regen = tree.begin(plan("c", "regenerate", prompt="It opened.", parent=cont, story=story,
                            name="carol", seed=13))
    tree.settle(regen, "failed")
    rows = tree.story_passages(story)
    info = tree.story_in("discord", "t")
    md = story_markdown(info, rows, {root: "Dorothy *found*", cont: None, regen: None}, "spren")
    assert md.startswith("# Dorothy's door\n") and "2 passages" in md
    assert "## 1 · alice started the story" in md and "## 2 · bob continued passage 1" in md
    assert "**Dorothy \\*found\\*** a door." in md and "> It opened." in md
    assert "seed 11" in md and "seed 12" in md and "seed 13" not in md  # failed: left out
    assert "stopped early" in md and "temperature 0.7" in md


def test_passage_markdown_spacing():
    assert passage_markdown("Dorothy", " walked.") == "**Dorothy** walked."
    assert passage_markdown("Dorothy", ", then stopped.") == "**Dorothy**, then stopped."
    assert passage_markdown("Dorothy", "walked") == "**Dorothy** walked"
    assert passage_markdown(None, "  walked. ") == "walked."
    assert passage_markdown(None, "") == "…"
    assert dataclasses.is_dataclass(Plan)

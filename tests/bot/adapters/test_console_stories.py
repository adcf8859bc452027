"""The console's /continue and /regen with the real tiny model: they work on the user's last
passage, found in the database, so a new chat (a restart) carries on where the last ended."""

import asyncio
import io

import pytest
from sqlalchemy import select

from bot.adapters.console import ConsoleChat
from bot.app import open_app
from bot.store import Passage
from tests.bot.conftest import make_config


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    from engine.generation.generator import Generator

    return Generator(tiny_model_dir)


def chat(cfg, generator, lines: list[str]) -> tuple[str, list[Passage]]:
    """One console session (its own app, store and queue) fed these lines."""
    async def main():
        async with open_app(cfg, generator=generator, load_model=False) as app:
            out = io.StringIO()
            await ConsoleChat(app, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out,
                              user="reader").run()
            with app.store.session() as s:
                return out.getvalue(), list(s.scalars(select(Passage).order_by(Passage.id)))
    return asyncio.run(main())


def test_continue_and_regen_work_on_the_last_passage_even_after_a_restart(tmp_path, generator):
    cfg = make_config(tmp_path, generation={"max_new_tokens": 30})
    out, rows = chat(cfg, generator, ["/continue", "/oz Dorothy walked seed=7", "/continue",
                                      "/regen"])
    assert out.startswith("! there is no finished passage to work from yet")
    root, cont, regen = rows
    assert (cont.relation, cont.parent_id, cont.prompt) == ("continue", root.id, "")
    assert cont.context == "Dorothy walked" + root.output  # the passage so far, as it ended
    assert (regen.relation, regen.parent_id, regen.context) == ("regenerate", cont.id,
                                                                cont.context)
    assert regen.seed != cont.seed
    assert f"…{cont.output}\n" in out and f"↻{regen.output}\n" in out
    again, rows = chat(cfg, generator, ["/continue The Lion roared."])  # a new session
    last = rows[-1]
    assert (last.relation, last.parent_id, last.prompt) == ("continue", regen.id,
                                                            "The Lion roared.")
    assert last.context == f"Dorothy walked{root.output}{regen.output}".rstrip() + \
        "\n\nThe Lion roared."
    assert again.startswith("…")

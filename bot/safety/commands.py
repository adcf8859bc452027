"""The /progress answer: show, set or clear a reader's progress.

Typed lines become its args in ``bot.parsing`` (``/progress wor 45``,
``/progress wor chapter 45``, ``/progress wor finished``, ``/progress clear``,
``book:wor chapter:45``), like those of ``/mod`` and the ``reveal`` word of the stats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import BadRequest
from bot.messages import Reply, Request
from bot.safety.progress import Entry, chapter_index

if TYPE_CHECKING:
    from bot.safety.service import Safety


def progress_reply(safety: Safety, req: Request) -> Reply:
    """Show, set or clear the asking reader's progress (always a private answer)."""
    args = req.args
    if args.get("clear"):
        n = safety.clear_progress(req)
        return Reply([f"Cleared {n} progress entries. Stats now follow this place's spoiler "
                      "policy."], private=True)
    book_ref = str(args.get("book") or args.get("text") or "").strip()
    if not book_ref:
        return _show(safety, req)
    info = safety.stats.resolve(book_ref)
    chapter = args.get("chapter")
    if args.get("finished") in (True, "true", "True") or chapter is None:
        if chapter is None and not args.get("finished"):
            raise BadRequest(f"how far are you in {info.title}? e.g. `/progress {info.code} 12` "
                             f"(chapter 12) or `/progress {info.code} finished`")
        safety.save_progress(req, info.code, Entry(None, True))
        where = "finished it"
    else:
        try:
            n = int(str(chapter))
        except ValueError:
            raise BadRequest(f"chapter {chapter!r} is not a number; give e.g. 12, or "
                             "'finished'") from None
        titles = safety.stats.chapter_titles(info)
        idx = chapter_index(titles, n)
        safety.save_progress(req, info.code, Entry(idx, idx + 1 >= info.n_chapters))
        where = f"read up to chapter {n} (“{titles[idx]}”, section {idx + 1} of {len(titles)})"
    return Reply([f"Saved: in **{info.title}** ({info.code}) you have {where}. Books before "
                  "it count as read; /sentiment and /wordcount hide later chapters and books "
                  "behind spoiler tags. Add reveal:true to see everything."], private=True)


def _show(safety: Safety, req: Request) -> Reply:
    entries = safety.progress_entries(req)
    view = safety.view(req)
    lines = []
    for b in safety.stats.books():
        read = view.chapters_read(b.code)
        state = ("read" if read is None or read >= b.n_chapters
                 else "not started" if read == 0 else f"chapters 1–{read} of {b.n_chapters}")
        lines.append(f"{b.code:<6} {state}  {b.title}")
    head = ("Your progress (set with `/progress <book> <chapter>` or `finished`):" if entries
            else f"You have not set any progress; stats follow {view.source or 'no policy'} "
                 "(every book shown)." if not view.source
            else f"You have not set any progress; stats follow {view.source}.")
    return Reply(["\n".join([head, *lines])], private=True, title="Reading progress")

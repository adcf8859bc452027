"""`spren chat`: the same commands typed at a terminal prompt, answered by the dispatcher.

Lines are answered in order; piped input works and the chat ends at end of input. Charts are
written to files whose paths are printed. Passages stream in sentence by sentence, so what is
printed is always exactly the final text. ``/continue [text]`` and ``/regen`` work on the
user's last passage (found in the database, so they work after a restart too).
"""

from __future__ import annotations

import asyncio
import getpass
import re
import sys
import threading
import uuid
from pathlib import Path
from typing import TextIO

from bot.dispatch import parse_command_line
from bot.errors import BadRequest
from bot.messages import QueueUpdate, Reply, Request, TokenUpdate
from bot.safety import spoilers

# passages made from the user's last passage, and what is printed before their text
CONTINUING = {"continue": "…", "regen": "↻", "regenerate": "↻"}
SENTENCE_END = re.compile(r"[.!?][\"'”’)]*(?=\s)")


class StreamPrinter:
    """Prints the prompt, then its continuation one finished sentence at a time, then the rest.

    What ends up on the terminal is always exactly prompt + final continuation.
    """

    def __init__(self, out: TextIO, tty: bool, prompt: str):
        self.out, self.tty = out, tty
        self.prompt = " ".join(prompt.split())
        self.started = False
        self.printed = ""
        self.last_position: int | None = None

    def _start(self) -> None:
        if not self.started:
            self.out.write(self.prompt)
            self.started = True

    def __call__(self, event) -> None:
        if isinstance(event, QueueUpdate):
            if self.tty and event.position != self.last_position:
                self.out.write(f"⏳ #{event.position} in queue (~{event.eta_s:.0f} s)\n")
                self.out.flush()
            self.last_position = event.position
        elif isinstance(event, TokenUpdate):
            ends = list(SENTENCE_END.finditer(event.text))
            if ends:
                self._emit(event.text[: ends[-1].end()])

    def _emit(self, text: str) -> None:
        if text.startswith(self.printed) and len(text) > len(self.printed):
            self._start()
            self.out.write(text[len(self.printed):])
            self.out.flush()
            self.printed = text

    def finish(self, final: str) -> None:
        """Complete the passage so the terminal shows exactly prompt + ``final``."""
        self._start()
        if final.startswith(self.printed):
            self.out.write(final[len(self.printed):] + "\n")
        else:  # the cleaned text diverged from what streamed (rare): show the final version
            self.out.write(("\n" + self.prompt if self.printed else "") + final + "\n")
        self.out.flush()


class ConsoleChat:
    """A terminal front end over the dispatcher."""

    def __init__(self, app, stdin: TextIO | None = None, stdout: TextIO | None = None,
                 user: str | None = None):
        self.app = app
        self.stdin = stdin or sys.stdin
        self.out = stdout or sys.stdout
        self.tty = bool(getattr(self.stdin, "isatty", lambda: False)())
        self.user = user or _username()
        self.gen = app.cfg.bot.generate_command

    async def run(self) -> None:
        """Read lines until end of input (or /quit), answering each in order."""
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._reader, args=(loop, lines), daemon=True).start()
        if self.tty:
            self._write(f"spren — type /help for commands, /{self.gen} <prompt> to write, "
                        "/quit to leave.\n")
        while True:
            if self.tty:
                self._write("spren> ")
            line = await lines.get()
            if line is None or line.strip().lower() in ("/quit", "/exit", "quit", "exit"):
                break
            if line.strip():
                await self.answer(line)

    def _reader(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue) -> None:
        for line in self.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)

    async def answer(self, line: str) -> Reply:
        """Dispatch one typed line and print its reply."""
        try:
            command, args = parse_command_line(line, self.gen,
                                               self.app.cfg.limits.max_input_chars)
        except BadRequest as exc:  # answered and logged like any other refusal
            req = Request(platform="console", user=self.user, command="(unparsed)",
                          channel="console")
            reply = await self.app.dispatcher.refuse(req, str(exc))
            self._write(f"! {reply.text}\n")
            return reply
        req = Request(platform="console", user=self.user, command=command, args=args,
                      channel="console", request_id=uuid.uuid4().hex)
        printer = self._printer(command, args)
        reply = await self.app.dispatcher.handle(req, on_event=printer)
        self._print_reply(reply, printer)
        return reply

    def _printer(self, command: str, args: dict) -> StreamPrinter | None:
        """Passages stream in: a new one after its prompt, a continuation after '…'."""
        if command == self.gen:
            return StreamPrinter(self.out, self.tty, str(args.get("prompt", "")))
        if command in CONTINUING:
            return StreamPrinter(self.out, self.tty, CONTINUING[command])
        return None

    def _print_reply(self, reply: Reply, printer: StreamPrinter | None) -> None:
        if reply.outcome != "ok":
            self._write(f"! {reply.text}\n")
            return
        if printer is not None:
            printer.finish(reply.text)
        else:
            if reply.title:
                self._write(f"== {reply.title} ==\n")
            self._write(spoilers.render(reply.text, "[spoiler: ", "]") + "\n")
        for path in self._save_files(reply):
            self._write(f"chart: {path}\n")

    def _save_files(self, reply: Reply) -> list[Path]:
        paths = []
        if reply.files:
            folder = self.app.cfg.chart_dir
            folder.mkdir(parents=True, exist_ok=True)
            for att in reply.files:
                path = folder / att.filename
                path.write_bytes(att.data)
                paths.append(path)
        return paths

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "console"

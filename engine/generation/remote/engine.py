"""``RemoteEngine``: generation on OpenAI-compatible servers, behind spren's fair queue.

It is one ``GenerationEngine`` over every configured server. The queue's worker calls
``generate`` as it would the local engine; here each row is one streamed ``/completions``
request, and up to ``max_concurrency`` rows per server are in flight at once (waiting jobs
join through ``admit``, the continuous-batching hook, so the fair queue still decides who
goes next and the servers do the batching). A row goes to the least-loaded server that is
up. A server that fails is marked down and probed with backoff while the others serve; the
row it was streaming is retried once on another server with the same seed, or fails with a
clear message. Stopping a row (cancel, timeout, shutdown) closes its HTTP stream.

All HTTP runs on one event loop in a thread the engine owns, with one pooled ``httpx``
client; ``generate`` blocks its calling thread only, and the callbacks (``on_token``,
``admit``, ``should_stop``, ``on_done``) run on the engine's thread, as they do on the local
engine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from engine.errors import BackendUnavailable, EngineError, GenerationError
from engine.generation.finishing import Finisher, final_text
from engine.generation.params import (
    SEED_LIMIT,
    Admit,
    GenParams,
    GenResult,
    Hold,
    OnDone,
    OnToken,
    ShouldStop,
)
from engine.generation.remote.health import Prober
from engine.generation.remote.protocol import RequestRejected, ServerFailed
from engine.generation.remote.servers import Server, check_url, least_loaded
from engine.generation.remote.streaming import RemoteRow, stream_passage

log = logging.getLogger(__name__)
T = TypeVar("T")
TICK_S = 0.02  # how often a running call looks for joining rows and stop requests
RETRY_LATER = "try again in a minute; if it keeps happening, tell the bot's operator"


@dataclass
class _Call:
    """One ``generate`` call: its callbacks and the rows' outcomes so far, by index."""

    on_token: OnToken | None
    should_stop: ShouldStop | None
    admit: Admit | None
    on_done: OnDone | None
    max_rows: int
    outcomes: dict[int, GenResult | EngineError]


class RemoteEngine:
    """Passages from one or more OpenAI-compatible servers (vLLM, llama.cpp, TGI,
    ``transformers serve``), streamed, with the local engine's stops and guard."""

    supports_joins = True  # waiting jobs join a running call: each is one more request
    supports_holds = False  # a request on a server cannot be paused
    independent_rows = True  # rows are separate requests: speed is measured per row

    def __init__(self, urls: Sequence[str], *, name: str = "", api_key: str | None = None,
                 max_concurrency: int = 8, request_timeout_s: float = 120.0,
                 finisher: Finisher | None = None, max_backoff_s: float = 30.0,
                 probe: bool = True) -> None:
        if not urls:
            raise GenerationError("[model] urls is empty: list at least one server, e.g. "
                                  "urls = [\"http://127.0.0.1:8000/v1\"]")
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise GenerationError("[model] max_concurrency must be a whole number >= 1")
        if not request_timeout_s > 0:
            raise GenerationError("[model] request_timeout_s must be above 0")
        self.servers = [Server(check_url(url), model=name, max_backoff_s=max_backoff_s)
                        for url in urls]
        self.name, self.max_concurrency = name, max_concurrency
        self.finisher = finisher or Finisher()
        timeout = httpx.Timeout(request_timeout_s, connect=min(10.0, request_timeout_s))
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=len(urls) * (max_concurrency + 2),
                              max_keepalive_connections=len(urls) * max_concurrency)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="spren-remote",
                                        daemon=True)
        self._thread.start()
        self._client, self._prober, self._prober_task, self._slot = \
            self._run(self._open(timeout, headers, limits))
        if probe:
            self._run(self._prober.probe_due(force=True))

    def __repr__(self) -> str:  # never show the client (its headers hold the token)
        return f"RemoteEngine({[s.label for s in self.servers]!r}, name={self.name!r})"

    # ----- public -----

    @property
    def model_id(self) -> str:
        """The model name requested (the configured one, or the first server's)."""
        return self.name or next((s.model for s in self.servers if s.model), "remote model")

    @property
    def capacity(self) -> int:
        """Requests in flight at most, over every server."""
        return len(self.servers) * self.max_concurrency

    def health(self) -> str | None:
        """None while a server is up; else why none is (the bot's /healthz shows it)."""
        if any(s.up for s in self.servers):
            return None
        return "no generation server is up: " + "; ".join(
            f"{s.label}: {s.reason}" for s in self.servers)

    def describe(self, public: bool = False) -> list[str]:
        """One line per server: up or down (and why), load, measured speed. ``public`` lines
        (for users, e.g. ``/about``) number the servers and leave out addresses and errors."""
        now = time.monotonic()
        return [server.describe(now, f"server {i}" if public else None)
                for i, server in enumerate(self.servers, start=1)]

    def generate(self, prompts: Sequence[str], params: Sequence[GenParams],
                 on_token: OnToken | None = None, should_stop: ShouldStop | None = None, *,
                 admit: Admit | None = None, on_done: OnDone | None = None,
                 max_rows: int | None = None, hold: Hold | None = None) -> list[GenResult]:
        """One passage per prompt, as ``Generator.generate`` (``hold`` is not supported).

        With ``on_done``, a row that fails is reported there as its ``EngineError`` and its
        place in the returned list holds a ``finish_reason="error"`` result; without it, the
        first failure is raised once every row has ended.
        """
        _check_request(prompts, params)
        if not prompts:
            return []
        call = _Call(on_token, should_stop, admit, on_done, max_rows or len(prompts), {})
        self._run(self._generate(list(prompts), list(params), call))
        return self._results(call)

    def close(self) -> None:
        """Close every stream and connection and stop the engine's thread."""
        if self._loop.is_closed():
            return
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # ----- the loop thread -----

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _open(self, timeout: httpx.Timeout, headers: dict[str, str], limits: httpx.Limits
                    ) -> tuple[httpx.AsyncClient, Prober, asyncio.Task[None], asyncio.Event]:
        """The pooled client, the prober and its task, and the "a slot was freed" event."""
        client = httpx.AsyncClient(timeout=timeout, headers=headers, limits=limits)
        prober = Prober(client, self.servers)
        task = asyncio.get_running_loop().create_task(prober.run_forever())
        return client, prober, task, asyncio.Event()

    async def _close(self) -> None:
        self._prober_task.cancel()
        await asyncio.gather(self._prober_task, return_exceptions=True)
        await self._client.aclose()

    async def _generate(self, prompts: list[str], params: list[GenParams],
                        call: _Call) -> None:
        """Run every row, let waiting rows join while there is room, stop rows on request."""
        keys: list[Any] = list(range(len(prompts)))
        tasks: dict[asyncio.Task[GenResult | EngineError], RemoteRow] = {}
        for i, (prompt, options) in enumerate(zip(prompts, params, strict=True)):
            self._start(RemoteRow(i, i, prompt, options, _seed(options)), call, tasks)
        while True:
            for key, prompt, options in self._admitted(call, len(tasks)):
                keys.append(key)
                row = RemoteRow(len(keys) - 1, key, prompt, options, _seed(options))
                self._start(row, call, tasks)
            self._stop_requested(call, tasks)
            if not tasks:
                return
            done, _ = await asyncio.wait(tasks, timeout=TICK_S,
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self._settle(tasks.pop(task), task, call)

    def _admitted(self, call: _Call, busy: int) -> list[tuple[Any, str, GenParams]]:
        """Rows the queue hands over while the servers that are up have free slots."""
        room = sum(self.max_concurrency for s in self.servers if s.up)
        free = min(call.max_rows, room) - busy
        if call.admit is None or free <= 0:
            return []
        new = list(call.admit(free))[:free]
        _check_request([p for _, p, _ in new], [o for _, _, o in new])
        return new

    def _start(self, row: RemoteRow, call: _Call,
               tasks: dict[asyncio.Task[GenResult | EngineError], RemoteRow]) -> None:
        task = self._loop.create_task(self._passage(row, call))
        tasks[task] = row
        if call.should_stop is not None and call.should_stop(row.index):
            task.cancel()  # stopped before it began: no request is sent

    def _stop_requested(self, call: _Call,
                        tasks: dict[asyncio.Task[GenResult | EngineError], RemoteRow]) -> None:
        if call.should_stop is None:
            return
        for task, row in tasks.items():
            if not task.done() and call.should_stop(row.index):
                task.cancel()  # closes the row's HTTP stream, so the server stops too

    def _settle(self, row: RemoteRow, task: asyncio.Task[GenResult | EngineError],
                call: _Call) -> None:
        outcome = self._cancelled(row) if task.cancelled() else task.result()
        call.outcomes[row.index] = outcome
        if call.on_done is not None:
            call.on_done(row.key, outcome)

    def _cancelled(self, row: RemoteRow) -> GenResult:
        text = final_text(row.text, row.params, "cancelled")
        return self.finisher.result(
            row.prompt, text, row.params, seed=row.seed, new_tokens=row.tokens,
            finish="cancelled", attempt=row.attempt, model_id=self._model_of(row),
            seconds=time.monotonic() - row.started, server=_label(row))

    def _results(self, call: _Call) -> list[GenResult]:
        ordered = [call.outcomes[i] for i in sorted(call.outcomes)]
        errors = [o for o in ordered if isinstance(o, EngineError)]
        if errors and call.on_done is None:
            raise errors[0]
        return [o if isinstance(o, GenResult) else _error_result(o) for o in ordered]

    # ----- one passage -----

    async def _passage(self, row: RemoteRow, call: _Call) -> GenResult | EngineError:
        """Generate one passage: stream it, retry once elsewhere if its server fails,
        regenerate while the guard finds a copy, and finish it as the local engine does."""
        try:
            while True:
                finish = await self._stream_somewhere(row, call)
                if isinstance(finish, EngineError):
                    return finish
                text = final_text(row.text, row.params, finish)
                if not self.finisher.regenerate(text, finish, row.attempt):
                    return self._finished(row, text, finish)
                row.attempt += 1
                row.restart()
        except Exception as exc:
            log.exception("remote generation failed unexpectedly")
            return GenerationError(f"generation failed ({type(exc).__name__}); "
                                   f"{RETRY_LATER}")

    async def _stream_somewhere(self, row: RemoteRow, call: _Call) -> str | EngineError:
        """Stream the row on the least-loaded server; on a server failure, once more on
        another (same seed). The finish reason, or the error the user should see."""
        failed: tuple[Server, ...] = ()
        while True:
            server = await self._acquire(failed)
            if server is None:
                return BackendUnavailable(_unavailable(row.moved))
            row.server = server
            started = time.monotonic()
            try:
                finish = await stream_passage(self._client, server, row,
                                              lambda r: _on_text(call, r))
            except ServerFailed as exc:
                self._failed(server, str(exc))
                if row.moved:
                    return BackendUnavailable(_unavailable(True))
                row.moved, failed = True, failed + (server,)
                row.restart()
                continue
            except RequestRejected as exc:
                log.warning("server %s refused a request: %s", server.label, exc)
                return GenerationError(f"the generation server refused the request ({exc}); "
                                       "try other options, or tell the bot's operator")
            finally:
                server.in_flight -= 1
                self._slot.set()
            server.answered(row.tokens, time.monotonic() - started)
            return finish

    async def _acquire(self, exclude: tuple[Server, ...]) -> Server | None:
        """A slot on the least-loaded server that is up (waiting while all are busy);
        None when none is up, even after probing those whose backoff has run out."""
        probed = False
        while True:
            server = least_loaded(self.servers, self.max_concurrency, exclude)
            if server is not None:
                server.in_flight += 1
                return server
            if not any(s.up and s not in exclude for s in self.servers):
                if probed:
                    return None
                await self._prober.probe_due()
                probed = True
                continue
            self._slot.clear()
            with contextlib.suppress(TimeoutError):  # look again even if no slot was freed
                await asyncio.wait_for(self._slot.wait(), TICK_S * 5)

    def _failed(self, server: Server, reason: str) -> None:
        if server.mark_down(reason, time.monotonic()):
            log.warning("generation server %s failed and is out of rotation: %s",
                        server.label, reason)

    def _finished(self, row: RemoteRow, text: str, finish: str) -> GenResult:
        result = self.finisher.result(
            row.prompt, text, row.params, seed=row.seed, new_tokens=row.tokens,
            finish=finish, attempt=row.attempt, model_id=self._model_of(row),
            seconds=time.monotonic() - row.started, server=_label(row))
        log.info("server %s answered: %d tokens in %.2f s (seed %d, %s)", result.server,
                 result.new_tokens, result.seconds, result.seed, finish)
        return result

    def _model_of(self, row: RemoteRow) -> str:
        return row.server.model if row.server is not None and row.server.model \
            else self.model_id


def _on_text(call: _Call, row: RemoteRow) -> None:
    if call.on_token is not None:
        call.on_token(row.index, row.text)


def _seed(params: GenParams) -> int:
    return params.seed if params.seed is not None else secrets.randbelow(SEED_LIMIT + 1)


def _label(row: RemoteRow) -> str:
    return row.server.label if row.server is not None else ""


def _unavailable(moved: bool) -> str:
    if moved:
        return ("the generation server failed while writing your passage and no other "
                f"server could take it over; {RETRY_LATER}")
    return f"no generation server is answering right now; {RETRY_LATER}"


def _error_result(_: EngineError) -> GenResult:
    """The placeholder a failed row leaves in the returned list (its error went to on_done)."""
    return GenResult(prompt="", text="", seed=0, new_tokens=0, finish_reason="error",
                     model_id="", guard=None, seconds=0.0)


def _check_request(prompts: Sequence[str], params: Sequence[GenParams]) -> None:
    if len(prompts) != len(params):
        raise GenerationError(
            f"got {len(prompts)} prompts but {len(params)} GenParams: pass one per prompt.")
    for prompt, options in zip(prompts, params, strict=True):
        if not isinstance(prompt, str) or not prompt:
            raise GenerationError(f"prompt {prompt!r}: the remote backend needs some text "
                                  "to continue.")
        if not isinstance(options, GenParams):
            raise GenerationError(f"{options!r} is not a GenParams.")
        options.validate()

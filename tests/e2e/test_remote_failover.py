"""Two real `transformers serve` processes behind the remote backend: one dies (or freezes)
in the middle of a passage; the passage is finished by the other with the same seed, later
passages go to the live server, and the dead one is used again once it returns."""

import signal
import threading
import time

import pytest

from engine.generation.params import GenParams
from engine.generation.remote import RemoteEngine
from tests.inference_server import InferenceServer

PROMPT = "The Tin Woodman said"
LONG = GenParams(max_new_tokens=60, seed=17, stop_at_sentence=False)


@pytest.fixture(scope="module")
def second_server(tiny_model_dir, tmp_path_factory, request):
    """A second server on the tiny model (the first is the session's ``served_tiny``),
    starting while the first one does."""
    server = InferenceServer(tiny_model_dir, tmp_path_factory.mktemp("serve-b")).start()
    try:
        request.getfixturevalue("served_tiny")
        yield server.wait_ready()
    finally:
        server.kill()


def _wait_until(check, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _engine(first: InferenceServer, second: InferenceServer, **options) -> RemoteEngine:
    return RemoteEngine([first.url, second.url], name=first.name, max_concurrency=1,
                        max_backoff_s=2.0, **options)


def _generate_while(engine: RemoteEngine, after_tokens: int, action) -> tuple:
    """Generate LONG; run ``action`` once ``after_tokens`` pieces of text have streamed."""
    seen: list[str] = []
    fired = threading.Event()

    def on_token(i: int, text: str) -> None:
        seen.append(text)
        if len(seen) == after_tokens and not fired.is_set():
            fired.set()
            action()

    (result,) = engine.generate([PROMPT], [LONG], on_token=on_token)
    return result, seen, fired.is_set()


def test_a_killed_server_hands_its_passage_over_and_is_used_again_after_restart(
        second_server, served_tiny, tmp_path):
    b, a = second_server, served_tiny
    engine = _engine(b, a)  # b is first: with nothing in flight, it takes the first passage
    try:
        result, seen, fired = _generate_while(engine, 3, b.kill)
        assert fired and result.server == a.url  # b died mid-stream; a finished the passage
        (direct,) = engine.generate([PROMPT], [LONG])  # b is down: a answers
        assert direct.server == a.url and result.text == direct.text  # the same seed
        assert result.seed == 17 and result.new_tokens == 60
        assert "down" in engine.describe()[0]
        restarted = InferenceServer(b.model_dir, tmp_path, port=b.port).start()
        second_server.proc = restarted.proc  # the fixture's kill() stops the new one
        restarted.wait_ready()
        _wait_until(lambda: ": up" in engine.describe()[0])
        both = engine.generate([PROMPT, PROMPT], [LONG, LONG])
        assert {r.server for r in both} == {a.url, b.url}  # one slot each, both used
    finally:
        engine.close()


def test_a_frozen_server_times_out_and_the_passage_moves(second_server, served_tiny):
    b, a = second_server, served_tiny
    _wait_until(lambda: b.proc.poll() is None)
    engine = _engine(b, a, request_timeout_s=3.0)
    try:
        result, seen, fired = _generate_while(engine, 3, lambda: b.signal(signal.SIGSTOP))
        assert fired and result.server == a.url and result.new_tokens == 60
        assert "sent nothing" in engine.describe()[0]
        b.signal(signal.SIGCONT)
        _wait_until(lambda: ": up" in engine.describe()[0])
        (back,) = engine.generate([PROMPT], [GenParams(max_new_tokens=5, seed=1)])
        assert back.server in (a.url, b.url)
    finally:
        b.signal(signal.SIGCONT)
        engine.close()

"""The remote backend against servers that fail on purpose: a clear error every time, the
server marked down, nothing hangs, the stream closed on cancel, the token never logged."""

import logging
import time

import pytest

from engine.errors import BackendUnavailable, GenerationError
from engine.generation.params import GenParams
from engine.generation.remote import RemoteEngine
from tests.engine.generation.remote.misbehaving import Misbehaving

P = GenParams(max_new_tokens=20, seed=3, stop_at_sentence=False)


@pytest.mark.parametrize("mode", ["500", "garbage", "not-json-object", "huge-line"])
def test_a_broken_server_gives_a_clear_error_and_is_marked_down(mode):
    with Misbehaving(mode) as bad:
        engine = RemoteEngine([bad.url], name="m", request_timeout_s=5)
        try:
            with pytest.raises(BackendUnavailable, match="try again in a minute"):
                engine.generate(["Once"], [P])
            (line,) = engine.describe()
            assert "down" in line and bad.url in line
        finally:
            engine.close()


def test_a_silent_server_times_out_instead_of_hanging():
    with Misbehaving("silent") as bad:
        engine = RemoteEngine([bad.url], name="m", request_timeout_s=1)
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable):
                engine.generate(["Once"], [P])
            assert time.monotonic() - started < 10
            assert "sent nothing" in engine.describe()[0]
        finally:
            engine.close()


def test_a_refused_request_is_the_requests_fault_not_the_servers():
    with Misbehaving("bad-request") as bad:
        engine = RemoteEngine([bad.url], name="m")
        try:
            with pytest.raises(GenerationError, match="refused the request.*too long"):
                engine.generate(["Once"], [P])
            assert engine.describe()[0].split(": ")[1].startswith("up")
        finally:
            engine.close()


def test_no_server_at_all_fails_fast_with_a_clear_message():
    with Misbehaving() as gone:
        url = gone.url
    engine = RemoteEngine([url], name="m")
    try:
        with pytest.raises(BackendUnavailable, match="no generation server is answering"):
            engine.generate(["Once"], [P])
    finally:
        engine.close()


def test_a_failed_row_goes_to_on_done_while_the_call_goes_on():
    with Misbehaving("500") as bad:
        engine = RemoteEngine([bad.url], name="m")
        done = []
        try:
            results = engine.generate(["Once"], [P], on_done=lambda k, r: done.append((k, r)))
        finally:
            engine.close()
    assert [k for k, _ in done] == [0] and isinstance(done[0][1], BackendUnavailable)
    assert results[0].finish_reason == "error"


def test_stopping_a_row_closes_its_stream():
    with Misbehaving("endless") as slow:
        engine = RemoteEngine([slow.url], name="m")
        seen = []
        try:
            (result,) = engine.generate(
                ["Once"], [GenParams(max_new_tokens=1000, stop_at_sentence=False)],
                on_token=lambda i, text: seen.append(text), should_stop=lambda i: len(seen) > 5)
        finally:
            engine.close()
        assert result.finish_reason == "cancelled" and 5 <= result.new_tokens < 100
        assert slow.disconnected.wait(5)  # the server saw the client hang up


def test_the_bearer_token_is_sent_but_never_logged(caplog):
    token = "sk-test-very-secret-0042"
    with Misbehaving() as good, caplog.at_level(logging.DEBUG):
        engine = RemoteEngine([good.url], name="m", api_key=token)
        try:
            (result,) = engine.generate(["Once"], [P])
            text = repr(engine) + "\n".join(engine.describe())
        finally:
            engine.close()
    assert result.text == " The road was long." and result.finish_reason == "eos"
    assert all(h.get("Authorization") == f"Bearer {token}" for h in good.headers)
    assert token not in caplog.text and token not in text

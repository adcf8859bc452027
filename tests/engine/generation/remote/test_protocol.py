"""Request bodies per dialect, the event-stream parser and how failures are classified."""

import asyncio
import json

import pytest

from engine.generation.params import GenParams
from engine.generation.remote.protocol import (
    Chunk,
    RequestRejected,
    ServerFailed,
    WrongDialect,
    classify_status,
    completion_body,
    events,
    lines,
)
from engine.generation.remote.servers import Server, backoff_s, least_loaded, server_label

P = GenParams(max_new_tokens=50, temperature=0.7, top_k=0, top_p=0.9,
              repetition_penalty=1.2, seed=5)


def test_every_option_reaches_the_server_in_each_dialect():
    openai = completion_body("m", "Once", P, 99, "openai")
    assert openai == {"model": "m", "prompt": "Once", "stream": True, "seed": 99,
                      "max_tokens": 50, "temperature": 0.7, "top_p": 0.9, "top_k": -1,
                      "repetition_penalty": 1.2, "repeat_penalty": 1.2}
    hf = completion_body("m", "Once", P, 99, "transformers")
    config = json.loads(hf.pop("generation_config"))
    assert hf == {"model": "m", "prompt": "Once", "stream": True, "seed": 99, "max_tokens": 50}
    assert config == {"temperature": 0.7, "top_p": 0.9, "do_sample": True, "top_k": 0,
                      "repetition_penalty": 1.2, "max_new_tokens": 50}
    plain = completion_body("m", "Once", P, 99, "plain")
    assert "top_k" not in plain and plain["temperature"] == 0.7


def _parse(raw: str, piece: int = 7) -> list[Chunk]:
    async def gen():
        for i in range(0, len(raw), piece):  # split anywhere, as the network does
            yield raw[i:i + piece]

    async def collect():
        return [c async for c in events(lines(gen()))]
    return asyncio.run(collect())


def test_events_are_read_across_arbitrary_splits_and_end_at_done():
    raw = ('data: {"choices":[{"text":" The","finish_reason":null}]}\r\n\r\n'
           ': keep-alive\n\n'
           'data: {"choices":[{"text":" end.","finish_reason":"stop"}]}\n\n'
           'data: [DONE]\n\ndata: {"choices":[{"text":"after"}]}\n\n')
    assert _parse(raw) == [Chunk(" The"), Chunk(" end.", "stop")]
    assert _parse(raw, 1) == _parse(raw, 1000)


@pytest.mark.parametrize("raw, says", [
    ("data: <html>\n\n", "not JSON"),
    ("data: [1]\n\n", "not a JSON object"),
    ('data: {"object":"x"}\n\n', "without choices"),
    ('data: {"choices":[{"text":5}]}\n\n', "not text"),
    ('data: {"error":"CUDA out of memory"}\n\n', "CUDA out of memory"),
    ("data: " + "x" * 70_000, "more than"),
])
def test_anything_else_is_a_server_failure(raw, says):
    with pytest.raises(ServerFailed, match=says):
        _parse(raw)


def test_failures_are_the_servers_or_the_requests():
    assert isinstance(classify_status(500, "boom", "openai"), ServerFailed)
    assert isinstance(classify_status(429, "", "openai"), ServerFailed)
    assert "api_key_env" in str(classify_status(401, "", "openai"))
    assert isinstance(classify_status(404, "", "openai"), ServerFailed)
    wrong = classify_status(422, "Unexpected fields: {'top_k'}", "openai")
    assert isinstance(wrong, WrongDialect)
    last = classify_status(422, "Unexpected fields: {'top_k'}", "plain")
    assert isinstance(last, RequestRejected) and not isinstance(last, WrongDialect)
    assert type(classify_status(400, "prompt too long", "openai")) is RequestRejected


def test_labels_never_show_credentials_and_backoff_doubles_to_a_cap():
    assert server_label("https://user:s3cret@gpu.example:8443/v1/?key=abc#x") == \
        "https://gpu.example:8443/v1"
    assert [backoff_s(n) for n in (1, 2, 3, 10)] == [0.5, 1.0, 2.0, 30.0]


def test_the_least_loaded_server_that_is_up_takes_the_next_request():
    a, b, c = Server("http://a/v1"), Server("http://b/v1"), Server("http://c/v1")
    a.up = b.up = True
    a.in_flight, b.in_flight = 2, 1
    assert least_loaded([a, b, c], 4) is b
    b.in_flight = 4
    assert least_loaded([a, b, c], 4) is a  # b is full, c is down
    assert least_loaded([a, b, c], 4, exclude=(a,)) is None

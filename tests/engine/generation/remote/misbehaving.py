"""A tiny HTTP server on 127.0.0.1 that misbehaves on purpose (500s, garbage, silence, an
endless stream), for the failure cases a real server will not produce on demand."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _event(text: str, finish: str | None = None) -> bytes:
    body = {"choices": [{"index": 0, "text": text, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class Misbehaving:
    """``mode`` decides every /completions answer: "500", "garbage", "not-json-object",
    "huge-line", "silent" (headers, then nothing), "endless" (a token every 20 ms until the
    client hangs up), "bad-request" (422 naming no dialect field), "echo" (a good short
    stream). /health answers 200 unless ``healthy`` is False."""

    def __init__(self, mode: str = "echo") -> None:
        self.mode, self.healthy = mode, True
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.disconnected = threading.Event()  # an endless stream's client hung up
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                ok = owner.healthy and self.path.endswith("/health")
                self._send(200 if ok else 503, b'{"status":"ok"}' if ok else b"{}")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                owner.requests.append(json.loads(self.rfile.read(length)))
                owner.headers.append(dict(self.headers))
                owner.answer(self)

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> Misbehaving:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, h: Any) -> None:
        if self.mode == "500":
            h._send(500, b"Internal Server Error", "text/plain")
        elif self.mode == "bad-request":
            h._send(422, b'{"detail":"prompt is too long for this model"}')
        elif self.mode in ("garbage", "not-json-object", "huge-line"):
            body = {"garbage": b"data: <html>oops</html>\n\n",
                    "not-json-object": b"data: [1, 2, 3]\n\n",
                    "huge-line": b"data: " + b"x" * 200_000}[self.mode]
            h._send(200, body, "text/event-stream")
        else:
            self._stream(h)

    def _stream(self, h: Any) -> None:
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("connection", "close")
        h.end_headers()
        h.wfile.flush()
        if self.mode == "silent":
            time.sleep(30)
            return
        try:
            if self.mode == "endless":
                for _ in range(100_000):
                    h.wfile.write(_event(" word"))
                    h.wfile.flush()
                    time.sleep(0.02)
            else:
                for word in (" The", " road", " was", " long."):
                    h.wfile.write(_event(word))
                h.wfile.write(_event("", "stop") + b"data: [DONE]\n\n")
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.disconnected.set()

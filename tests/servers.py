"""HTTP servers on the loopback interface for the server-teacher tests.

- :class:`StubCompletions`: a tiny OpenAI-compatible server whose answers are computed from the prompt
  (one token for the prompt, one for the label), with switches for the failures a real server shows.
- :class:`FaultyProxy`: forwards to a real server and answers 500 from the n-th completion request on.

Each serves only 127.0.0.1 on a free port and stops when its ``with`` block ends.
"""

from __future__ import annotations

import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


def stub_logprob(prompt: str, label: str) -> float:
    """The stub's deterministic log-probability of ``label`` after ``prompt``."""
    return -1.0 - (zlib.crc32(f"{prompt}|{label}".encode()) % 1000) / 250.0


class _Server:
    """A threading HTTP server running in the background; a ``with`` block starts and stops it."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                owner.answer(self, "GET", None)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner._lock:
                    owner.requests += 1
                    number = owner.requests
                owner.answer(self, "POST", body, number)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, payload: dict | str) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def answer(self, handler, method, body, number=0) -> None:
        raise NotImplementedError

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class StubCompletions(_Server):
    """Serves ``model``; ``logprobs=False`` answers like llama.cpp's llama-server (no prompt scores);
    ``fail_from=n`` answers 500 to the n-th completion request and every one after it."""

    def __init__(self, model: str = "stub-model", logprobs: bool = True, fail_from: int | None = None,
                 labels: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.model, self.logprobs, self.fail_from, self.labels = model, logprobs, fail_from, labels

    def answer(self, handler, method, body, number=0) -> None:
        if method == "GET":
            self.send(handler, 200, {"object": "list", "data": [{"id": self.model, "object": "model"}]})
            return
        if self.fail_from is not None and number >= self.fail_from:
            self.send(handler, 500, {"error": "internal error (stub)"})
            return
        prompt = body["prompt"]
        label = next(v for v in self.labels if prompt.endswith(v))
        context = prompt[: -len(label)]
        logprobs = {"tokens": [context, label, "!"], "token_logprobs": [None, stub_logprob(context, label), -0.5],
                    "text_offset": [0, len(context), len(prompt)]} if self.logprobs else None
        self.send(handler, 200, {
            "object": "text_completion", "model": self.model,
            "choices": [{"index": 0, "text": prompt + "!", "logprobs": logprobs, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
        })


class FaultyProxy(_Server):
    """Forwards to ``upstream``; answers 500 to the ``fail_from``-th completion request and after."""

    def __init__(self, upstream: str, fail_from: int) -> None:
        super().__init__()
        self.upstream, self.fail_from = upstream.rstrip("/"), fail_from

    def answer(self, handler, method, body, number=0) -> None:
        path = handler.path.removeprefix("/v1")
        if method == "POST" and number >= self.fail_from:
            self.send(handler, 500, {"error": "injected failure"})
            return
        response = requests.request(method, self.upstream + path, json=body, timeout=300)
        self.send(handler, response.status_code, response.text)

"""HTTP servers on the loopback interface for the server-teacher tests.

- :class:`StubCompletions`: a tiny OpenAI-compatible server whose answers are computed from the prompt
  (one token for the prompt, one for the label), with switches for the failures a real server shows.
- :class:`FaultyProxy`: forwards to a real server and answers 500 from the n-th completion request on.

Each serves only 127.0.0.1 on a free port and stops when its ``with`` block ends.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


def stub_logprob(context: str | list[int], label: str | list[int]) -> float:
    """The stub's deterministic log-probability of ``label`` after ``context`` (text or token ids)."""
    return -1.0 - (zlib.crc32(f"{context}|{label}".encode()) % 1000) / 250.0


class _Server:
    """A threading HTTP server running in the background; a ``with`` block starts and stops it."""

    def __init__(self) -> None:
        self.requests = 0
        self.last_headers: dict = {}
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
                    owner.last_headers = dict(self.headers)
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
    """Serves ``model``; the prompt's last label (``labels``) gets :func:`stub_logprob`.

    ``token_ids``: accept prompts of token ids (the last ``label_tokens`` are the label), else answer
    422 to them as text-only servers do. ``logprobs``: ``"prompt"`` echoes every token's log-probability,
    ``"none"`` sends none, ``"generated"`` only the generated token's, ``"content"`` llama-server's shape.
    ``add_bos``: echo one token more than was sent. ``fail_from=n``: 500 from the n-th completion on;
    ``flaky=n``: ``flaky_status`` to the first n, then well; ``delay``: seconds before each answer.
    ``label_logprob``: what the label's tokens get instead (NaN, or None as SGLang writes -inf).
    ``root``: the ``root`` that ``/v1/models`` reports (vLLM: the weights' path). ``api_key``: answer 401
    to a request without ``Authorization: Bearer <api_key>``. ``max_model_len``: reported by ``/v1/models``.
    ``drop``: the numbers of the completion requests whose connection is closed without an answer.
    """

    def __init__(self, model: str = "stub-model", labels: tuple[str, ...] = (), token_ids: bool = False,
                 label_tokens: int = 1, logprobs: str = "prompt", add_bos: bool = False, fail_from: int | None = None,
                 flaky: int = 0, flaky_status: int = 500, delay: float = 0.0, label_logprob: object = "stub",
                 root: str | None = None, api_key: str | None = None, max_model_len: int | None = None,
                 drop: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.drop = drop
        self.label_logprob, self.root, self.api_key, self.max_model_len = label_logprob, root, api_key, max_model_len
        self.model, self.labels, self.token_ids, self.label_tokens = model, labels, token_ids, label_tokens
        self.logprobs, self.add_bos, self.delay = logprobs, add_bos, delay
        self.fail_from, self.flaky, self.flaky_status = fail_from, flaky, flaky_status

    def _split(self, prompt) -> tuple[list, list, float]:
        """(context tokens, label tokens, label log-probability) of a text or token-id prompt."""
        if isinstance(prompt, list):
            context, label = prompt[: -self.label_tokens], prompt[-self.label_tokens:]
            return [str(t) for t in context], [str(t) for t in label], stub_logprob(context, label)
        label = next(v for v in self.labels if prompt.endswith(v))
        return [prompt[: -len(label)]], [label], stub_logprob(prompt[: -len(label)], label)

    def answer(self, handler, method, body, number=0) -> None:
        if self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self.send(handler, 401, {"error": {"message": "Unauthorized", "type": "invalid_request_error", "code": 401}})
            return
        if method == "GET":
            entry = {"id": self.model, "object": "model", **({"root": self.root} if self.root else {}),
                     **({"max_model_len": self.max_model_len} if self.max_model_len else {})}
            self.send(handler, 200, {"object": "list", "data": [entry]})
            return
        time.sleep(self.delay)
        if number in self.drop:  # the connection closes with no answer (HTTP/1.0: after this handler)
            return
        if (self.fail_from is not None and number >= self.fail_from) or number <= self.flaky:
            self.send(handler, 500 if number > self.flaky else self.flaky_status, {"error": "failure (stub)"})
            return
        prompt = body["prompt"]
        if isinstance(prompt, list) and not self.token_ids:
            self.send(handler, 422, {"detail": "prompt: Input should be a valid string"})
            return
        if isinstance(prompt, str) and not any(prompt.endswith(v) for v in self.labels):  # a probe, no label
            self.send(handler, 200, {"choices": [{"index": 0, "text": "!", "logprobs": {
                "tokens": [prompt, "!"], "token_logprobs": [None, -0.5]}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
            return
        context, label, value = self._split(prompt)
        context = (["<s>"] if self.add_bos else []) + context
        per_token = value / len(label) if self.label_logprob == "stub" else self.label_logprob
        values = [None] + [-0.1] * (len(context) - 1) + [per_token] * len(label) + [-0.5]
        tokens = context + label + ["!"]
        logprobs = {
            "prompt": {"tokens": tokens, "token_logprobs": values},
            "none": None,
            "generated": {"tokens": ["!"], "token_logprobs": [-0.5]},
            "content": {"content": [{"token": "!", "logprob": -0.5}]},
        }[self.logprobs]
        self.send(handler, 200, {
            "object": "text_completion", "model": self.model,
            "choices": [{"index": 0, "text": "!", "logprobs": logprobs, "finish_reason": "length"}],
            "usage": {"prompt_tokens": len(context) + len(label), "completion_tokens": 1},
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

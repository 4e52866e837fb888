"""HTTP servers on the loopback interface for the server-teacher tests.

- :class:`StubCompletions`: a tiny OpenAI-compatible server whose answers are computed from the prompt
  (one token for the prompt, one for the label), with switches for the failures a real server shows.
- :class:`VllmCompletions`, :class:`SglangCompletions`: the same, in the response shapes of vLLM's and
  SGLang's OpenAI-compatible servers, read from their source.
- :class:`FaultyProxy`: forwards to a real server and answers 500 from the n-th completion request on.

Each serves only 127.0.0.1 on a free port and stops when its ``with`` block ends.
"""

from __future__ import annotations

import json
import math
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
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

    ``token_ids``: accept prompts of token ids, one or a list of them (the last ``label_tokens`` of each
    are the label), else answer 422 to them as text-only servers do. ``logprobs``: ``"prompt"`` echoes
    every token's log-probability, ``"none"`` sends none, ``"generated"`` only the generated token's,
    ``"content"`` llama-server's shape. ``add_bos``: echo one token more than was sent (``bos_in``: in the
    prompts of these positions of a list only). ``fail_from=n``: 500 from the n-th completion on;
    ``flaky=n``: ``flaky_status`` to the first n, then well; ``delay``: seconds before each answer.
    ``label_logprob``: what the label's tokens get instead (NaN, or None as SGLang writes -inf).
    ``root``: the ``root`` that ``/v1/models`` reports (vLLM: the weights' path). ``api_key``: answer 401
    to a request without ``Authorization: Bearer <api_key>``. ``max_model_len``: reported by ``/v1/models``.
    ``drop``: the numbers of the completion requests whose connection is closed without an answer.
    ``in_flight`` counts completion requests being answered; ``max_in_flight`` the most at once.
    """

    def __init__(self, model: str = "stub-model", labels: tuple[str, ...] = (), token_ids: bool = False,
                 label_tokens: int = 1, logprobs: str = "prompt", add_bos: bool = False, bos_in: tuple[int, ...] = (),
                 fail_from: int | None = None, flaky: int = 0, flaky_status: int = 500, delay: float = 0.0,
                 label_logprob: object = "stub", root: str | None = None, api_key: str | None = None,
                 max_model_len: int | None = None, drop: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.drop, self.bos_in = drop, bos_in
        self.label_logprob, self.root, self.api_key, self.max_model_len = label_logprob, root, api_key, max_model_len
        self.model, self.labels, self.token_ids, self.label_tokens = model, labels, token_ids, label_tokens
        self.logprobs, self.add_bos, self.delay = logprobs, add_bos, delay
        self.fail_from, self.flaky, self.flaky_status = fail_from, flaky, flaky_status
        self.in_flight = self.max_in_flight = 0

    def _split(self, prompt) -> tuple[list, list, float]:
        """(context tokens, label tokens, label log-probability) of a text or token-id prompt."""
        if isinstance(prompt, list):
            context, label = prompt[: -self.label_tokens], prompt[-self.label_tokens:]
            return [str(t) for t in context], [str(t) for t in label], stub_logprob(context, label)
        label = next(v for v in self.labels if prompt.endswith(v))
        return [prompt[: -len(label)]], [label], stub_logprob(prompt[: -len(label)], label)

    def label_value(self, value: float) -> object:
        """What a label token's log-probability is written as (engines differ on non-finite values)."""
        return value

    def error(self, handler, status: int, message: str) -> None:
        self.send(handler, status, {"error": message})

    def models_entry(self) -> dict:
        return {"id": self.model, "object": "model", **({"root": self.root} if self.root else {}),
                **({"max_model_len": self.max_model_len} if self.max_model_len else {})}

    def choice(self, index: int, prompt) -> tuple[dict, int]:
        """One echoed choice of ``prompt`` and its prompt token count."""
        if isinstance(prompt, str) and not any(prompt.endswith(v) for v in self.labels):  # a probe, no label
            return {"index": index, "text": "!", "logprobs": {"tokens": [prompt, "!"], "token_logprobs": [None, -0.5]}}, 1
        context, label, value = self._split(prompt)
        context = (["<s>"] if self.add_bos or index in self.bos_in else []) + context
        per_token = value / len(label) if self.label_logprob == "stub" else self.label_logprob
        values = [None] + [-0.1] * (len(context) - 1) + [self.label_value(per_token)] * len(label) + [-0.5]
        tokens = context + label + ["!"]
        logprobs = {
            "prompt": {"tokens": tokens, "token_logprobs": values},
            "none": None,
            "generated": {"tokens": ["!"], "token_logprobs": [-0.5]},
            "content": {"content": [{"token": "!", "logprob": -0.5}]},
        }[self.logprobs]
        return {"index": index, "text": "!", "logprobs": logprobs, "finish_reason": "length"}, len(context) + len(label)

    def completion(self, prompts: list) -> dict:
        answers = [self.choice(i, prompt) for i, prompt in enumerate(prompts)]
        return {"object": "text_completion", "model": self.model, "choices": [choice for choice, _ in answers],
                "usage": {"prompt_tokens": sum(n for _, n in answers), "completion_tokens": len(answers)}}

    def answer(self, handler, method, body, number=0) -> None:
        if self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            self.send(handler, 401, {"error": {"message": "Unauthorized", "type": "invalid_request_error", "code": 401}})
            return
        if method == "GET":
            self.send(handler, 200, {"object": "list", "data": [self.models_entry()]})
            return
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._complete(handler, body, number)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _complete(self, handler, body, number) -> None:
        time.sleep(self.delay)
        if number in self.drop:  # the connection closes with no answer (HTTP/1.0: after this handler)
            return
        if (self.fail_from is not None and number >= self.fail_from) or number <= self.flaky:
            self.send(handler, 500 if number > self.flaky else self.flaky_status, {"error": "failure (stub)"})
            return
        if body.get("max_tokens", 16) <= 0:
            self.error(handler, 400, "max_tokens must be at least 1")
            return
        prompt = body["prompt"]
        prompts = prompt if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int) else [prompt]
        if any(isinstance(p, list) for p in prompts) and not self.token_ids:
            self.send(handler, 422, {"detail": "prompt: Input should be a valid string"})
            return
        self.send(handler, 200, self.completion(prompts))


class VllmCompletions(StubCompletions):
    """:class:`StubCompletions` in vLLM's shapes (``vllm/entrypoints/openai``: the completion protocol and
    its serving code): ``text_offset`` and ``top_logprobs`` beside the log-probabilities, ``prompt_logprobs``
    null unless asked for, -inf clamped to -9999.0, errors as ``{"object": "error", ...}``, choices of a
    list of prompts in ``shuffle``'s order when set (each keeps its ``index``), usage summed over them."""

    def __init__(self, *args, shuffle: bool = False, **kwargs) -> None:
        super().__init__(*args, token_ids=True, **kwargs)
        self.shuffle = shuffle

    def label_value(self, value: float) -> object:
        return max(value, -9999.0) if isinstance(value, float) and not math.isnan(value) else value

    def error(self, handler, status: int, message: str) -> None:
        self.send(handler, status, {"object": "error", "message": message, "type": "BadRequestError", "param": None,
                                    "code": status})

    def choice(self, index: int, prompt) -> tuple[dict, int]:
        choice, count = super().choice(index, prompt)
        logprobs = choice["logprobs"]
        if logprobs and "tokens" in logprobs:
            offsets = np.cumsum([0] + [len(t) for t in logprobs["tokens"][:-1]]).tolist()
            logprobs.update(text_offset=offsets, top_logprobs=[None] + [{t: v} for t, v in
                                                                          zip(logprobs["tokens"][1:], logprobs["token_logprobs"][1:])])
        return {**choice, "stop_reason": None, "prompt_logprobs": None}, count

    def completion(self, prompts: list) -> dict:
        response = super().completion(prompts)
        if self.shuffle:
            response["choices"] = response["choices"][::-1]
        return response


class SglangCompletions(StubCompletions):
    """:class:`StubCompletions` in SGLang's shapes (``sglang/srt/entrypoints/openai/serving_completions.py``):
    ``text_offset`` of -1 for every token, no ``prompt_logprobs``, ``root`` equal to the served name, 400
    for ``max_tokens`` below 1, and -inf and NaN written as ``null``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, token_ids=True, **kwargs)
        self.root = self.model

    def label_value(self, value: object) -> object:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    def choice(self, index: int, prompt) -> tuple[dict, int]:
        choice, count = super().choice(index, prompt)
        if choice["logprobs"] and "tokens" in choice["logprobs"]:
            choice["logprobs"]["text_offset"] = [-1] * len(choice["logprobs"]["tokens"])
        return {**choice, "matched_stop": None}, count


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

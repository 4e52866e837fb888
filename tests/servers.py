"""HTTP servers on the loopback interface for the server-teacher tests.

- :class:`StubCompletions`: a small OpenAI-compatible server that tokenizes and decodes with a real
  tokenizer (the tests give it the teacher's, or another one) and computes each label's log-probability
  from the prompt, with switches for the failures a real server shows. Its errors are a plain FastAPI
  server's: 422 for a prompt of the wrong type, 500 when its JSON encoder meets NaN.
- :class:`VllmCompletions`, :class:`SglangCompletions`: the same in the shapes of vLLM's and SGLang's
  OpenAI-compatible servers; each shape names the source file it follows.
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
    """Serves ``model``, tokenizing and decoding with ``tokenizer``; a prompt's label gets :func:`stub_logprob`.

    ``token_ids``: accept prompts of token ids, one or a list of them (the last ``label_tokens`` of each
    are the label), else refuse them as a text-only FastAPI server does (422, "Input should be a valid
    string"). A text prompt's label is the one of ``labels`` it ends with (none: a probe). ``logprobs``:
    ``"prompt"`` echoes every token's log-probability, ``"none"`` sends none, ``"generated"`` only the
    generated token's, ``"content"`` llama-server's shape. ``add_bos``: the server puts its tokenizer's BOS
    token before ``"text"`` prompts only (vLLM and SGLang, with a tokenizer that adds one, such as Llama
    3's) or ``"always"``. ``fail_from=n``: 500 from the n-th completion on; ``flaky=n``: ``flaky_status``
    to the first n, then well; ``delay``: seconds before each answer. ``label_logprob``: what the label's
    tokens get instead (NaN, -inf). ``root``: the ``root`` that ``/v1/models`` reports (vLLM: the weights'
    path). ``api_key``: answer 401 to a request without ``Authorization: Bearer <api_key>``.
    ``max_model_len``: reported by ``/v1/models``. ``drop``: the numbers of the completion requests whose
    connection is closed without an answer. ``in_flight`` counts completion requests being answered;
    ``max_in_flight`` the most at once. The stub generates one token, ``!``, unless ``max_tokens`` is 0.
    """

    def __init__(self, tokenizer, model: str = "stub-model", labels: tuple[str, ...] = (), token_ids: bool = False,
                 label_tokens: int = 1, logprobs: str = "prompt", add_bos: str = "never", fail_from: int | None = None,
                 flaky: int = 0, flaky_status: int = 500, delay: float = 0.0, label_logprob: object = "stub",
                 root: str | None = None, api_key: str | None = None, max_model_len: int | None = None,
                 drop: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.tokenizer, self._tokenizing = tokenizer, threading.Lock()  # one thread at a time in a fast tokenizer
        self.drop, self.label_logprob, self.root, self.api_key = drop, label_logprob, root, api_key
        self.max_model_len = max_model_len
        self.model, self.labels, self.token_ids, self.label_tokens = model, labels, token_ids, label_tokens
        self.logprobs, self.add_bos, self.delay = logprobs, add_bos, delay
        self.fail_from, self.flaky, self.flaky_status = fail_from, flaky, flaky_status
        self.in_flight = self.max_in_flight = 0

    def read(self, prompt: str | list[int]) -> tuple[list[int], list[str], int, float]:
        """``(ids, tokens, label_count, label_logprob)``: the ids the server scores for ``prompt``, their
        text, how many of the last ones are the label, and the label's log-probability."""
        with self._tokenizing:
            if isinstance(prompt, list):
                ids, count = list(prompt), self.label_tokens
                value = stub_logprob(prompt[:-count], prompt[-count:])
            else:
                ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
                label = next((v for v in self.labels if prompt.endswith(v)), None)
                context = prompt[: -len(label)] if label else prompt
                count = len(ids) - len(self.tokenizer(context, add_special_tokens=False)["input_ids"])
                value = stub_logprob(context, label) if label else 0.0
            if self.add_bos == "always" or (self.add_bos == "text" and isinstance(prompt, str)):
                ids = [self.tokenizer.bos_token_id] + ids
            return ids, [self.tokenizer.decode([i]) for i in ids], count, value

    def label_value(self, value: object) -> object:
        """What a label token's log-probability is written as (engines differ on non-finite values)."""
        return value

    def error(self, handler, status: int, message: str) -> None:
        self.send(handler, status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

    def refuse_prompt_type(self, handler, prompt) -> None:
        """A list where a string is due: FastAPI's 422 (pydantic's message for each member of the union)."""
        self.send(handler, 422, {"detail": [{"type": "string_type", "loc": ["body", "prompt", "str"],
                                             "msg": "Input should be a valid string", "input": prompt}]})

    def refuse_unserialisable(self, handler, error: ValueError) -> None:
        """A response with NaN in it: Starlette's JSONResponse refuses it, and FastAPI answers 500 in text."""
        self.send(handler, 500, "Internal Server Error")

    def refusal(self, prompts: list[list[int]], max_tokens: int) -> str | None:
        """Why the server refuses these prompts (the ids it would score) with 400; None: it scores them."""
        return None

    def models_entry(self) -> dict:
        return {"id": self.model, "object": "model", "owned_by": "me", **({"root": self.root} if self.root else {}),
                **({"max_model_len": self.max_model_len} if self.max_model_len else {})}

    def choice(self, index: int, prompt: tuple[list[int], list[str], int, float], logprobs: int | None,
               generated: int) -> dict:
        """One echoed choice of a prompt as :meth:`read` gives it, with ``generated`` tokens after it."""
        ids, tokens, count, value = prompt
        label = self.label_value(value / count if self.label_logprob == "stub" and count else self.label_logprob)
        values = [-0.1] * (len(ids) - count) + [label] * count + [-0.5] * generated
        values[0] = None
        tokens = tokens + ["!"] * generated
        shapes = {
            "prompt": {"tokens": tokens, "token_logprobs": values},
            "none": None,
            "generated": {"tokens": ["!"], "token_logprobs": [-0.5]},
            "content": {"content": [{"token": "!", "logprob": -0.5}]},
        }
        return {"index": index, "text": "".join(tokens), "logprobs": shapes[self.logprobs] if logprobs is not None else None,
                "finish_reason": "length"}

    def completion(self, prompts: list[tuple], body: dict) -> dict:
        generated = 1 if body.get("max_tokens", 16) >= 1 else 0
        choices = [self.choice(i, prompt, body.get("logprobs"), generated) for i, prompt in enumerate(prompts)]
        prompt_tokens = sum(len(ids) for ids, *_ in prompts)
        return {"object": "text_completion", "model": self.model, "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": generated * len(prompts),
                          "total_tokens": prompt_tokens + generated * len(prompts)}}

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
        prompt = body["prompt"]
        prompts = prompt if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int) else [prompt]
        if any(isinstance(p, list) for p in prompts) and not self.token_ids:
            self.refuse_prompt_type(handler, prompt)
            return
        read = [self.read(p) for p in prompts]
        refusal = self.refusal([ids for ids, *_ in read], body.get("max_tokens", 16))
        if refusal:
            self.error(handler, 400, refusal)
            return
        response = self.completion(read, body)
        try:
            json.dumps(response, allow_nan=False)
        except ValueError as error:
            self.refuse_unserialisable(handler, error)
            return
        self.send(handler, 200, response)


class VllmCompletions(StubCompletions):
    """:class:`StubCompletions` in vLLM's shapes; ``shuffle``: the choices of a list of prompts in reverse
    order (each keeps its ``index``); ``max_prompts``: vLLM's ``VLLM_MAX_COMPLETION_PROMPTS``. It refuses
    ids outside the served model's vocabulary (``vocab_size``; default: its tokenizer's) and a prompt
    that, with ``max_tokens``, exceeds ``max_model_len`` (default 8192)."""

    def __init__(self, *args, shuffle: bool = False, max_prompts: int = 1024, vocab_size: int | None = None,
                 max_model_len: int = 8192, **kwargs) -> None:
        super().__init__(*args, token_ids=True, max_model_len=max_model_len, **kwargs)
        self.shuffle, self.max_prompts, self.vocab_size = shuffle, max_prompts, vocab_size or len(self.tokenizer)

    def label_value(self, value: object) -> object:
        # entrypoints/openai/completion/serving.py (_create_completion_logprobs): max(logprob, -9999.0),
        # which leaves NaN as it is
        return max(value, -9999.0) if isinstance(value, float) else value

    def error(self, handler, status: int, message: str) -> None:
        # entrypoints/serve/engine/protocol.py: ErrorResponse(error=ErrorInfo(message, type, param, code))
        self.send(handler, status, {"error": {"message": message, "type": "BadRequestError", "param": None,
                                              "code": status}})

    def refuse_unserialisable(self, handler, error: ValueError) -> None:
        # entrypoints/openai/completion/api_router.py answers JSONResponse(content=response.model_dump()),
        # whose encoder refuses NaN; serve/exception_handling/register.py sends the ValueError to
        # create_error_response, which answers 400 (a 500 in releases before those handlers)
        self.error(handler, 400, str(error))

    def refusal(self, prompts: list[list[int]], max_tokens: int) -> str | None:
        if len(prompts) > self.max_prompts:  # completion/protocol.py: validate_prompt_list_length, a 400 of
            # serve/exception_handling/handlers/validation.py that lists pydantic's errors
            return (f"1 validation error:\n  {{'type': 'value_error', 'loc': ('body',), 'msg': 'Value error, prompt list "
                    f"length {len(prompts)} exceeds the maximum allowed count of {self.max_prompts}. To increase this "
                    "limit, set the VLLM_MAX_COMPLETION_PROMPTS environment variable.'}}")
        outside = [i for ids in prompts for i in ids if not 0 <= i < self.vocab_size]
        if outside:  # the engine's input processor checks the largest id against the vocabulary
            return f"Token id {max(outside)} is out of vocabulary"
        longest = max(len(ids) for ids in prompts)
        if longest + max_tokens > self.max_model_len:  # renderers/params.py: prompt + max_tokens <= max_model_len
            return (f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                    f"{max_tokens} output tokens and your prompt contains {longest} input tokens, for a total of "
                    f"{longest + max_tokens} tokens.")
        return None

    def models_entry(self) -> dict:
        # entrypoints/openai/models/protocol.py: ModelCard; root is the weights' path or hub id
        return {"id": self.model, "object": "model", "created": 0, "owned_by": "vllm", "root": self.root or self.model,
                "parent": None, "max_model_len": self.max_model_len, "permission": []}

    def choice(self, index: int, prompt: tuple, logprobs: int | None, generated: int) -> dict:
        # entrypoints/openai/completion/serving.py (request_output_to_completion_response): with echo, the
        # prompt's tokens then the generated one; max_tokens 0 echoes the prompt alone
        choice = super().choice(index, prompt, logprobs, generated)
        shape = choice["logprobs"]
        if shape and "tokens" in shape:
            tokens, values = shape["tokens"], shape["token_logprobs"]
            shape.update(text_offset=np.cumsum([0] + [len(t) for t in tokens[:-1]]).tolist(),
                         top_logprobs=[None] + [{t: v} for t, v in zip(tokens[1:], values[1:])])
        ids, tokens, _, _ = prompt
        # completion/protocol.py (to_sampling_params): echo asks for prompt_logprobs = logprobs; the choice
        # carries them as vllm.logprobs.Logprob objects, clamped to -9999 (clamp_prompt_logprobs)
        prompt_logprobs = None if logprobs is None else [None] + [
            {str(i): {"logprob": v, "rank": 1, "decoded_token": t}}
            for i, t, v in zip(ids[1:], tokens[1:], (shape or {}).get("token_logprobs", [])[1: len(ids)])]
        return {**choice, "stop_reason": None, "token_ids": None, "prompt_logprobs": prompt_logprobs,
                "prompt_token_ids": None}

    def completion(self, prompts: list[tuple], body: dict) -> dict:
        response = super().completion(prompts, body)
        if self.shuffle:
            response["choices"] = response["choices"][::-1]
        return response


class SglangCompletions(StubCompletions):
    """:class:`StubCompletions` in SGLang's shapes. ``batch_tokenize``: started with
    ``--enable-tokenizer-batch-encode``, which refuses a list of token-id prompts. It refuses a prompt
    that, with ``max_tokens``, reaches ``max_model_len`` (its context length; default 8192)."""

    def __init__(self, *args, batch_tokenize: bool = False, max_model_len: int = 8192, **kwargs) -> None:
        super().__init__(*args, token_ids=True, max_model_len=max_model_len, **kwargs)
        self.batch_tokenize = batch_tokenize

    def label_value(self, value: object) -> object:
        # entrypoints/http_server.py answers with ORJSONResponse: orjson writes NaN and -inf as null
        return None if isinstance(value, float) and not math.isfinite(value) else value

    def error(self, handler, status: int, message: str) -> None:
        # entrypoints/openai/protocol.py: ErrorResponse, flat (only /v1/responses nests it)
        self.send(handler, status, {"object": "error", "message": message, "type": "BadRequestError", "param": None,
                                    "code": status})

    def refusal(self, prompts: list[list[int]], max_tokens: int) -> str | None:
        if self.batch_tokenize and len(prompts) > 1:  # managers/tokenizer_manager.py
            return ("Batch tokenization is not needed for pre-tokenized input_ids. Do not set "
                    "`enable_tokenizer_batch_encode`.")
        longest = max(len(ids) for ids in prompts)
        if longest + max_tokens >= self.max_model_len:  # managers/tokenizer_manager.py: below the context length
            return (f"Requested token count exceeds the model's maximum context length of {self.max_model_len} tokens. "
                    f"You requested a total of {longest + max_tokens} tokens: {longest} tokens from the input messages "
                    f"and {max_tokens} tokens for the completion.")
        return None

    def models_entry(self) -> dict:
        # entrypoints/http_server.py (available_models): root is the served name, max_model_len the context
        return {"id": self.model, "object": "model", "created": 0, "owned_by": "sglang", "root": self.model,
                "max_model_len": self.max_model_len}

    def choice(self, index: int, prompt: tuple, logprobs: int | None, generated: int) -> dict:
        # entrypoints/openai/serving_completions.py: the prompt's log-probabilities only when echo and
        # logprobs is truthy (logprob_start_len 0); logprobs 0 gives the generated token's alone
        choice = super().choice(index, prompt, logprobs, generated)
        shape = choice["logprobs"]
        if shape and "tokens" in shape:
            if not logprobs:
                shape.update(tokens=shape["tokens"][len(shape["tokens"]) - generated:],
                             token_logprobs=shape["token_logprobs"][len(shape["token_logprobs"]) - generated:])
            # entrypoints/openai/utils.py (to_openai_style_logprobs): text offsets are not supported (-1)
            shape.update(text_offset=[-1] * len(shape["tokens"]),
                         top_logprobs=[None if v is None else {t: v}
                                       for t, v in zip(shape["tokens"], shape["token_logprobs"])])
        return {**choice, "matched_stop": None}


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

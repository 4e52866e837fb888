"""The server teacher: any OpenAI-compatible ``/v1/completions`` endpoint with prompt log-probabilities.

Each (text, label) pair is one request for ``prompt + label`` with ``echo`` and ``logprobs``: the
server returns the log-probability of every prompt token, and the label's tokens are the last ones
before the generated token (the convention of lm-evaluation-harness's ``local-completions`` model).
vLLM, SGLang and llama-cpp-python's server (model loaded with ``logits_all``, its default) return them;
**llama.cpp's own ``llama-server`` does not**, and OpenAI's hosted models no longer do.

Requests run concurrently (a bounded pool), and 429, 5xx and timeouts are retried with exponential
backoff. The API key is read from an environment variable, never from the study file or the run folder.
The server's tokenizer decides how the label is split into tokens; the rendered prompt comes from the
local tokenizer's chat template (``teacher_tokenizer``), which must be the served model's.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .prompts import Prompt
from .teacher import BatchScorer, Teacher, load_tokenizer

NO_PROMPT_LOGPROBS = (
    "returned no prompt log-probabilities (echo + logprobs): the server teacher needs a server that "
    "scores the prompt's tokens, such as vLLM, SGLang or llama-cpp-python's server; llama.cpp's own "
    "llama-server does not return them"
)


class ServerError(RuntimeError):
    """The server could not be reached, refused a request, or answered without what the teacher needs."""


def continuation_logprob(response: dict, continuation: str, where: str) -> float:
    """``log p(continuation | prompt)`` from an echoed completion of ``prompt + continuation``.

    The continuation's tokens are the last prompt tokens (the ``usage.completion_tokens`` generated
    ones follow them) whose text adds up to ``continuation``.
    """
    try:
        choice = response["choices"][0]
        generated = int(response["usage"]["completion_tokens"])
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise ServerError(f"{where} answered without choices or usage: {str(response)[:300]}") from error
    logprobs = choice.get("logprobs") or {}
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    if not tokens or not values or len(values) != len(tokens):
        raise ServerError(f"{where} {NO_PROMPT_LOGPROBS}")
    end = len(tokens) - generated
    start, text = end, ""
    while len(text) < len(continuation) and start > 0:
        start -= 1
        text = tokens[start] + text
    if text != continuation:
        raise ServerError(
            f"{where}: the last prompt tokens {tokens[start:end]} do not spell the label {continuation!r}; "
            "the server's tokenizer merges the label with the end of the prompt, or teacher_tokenizer "
            "is not the served model's"
        )
    scores = values[start:end]
    if any(value is None for value in scores):
        raise ServerError(f"{where} {NO_PROMPT_LOGPROBS}")
    return float(sum(scores))


class CompletionsClient:
    """A thread-safe session for one OpenAI-compatible server, with retries and a timeout."""

    RETRY_STATUSES = (429, 500, 502, 503, 504)

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0, retries: int = 5,
                 backoff: float = 0.5, pool_size: int = 8) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        retry = Retry(total=retries, backoff_factor=backoff, status_forcelist=self.RETRY_STATUSES,
                      allowed_methods=None, raise_on_status=False, respect_retry_after_header=True)
        self.session = requests.Session()
        self.session.mount(self.url, HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=pool_size))
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def _request(self, method: str, path: str, **kwargs) -> dict:
        url = f"{self.url}{path}"
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.ConnectionError as error:
            raise ServerError(f"cannot reach the teacher server at {url}: {error}") from error
        except requests.exceptions.Timeout as error:
            raise ServerError(f"the teacher server at {url} did not answer within {self.timeout} s") from error
        except requests.exceptions.RetryError as error:
            raise ServerError(f"the teacher server at {url} kept failing: {error}") from error
        if response.status_code != 200:
            raise ServerError(f"the teacher server at {url} answered {response.status_code}: {response.text[:500]}")
        try:
            return response.json()
        except ValueError as error:
            raise ServerError(f"the teacher server at {url} answered with non-JSON: {response.text[:300]}") from error

    def models(self) -> list[dict]:
        """``GET /models``: what the server serves."""
        return self._request("GET", "/models").get("data", [])

    def echo_completion(self, model: str, prompt: str) -> dict:
        """``POST /completions`` that echoes ``prompt`` with the log-probability of each of its tokens."""
        body = {"model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1}
        return self._request("POST", "/completions", json=body)


class ServerTeacher(Teacher):
    """A teacher behind an OpenAI-compatible server."""

    def __init__(self, client: CompletionsClient, model: str, tokenizer, fingerprint: str, concurrency: int = 8) -> None:
        self.client, self.model, self.tokenizer, self.fingerprint = client, model, tokenizer, fingerprint
        self.name = f"{model} at {client.url}"
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="teacher-request")

    @classmethod
    def connect(cls, url: str, model: str, tokenizer, revision: str | None = None,
                api_key_env: str = "LLKD_TEACHER_API_KEY", concurrency: int = 8, timeout: float = 60.0,
                retries: int = 5, backoff: float = 0.5) -> "ServerTeacher":
        """Check that ``url`` serves ``model`` and load ``tokenizer`` (a teacher name, or a loaded tokenizer,
        whose chat template renders the prompt). The cache fingerprint is the served model's identity, not the URL: replicas
        behind other URLs share cached scores."""
        client = CompletionsClient(url, os.environ.get(api_key_env), timeout, retries, backoff, pool_size=concurrency)
        served = {entry.get("id"): entry for entry in client.models()}
        if model not in served:
            raise ServerError(f"the teacher server at {client.url} serves {sorted(served)}, not teacher_model {model!r}")
        root = served[model].get("root")  # vLLM: the weights' path or hub id
        identity = "@".join(str(part) for part in (model, root if root not in (None, model) else None, revision) if part)
        tokenizer = load_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
        return cls(client, model, tokenizer, f"server:{identity}", concurrency)

    def batch_scorer(self, prompt: Prompt, verbalizers: tuple[str, ...]) -> BatchScorer:
        def one(text: str, verbalizer: str) -> float:
            response = self.client.echo_completion(self.model, prompt.render(text) + verbalizer)
            return continuation_logprob(response, verbalizer, f"the teacher server at {self.client.url}")

        def score(texts: list[str]) -> np.ndarray:
            futures = [[self._pool.submit(one, text, v) for v in verbalizers] for text in texts]
            try:
                return np.array([[future.result() for future in row] for row in futures], dtype=np.float64)
            except BaseException:
                for row in futures:
                    for future in row:
                        future.cancel()
                raise

        return score

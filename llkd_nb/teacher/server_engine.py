"""The server teacher: any OpenAI-compatible ``/v1/completions`` endpoint with prompt log-probabilities.

The teacher asks for ``prompt + label`` with ``echo`` and ``logprobs``: the server returns the
log-probability of every prompt token, and the label's are summed (the convention of
lm-evaluation-harness's ``local-completions`` model). vLLM, SGLang and llama-cpp-python's server return
them; **llama.cpp's own ``llama-server`` does not**, and OpenAI's hosted models no longer do.

Two ways to send the prompt, chosen once per server by :meth:`ServerTeacher.connect` (or set):

- **token ids** (vLLM, SGLang): exactly the ids the in-process teacher scores (prefix, text and label
  encoded apart by the local tokenizer); the label is the last ``len(label)`` prompt tokens. A text's
  K label prompts go in one request, as a list; its choices are read by ``index``.
- **text** (servers that take only strings, such as llama-cpp-python's): one request per text and
  label; the server tokenizes the whole string, and the label is the run of last prompt tokens whose
  text spells it.

Requests run concurrently (a bounded pool, one HTTP session per thread); 429, 5xx and failed or
dropped connections are retried with exponential backoff, a read timeout is not (the request may still
be queued on the server). The API key is read from an environment variable,
never from the study file or the run folder, and a URL that carries credentials is refused before any
request (it would be written into the study file, the run record and the notebook). A log-probability
that is not a finite number (NaN, or SGLang's ``null`` for -inf) is an error, never a cached score. The local tokenizer (``teacher_tokenizer``; default: the
weights the server reports, else ``teacher_model``) renders the chat template and must be the served
model's.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from ..core.validation import ParameterError
from .engine import BatchScorer, Teacher, load_tokenizer
from .prompts import Prompt

NO_PROMPT_LOGPROBS = (
    "returned no prompt log-probabilities (echo + logprobs): the server teacher needs a server that "
    "scores the prompt's tokens, such as vLLM, SGLang or llama-cpp-python's server; llama.cpp's own "
    "llama-server does not return them"
)


class ServerError(RuntimeError):
    """The server could not be reached, refused a request, or answered without what the teacher needs.
    ``status`` is the HTTP status of a refusal (None otherwise)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def check_url(teacher: str) -> str:
    """``teacher`` as a server URL: stripped, its scheme lower-cased. Refused if it carries a secret
    (``user:token@host``, ``?key=``, ``;key=``, ``#token``; without a scheme, an ``@`` before the first
    ``/``) or names a scheme other than http(s); the message does not repeat the URL."""
    text = teacher.strip()
    scheme, found, rest = text.partition("://")
    url = f"{scheme.lower()}{found}{rest}"
    parts = urlsplit(url if found else f"//{url}")
    if "@" in parts.netloc or parts.query or parts.fragment or ";" in parts.path:
        raise ServerError("the teacher server URL carries credentials, a query, parameters or a fragment (user:token@host, "
                          "?key=, ;key=, #token): it would be written into the study file, the run record and the "
                          "notebook. Give the plain URL (http://host:port/v1) and put the key in the environment "
                          "variable that teacher_api_key_env names")
    if found and parts.scheme not in ("http", "https"):
        raise ServerError("the teacher server URL must start with http:// or https:// (http://host:port/v1)")
    return url


def _choices(response: dict, count: int, where: str) -> tuple[list[dict], int]:
    """The ``count`` choices of a completion, in the order of its prompts (by ``index``), and the tokens
    generated over all of them (``usage`` sums over a request's prompts)."""
    try:
        choices = sorted(response["choices"], key=lambda choice: choice.get("index", 0))
        generated = int(response["usage"]["completion_tokens"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        raise ServerError(f"{where} answered without choices or usage: {str(response)[:300]}") from error
    if len(choices) != count:
        raise ServerError(f"{where} answered {len(choices)} choices to {count} prompts")
    return choices, generated


def _echoed(choice: dict, where: str) -> tuple[list, list]:
    """``(tokens, token_logprobs)`` of one echoed choice: the prompt's tokens, then the generated one."""
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    tokens, values = (logprobs.get("tokens"), logprobs.get("token_logprobs")) if isinstance(logprobs, dict) else (None, None)
    if not isinstance(tokens, list) or not isinstance(values, list) or len(values) != len(tokens) or len(tokens) < 2 \
            or all(value is None for value in values[1:-1]):  # no prompt log-probabilities
        raise ServerError(f"{where} {NO_PROMPT_LOGPROBS}")
    return tokens, values


def _sum(values: list, where: str) -> float:
    if any(value is None for value in values):
        raise ServerError(f"{where} returned null for a label token's log-probability (SGLang writes -inf and NaN as "
                          "null): the score is not a number, and it is not cached")
    if any(not isinstance(value, (int, float)) for value in values):
        raise ServerError(f"{where} {NO_PROMPT_LOGPROBS}")
    if not all(math.isfinite(value) for value in values):
        raise ServerError(f"{where} returned a non-finite log-probability for a label token ({values}): the score "
                          "is not a number, and it is not cached")
    return float(sum(values))


def label_logprobs_at(response: dict, prompt_lengths: list[int], label_lengths: list[int], where: str) -> list[float]:
    """``log p(label | context)`` for each prompt of a completion of token ids ``context + label``
    (``prompt_lengths[i]`` ids, the last ``label_lengths[i]`` of them the label): the sum over the label's
    positions. The server must have echoed exactly the ids it was sent: one token more per prompt is a
    BOS it added (it then scores another prompt than the in-process teacher)."""
    choices, generated = _choices(response, len(prompt_lengths), where)
    echoed = [_echoed(choice, where) for choice in choices]
    extra = sum(len(tokens) for tokens, _ in echoed) - generated - sum(prompt_lengths)
    if extra:
        raise ServerError(f"{where} echoed {sum(prompt_lengths) + extra} prompt tokens for the {sum(prompt_lengths)} "
                          f"token ids of {len(prompt_lengths)} prompt(s) it was sent (did it add a BOS token?)")
    for (tokens, _), length in zip(echoed, prompt_lengths):
        if not 0 <= len(tokens) - length <= 1:  # max_tokens is 1: the prompt, then at most one generated token
            raise ServerError(f"{where} echoed {len(tokens)} tokens for a prompt of {length} token ids and one "
                              "generated token at most (did it add a BOS token?)")
    return [_sum(values[length - label: length], where)
            for (_, values), length, label in zip(echoed, prompt_lengths, label_lengths)]


def label_logprob_spelled(response: dict, label: str, where: str) -> float:
    """``log p(label | prompt)`` from an echoed completion of the text ``prompt + label``: the sum over the
    last prompt tokens whose text spells ``label``. Whitespace that ends the prompt may join the label's
    first token (byte-level BPE writes ``"Label: business"`` as ``Label``, ``:``, `` business``)."""
    (choice,), generated = _choices(response, 1, where)
    tokens, values = _echoed(choice, where)
    end = len(tokens) - generated
    start, text = end, ""
    try:
        while len(text) < len(label) and start > 0:
            start -= 1
            text = tokens[start] + text
    except TypeError as error:
        raise ServerError(f"{where} echoed a token that is not text: {tokens[start]!r}") from error
    if not (text == label or (text.endswith(label) and text[: len(text) - len(label)].isspace())):
        raise ServerError(
            f"{where}: the last prompt tokens {tokens[start:end]} do not spell the label {label!r}; the server's "
            "tokenizer merges the label with the end of the prompt, or teacher_tokenizer is not the served model's"
        )
    return _sum(values[start:end], where)


class _RetryButNotReadTimeouts(Retry):
    """urllib3's retry policy, except that a read timeout is raised at once: the request may still be
    queued on the server, and a retry would rejoin the back of its queue. Refused requests (429, 5xx),
    failed connections and dropped ones are retried as before."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if isinstance(error, ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


class CompletionsClient:
    """HTTP calls to one OpenAI-compatible server: one session per thread, retries, a timeout."""

    RETRY_STATUSES = (429, 500, 502, 503, 504)
    TRANSIENT_STATUSES = (429, 502, 503, 504)  # busy or restarting: no answer to what the request asked

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0, retries: int = 5,
                 backoff: float = 0.5, api_key_env: str = "LLKD_TEACHER_API_KEY") -> None:
        self.url, self.timeout, self._api_key, self.api_key_env = check_url(url).rstrip("/"), timeout, api_key, api_key_env
        self.backoff = backoff
        self._retry = _RetryButNotReadTimeouts(total=retries, backoff_factor=backoff, status_forcelist=self.RETRY_STATUSES,
                                               allowed_methods=None, raise_on_status=False, respect_retry_after_header=True)
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            session = requests.Session()
            session.mount(self.url, HTTPAdapter(max_retries=self._retry))
            if self._api_key:
                session.headers["Authorization"] = f"Bearer {self._api_key}"
            self._local.session = session
        return self._local.session

    def _request(self, method: str, path: str, retry: bool = True, **kwargs) -> dict:
        url = f"{self.url}{path}"
        try:
            if retry:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            else:
                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                response = requests.request(method, url, timeout=self.timeout, headers=headers, **kwargs)
        except requests.exceptions.RequestException as error:
            reason = getattr(error.args[0], "reason", None) if error.args else None
            if isinstance(error, requests.exceptions.Timeout) or isinstance(reason, ReadTimeoutError):
                raise ServerError(f"the teacher server at {url} did not answer within {self.timeout} s (not retried: "
                                  "the request may still be queued there); raise teacher_timeout for a busy server") \
                    from error
            if isinstance(error, requests.exceptions.ConnectionError):
                raise ServerError(f"cannot reach the teacher server at {url}: {error}") from error
            raise ServerError(f"request to the teacher server at {url} failed: {error}") from error
        if response.status_code in (401, 403):
            state = "is set but was refused" if self._api_key else "is not set"
            raise ServerError(f"the teacher server at {url} answered {response.status_code} (not authorised): the API "
                              f"key comes from the environment variable {self.api_key_env}, which {state}",
                              status=response.status_code)
        if response.status_code != 200:
            raise ServerError(f"the teacher server at {url} answered {response.status_code}: {response.text[:500]}",
                              status=response.status_code)
        try:
            body = response.json()
        except ValueError as error:
            raise ServerError(f"the teacher server at {url} answered with non-JSON: {response.text[:300]}") from error
        if not isinstance(body, dict):
            raise ServerError(f"the teacher server at {url} answered with {type(body).__name__}, not a JSON object")
        return body

    def models(self) -> list[dict]:
        """``GET /models``: what the server serves."""
        data = self._request("GET", "/models").get("data")
        if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
            raise ServerError(f"the teacher server at {self.url}/models lists no models: {str(data)[:300]}")
        return data

    def echo_completion(self, model: str, prompt: str | list[int] | list[list[int]], retry: bool = True) -> dict:
        """``POST /completions`` that echoes ``prompt`` (text, token ids, or a list of token-id prompts)
        with each token's log-probability."""
        body = {"model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1}
        return self._request("POST", "/completions", retry=retry, json=body)

    def takes_token_ids(self, model: str, ids: list[int]) -> bool:
        """Whether the server scores a list of token-id prompts (vLLM and SGLang do; the probe sends two
        copies of ``ids``). Only a refusal of that prompt means text: 400
        or 422, or a 500 that persists after the server has answered a text prompt (llama-cpp-python's
        server answers 500 to a prompt that is not a string). A busy or restarting server (429, 502-504)
        is asked again with backoff: taking its answer for "text" would make vLLM and SGLang add a BOS
        token before a chat template that already has one, and shift every score silently."""
        tries = self._retry.total + 1
        for attempt in range(tries):
            try:
                self.echo_completion(model, [ids, ids], retry=False)
                return True
            except ServerError as error:
                if error.status in (400, 422):
                    return False
                if error.status == 500:  # a refusal, or a transient fault: ask in text, then in ids once more
                    self.echo_completion(model, "Hello")
                    try:
                        self.echo_completion(model, [ids, ids], retry=False)
                        return True
                    except ServerError as again:
                        if again.status == 500:
                            return False
                        error = again
                if error.status not in self.TRANSIENT_STATUSES:  # unreachable, too slow, not authorised
                    raise
                last = error
            if attempt + 1 < tries:
                time.sleep(self.backoff * 2 ** attempt)
        raise ServerError(f"could not ask the teacher server at {self.url} whether it takes token ids: it answered "
                          f"{last.status} to {tries} tries", status=last.status)


class ServerTeacher(Teacher):
    """A teacher behind an OpenAI-compatible server."""

    batches_in_flight = 2  # the next batch's requests queue while this batch's last ones finish

    def __init__(self, client: CompletionsClient, model: str, tokenizer, fingerprint: str, token_ids: bool,
                 concurrency: int = 8, max_model_len: int | None = None) -> None:
        self.client, self.model, self.tokenizer, self.fingerprint = client, model, tokenizer, fingerprint
        self.token_ids, self.max_model_len = token_ids, max_model_len
        self.name = f"{model} at {client.url}"
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="teacher-request")
        self._cancelled = threading.Event()
        self._submitting = threading.Lock()  # a batch's requests enter the queue together, in batch order

    def cancel(self) -> None:
        """Queued requests end at once, unsent; those in flight end with their answer or timeout."""
        self._cancelled.set()

    def resume(self) -> None:
        self._cancelled.clear()

    def _completion(self, prompt: str | list[list[int]]) -> dict:
        if self._cancelled.is_set():
            raise ServerError("cancelled: an earlier batch failed or the run was interrupted")
        return self.client.echo_completion(self.model, prompt)

    @classmethod
    def connect(cls, url: str, model: str, tokenizer=None, revision: str | None = None,
                api_key_env: str = "LLKD_TEACHER_API_KEY", concurrency: int = 8, timeout: float = 60.0,
                retries: int = 5, backoff: float = 0.5,
                prompt_form: Literal["auto", "token_ids", "text"] = "auto") -> "ServerTeacher":
        """Check that ``url`` serves ``model``, load the tokenizer (a teacher name or a loaded tokenizer;
        default: the weights the server reports, else ``model``), and send token ids or text as
        ``prompt_form`` says (``auto``: ask the server once). The cache fingerprint is the served model's
        identity and the prompt's form, not the URL: replicas behind other URLs share cached scores."""
        if prompt_form not in ("auto", "token_ids", "text"):
            raise ParameterError(f"teacher_prompt_form must be auto, token_ids or text, got {prompt_form!r}")
        client = CompletionsClient(url, os.environ.get(api_key_env), timeout, retries, backoff, api_key_env)
        served = {entry.get("id"): entry for entry in client.models()}
        if model not in served:
            raise ServerError(f"the teacher server at {client.url} serves {sorted(map(str, served))}, "
                              f"not teacher_model {model!r}")
        root = served[model].get("root")  # vLLM: the weights' path or hub id; SGLang: the served name
        if tokenizer is None and isinstance(root, str) and root.startswith(("/", "./", "../", "~")) \
                and not Path(root).expanduser().exists():  # the server's own folder, absent here
            try:
                tokenizer = load_tokenizer(model, revision)
            except Exception as error:
                raise ServerError(f"the teacher server reports its weights at {root}, a folder this machine does not "
                                  f"have, and teacher_model {model!r} names no tokenizer here either: set "
                                  "teacher_tokenizer to the served model's hub id or a local copy of its "
                                  "tokenizer") from error
        if tokenizer is None or isinstance(tokenizer, str):
            tokenizer = load_tokenizer(tokenizer or root or model, revision)
        token_ids = prompt_form == "token_ids" or (
            prompt_form == "auto" and client.takes_token_ids(model, tokenizer("Hello", add_special_tokens=False)["input_ids"]))
        identity = "@".join(str(part) for part in (model, root if root not in (None, model) else None, revision) if part)
        max_model_len = served[model].get("max_model_len")  # vLLM reports its context length
        return cls(client, model, tokenizer, f"server:{identity}:{'token-ids' if token_ids else 'text'}",
                   token_ids, concurrency, max_model_len if isinstance(max_model_len, int) else None)

    def check_prompts(self, prompt: Prompt, verbalizers: tuple[str, ...], texts: list[str]) -> None:
        """Every prompt (with its longest label and the one generated token) must fit the server's
        ``max_model_len``; checked before any request, so a long text fails the run at once, not midway."""
        if self.max_model_len is None or not texts:
            return
        prefix, label = len(self.encode(prompt.prefix)), max(len(self.encode(v)) for v in verbalizers)
        margin = 0 if self.token_ids else 4  # text: the server adds a BOS and may split the text differently
        tokens = prefix + self.longest_middle(prompt, texts) + label + 1 + margin
        if tokens > self.max_model_len:
            raise ServerError(f"the longest prompt needs {tokens} tokens (with its label and one generated token), more "
                              f"than the teacher server's max_model_len {self.max_model_len}: lower max_words, or serve "
                              "the model with a longer --max-model-len")

    def close(self) -> None:
        """Cancel queued requests; those in flight end with their timeout."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def batch_scorer(self, prompt: Prompt, verbalizers: tuple[str, ...]) -> BatchScorer:
        """Token ids: one request per text, its K label prompts together (vLLM and SGLang take a list of
        prompts); text: one request per text and label. The requests of a batch run concurrently."""
        where = f"the teacher server at {self.client.url}"
        prefix, labels = self.encode(prompt.prefix), [self.encode(v) for v in verbalizers]

        def by_ids(text: str) -> list[float]:
            context = prefix + self.encode(prompt.middle(text))
            ids = [context + label for label in labels]
            return label_logprobs_at(self._completion(ids), [len(i) for i in ids],
                                     [len(label) for label in labels], where)

        def by_text(text: str, verbalizer: str) -> float:
            return label_logprob_spelled(self._completion(prompt.render(text) + verbalizer), verbalizer, where)

        def score(texts: list[str]) -> np.ndarray:
            with self._submitting:  # batches scored side by side (batches_in_flight) queue one after the other
                if self.token_ids:
                    futures = [self._pool.submit(by_ids, text) for text in texts]
                else:  # a request per label, so that the K of a text run at once
                    futures = [self._pool.submit(by_text, text, verbalizer) for text in texts
                               for verbalizer in verbalizers]
            try:
                values = [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            return np.array(values, dtype=np.float64).reshape(len(texts), len(verbalizers))

        return score

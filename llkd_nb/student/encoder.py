"""The student: a small encoder with a classification head (any BERT-style Hugging Face encoder).

Fine-tuning can be limited to the top ``trainable_layers`` transformer layers (and the head). The
frozen lower layers then compute the same thing for every run, every method and every seed, so their
output is computed **once per text** (:func:`encode`) and every training step runs only the top of
the network: the same model, several times cheaper on a CPU. ``trainable_layers=None`` fine-tunes the
whole encoder (the paper's setting) and the features are just the token ids.

The classifier reads only the first token ([CLS]) of the last layer, so that layer is computed for the
first token alone, with the key and value projections folded into its one query: the same logits as the
whole layer (tested against the Hugging Face forward), at a small fraction of its operations.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.assets import OFFLINE_STUDENT, minilm_folder
from ..core.hf import quiet_transformers


def _source(name: str) -> str:
    if name == OFFLINE_STUDENT:
        return str(minilm_folder())
    if name.startswith((".", "/")) and not Path(name).exists():
        raise FileNotFoundError(f"student folder not found: {name}")
    return name


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    with quiet_transformers():
        return AutoTokenizer.from_pretrained(_source(name))


def load_model(name: str, num_labels: int, seed: int, labels: list[str] | None = None):
    """The pretrained encoder with a new head initialised under ``seed`` (label names in its config)."""
    from transformers import AutoModelForSequenceClassification

    names = {"id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}} if labels else {}
    torch.manual_seed(seed)
    with quiet_transformers():  # the "newly initialised head" notice is expected here
        return AutoModelForSequenceClassification.from_pretrained(_source(name), num_labels=num_labels, **names)


def _layers(model) -> torch.nn.ModuleList:
    base = model.base_model
    if not (hasattr(base, "embeddings") and hasattr(getattr(base, "encoder", None), "layer")):
        raise ValueError(f"trainable_layers needs a BERT-style encoder (embeddings + encoder.layer); "
                         f"{type(base).__name__} is not one: use trainable_layers=None")
    return base.encoder.layer


def frozen_layer_count(model, trainable_layers: int | None) -> int:
    """How many of the encoder's layers stay frozen (0 when everything is trained)."""
    if trainable_layers is None:
        return 0
    total = len(_layers(model))
    if not 0 <= trainable_layers <= total:
        raise ValueError(f"trainable_layers must lie in [0, {total}] for this student, got {trainable_layers}")
    return total - trainable_layers


@dataclass
class Features:
    """What the trainable part of the student reads for each text: token ids (nothing frozen) or the
    hidden states after the frozen layers, with the attention mask."""

    inputs: dict[str, torch.Tensor]
    frozen_layers: int

    def __len__(self) -> int:
        return len(self.inputs["attention_mask"])

    def take(self, index, device: torch.device) -> dict[str, torch.Tensor]:
        return {k: v[index].to(device) for k, v in self.inputs.items()}


@torch.no_grad()  # not inference_mode: the features feed training, where autograd must accept them
def encode(name: str, texts: list[str], max_length: int, trainable_layers: int | None,
           device: torch.device, batch_size: int = 64) -> Features:
    """Tokenize ``texts`` once and, with ``trainable_layers`` set, run them through the frozen
    embeddings and lower layers once."""
    tokenizer = load_tokenizer(name)
    if texts:
        tokens = tokenizer(list(texts), truncation=True, max_length=max_length, padding="max_length", return_tensors="pt")
        tokens = {k: v for k, v in tokens.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    else:  # e.g. no test set
        tokens = {k: torch.zeros((0, max_length), dtype=torch.long) for k in ("input_ids", "attention_mask")}
    if trainable_layers is None:
        return Features(tokens, 0)
    model = load_model(name, 2, seed=0).to(device).eval()
    frozen = frozen_layer_count(model, trainable_layers)
    hidden = []
    for start in range(0, len(tokens["input_ids"]), batch_size):
        batch = {k: v[start: start + batch_size].to(device) for k, v in tokens.items()}
        hidden.append(model.base_model(**batch, output_hidden_states=True).hidden_states[frozen].cpu())
    width = model.config.hidden_size
    states = torch.cat(hidden) if hidden else torch.zeros((0, max_length, width))
    return Features({"inputs_embeds": states, "attention_mask": tokens["attention_mask"]}, frozen)


class _Passthrough(torch.nn.Module):
    """Stands in for the embeddings: the inputs already are the frozen layers' output."""

    def forward(self, inputs_embeds=None, **_):
        return inputs_embeds


def _first_token_layer(layer, hidden: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
    """A BERT-style ``layer`` computed at the first position only: ``[B, 1, width]``.

    With one query per head, the key and value projections fold into it: ``q·(W_k h_t + b_k)`` is
    ``(W_kᵀ q)·h_t`` plus a constant that the softmax ignores, and ``Σ_t a_t (W_v h_t + b_v)`` is
    ``W_v (Σ_t a_t h_t) + (Σ_t a_t) b_v``. So no token is projected: a few dot products per head
    replace the keys and values of every token (the same numbers up to rounding; tested).
    """
    attention = layer.attention.self
    batch, _, width = hidden.shape
    heads, size = attention.num_attention_heads, attention.attention_head_size
    query = attention.query(hidden[:, 0]).view(batch, heads, size)
    folded = torch.einsum("bhd,hdw->bhw", query, attention.key.weight.view(heads, size, width))
    scaling = getattr(attention, "scaling", size ** -0.5)
    scores = torch.einsum("bhw,btw->bht", folded, hidden) * scaling + additive_mask[:, :, 0, :]
    weights = attention.dropout(torch.softmax(scores, dim=-1))
    mixed = torch.einsum("bht,btw->bhw", weights, hidden)
    context = torch.einsum("bhw,hdw->bhd", mixed, attention.value.weight.view(heads, size, width)) \
        + weights.sum(-1, keepdim=True) * attention.value.bias.view(heads, size)
    attended = layer.attention.output(context.reshape(batch, 1, heads * size), hidden[:, :1])
    return layer.output(layer.intermediate(attended), attended)


def _reads_first_token_only(model) -> bool:
    """Whether the model's classifier reads only the first token of BERT-style layers (BERT's pooler
    and linear classifier, or a RoBERTa-style head), so that :func:`_first_token_layer` applies."""
    try:
        top = _layers(model)[-1]
    except (ValueError, IndexError):
        return False
    bert_layer = hasattr(getattr(getattr(top, "attention", None), "self", None), "attention_head_size") \
        and hasattr(top, "intermediate") and hasattr(top, "output")
    classifier = getattr(model, "classifier", None)
    bert_head = getattr(model.base_model, "pooler", None) is not None and isinstance(classifier, torch.nn.Linear)
    absolute = getattr(model.config, "position_embedding_type", "absolute") == "absolute"  # no relative-key scores
    return bert_layer and absolute and (bert_head or hasattr(classifier, "out_proj"))


class Student:
    """A classifier that reads :class:`Features`: with frozen layers, its embeddings and lower layers
    are set aside (they ran once, in :func:`encode`) and only the top of the network runs; its last
    layer runs at the first token only (``first_token_only=False``: the Hugging Face forward, the
    reference of the tests and the benchmark)."""

    def __init__(self, model, frozen_layers: int, device: torch.device, reads_hidden_states: bool,
                 first_token_only: bool = True) -> None:
        self.model, self.frozen_layers, self.device = model.to(device), frozen_layers, device
        self.first_token_only = first_token_only and _reads_first_token_only(model)
        self._dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
        self._set_aside = None
        if reads_hidden_states:
            base = model.base_model
            self._set_aside = (base.embeddings, list(_layers(model))[:frozen_layers])
            base.embeddings = _Passthrough()
            base.encoder.layer = torch.nn.ModuleList(list(base.encoder.layer)[frozen_layers:])

    @classmethod
    def load(cls, name: str, num_labels: int, features: Features, device: torch.device, seed: int,
             labels: list[str] | None = None, first_token_only: bool = True) -> "Student":
        model = load_model(name, num_labels, seed, labels)
        return cls(model, features.frozen_layers, device, reads_hidden_states="inputs_embeds" in features.inputs,
                   first_token_only=first_token_only)

    def parameters(self):
        return [p for p in self.model.parameters() if p.requires_grad]

    def train(self, mode: bool = True) -> None:
        """Training (dropout on) or evaluation mode. When only the first-token layer runs, nothing reads a
        mode but the dropouts, so only those flip (cheap: the loop switches before every selection pass);
        otherwise ``model.train(mode)``."""
        if self.first_token_only and len(self.model.base_model.encoder.layer) <= 1:  # no Hugging Face layer runs
            self.model.training = mode
            for dropout in self._dropouts:
                dropout.training = mode
        else:
            self.model.train(mode)

    def logits(self, features: Features, index) -> torch.Tensor:
        inputs = features.take(index, self.device)
        if not self.first_token_only:
            return self.model(**inputs).logits.float()
        model, base = self.model, self.model.base_model
        hidden = base.embeddings(**{k: v for k, v in inputs.items() if k != "attention_mask"})
        mask = inputs["attention_mask"][:, None, None, :].to(hidden.dtype)
        additive_mask = (1.0 - mask) * torch.finfo(hidden.dtype).min
        layers = list(base.encoder.layer)  # the trainable ones (none: only the head trains)
        for layer in layers[:-1]:
            hidden = layer(hidden, additive_mask)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        first = _first_token_layer(layers[-1], hidden, additive_mask) if layers else hidden[:, :1]
        if isinstance(model.classifier, torch.nn.Linear):  # BERT: pooler, dropout, linear classifier
            return model.classifier(model.dropout(base.pooler(first))).float()
        return model.classifier(first).float()  # RoBERTa-style head: reads the first token itself

    @torch.inference_mode()
    def predict_proba(self, features: Features, batch_size: int = 256) -> np.ndarray:
        """``[N, K]`` class probabilities (eval mode, restored afterwards)."""
        was_training = self.model.training
        self.train(False)
        chunks = [torch.softmax(self.logits(features, slice(s, s + batch_size)), -1).cpu()
                  for s in range(0, len(features), batch_size)]
        self.train(was_training)
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, self.model.config.num_labels))

    @contextmanager
    def full_model(self):
        """The whole network (frozen layers put back), e.g. to save it."""
        if self._set_aside is None:
            yield self.model
            return
        base = self.model.base_model
        top = base.encoder.layer
        embeddings, lower = self._set_aside
        base.embeddings, base.encoder.layer = embeddings, torch.nn.ModuleList(lower + list(top))
        try:
            yield self.model
        finally:
            base.embeddings, base.encoder.layer = _Passthrough(), top

"""One training loop for every method: the student learns from pseudo-labels through a strategy.

Each batch drawn from the pool goes through one forward pass; its cross-entropy against the teacher's
labels and the student's uncertainty (normalised entropy) both come from that pass. The strategy
turns the batch's signals into per-sample weights (zero drops a sample). Kept samples accumulate
until ``min_kept_per_step`` of them are there; then one optimizer step on
``sum_i w_i CE_i / #kept``. The budget is counted in optimizer steps, so a strategy that keeps less
does not train less. With ``min_kept_per_step=1`` every batch with a kept sample makes one step.
"""

from __future__ import annotations

import copy
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch
from transformers import get_linear_schedule_with_warmup

from .artifacts import TeacherArtifact
from .assets import OFFLINE_STUDENT
from .metrics import classification_scores
from .selection import BatchSignals, Strategy
from .student import load_student, predict_proba, take, tokenize
from .teacher import pick_device
from .validation import ParameterError, check_range, check_types


class EmptySelectionError(RuntimeError):
    """A strategy kept no sample during a whole pass over the pool."""


@dataclass
class TrainConfig:
    """Student training parameters (every method shares them)."""

    student: str = OFFLINE_STUDENT
    max_length: int = 32
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_steps: int = 60
    min_kept_per_step: int = 1
    max_grad_norm: float = 1.0
    eval_every: int | None = None  # optimizer steps; default: one pass over the pool
    eval_test_during_training: bool = True
    model_selection: Literal["pseudo", "gold", "last"] = "pseudo"
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("max_length", "batch_size", "max_steps", "min_kept_per_step"):
            check_range(name, getattr(self, name), 1, None)
        check_range("lr", self.lr, 0.0, None, low_open=True)
        check_range("warmup_ratio", self.warmup_ratio, 0.0, 1.0, high_open=True)
        if self.eval_every is not None:
            check_range("eval_every", self.eval_every, 1, None)


@dataclass
class TrainingData:
    """Texts and targets for one run. ``pool_target`` is what the student learns from (the teacher's
    pseudo-labels, or gold for the supervised ceiling); ``val_target`` drives model selection."""

    num_labels: int
    pool_text: list[str]
    pool_target: np.ndarray
    pool_confidence: np.ndarray
    val_text: list[str]
    val_target: np.ndarray
    val_gold: np.ndarray
    test_text: list[str]
    test_gold: np.ndarray

    @classmethod
    def from_artifact(cls, artifact: TeacherArtifact, targets: Literal["pseudo", "gold"] = "pseudo",
                      model_selection: Literal["pseudo", "gold", "last"] = "pseudo") -> "TrainingData":
        if targets not in ("pseudo", "gold"):
            raise ParameterError(f"targets must be 'pseudo' or 'gold', got {targets!r}")
        pool_target = artifact.pseudo_labels("pool") if targets == "pseudo" else artifact.gold("pool")
        val_target = artifact.gold("validation") if model_selection == "gold" else artifact.pseudo_labels("validation")
        return cls(
            num_labels=artifact.num_labels, pool_text=artifact.texts("pool"), pool_target=pool_target,
            pool_confidence=artifact.confidence("pool"), val_text=artifact.texts("validation"),
            val_target=val_target, val_gold=artifact.gold("validation"), test_text=artifact.texts("test"),
            test_gold=artifact.gold("test"),
        )


@dataclass
class TrainResult:
    """What a run produced: per-batch log, evaluations, per-sample usage, final scores."""

    steps: pd.DataFrame
    evals: pd.DataFrame
    usage: np.ndarray  # per pool sample: optimizer steps it entered with non-zero weight
    best_step: int
    metrics: dict[str, float]
    test_proba: np.ndarray
    seconds: float
    model: torch.nn.Module = field(repr=False)

    @property
    def fraction_used(self) -> float:
        """Distinct pool samples that ever entered a gradient update, over the pool size."""
        return float((self.usage > 0).mean())


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batch_indices(num_samples: int, batch_size: int, seed: int):
    """Endless seeded stream of ``(epoch, index tensor)``: a fresh permutation each pass."""
    generator = torch.Generator().manual_seed(seed)
    epoch = 0
    while True:
        order = torch.randperm(num_samples, generator=generator)
        for start in range(0, num_samples, batch_size):
            yield epoch, order[start: start + batch_size]
        epoch += 1


def make_optimizer(model: torch.nn.Module, config: TrainConfig):
    """AdamW (no weight decay on biases and norms) with linear warm-up and decay over the budget."""
    no_decay = ("bias", "LayerNorm.weight", "layernorm.weight", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * config.max_steps), config.max_steps)
    return optimizer, scheduler


def textbook_fine_tuning(data: TrainingData, config: TrainConfig, on_step=None) -> torch.nn.Module:
    """Plain fine-tuning written out: mean cross-entropy on every sample of every batch, no strategy.

    The reference that the shared loop with the keep-all strategy must reproduce (tested), and the
    baseline of ``benchmarks/training_step.py``. ``on_step()`` is called after each optimizer step.
    """
    device = pick_device(config.device)
    set_seed(config.seed)
    model, tokenizer = load_student(config.student, data.num_labels, device, config.seed)
    encoded = tokenize(tokenizer, data.pool_text, config.max_length)
    targets = torch.tensor(np.asarray(data.pool_target), dtype=torch.long)
    optimizer, scheduler = make_optimizer(model, config)
    model.train()
    batches = batch_indices(len(data.pool_text), config.batch_size, config.seed)
    for _, (_, index) in zip(range(config.max_steps), batches):
        loss = torch.nn.functional.cross_entropy(model(**take(encoded, index, device)).logits, targets[index].to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if on_step is not None:
            on_step()
    return model


def _evaluate(model, encoded: dict, targets: dict[str, np.ndarray], device, num_labels: int) -> tuple[dict, np.ndarray]:
    proba = predict_proba(model, encoded, device)
    predictions = proba.argmax(axis=1)
    scores = {f"{name}_{metric}": value for name, target in targets.items()
              for metric, value in classification_scores(target, predictions, num_labels).items()}
    return scores, proba


def train_student(data: TrainingData, strategy: Strategy, config: TrainConfig, progress=None) -> TrainResult:
    """Train a fresh student on ``data`` through ``strategy``; see the module docstring."""
    started = time.perf_counter()
    device = pick_device(config.device)
    set_seed(config.seed)
    model, tokenizer = load_student(config.student, data.num_labels, device, config.seed)
    pool = tokenize(tokenizer, data.pool_text, config.max_length)
    val = tokenize(tokenizer, data.val_text, config.max_length)
    test = tokenize(tokenizer, data.test_text, config.max_length)
    pool_target = torch.tensor(np.asarray(data.pool_target), dtype=torch.long)
    pool_confidence = torch.tensor(np.asarray(data.pool_confidence), dtype=torch.float32)
    strategy.fit_pool(np.asarray(data.pool_confidence), np.asarray(data.pool_target), data.num_labels)

    optimizer, scheduler = make_optimizer(model, config)
    eval_every = config.eval_every or max(1, math.ceil(len(data.pool_text) / config.batch_size))
    log_k = math.log(data.num_labels)

    usage = np.zeros(len(data.pool_text), dtype=np.int64)
    step_rows, eval_rows = [], []
    pending_losses, pending_index, pending_kept = [], [], 0
    best = {"score": -math.inf, "step": 0, "state": None}
    steps_done, kept_this_epoch, current_epoch = 0, 0, 0
    model.train()

    def evaluate() -> None:
        targets = {"val_target": data.val_target, "val_gold": data.val_gold}
        scores, _ = _evaluate(model, val, targets, device, data.num_labels)
        test_proba = None
        if config.eval_test_during_training or steps_done == config.max_steps:
            test_scores, test_proba = _evaluate(model, test, {"test": data.test_gold}, device, data.num_labels)
            scores.update(test_scores)
        eval_rows.append({"step": steps_done, **scores})
        score = {"pseudo": scores["val_target_macro_f1"], "gold": scores["val_gold_macro_f1"], "last": steps_done}[config.model_selection]
        if score > best["score"]:
            best.update(score=score, step=steps_done, scores=scores, test_proba=test_proba,
                        state={k: v.detach().clone() for k, v in model.state_dict().items()})

    for batch_number, (epoch, index) in enumerate(batch_indices(len(data.pool_text), config.batch_size, config.seed)):
        if steps_done >= config.max_steps:
            break
        if epoch != current_epoch:
            if kept_this_epoch == 0:
                raise EmptySelectionError(
                    f"strategy {strategy.name!r} kept no sample during pass {current_epoch} over the pool "
                    f"({len(data.pool_text)} samples); its thresholds exclude everything: {strategy.state()}"
                )
            current_epoch, kept_this_epoch = epoch, 0
        logits = model(**take(pool, index, device)).logits.float()
        log_probs = torch.log_softmax(logits, dim=-1)
        targets = pool_target[index].to(device)
        per_sample = torch.nn.functional.nll_loss(log_probs, targets, reduction="none")
        detached = log_probs.detach()
        signals = BatchSignals(
            pseudo_label=targets, confidence=pool_confidence[index].to(device),
            uncertainty=-(detached.exp() * detached).sum(-1) / log_k, loss=per_sample.detach(),
            num_labels=data.num_labels, progress=steps_done / config.max_steps,
        )
        strategy.update(signals)
        weights = strategy.weights(signals).detach()
        if not torch.isfinite(weights).all() or (weights < 0).any():
            raise FloatingPointError(f"strategy {strategy.name!r} returned invalid weights at step {steps_done}: "
                                     f"{weights.tolist()} (weights must be finite and >= 0)")
        kept = weights > 0
        n_kept = int(kept.sum())
        kept_this_epoch += n_kept
        step_rows.append({
            "batch": batch_number, "step": steps_done, "epoch": epoch, "kept_fraction": n_kept / len(index),
            "mean_weight": float(weights[kept].mean()) if n_kept else 0.0, "loss": float(per_sample.detach().mean()),
            "mean_confidence": float(signals.confidence.mean()), "mean_uncertainty": float(signals.uncertainty.mean()),
            **strategy.state(),
        })
        if n_kept:
            pending_losses.append((weights * per_sample).sum())
            pending_index.append(index[kept.cpu()])
            pending_kept += n_kept
        if pending_kept < config.min_kept_per_step:
            continue
        loss = torch.stack(pending_losses).sum() / pending_kept
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {loss.item()} at step {steps_done} (strategy {strategy.name!r})")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        np.add.at(usage, torch.cat(pending_index).numpy(), 1)
        pending_losses, pending_index, pending_kept = [], [], 0
        steps_done += 1
        if progress is not None:
            progress.update(1)
        if steps_done % eval_every == 0 or steps_done == config.max_steps:
            evaluate()

    model.load_state_dict(best["state"])
    scores, test_proba = best["scores"], best["test_proba"]
    if test_proba is None:  # the best checkpoint was chosen before its test set was scored
        test_scores, test_proba = _evaluate(model, test, {"test": data.test_gold}, device, data.num_labels)
        scores = {**scores, **test_scores}
    steps = pd.DataFrame(step_rows)
    if steps["kept_fraction"].eq(0).mean() > 0.5:
        warnings.warn(f"strategy {strategy.name!r} kept nothing in {steps['kept_fraction'].eq(0).mean():.0%} of the batches")
    return TrainResult(
        steps=steps, evals=pd.DataFrame(eval_rows), usage=usage, best_step=best["step"],
        metrics={**scores, "fraction_used": float((usage > 0).mean()), "steps": steps_done},
        test_proba=test_proba, seconds=time.perf_counter() - started, model=model,
    )

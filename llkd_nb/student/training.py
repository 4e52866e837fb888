"""One training loop for every method: the student learns from pseudo-labels through a strategy.

Each optimizer step of the budget goes like this:

1. **select**: batches are drawn from the pool (a fresh seeded permutation per pass). When the
   strategy reads the student (its uncertainty or loss), the drawn batch goes through the student
   without gradients (eval mode) to give those signals: the batches a step is likely to draw go through
   in one pass, since the student only changes at the update; the strategy updates its state and
   returns per-sample weights (zero drops a sample);
2. **update**: one forward/backward pass on the kept samples, loss ``sum_i w_i CE_i / #kept``.

The ``protocol`` is the same for every method of a comparison:

- ``full_batches``: every update holds exactly ``batch_size`` kept samples; batches are drawn until
  there are enough (kept samples left over wait for the next update). Every method gets the same
  number of gradient samples; selecting methods pay with more selection passes.
- ``masked_batches``: every update is one drawn batch with its dropped samples masked out. Every
  method sees the same batches; selecting methods learn from fewer gradient samples.

Validation is scored ``num_evals`` times (learning curve; model selection). Model selection only reads
the run, so every run keeps its checkpoint under each criterion (validation against the teacher's labels,
against gold where there is gold, the last step) and scores the test set at each: one run answers the
comparison under either criterion (:attr:`TrainResult.checkpoints`), and ``model_selection`` names the
one the result reports. Every cost is counted (:class:`Costs`). A strategy that keeps nothing for a whole
pass over the pool **starves**: the run stops there, validation is scored once more on the student as
it stands, and the run is scored like any other (its ``status`` says where it stopped), so a
comparison counts it instead of dropping it.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from ..core.assets import OFFLINE_STUDENT
from ..core.devices import pick_device
from ..core.metrics import classification_scores
from ..core.params import param
from ..core.validation import ParameterError, check_range, check_types
from ..teacher.artifacts import TeacherArtifact
from .encoder import Features, Student, encode
from .selection import BatchSignals, Strategy, normalised

SELECTION_SCORES = {"pseudo": "val_target_macro_f1", "gold": "val_gold_macro_f1"}
# Devices where AdamW's fused kernel exists: one pass over every tensor per step, about 3x the multi-tensor
# update on a CPU core (benchmarks/training_step.py); elsewhere the multi-tensor one.
FUSED_ADAMW_DEVICES = ("cpu", "cuda")


def validation_score(model_selection: str) -> str:
    """The validation column that model selection maximises, and that tuning and "the best other method"
    read: macro-F1 against gold under ``gold``, else against the teacher's labels."""
    return SELECTION_SCORES.get(model_selection, SELECTION_SCORES["pseudo"])


class EmptySelectionError(RuntimeError):
    """A strategy kept no sample during a whole pass over the pool."""


@dataclass
class TrainConfig:
    """Student training: the protocol every method shares (notebooks 02-04)."""

    student: str = param(OFFLINE_STUDENT, "the student encoder: offline:minilm-l6, roberta-base (the paper's), a folder")
    trainable_layers: int | None = param(
        1, "fine-tune the top layers and the head; the frozen ones run once per text (None: all, as the paper)")
    max_length: int = param(32, "tokens per text for the student: the title and the opening words")
    batch_size: int = param(16, "samples per update")
    lr: float = param(3e-4, "AdamW learning rate (linear warm-up, then linear decay)")
    weight_decay: float = param(0.01, "AdamW weight decay (not on biases and norms)")
    warmup_ratio: float = param(0.1, "fraction of the budget spent warming up the learning rate")
    max_steps: int = param(150, "budget in optimizer steps, the same for every method")
    protocol: Literal["full_batches", "masked_batches"] = param(
        "full_batches", "full_batches: every update has batch_size kept samples; masked_batches: one drawn batch")
    max_grad_norm: float = param(1.0, "gradient clipping")
    num_evals: int = param(12, "validation scores per run: the learning curve and the checkpoint choice")
    model_selection: Literal["pseudo", "gold", "last"] = param(
        "pseudo", "checkpoint choice: validation vs. pseudo-labels (no gold), vs. gold, or the last step")
    seed: int = param(0, "training seed: head initialisation, batch order, dropout")
    device: str | None = param(None, "cpu, cuda, ... (None: CUDA when present)")

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("max_length", "batch_size", "max_steps", "num_evals"):
            check_range(name, getattr(self, name), 1, None)
        if self.trainable_layers is not None:
            check_range("trainable_layers", self.trainable_layers, 0, None)
        check_range("lr", self.lr, 0.0, None, low_open=True)
        check_range("warmup_ratio", self.warmup_ratio, 0.0, 1.0, high_open=True)
        if self.student.startswith((".", "/")) and not Path(self.student).exists():
            raise ParameterError(f"student folder not found: {self.student}")

    def evaluation_steps(self) -> list[int]:
        """The optimizer steps after which validation is scored, evenly spread, the last included."""
        count = min(self.num_evals, self.max_steps)
        return sorted({math.ceil(self.max_steps * (i + 1) / count) for i in range(count)})


@dataclass
class TrainingData:
    """Texts and targets for one run. ``pool_target`` is what the student learns from (the teacher's
    pseudo-labels, or gold for the supervised ceiling); ``val_target`` holds the teacher's labels of the
    validation texts (model selection without gold). ``val_gold`` / ``test_gold`` are ``None`` where
    there is no gold."""

    labels: list[str]
    pool_text: list[str]
    pool_target: np.ndarray
    pool_confidence: np.ndarray
    val_text: list[str]
    val_target: np.ndarray
    val_gold: np.ndarray | None
    test_text: list[str]
    test_gold: np.ndarray | None

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @classmethod
    def from_artifact(cls, artifact: TeacherArtifact, targets: Literal["pseudo", "gold"] = "pseudo",
                      model_selection: Literal["pseudo", "gold", "last"] = "pseudo") -> "TrainingData":
        if targets not in ("pseudo", "gold"):
            raise ParameterError(f"targets must be 'pseudo' or 'gold', got {targets!r}")
        gold = {s: artifact.gold(s) if artifact.has_gold(s) else None for s in ("validation", "test")}
        if model_selection == "gold" and gold["validation"] is None:
            raise ParameterError("model_selection='gold' needs a labelled validation set; use 'pseudo' or 'last'")
        return cls(
            labels=artifact.labels, pool_text=artifact.texts("pool"),
            pool_target=artifact.pseudo_labels("pool") if targets == "pseudo" else artifact.gold("pool"),
            pool_confidence=artifact.confidence("pool"), val_text=artifact.texts("validation"),
            val_target=artifact.pseudo_labels("validation"),
            val_gold=gold["validation"], test_text=artifact.texts("test"), test_gold=gold["test"],
        )


@dataclass
class DataFeatures:
    """The student's inputs for pool, validation and test, computed once and shared by every run
    with the same student, ``max_length`` and ``trainable_layers``."""

    pool: Features
    val: Features
    test: Features

    @classmethod
    def encode(cls, data: TrainingData, config: TrainConfig) -> "DataFeatures":
        device = pick_device(config.device)
        run = lambda texts: encode(config.student, texts, config.max_length, config.trainable_layers, device)  # noqa: E731
        return cls(run(data.pool_text), run(data.val_text), run(data.test_text))


@dataclass
class Costs:
    """What a run spent, in samples: selection passes (no gradient), update passes (= gradient
    samples), and evaluations. Selection counts the samples of the batches the method drew: what the
    algorithm needs, not the few batches the loop scores ahead and scores again after an update."""

    optimizer_steps: int = 0
    gradient_samples: int = 0
    selection_forwards: int = 0
    evaluation_forwards: int = 0
    drawn: int = 0

    @property
    def training_forwards(self) -> int:
        """Student forward passes spent on training (selection + update), in samples."""
        return self.selection_forwards + self.gradient_samples


@dataclass
class Checkpoint:
    """The checkpoint one model-selection criterion chose: its step, its validation and test scores
    (and ``fraction_used``), and its predicted probabilities."""

    step: int
    metrics: dict[str, float]
    val_proba: np.ndarray
    test_proba: np.ndarray


@dataclass
class TrainResult:
    """What a run produced: per-batch log, evaluations, per-sample usage, costs, and the checkpoint of
    every model-selection criterion; ``best_step``, ``metrics`` and the probabilities are those of
    ``model_selection``'s, and ``student`` holds its weights."""

    steps: pd.DataFrame
    evals: pd.DataFrame
    usage: np.ndarray  # per pool sample: optimizer steps it entered with non-zero weight
    checkpoints: dict[str, Checkpoint]
    model_selection: str
    costs: Costs
    seconds: float
    student: Student = field(repr=False)
    starved: str = ""  # why the run stopped early, if it starved
    stopped_at: int | None = None  # the step of the budget where it starved

    @property
    def best_step(self) -> int:
        return self.checkpoints[self.model_selection].step

    @property
    def metrics(self) -> dict[str, float]:
        return self.checkpoints[self.model_selection].metrics

    @property
    def val_proba(self) -> np.ndarray:
        return self.checkpoints[self.model_selection].val_proba

    @property
    def test_proba(self) -> np.ndarray:
        return self.checkpoints[self.model_selection].test_proba

    @property
    def status(self) -> str:
        """"ok", or "starved at step n" for a run whose strategy kept nothing for a whole pass."""
        return f"starved at step {self.stopped_at}" if self.starved else "ok"

    @property
    def fraction_used(self) -> float:
        """Distinct pool samples that ever entered a gradient update, over the pool size."""
        return float((self.usage > 0).mean())


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


STRATEGY_STREAM = 2**32  # offset of a strategy's own seed from the run's, so no other stream shares it


def strategy_generator(seed: int) -> torch.Generator:
    """The random stream a strategy draws from (``BatchSignals.generator``): seeded from the run's seed, used
    by the strategy alone, so its draws move neither the batch order nor the initialisation nor dropout."""
    return torch.Generator().manual_seed(STRATEGY_STREAM + seed)


def batch_indices(num_samples: int, batch_size: int, seed: int):
    """Endless seeded stream of ``(pass, index tensor)``: a fresh permutation each pass."""
    generator = torch.Generator().manual_seed(seed)
    epoch = 0
    while True:
        order = torch.randperm(num_samples, generator=generator)
        for start in range(0, num_samples, batch_size):
            yield epoch, order[start: start + batch_size]
        epoch += 1


def make_optimizer(model: torch.nn.Module, config: TrainConfig):
    """AdamW (no weight decay on biases and norms) with linear warm-up and decay over the budget."""
    from transformers import get_linear_schedule_with_warmup

    no_decay = ("bias", "LayerNorm.weight", "layernorm.weight", "norm.weight")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).device.type in FUSED_ADAMW_DEVICES
    optimizer = torch.optim.AdamW(groups, lr=config.lr, fused=fused, foreach=not fused)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * config.max_steps), config.max_steps)
    return optimizer, scheduler


def _optimizer_step(student: Student, loss: torch.Tensor, optimizer, config: TrainConfig) -> None:
    loss.backward()
    torch.nn.utils.clip_grad_norm_(student.parameters(), config.max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def textbook_fine_tuning(data: TrainingData, config: TrainConfig, features: DataFeatures | None = None,
                         on_step=None, first_token_only: bool = True) -> Student:
    """Plain fine-tuning written out: mean cross-entropy on every sample of every batch, no strategy.

    The reference that the shared loop with the keep-all strategy must reproduce (tested), and the
    baseline of ``benchmarks/training_step.py`` (with ``first_token_only=False``: the Hugging Face
    forward through the whole last layer). ``on_step()`` is called after each optimizer step.
    """
    features = features or DataFeatures.encode(data, config)
    set_seed(config.seed)
    student = Student.load(config.student, data.num_labels, features.pool, pick_device(config.device), config.seed,
                           first_token_only=first_token_only)
    targets = torch.tensor(np.asarray(data.pool_target), dtype=torch.long)
    optimizer, scheduler = make_optimizer(student.model, config)
    student.train()
    batches = batch_indices(len(data.pool_text), config.batch_size, config.seed)
    for _, (_, index) in zip(range(config.max_steps), batches):
        loss = torch.nn.functional.cross_entropy(student.logits(features.pool, index), targets[index].to(student.device))
        _optimizer_step(student, loss, optimizer, config)
        scheduler.step()
        if on_step is not None:
            on_step()
    return student


def _scores(proba: np.ndarray, targets: dict[str, np.ndarray | None], num_labels: int) -> dict[str, float]:
    predictions = proba.argmax(axis=1)
    return {f"{name}_{metric}": value for name, target in targets.items() if target is not None
            for metric, value in classification_scores(target, predictions, num_labels).items()}


class _Selector:
    """Draws batches from the pool and turns them into weighted kept samples through a strategy."""

    score_ahead = True  # False: one student pass per drawn batch (the naive way, for benchmarks/training_step.py)

    def __init__(self, data: TrainingData, strategy: Strategy, student: Student, features: Features,
                 config: TrainConfig, costs: Costs) -> None:
        self.strategy, self.student, self.features, self.costs = strategy, student, features, costs
        self.targets = torch.tensor(np.asarray(data.pool_target), dtype=torch.long)
        self.confidence = torch.tensor(np.asarray(data.pool_confidence), dtype=torch.float32)
        self.num_labels, self.pool_size = data.num_labels, len(data.pool_text)
        self.stream = batch_indices(self.pool_size, config.batch_size, config.seed)
        self.generator = strategy_generator(config.seed)
        self.log: list[dict] = []
        self.current_pass, self.kept_this_pass = 0, 0
        self.upcoming: deque[tuple[int, torch.Tensor]] = deque()  # batches taken from the stream, not yet drawn
        self.upcoming_log_probs: deque[torch.Tensor] = deque()  # the student's, for the first of them, this step
        self.step, self.draws_this_step, self.lookahead = -1, 0, 1

    def _next_batch(self, step: int) -> tuple[int, torch.Tensor, torch.Tensor | None]:
        """The stream's next ``(pass, index)`` and, when the strategy reads the student, its log-probabilities.

        The student does not change between the draws of one step, so the batches a step is likely to draw
        (as many as the previous step drew) go through it in one forward pass, with the same weights as one
        pass per batch (equal up to the last bits of a larger matrix product). Batches taken but not drawn
        before the update are scored again after it; :class:`Costs` counts the drawn batches only.
        ``benchmarks/training_step.py`` measures what it saves."""
        if step != self.step:  # an update happened: scores from before it are stale
            self.lookahead = max(1, self.draws_this_step) if self.score_ahead else 1
            self.step, self.draws_this_step = step, 0
            self.upcoming_log_probs.clear()
        self.draws_this_step += 1
        if not self.strategy.needs_student:
            return *next(self.stream), None
        if not self.upcoming_log_probs:
            while len(self.upcoming) < self.lookahead:
                self.upcoming.append(next(self.stream))
            sizes = [len(index) for _, index in self.upcoming]
            self.student.train(False)
            with torch.inference_mode():
                logits = self.student.logits(self.features, torch.cat([index for _, index in self.upcoming]))
            self.student.train()
            self.upcoming_log_probs.extend(torch.log_softmax(logits, dim=-1).split(sizes))
        epoch, index = self.upcoming.popleft()
        return epoch, index, self.upcoming_log_probs.popleft()

    def _signals(self, index: torch.Tensor, log_probs: torch.Tensor | None, progress: float) -> BatchSignals:
        device = self.student.device
        uncertainty = loss = None
        if log_probs is not None:
            self.costs.selection_forwards += len(index)
            uncertainty = -(log_probs.exp() * log_probs).sum(-1) / math.log(self.num_labels)
            loss = torch.nn.functional.nll_loss(log_probs, self.targets[index].to(device), reduction="none")
        return BatchSignals(pseudo_label=self.targets[index].to(device), confidence=self.confidence[index].to(device),
                            uncertainty=uncertainty, loss=loss, num_labels=self.num_labels, progress=progress,
                            index=index, generator=self.generator)

    def draw(self, step: int, progress: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One drawn batch: its kept indices and their weights (the strategy sees it first)."""
        epoch, index, log_probs = self._next_batch(step)
        if epoch != self.current_pass:
            if self.kept_this_pass == 0:
                raise EmptySelectionError(
                    f"strategy {self.strategy.name!r} kept no sample during pass {self.current_pass} over the pool "
                    f"({self.pool_size} samples); its thresholds exclude everything: {self.strategy.state()}")
            self.current_pass, self.kept_this_pass = epoch, 0
        signals = self._signals(index, log_probs, progress)
        self.strategy.update(signals)
        weights = self.strategy.weights(signals).detach().cpu()
        if not torch.isfinite(weights).all() or (weights < 0).any():
            raise FloatingPointError(f"strategy {self.strategy.name!r} returned invalid weights at step {step}: "
                                     f"{weights.tolist()} (weights must be finite and >= 0)")
        weights = normalised(weights)
        kept = weights > 0
        self.kept_this_pass += int(kept.sum())
        self.costs.drawn += len(index)
        self.log.append({
            "step": step, "pass": epoch, "kept_fraction": float(kept.float().mean()),
            "mean_weight": float(weights[kept].mean()) if kept.any() else 0.0,
            "mean_confidence": float(signals.confidence.mean()),
            **({"mean_uncertainty": float(signals.uncertainty.mean()), "loss": float(signals.loss.mean())}
               if signals.uncertainty is not None else {}),
            **self.strategy.state(),
        })
        return index[kept], weights[kept]


def train_student(data: TrainingData, strategy: Strategy, config: TrainConfig, features: DataFeatures | None = None,
                  progress=None) -> TrainResult:
    """Train a fresh student on ``data`` through ``strategy``; see the module docstring.

    ``features`` (from :meth:`DataFeatures.encode`) can be shared by runs with the same student
    settings; ``progress.update(1)`` is called after every optimizer step.
    """
    started = time.perf_counter()
    if config.model_selection == "gold" and data.val_gold is None:
        raise ParameterError("model_selection='gold' needs a labelled validation set; use 'pseudo' or 'last'")
    features = features or DataFeatures.encode(data, config)
    set_seed(config.seed)
    student = Student.load(config.student, data.num_labels, features.pool, pick_device(config.device), config.seed,
                           labels=data.labels)
    strategy.fit_pool(np.asarray(data.pool_confidence), np.asarray(data.pool_target), data.num_labels)
    optimizer, scheduler = make_optimizer(student.model, config)
    costs = Costs()
    selector = _Selector(data, strategy, student, features.pool, config, costs)
    targets = selector.targets
    usage = np.zeros(len(data.pool_text), dtype=np.int64)
    evaluation_steps, eval_rows = set(config.evaluation_steps()), []
    criteria = ["pseudo", "last"] + (["gold"] if data.val_gold is not None else [])
    best = {c: {"score": -math.inf, "step": 0, "state": None, "val_proba": None} for c in criteria}
    waiting_index, waiting_weights = torch.zeros(0, dtype=torch.long), torch.zeros(0)
    student.train()

    starved, stopped_at = "", None

    def evaluate(step: int) -> None:
        val_proba = student.predict_proba(features.val)
        costs.evaluation_forwards += len(features.val)
        scores = _scores(val_proba, {"val_target": data.val_target, "val_gold": data.val_gold}, data.num_labels)
        eval_rows.append({"step": step, **scores})
        best["last"].update(score=step, step=step, val_proba=val_proba)  # its weights: the final ones, below
        state = None
        for criterion in (c for c in criteria if c != "last"):
            score = scores[SELECTION_SCORES[criterion]]
            if score > best[criterion]["score"]:
                state = state or {k: v.detach().clone() for k, v in student.model.state_dict().items()}
                best[criterion].update(score=score, step=step, val_proba=val_proba, state=state)

    for step in range(config.max_steps):
        try:
            if config.protocol == "full_batches":
                while len(waiting_index) < config.batch_size:
                    index, weights = selector.draw(step, step / config.max_steps)
                    waiting_index = torch.cat([waiting_index, index])
                    waiting_weights = torch.cat([waiting_weights, weights])
                index, weights = waiting_index[: config.batch_size], waiting_weights[: config.batch_size]
                waiting_index, waiting_weights = waiting_index[config.batch_size:], waiting_weights[config.batch_size:]
            else:
                index, weights = selector.draw(step, step / config.max_steps)
        except EmptySelectionError as error:  # a result, not a crash: scored as it stands
            starved, stopped_at = str(error), step
            if step not in {row["step"] for row in eval_rows}:
                evaluate(step)
            break
        if len(index):  # a masked batch that kept nothing still spends its step of the budget
            per_sample = torch.nn.functional.cross_entropy(
                student.logits(features.pool, index), targets[index].to(student.device), reduction="none")
            loss = (weights.to(student.device) * per_sample).sum() / len(index)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {loss.item()} at step {step} (strategy {strategy.name!r})")
            _optimizer_step(student, loss, optimizer, config)
            np.add.at(usage, index.numpy(), 1)
            costs.optimizer_steps += 1
            costs.gradient_samples += len(index)
        scheduler.step()
        if progress is not None:
            progress.update(1)
        if step + 1 in evaluation_steps:
            evaluate(step + 1)

    best["last"]["state"] = {k: v.detach().clone() for k, v in student.model.state_dict().items()}  # the last evaluation's
    checkpoints, test_probas = {}, {}
    for criterion in criteria:
        chosen = best[criterion]
        if chosen["step"] not in test_probas:  # criteria that chose the same step share its test pass
            student.model.load_state_dict(chosen["state"])
            test_probas[chosen["step"]] = student.predict_proba(features.test)
            costs.evaluation_forwards += len(features.test)
        row = next(r for r in eval_rows if r["step"] == chosen["step"])
        metrics = {**{k: v for k, v in row.items() if k != "step"},
                   **_scores(test_probas[chosen["step"]], {"test": data.test_gold}, data.num_labels),
                   "fraction_used": float((usage > 0).mean())}
        checkpoints[criterion] = Checkpoint(chosen["step"], metrics, chosen["val_proba"], test_probas[chosen["step"]])
    student.model.load_state_dict(best[config.model_selection]["state"])
    return TrainResult(
        steps=pd.DataFrame(selector.log), evals=pd.DataFrame(eval_rows), usage=usage, checkpoints=checkpoints,
        model_selection=config.model_selection, costs=costs, seconds=time.perf_counter() - started, student=student,
        starved=starved, stopped_at=stopped_at,
    )

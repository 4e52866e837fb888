"""Sample selection and weighting strategies: LLKD and every baseline, behind one interface.

The training loop calls, for each batch drawn from the pool::

    strategy.update(signals)             # adapt internal state (moving averages, schedules)
    weights = strategy.weights(signals)  # [B] >= 0; a zero weight drops the sample

and the loop scales every strategy's weights the same way, to mean 1 over the kept samples of the
batch (:func:`normalised`), so a soft weighting changes which samples count more, never the effective
learning rate; the loss is ``sum_i w_i * CE_i / #{i : w_i > 0}``. ``fit_pool`` sees the whole pool's teacher
signals once before training (for strategies with static, pool-level thresholds). A strategy that
reads the student (``needs_student``) gets its uncertainty and loss from a no-gradient pass; the
others see the teacher's signals only and cost no extra student pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import torch

from ..core.params import param
from ..core.validation import ParameterError, check_range, check_types


@dataclass
class BatchSignals:
    """What a strategy sees of one batch (all detached)."""

    pseudo_label: torch.Tensor  # [B] teacher's label y^
    confidence: torch.Tensor  # [B] teacher's confidence c = max p^T
    uncertainty: torch.Tensor | None  # [B] student's entropy / log K, in [0, 1] (needs_student only)
    loss: torch.Tensor | None  # [B] student's cross-entropy against y^ (needs_student only)
    num_labels: int
    progress: float  # optimizer steps done / budget, in [0, 1]


def normalised(weights: torch.Tensor) -> torch.Tensor:
    """``weights`` scaled to mean 1 over the kept (non-zero) samples; all zeros stay zeros."""
    kept = weights > 0
    total = weights.sum()
    return weights * kept.sum() / total if total > 0 else weights


@dataclass
class Strategy:
    """Base: keep every sample with weight 1 (plain fine-tuning on all pseudo-labels)."""

    name: ClassVar[str] = "all"
    needs_student: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_types(self)

    def fit_pool(self, confidence: np.ndarray, pseudo_label: np.ndarray, num_labels: int) -> None:
        """See the pool's teacher signals once before training (default: nothing to do)."""

    def update(self, s: BatchSignals) -> None:
        """Adapt to the current batch before weighting it (default: nothing to adapt)."""

    def weights(self, s: BatchSignals) -> torch.Tensor:
        return torch.ones_like(s.confidence)

    def state(self) -> dict[str, float]:
        """Loggable internal state (thresholds, schedules) after the last update."""
        return {}


@dataclass
class FixedThreshold(Strategy):
    """Keep samples whose teacher confidence is at least a fixed global ``threshold``."""

    name: ClassVar[str] = "fixed_threshold"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("threshold", self.threshold, 0.0, 1.0)

    def weights(self, s: BatchSignals) -> torch.Tensor:
        return (s.confidence >= self.threshold).float()


@dataclass
class TopKPerClass(Strategy):
    """Keep the ``fraction`` most confident samples of each pseudo-class (thresholds from the pool)."""

    name: ClassVar[str] = "topk_per_class"
    fraction: float = 0.5
    thresholds: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("fraction", self.fraction, 0.0, 1.0, low_open=True)

    def fit_pool(self, confidence: np.ndarray, pseudo_label: np.ndarray, num_labels: int) -> None:
        self.thresholds = np.array([
            np.quantile(confidence[pseudo_label == k], 1 - self.fraction) if (pseudo_label == k).any() else np.inf
            for k in range(num_labels)
        ])

    def weights(self, s: BatchSignals) -> torch.Tensor:
        if self.thresholds is None:
            raise RuntimeError("TopKPerClass.fit_pool must run before training")
        tau = torch.as_tensor(self.thresholds, dtype=s.confidence.dtype, device=s.confidence.device)[s.pseudo_label]
        return (s.confidence >= tau).float()


class ClassWiseEMA:
    """A global and a per-class exponential moving average of a per-sample signal.

    ``threshold(y) = global * class(y) / max_y' class(y')`` (FreeMatch-style self-adaptive, class-wise).
    ``init="first_batch"`` starts every average at its first observation; a number starts them there.
    """

    def __init__(self, num_labels: int, momentum: float, init: float | None) -> None:
        self.momentum = momentum
        self.global_level = init
        self.class_level = np.full(num_labels, np.nan if init is None else init)

    def _ema(self, old: float, new: float) -> float:
        return new if old is None or np.isnan(old) else self.momentum * old + (1 - self.momentum) * new

    def update(self, values: torch.Tensor, labels: torch.Tensor) -> None:
        if len(values) == 0:
            return
        values, labels = values.double().cpu().numpy(), labels.cpu().numpy()
        self.global_level = self._ema(self.global_level, float(values.mean()))
        for k in np.unique(labels):
            self.class_level[k] = self._ema(self.class_level[k], float(values[labels == k].mean()))

    def thresholds(self) -> np.ndarray:
        """Per-class thresholds; a class never seen uses the global level."""
        if self.global_level is None:
            raise RuntimeError("no observation yet")
        level = np.where(np.isnan(self.class_level), self.global_level, self.class_level)
        return self.global_level * level / max(level.max(), 1e-12)


@dataclass
class LLKD(Strategy):
    """LLKD: keep samples where the teacher is confident AND the student is uncertain, with class-wise
    adaptive thresholds, and weight the kept ones by both signals.

    ``keep_i = [c_i >= tau_T(y^_i)] and [u_i >= tau_S(y^_i)]``; weights ``c*u`` (``product``),
    ``(c+u)/2`` (``mean``) or 1 (``none``); the loop normalises them (:func:`normalised`).
    Turning one half off gives the teacher-only and student-only baselines.

    Threshold options (the paper's exact constants are not known to us; papers/README.md):
    ``teacher_level``: ``ema`` (moving average of batch means), ``kept_ema`` (moving average over the
    kept samples only), ``quantile`` (static per-class ``quantile`` of c over the pool).
    ``init``: ``first_batch`` (averages start at the first statistics) or ``prior`` (teacher 1/K,
    student 1, as in the prototype). ``student_momentum`` (``None``: same as ``momentum``) sets how
    fast the student threshold follows the student's falling entropy: with 0.99 it lags behind and
    the selection starves. Notebook 03 tunes it on the validation set, as every method is tuned.
    """

    name: ClassVar[str] = "llkd"
    use_teacher: bool = param(True, "select on the teacher's confidence", study=False)
    use_student: bool = param(True, "select on the student's uncertainty", study=False)
    weighting: Literal["product", "mean", "none"] = param(
        "product", "weights of the kept samples: c*u (product), (c+u)/2 (mean) or none")
    momentum: float = param(0.99, "momentum of the moving averages behind the thresholds")
    student_momentum: float | None = param(
        0.5, "momentum of the student-uncertainty averages (None: momentum); high values lag and starve")
    init: Literal["first_batch", "prior"] = param(
        "first_batch", "averages start at the first batch's statistics, or at 1/K (teacher) and 1 (student)")
    teacher_level: Literal["ema", "kept_ema", "quantile"] = param(
        "ema", "teacher threshold level: moving average of all, of the kept, or a per-class pool quantile")
    quantile: float = param(0.5, "the per-class quantile when teacher_level is quantile")
    _teacher: ClassWiseEMA | None = field(default=None, init=False, repr=False)
    _student: ClassWiseEMA | None = field(default=None, init=False, repr=False)
    _pool_quantiles: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("momentum", self.momentum, 0.0, 1.0, high_open=True)
        if self.student_momentum is not None:
            check_range("student_momentum", self.student_momentum, 0.0, 1.0, high_open=True)
        check_range("quantile", self.quantile, 0.0, 1.0)
        if not (self.use_teacher or self.use_student):
            raise ParameterError("LLKD needs use_teacher or use_student (or both); with neither, use 'all'")

    @property
    def needs_student(self) -> bool:
        return self.use_student

    def fit_pool(self, confidence: np.ndarray, pseudo_label: np.ndarray, num_labels: int) -> None:
        prior = self.init == "prior"
        self._teacher = ClassWiseEMA(num_labels, self.momentum, 1.0 / num_labels if prior else None)
        student_momentum = self.momentum if self.student_momentum is None else self.student_momentum
        self._student = ClassWiseEMA(num_labels, student_momentum, 1.0 if prior else None)
        if self.teacher_level == "quantile":
            pool_q = np.quantile(confidence, self.quantile)
            self._pool_quantiles = np.array([
                np.quantile(confidence[pseudo_label == k], self.quantile) if (pseudo_label == k).any() else pool_q
                for k in range(num_labels)
            ])

    def _teacher_thresholds(self) -> np.ndarray:
        return self._pool_quantiles if self.teacher_level == "quantile" else self._teacher.thresholds()

    def _keep(self, s: BatchSignals) -> torch.Tensor:
        keep = torch.ones_like(s.confidence, dtype=torch.bool)
        if self.use_teacher:
            tau_t = torch.as_tensor(self._teacher_thresholds(), dtype=s.confidence.dtype, device=s.confidence.device)
            keep &= s.confidence >= tau_t[s.pseudo_label]
        if self.use_student:
            tau_s = torch.as_tensor(self._student.thresholds(), dtype=s.uncertainty.dtype, device=s.uncertainty.device)
            keep &= s.uncertainty >= tau_s[s.pseudo_label]
        return keep

    def update(self, s: BatchSignals) -> None:
        if self._teacher is None:
            raise RuntimeError("LLKD.fit_pool must run before training")
        if self.use_student:
            self._student.update(s.uncertainty, s.pseudo_label)
        if self.teacher_level == "ema":
            self._teacher.update(s.confidence, s.pseudo_label)
        elif self.teacher_level == "kept_ema":
            if self._teacher.global_level is None:  # nothing kept yet: start from the batch
                self._teacher.update(s.confidence, s.pseudo_label)
            else:
                kept = self._keep(s)
                self._teacher.update(s.confidence[kept], s.pseudo_label[kept])

    def weights(self, s: BatchSignals) -> torch.Tensor:
        keep = self._keep(s).float()
        if self.weighting == "none" or keep.sum() == 0:
            return keep
        uncertainty = s.uncertainty if self.use_student else torch.ones_like(s.confidence)
        raw = s.confidence * uncertainty if self.weighting == "product" else (s.confidence + uncertainty) / 2
        return raw * keep

    def state(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.use_teacher:
            out.update({f"tau_T/{k}": float(v) for k, v in enumerate(self._teacher_thresholds())})
        if self.use_student:
            out.update({f"tau_S/{k}": float(v) for k, v in enumerate(self._student.thresholds())})
        return out


@dataclass
class SmallLoss(Strategy):
    """Co-teaching-style small-loss selection: keep the ``1 - r_t`` smallest-loss fraction of the batch,
    ``r_t = max_drop * min(1, progress / ramp)``."""

    name: ClassVar[str] = "small_loss"
    needs_student: ClassVar[bool] = True
    max_drop: float = 0.5
    ramp: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("max_drop", self.max_drop, 0.0, 1.0, high_open=True)
        check_range("ramp", self.ramp, 0.0, 1.0, low_open=True)

    def drop_rate(self, progress: float) -> float:
        return self.max_drop * min(1.0, progress / self.ramp)

    def weights(self, s: BatchSignals) -> torch.Tensor:
        keep_n = max(1, math.ceil(len(s.loss) * (1 - self.drop_rate(s.progress))))
        keep = torch.zeros_like(s.loss)
        keep[torch.argsort(s.loss, stable=True)[:keep_n]] = 1.0
        return keep


@dataclass
class SelfPaced(Strategy):
    """Self-paced learning: keep samples with loss below ``lambda_t``, which grows linearly from
    ``start`` to ``end`` (in units of log K, the loss of a uniform prediction) over the budget."""

    name: ClassVar[str] = "self_paced"
    needs_student: ClassVar[bool] = True
    start: float = 1.0
    end: float = 3.0
    _lambda: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("start", self.start, 0.0, None, low_open=True)
        if self.end < self.start:
            raise ParameterError(f"self_paced end ({self.end}) must be >= start ({self.start})")

    def update(self, s: BatchSignals) -> None:
        self._lambda = math.log(s.num_labels) * (self.start + (self.end - self.start) * s.progress)

    def weights(self, s: BatchSignals) -> torch.Tensor:
        return (s.loss < self._lambda).float()

    def state(self) -> dict[str, float]:
        return {"lambda": self._lambda}


@dataclass
class SoftWeighting(Strategy):
    """SoftMatch-style soft weights on teacher confidence: 1 above the moving mean mu_t, a Gaussian
    ``exp(-(c - mu_t)^2 / (2 sigma_t^2))`` below it (mu, sigma^2: moving averages of batch statistics)."""

    name: ClassVar[str] = "soft_weighting"
    momentum: float = 0.99
    _mean: float | None = field(default=None, init=False, repr=False)
    _var: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("momentum", self.momentum, 0.0, 1.0, high_open=True)

    def update(self, s: BatchSignals) -> None:
        mean = float(s.confidence.double().mean())
        var = float(s.confidence.double().var(unbiased=True)) if len(s.confidence) > 1 else 0.0
        if self._mean is None:
            self._mean, self._var = mean, var
        else:
            self._mean = self.momentum * self._mean + (1 - self.momentum) * mean
            self._var = self.momentum * self._var + (1 - self.momentum) * var

    def weights(self, s: BatchSignals) -> torch.Tensor:
        gauss = torch.exp(-((s.confidence - self._mean) ** 2) / (2 * max(self._var, 1e-12)))
        return torch.where(s.confidence >= self._mean, torch.ones_like(gauss), gauss)

    def state(self) -> dict[str, float]:
        return {"mu": self._mean, "sigma2": self._var}


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Strategy, FixedThreshold, TopKPerClass, LLKD, SmallLoss, SelfPaced, SoftWeighting)
}


def make_strategy(name: str, **params) -> Strategy:
    """A strategy by registry name; unknown names and parameters give a clear error."""
    if name not in STRATEGIES:
        raise ParameterError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    cls = STRATEGIES[name]
    allowed = {f for f in cls.__dataclass_fields__ if not f.startswith("_") and cls.__dataclass_fields__[f].init}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown} for strategy {name!r}; allowed: {sorted(allowed)}")
    return cls(**params)

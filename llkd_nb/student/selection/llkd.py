"""LLKD: a confident teacher and an uncertain student, with class-wise adaptive thresholds; and its halves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import torch

from ...core.params import param, values_of
from ...core.validation import ParameterError, check_range
from .base import BatchSignals, Strategy, register
from .rows import PANELS, Method

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


@register
@dataclass
class LLKD(Strategy):
    """LLKD: keep samples where the teacher is confident AND the student is uncertain, with class-wise
    adaptive thresholds, and weight the kept ones by both signals.

    ``keep_i = [c_i >= tau_T(y^_i)] and [u_i >= tau_S(y^_i)]``; weights ``c*u`` (``product``),
    ``(c+u)/2`` (``mean``) or 1 (``none``); the loop normalises them (:func:`normalised`).
    Turning one threshold off gives the teacher-only and student-only ablations; the weights stay those of
    ``weighting`` (c*u by default, the student's uncertainty included), so each ablation differs from LLKD
    by exactly one switch.

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
        return self.use_student or self.weighting != "none"  # its threshold, or its uncertainty in the weights

    @classmethod
    def rows(cls, configured: "LLKD") -> tuple[Method, ...]:
        """LLKD at the study's parameters, tuned over the student momentum, and its three ablations: each
        runs at LLKD's tuned parameters with exactly one switch flipped (a threshold off, or the weights)."""
        base = values_of(configured)
        return (
            Method("llkd_teacher_only", "adaptive teacher threshold only", cls.name, {**base, "use_student": False},
                   keeps="LLKD's teacher half (class-wise adaptive τ_T), LLKD's weights c·u", panel=PANELS[2],
                   ablation_of="llkd"),
            Method("llkd_student_only", "student uncertainty only", cls.name, {**base, "use_teacher": False},
                   keeps="LLKD's student half (class-wise adaptive τ_S), active-learning style, LLKD's weights c·u",
                   panel=PANELS[2], ablation_of="llkd"),
            Method("llkd_unweighted", "LLKD without weights", cls.name, {**base, "weighting": "none"},
                   keeps="both thresholds, weight 1", panel=PANELS[2], ablation_of="llkd"),
            Method("llkd", "LLKD", cls.name, base, tuple({"student_momentum": m} for m in (0.0, 0.3, 0.6, 0.9)),
                   "student momentum", ("momentum 0 is the lower limit: the student threshold is each batch's own statistic",
                                        "momentum near 1: the student threshold lags training and the run starves"),
                   hard_limits=(True, False), past=(None, {"student_momentum": 0.97}),
                   keeps="both thresholds, weights from both signals", panel=PANELS[2]),
        )

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
        raw = s.confidence * s.uncertainty if self.weighting == "product" else (s.confidence + s.uncertainty) / 2
        return raw * keep

    def state(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.use_teacher:
            out.update({f"tau_T/{k}": float(v) for k, v in enumerate(self._teacher_thresholds())})
        if self.use_student:
            out.update({f"tau_S/{k}": float(v) for k, v in enumerate(self._student.thresholds())})
        return out


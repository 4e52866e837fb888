"""A fixed global threshold on the teacher's confidence, set where it keeps a share of the pool."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from ...core.validation import check_range
from .base import BatchSignals, Strategy, register
from .rows import PANELS, Method

KEEP_GRID = (0.8, 0.6, 0.4, 0.2)  # shares of the pool: the grid spans any teacher's confidences


@register
@dataclass
class FixedThreshold(Strategy):
    """Keep samples whose teacher confidence is at least a fixed global threshold: the pool's confidence
    quantile that keeps a share ``keep`` of the pool (ties can keep a little more), or, when set, the
    absolute ``threshold``. A grid of shares spans every teacher's confidences, however low or high they
    run; a grid of absolute values would keep everything for one teacher and nothing for another."""

    name: ClassVar[str] = "fixed_threshold"
    keep: float = 0.5
    threshold: float | None = None
    _level: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("keep", self.keep, 0.0, 1.0)
        if self.threshold is not None:
            check_range("threshold", self.threshold, 0.0, 1.0)

    @classmethod
    def rows(cls, configured: "FixedThreshold") -> tuple[Method, ...]:
        return (Method(
            "fixed_threshold", "fixed confidence threshold", cls.name, {"keep": configured.keep},
            tuple({"keep": share} for share in KEEP_GRID), "the share of the pool above the threshold",
            ("a larger share keeps more of the least confident labels, up to all of them: all pseudo-labels",
             "a smaller share trains on ever fewer texts, down to none (the run starves)"),
            past=({"keep": 0.9}, {"keep": 0.1}),
            keeps="teacher confidence ≥ a global threshold, set at a pool quantile", panel=PANELS[0],
            short="fixed threshold"),)

    def fit_pool(self, confidence: np.ndarray, pseudo_label: np.ndarray, num_labels: int) -> None:
        self._level = self.threshold if self.threshold is not None else (
            float(np.quantile(confidence, 1 - self.keep, method="lower")) if self.keep > 0 else np.inf)

    def weights(self, s: BatchSignals) -> torch.Tensor:
        if self._level is None:
            raise RuntimeError("FixedThreshold.fit_pool must run before training")
        return (s.confidence >= self._level).float()

"""The most confident k % of each pseudo-class."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from ...core.validation import check_range
from .base import BatchSignals, Strategy, register
from .rows import PANELS, Method


@register
@dataclass
class TopKPerClass(Strategy):
    """Keep the ``fraction`` most confident samples of each pseudo-class (thresholds from the pool)."""

    name: ClassVar[str] = "topk_per_class"
    fraction: float = 0.5
    thresholds: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("fraction", self.fraction, 0.0, 1.0, low_open=True)

    @classmethod
    def rows(cls, configured: "TopKPerClass") -> tuple[Method, ...]:
        return (Method(
            "topk_per_class", "top-k % per class", cls.name, {"fraction": configured.fraction},
            tuple({"fraction": f} for f in (0.2, 0.3, 0.5, 0.7)), "k",
            ("a few texts per class, too few to fill the budget's batches with distinct samples",
             "k = 100 % keeps everything: all pseudo-labels"),
            past=({"fraction": 0.1}, {"fraction": 0.85}),
            keeps="the most confident k % of each pseudo-class", panel=PANELS[0], short="top-k per class"),)

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

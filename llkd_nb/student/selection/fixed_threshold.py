"""A fixed global threshold on the teacher's confidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ...core.validation import check_range
from .base import BatchSignals, Strategy, register
from .rows import PANELS, Method


@register
@dataclass
class FixedThreshold(Strategy):
    """Keep samples whose teacher confidence is at least a fixed global ``threshold``."""

    name: ClassVar[str] = "fixed_threshold"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("threshold", self.threshold, 0.0, 1.0)

    @classmethod
    def rows(cls, configured: "FixedThreshold") -> tuple[Method, ...]:
        return (Method(
            "fixed_threshold", "fixed confidence threshold", cls.name, {"threshold": configured.threshold},
            tuple({"threshold": t} for t in (0.4, 0.5, 0.6, 0.7)), "the threshold",
            ("a threshold below most confidences keeps everything: all pseudo-labels",
             "a threshold above most confidences starves the run"),
            keeps="teacher confidence ≥ a global threshold", panel=PANELS[0], short="fixed threshold"),)

    def weights(self, s: BatchSignals) -> torch.Tensor:
        return (s.confidence >= self.threshold).float()

"""Co-teaching-style small-loss selection: trust the samples the student finds easy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ...core.validation import check_range
from .base import BatchSignals, Strategy, register
from .rows import PANELS, Method


@register
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

    @classmethod
    def rows(cls, configured: "SmallLoss") -> tuple[Method, ...]:
        return (Method(
            "small_loss", "small-loss selection", cls.name, grid=tuple({"max_drop": r} for r in (0.05, 0.1, 0.2, 0.4)),
            knob="the final drop rate", beyond=("a drop rate of 0 keeps everything: all pseudo-labels",
                                                "dropping most of each batch, where even correct labels go"),
            keeps="the (1 − r_t) smallest losses, r_t ramping up (co-teaching style)", panel=PANELS[1]),)

    def drop_rate(self, progress: float) -> float:
        return self.max_drop * min(1.0, progress / self.ramp)

    def weights(self, s: BatchSignals) -> torch.Tensor:
        keep_n = max(1, math.ceil(len(s.loss) * (1 - self.drop_rate(s.progress))))
        keep = torch.zeros_like(s.loss)
        keep[torch.argsort(s.loss, stable=True)[:keep_n]] = 1.0
        return keep

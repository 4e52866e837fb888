"""Self-paced learning: a loss bar that rises over the budget."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ...core.validation import ParameterError, check_range
from .base import BatchSignals, Strategy, register
from .rows import PANELS, Method


@register
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

    @classmethod
    def rows(cls, configured: "SelfPaced") -> tuple[Method, ...]:
        return (Method(
            "self_paced", "self-paced learning", cls.name, grid=tuple({"end": e} for e in (3.0, 4.0, 6.0, 10.0)),
            knob="the final λ (× log K)", beyond=("a final λ near the start keeps only the easiest samples throughout",
                                                  "λ above every loss keeps everything late in training: all pseudo-labels"),
            keeps="loss < λ_t, λ_t growing", panel=PANELS[1]),)

    def update(self, s: BatchSignals) -> None:
        self._lambda = math.log(s.num_labels) * (self.start + (self.end - self.start) * s.progress)

    def weights(self, s: BatchSignals) -> torch.Tensor:
        return (s.loss < self._lambda).float()

    def state(self) -> dict[str, float]:
        return {"lambda": self._lambda}

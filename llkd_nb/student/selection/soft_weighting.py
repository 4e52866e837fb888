"""SoftMatch-style soft weights on the teacher's confidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ...core.validation import check_range
from .base import BatchSignals, Strategy, register
from .rows import PANELS, Method


@register
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

    @classmethod
    def rows(cls, configured: "SoftWeighting") -> tuple[Method, ...]:
        return (Method(
            "soft_weighting", "soft weighting (SoftMatch-style)", cls.name,
            grid=tuple({"momentum": m} for m in (0.5, 0.9, 0.99, 0.999)), knob="momentum",
            beyond=("momentum 0: the weights follow each batch's own statistics",
                    "momentum 1: the statistics never move from the first batch"),
            keeps="every sample, a Gaussian weight below the moving mean of teacher confidence", panel=PANELS[0],
            short="soft weighting"),)

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

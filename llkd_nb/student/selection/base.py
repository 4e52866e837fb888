"""What every selection strategy implements, the comparison rows it declares, and the registry.

The training loop calls, for each batch drawn from the pool::

    strategy.update(signals)             # adapt internal state (moving averages, schedules)
    weights = strategy.weights(signals)  # [B] >= 0; a zero weight drops the sample

and the loop scales every strategy's weights the same way, to mean 1 over the kept samples of the
batch (:func:`normalised`), so a soft weighting changes which samples count more, never the effective
learning rate; the loss is ``sum_i w_i * CE_i / #{i : w_i > 0}``. ``fit_pool`` sees the whole pool's teacher
signals once before training (for strategies with static, pool-level thresholds). A strategy that
reads the student (``needs_student``) gets its uncertainty and loss from a no-gradient pass; the
others see the teacher's signals only and cost no extra student pass.

**Randomness.** A strategy that draws at random uses ``signals.generator`` (and ``signals.index``, the
batch's positions in the pool, to tie a draw to a sample): a generator seeded from the run's seed and
used by the strategy alone, so its draws never move the loop's batch order, initialisation or dropout,
and a strategy that draws nothing trains exactly as before. Both live on the CPU: draw there, then move
the draw to the signals' device.

**One place per strategy.** A strategy is one module of this package: its class, registered with
:func:`register`, and the rows it adds to a comparison (:meth:`Strategy.rows`, :class:`~.rows.Method`:
display name, grid, what lies past each edge, its panel in the learning curves, what it keeps). Everything that lists methods
(notebook 04's table and curves, ``llkd-nb list-methods``, the grid tables of README and
``papers/method.md``) is generated from those rows, and the run cache fingerprints each strategy's own
module, so adding or editing one strategy leaves every cached run of the others valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ...core.validation import ParameterError, check_types
from .rows import PANELS, Method


@dataclass
class BatchSignals:
    """What a strategy sees of one batch (all detached)."""

    pseudo_label: torch.Tensor  # [B] teacher's label y^
    confidence: torch.Tensor  # [B] teacher's confidence c = max p^T
    uncertainty: torch.Tensor | None  # [B] student's entropy / log K, in [0, 1] (needs_student only)
    loss: torch.Tensor | None  # [B] student's cross-entropy against y^ (needs_student only)
    num_labels: int
    progress: float  # optimizer steps done / budget, in [0, 1]
    index: torch.Tensor | None = None  # [B] the samples' positions in the pool
    generator: torch.Generator | None = None  # the strategy's own seeded random stream (module docstring)


def normalised(weights: torch.Tensor) -> torch.Tensor:
    """``weights`` scaled to mean 1 over the kept (non-zero) samples; all zeros stay zeros."""
    kept = weights > 0
    total = weights.sum()
    return weights * kept.sum() / total if total > 0 else weights


@dataclass
class Strategy:
    """Base, and the ``all`` strategy: keep every sample with weight 1 (plain fine-tuning on all
    pseudo-labels). A subclass overrides what it changes and declares its own :meth:`rows`."""

    name: ClassVar[str] = "all"
    needs_student: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_types(self)

    @classmethod
    def rows(cls, configured: "Strategy") -> tuple[Method, ...]:
        """This strategy's rows in a comparison, built on ``configured`` (the strategy as the study sets
        its keys; the defaults where it has none)."""
        return (
            Method("all", "all pseudo-labels", keeps="everything, weight 1", panel=PANELS[0], short="all"),
            Method("gold_ceiling", "gold labels (ceiling, uses gold)", targets="gold",
                   keeps="everything, trained on the pool's gold labels: the supervised ceiling, not a distillation"),
        )

    def fit_pool(self, confidence: np.ndarray, pseudo_label: np.ndarray, num_labels: int) -> None:
        """See the pool's teacher signals once before training (default: nothing to do)."""

    def update(self, s: BatchSignals) -> None:
        """Adapt to the current batch before weighting it (default: nothing to adapt)."""

    def weights(self, s: BatchSignals) -> torch.Tensor:
        return torch.ones_like(s.confidence)

    def state(self) -> dict[str, float]:
        """Loggable internal state (thresholds, schedules) after the last update."""
        return {}


STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Add ``cls`` to :data:`STRATEGIES` under its ``name``; it must declare its own rows."""
    if "rows" not in vars(cls):
        raise TypeError(f"strategy {cls.__name__} declares no rows of its own (Strategy.rows)")
    known = STRATEGIES.get(cls.name, cls)
    if (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):  # the same class reloaded is fine
        raise TypeError(f"two strategies are named {cls.name!r}: {STRATEGIES[cls.name].__name__} and {cls.__name__}")
    STRATEGIES[cls.name] = cls
    return cls


register(Strategy)


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

"""The methods of a comparison: a strategy, its parameters, its targets, and its tuning grid.

Every method with a knob gets a grid of the same size (:data:`GRID_SIZE`), LLKD included; the grid
is searched on the validation set, on tuning seeds that the comparison does not report
(:mod:`llkd_nb.tuning`). LLKD's ablations (its teacher half, its student half, LLKD without weights)
are not tuned on their own: each runs at LLKD's tuned parameters with exactly one switch flipped, so
the difference from LLKD measures that switch and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from .params import values_of
from .selection import LLKD

GRID_SIZE = 3


@dataclass(frozen=True)
class Method:
    """A row of a comparison. ``params`` go to the strategy; ``grid`` lists candidate overrides of
    them (empty: nothing to tune); ``targets="gold"`` trains on the pool's gold labels (the supervised
    ceiling, not a distillation)."""

    name: str
    strategy: str = "all"
    params: dict = field(default_factory=dict)
    grid: tuple[dict, ...] = ()
    targets: Literal["pseudo", "gold"] = "pseudo"
    ablation_of: str | None = None  # runs at that method's tuned parameters, with its own ``params`` on top

    def __post_init__(self) -> None:
        if self.grid and len(self.grid) != GRID_SIZE:
            raise ValueError(f"{self.name}: every tuned method gets a grid of {GRID_SIZE} candidates, got {len(self.grid)}")

    def with_params(self, overrides: dict) -> "Method":
        return replace(self, params={**self.params, **overrides})

    @property
    def is_llkd(self) -> bool:
        return self.name == LLKD_ROW


LLKD_ROW = "LLKD"
CEILING_ROW = "gold labels (ceiling, uses gold)"


def comparison_methods(llkd: LLKD | None = None, with_ceiling: bool = True) -> list[Method]:
    """Notebook 04's rows. ``llkd`` (the study's LLKD parameters) is the base of the four LLKD rows;
    the gold-label ceiling needs gold labels on the pool."""
    base = values_of(llkd or LLKD())
    methods = [
        Method("all pseudo-labels", "all"),
        Method("fixed confidence threshold", "fixed_threshold", {"threshold": 0.5},
               grid=({"threshold": 0.4}, {"threshold": 0.5}, {"threshold": 0.6})),
        Method("top-k % per class", "topk_per_class", {"fraction": 0.5},
               grid=({"fraction": 0.3}, {"fraction": 0.5}, {"fraction": 0.7})),
        Method("adaptive teacher threshold only", "llkd", {**base, "use_student": False}, ablation_of=LLKD_ROW),
        Method("student uncertainty only", "llkd", {**base, "use_teacher": False}, ablation_of=LLKD_ROW),
        Method("small-loss selection", "small_loss", grid=({"max_drop": 0.2}, {"max_drop": 0.4}, {"max_drop": 0.6})),
        Method("self-paced learning", "self_paced", grid=({"end": 2.0}, {"end": 3.0}, {"end": 4.0})),
        Method("soft weighting (SoftMatch-style)", "soft_weighting",
               grid=({"momentum": 0.9}, {"momentum": 0.99}, {"momentum": 0.999})),
        Method("LLKD without weights", "llkd", {**base, "weighting": "none"}, ablation_of=LLKD_ROW),
        Method(LLKD_ROW, "llkd", base,
               grid=({"student_momentum": 0.0}, {"student_momentum": 0.5}, {"student_momentum": 0.9})),
        Method(CEILING_ROW, "all", targets="gold"),
    ]
    return methods if with_ceiling else [m for m in methods if m.targets != "gold"]


def with_tuned(methods: list[Method], chosen: dict[str, dict]) -> list[Method]:
    """Every method at its tuned parameters (``chosen``: method name -> overrides); an ablation at the
    parameters its parent was tuned to, its own switch kept on top."""
    def overrides(method: Method) -> dict:
        if method.ablation_of is not None:
            switch = {k: v for k, v in method.params.items() if method_named(methods, method.ablation_of).params.get(k) != v}
            return {**chosen.get(method.ablation_of, {}), **switch}
        return chosen.get(method.name, {})

    return [method.with_params(overrides(method)) for method in methods]


def method_named(methods: list[Method], name: str) -> Method:
    for method in methods:
        if method.name == name:
            return method
    raise KeyError(f"no method named {name!r}; methods: {[m.name for m in methods]}")

"""The methods of a comparison: a strategy, its parameters, its targets, and its tuning grid.

Every method with a knob gets a grid of the same size (:data:`GRID_SIZE`), LLKD included, spread so
that on the default study the choice lies inside it or at an edge past which the method changes nature
(``beyond`` names what lies there); the grid is searched on the validation set, on tuning seeds that the comparison does not report
(:mod:`llkd_nb.experiments.tuning`). LLKD's ablations (its teacher half, its student half, LLKD without weights)
are not tuned on their own: each runs at LLKD's tuned parameters with exactly one switch flipped, so
the difference from LLKD measures that switch and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ..core.params import values_of
from ..student.selection import LLKD

GRID_SIZE = 4


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
    beyond: tuple[str, str] = ("", "")  # what lies past the grid's first and last value (a hard limit)

    def __post_init__(self) -> None:
        if self.grid and len(self.grid) != GRID_SIZE:
            raise ValueError(f"{self.name}: every tuned method gets a grid of {GRID_SIZE} candidates, got {len(self.grid)}")

    def with_params(self, overrides: dict) -> "Method":
        return replace(self, params={**self.params, **overrides})

    @property
    def is_llkd(self) -> bool:
        return self.name == LLKD_ROW

    def edge(self, chosen: dict) -> str:
        """Empty if ``chosen`` lies inside the grid; else which edge, and what lies past it."""
        if not self.grid or chosen not in self.grid or chosen not in (self.grid[0], self.grid[-1]):
            return ""
        first = chosen == self.grid[0]
        value = ", ".join(f"{k}={v}" for k, v in chosen.items())
        return f"{value} is the grid's {'first' if first else 'last'} value; past it: {self.beyond[0 if first else 1]}"


LLKD_ROW = "LLKD"
UNWEIGHTED_ROW = "LLKD without weights"
CEILING_ROW = "gold labels (ceiling, uses gold)"


def comparison_methods(llkd: LLKD | None = None, with_ceiling: bool = True) -> list[Method]:
    """Notebook 04's rows. ``llkd`` (the study's LLKD parameters) is the base of the four LLKD rows;
    the gold-label ceiling needs gold labels on the pool."""
    base = values_of(llkd or LLKD())
    methods = [
        Method("all pseudo-labels", "all"),
        Method("fixed confidence threshold", "fixed_threshold", {"threshold": 0.5},
               grid=tuple({"threshold": t} for t in (0.4, 0.5, 0.6, 0.7)),
               beyond=("a threshold below most confidences keeps everything: all pseudo-labels",
                       "a threshold above most confidences starves the run")),
        Method("top-k % per class", "topk_per_class", {"fraction": 0.5},
               grid=tuple({"fraction": f} for f in (0.2, 0.3, 0.5, 0.7)),
               beyond=("a few texts per class, too few to fill the budget's batches with distinct samples",
                       "k = 100 % keeps everything: all pseudo-labels")),
        Method("adaptive teacher threshold only", "llkd", {**base, "use_student": False}, ablation_of=LLKD_ROW),
        Method("student uncertainty only", "llkd", {**base, "use_teacher": False}, ablation_of=LLKD_ROW),
        Method("small-loss selection", "small_loss", grid=tuple({"max_drop": r} for r in (0.05, 0.1, 0.2, 0.4)),
               beyond=("a drop rate of 0 keeps everything: all pseudo-labels",
                       "dropping most of each batch, where even correct labels go")),
        Method("self-paced learning", "self_paced", grid=tuple({"end": e} for e in (3.0, 4.0, 6.0, 10.0)),
               beyond=("a final λ near the start keeps only the easiest samples throughout",
                       "λ above every loss keeps everything late in training: all pseudo-labels")),
        Method("soft weighting (SoftMatch-style)", "soft_weighting",
               grid=tuple({"momentum": m} for m in (0.5, 0.9, 0.99, 0.999)),
               beyond=("momentum 0: the weights follow each batch's own statistics",
                       "momentum 1: the statistics never move from the first batch")),
        Method(UNWEIGHTED_ROW, "llkd", {**base, "weighting": "none"}, ablation_of=LLKD_ROW),
        Method(LLKD_ROW, "llkd", base, grid=tuple({"student_momentum": m} for m in (0.0, 0.3, 0.6, 0.9)),
               beyond=("momentum 0 is the lower limit: the student threshold is each batch's own statistic",
                       "momentum near 1: the student threshold lags training and the run starves")),
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

"""A comparison's rows, as strategies declare them (:meth:`~.base.Strategy.rows`): names, grids, panels.

Descriptions only: nothing here decides how a student trains, so the run cache does not fingerprint it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

GRID_SIZE = 4  # every tuned method gets a grid of this many candidates, LLKD included
# The learning-curve panels, in the order tables list their rows; LLKD is drawn in each as the reference.
PANELS = ("selecting by teacher confidence", "selecting by student loss", "LLKD and its halves")


@dataclass(frozen=True)
class Method:
    """A row of a comparison, declared by the strategy it runs (:meth:`Strategy.rows`).

    ``id`` is the stable key code refers to; ``name`` the display name of tables and figures (``short``
    where space is tight). ``params`` go to the strategy; ``grid`` lists candidate overrides of them
    (empty: nothing to tune), and ``beyond`` says what lies past its first and last value; ``targets="gold"``
    trains on the pool's gold labels (the supervised ceiling, not a distillation); ``ablation_of`` (a row
    id) runs at that row's tuned parameters with its own ``params`` on top. ``keeps`` and ``knob`` describe
    the row in notebook 04's table; ``panel`` (one of :data:`PANELS`, or None) its learning-curve panel."""

    id: str
    name: str
    strategy: str = "all"
    params: dict = field(default_factory=dict)
    grid: tuple[dict, ...] = ()
    knob: str = ""
    beyond: tuple[str, str] = ("", "")
    keeps: str = ""
    panel: str | None = None
    targets: Literal["pseudo", "gold"] = "pseudo"
    ablation_of: str | None = None
    short: str = ""

    def __post_init__(self) -> None:
        if self.grid and len(self.grid) != GRID_SIZE:
            raise ValueError(f"{self.id}: every tuned method gets a grid of {GRID_SIZE} candidates, got {len(self.grid)}")
        if self.panel is not None and self.panel not in PANELS:
            raise ValueError(f"{self.id}: panel {self.panel!r} is none of {PANELS}")

    @property
    def display_short(self) -> str:
        return self.short or self.name

    def decisive(self) -> dict:
        """What decides this row's runs (its descriptions do not): for keys of saved tuning."""
        return {"strategy": self.strategy, "params": self.params, "grid": list(self.grid), "targets": self.targets}

    def with_params(self, overrides: dict) -> "Method":
        return replace(self, params={**self.params, **overrides})

    def edge(self, chosen: dict) -> str:
        """Empty if ``chosen`` lies inside the grid; else which edge, and what lies past it."""
        if not self.grid or chosen not in self.grid or chosen not in (self.grid[0], self.grid[-1]):
            return ""
        first = chosen == self.grid[0]
        value = ", ".join(f"{k}={v}" for k, v in chosen.items())
        return f"{value} is the grid's {'first' if first else 'last'} value; past it: {self.beyond[0 if first else 1]}"

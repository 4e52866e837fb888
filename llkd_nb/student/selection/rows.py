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
    (empty: nothing to tune), and ``beyond`` says what lies past its first and last value; ``hard_limits``
    marks an edge that is a true limit of the knob (nothing lies past it), and ``past`` is the candidate one
    step past an edge that is not, tried when tuning extends a grid whose edge won; ``targets="gold"``
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
    hard_limits: tuple[bool, bool] = (False, False)
    past: tuple[dict | None, dict | None] = (None, None)
    keeps: str = ""
    panel: str | None = None
    targets: Literal["pseudo", "gold"] = "pseudo"
    ablation_of: str | None = None
    short: str = ""

    def __post_init__(self) -> None:
        if self.grid and len(self.grid) != GRID_SIZE:
            raise ValueError(f"{self.id}: every tuned method gets a grid of {GRID_SIZE} candidates, got {len(self.grid)}")
        if any(hard and past for hard, past in zip(self.hard_limits, self.past)):
            raise ValueError(f"{self.id}: nothing lies past a hard limit, yet a candidate past it is given")
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

    def ends(self, extended: bool = False) -> tuple[dict, dict]:
        """The grid's first and last candidates; ``extended``: the ones past each edge that has one instead."""
        return tuple(past if extended and past else end for end, past in zip((self.grid[0], self.grid[-1]), self.past))

    def step_past(self, chosen: dict) -> dict | None:
        """The candidate one step past ``chosen`` when it is an end of the grid that the row can extend (an
        edge that is no hard limit, with a ``past`` candidate); else None."""
        if not self.grid:
            return None
        return next((past for end, past in zip(self.ends(), self.past) if chosen == end and past), None)

    def edge(self, chosen: dict, extended: bool = False) -> str:
        """Empty if ``chosen`` lies inside the grid (``extended``: the grid with its steps past the edges);
        else which edge, whether it is a hard limit, and what lies past it."""
        if not self.grid or chosen not in (ends := self.ends(extended)):
            return ""
        side = ends.index(chosen)
        name = ("first", "last")[side]
        where = (f"one step past the grid's {name} value (tuning extended the grid)" if chosen == self.past[side]
                 else f"the grid's {name} value" + (", a hard limit" if self.hard_limits[side] else ""))
        value = ", ".join(f"{k}={v}" for k, v in chosen.items())
        return f"{value} is {where}; past it: {self.beyond[side]}"

    def open_edge(self, chosen: dict, extended: bool = False) -> bool:
        """Whether ``chosen`` sits at an edge of the (``extended``) grid that is not a hard limit of the knob."""
        return bool(self.grid) and any(chosen == end and not hard for end, hard in zip(self.ends(extended), self.hard_limits))

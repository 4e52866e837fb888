"""The methods of a comparison: every registered strategy's rows (:meth:`Strategy.rows`), and what is
listed from them (notebook 04's method table and learning-curve panels, ``llkd-nb list-methods``, the grid
tables of README and ``papers/method.md``).

Every method with a knob gets a grid of the same size (:data:`GRID_SIZE`), LLKD included, spread so
that on the default study the choice lies inside it or at an edge past which the method changes nature
(``beyond`` names what lies there); the grid is searched on the validation set, on tuning seeds that the
comparison does not report (:mod:`llkd_nb.experiments.tuning`). LLKD's ablations (its teacher half, its
student half, LLKD without weights) are not tuned on their own: each runs at LLKD's tuned parameters with
exactly one switch flipped, so the difference from LLKD measures that switch and nothing else.
"""

from __future__ import annotations

import pandas as pd

from ..student.selection import GRID_SIZE, PANELS, STRATEGIES, Method, Strategy

__all__ = ["GRID_SIZE", "Method", "comparison_methods", "with_tuned", "method_named", "method_by_id", "method_table",
           "curve_panels", "LLKD_ROW", "UNWEIGHTED_ROW", "CEILING_ROW"]


def comparison_methods(*configured: Strategy, with_ceiling: bool = True) -> list[Method]:
    """Notebook 04's rows: every registered strategy's, each built on its instance in ``configured`` (the
    study's settings of its keys) or on its defaults, ordered by learning-curve panel (:data:`PANELS`), then
    by registration; rows drawn in no panel (the gold-label ceiling) last. The ceiling needs gold labels on
    the pool: ``with_ceiling=False`` leaves out every row that trains on gold."""
    settings = {type(strategy).name: strategy for strategy in configured}
    rows = [row for name, cls in STRATEGIES.items() for row in cls.rows(settings.get(name) or cls())]
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"two comparison rows share an id: {sorted(i for i in ids if ids.count(i) > 1)}")
    rows.sort(key=lambda row: PANELS.index(row.panel) if row.panel in PANELS else len(PANELS))
    return rows if with_ceiling else [row for row in rows if row.targets != "gold"]


def method_by_id(methods: list[Method], method_id: str) -> Method:
    for method in methods:
        if method.id == method_id:
            return method
    raise KeyError(f"no method with id {method_id!r}; ids: {[m.id for m in methods]}")


def method_named(methods: list[Method], name: str) -> Method:
    for method in methods:
        if method.name == name:
            return method
    raise KeyError(f"no method named {name!r}; methods: {[m.name for m in methods]}")


_DEFAULT_ROWS = comparison_methods()
LLKD_ROW = method_by_id(_DEFAULT_ROWS, "llkd").name
UNWEIGHTED_ROW = method_by_id(_DEFAULT_ROWS, "llkd_unweighted").name
CEILING_ROW = method_by_id(_DEFAULT_ROWS, "gold_ceiling").name


def with_tuned(methods: list[Method], chosen: dict[str, dict]) -> list[Method]:
    """Every method at its tuned parameters (``chosen``: method name -> overrides); an ablation at the
    parameters its parent was tuned to, its own switch kept on top."""
    def overrides(method: Method) -> dict:
        if method.ablation_of is not None:
            parent = method_by_id(methods, method.ablation_of)
            switch = {k: v for k, v in method.params.items() if parent.params.get(k) != v}
            return {**chosen.get(parent.name, {}), **switch}
        return chosen.get(method.name, {})

    return [method.with_params(overrides(method)) for method in methods]


def _grid(method: Method, methods: list[Method]) -> str:
    if method.grid:
        return " / ".join(", ".join(f"{k}={v}" for k, v in candidate.items()) for candidate in method.grid)
    return f"{method_by_id(methods, method.ablation_of).name}'s choice" if method.ablation_of else "–"


def method_table(methods: list[Method]) -> pd.DataFrame:
    """One row per method: its id, what it keeps and weights, its tuned knob and grid, what lies past the
    grid's edges, and its panel in the learning curves."""
    return pd.DataFrame({
        "id": [m.id for m in methods],
        "keeps / weights": [m.keeps for m in methods],
        f"tuned knob ({GRID_SIZE} values)": [m.knob or "–" for m in methods],
        "grid": [_grid(m, methods) for m in methods],
        "past the first / last value": [" / ".join(m.beyond) if m.grid else "–" for m in methods],
        "learning-curve panel": [m.panel or "–" for m in methods],
    }, index=pd.Index([m.name for m in methods], name="method"))


def curve_panels(methods: list[Method], present: set[str]) -> dict[str, list[str]]:
    """The learning-curve panels: each panel's methods (by name) among ``present``, LLKD first in each."""
    panels = {title: [LLKD_ROW] for title in PANELS}
    for method in methods:
        if method.panel is not None and method.name != LLKD_ROW:
            panels[method.panel].append(method.name)
    return {title: [name for name in names if name in present] for title, names in panels.items()}


def methods_markdown() -> str:
    """The comparison's rows on the default study as a Markdown table (README and ``papers/method.md`` carry
    it between ``<!-- report:methods -->`` markers; ``llkd-nb params`` rewrites it from the registry)."""
    methods = comparison_methods()
    table = method_table(methods).drop(columns=["past the first / last value", "learning-curve panel"])
    table["past the first value"] = [m.beyond[0] if m.grid else "–" for m in methods]
    table["past the last value"] = [m.beyond[1] if m.grid else "–" for m in methods]
    return (f"{len(methods)} rows from {len(STRATEGIES)} registered strategies (`llkd-nb list-methods`):\n\n"
            + table.to_markdown() + "\n")

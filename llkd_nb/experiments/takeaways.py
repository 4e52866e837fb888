"""Notebook 05's take-aways, written from its tables: each sentence reads the numbers it states, so a
table that says otherwise changes the sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .decision_map import MarginRule, family

MAP_STUDENT, PAPER_STUDENT = "map's student", "paper's student"  # the students of notebook 05's section 7


def _counted(best: pd.DataFrame) -> str:
    """Take-away 1: the verdicts over the confirmatory cells, and whom a detected difference favours."""
    cells = best[best["kind"].map(family) == "confirmatory"]
    better, worse = cells[cells["verdict"] == "better"], cells[cells["verdict"] == "worse"]
    neutral = len(cells) - len(better) - len(worse)
    counts = (f"Over the map's {len(cells)} cells of real and proxy teachers, LLKD is better than the best other "
              f"method in {len(better)}, worse in {len(worse)} and not distinguishable in {neutral}")
    if not len(better) and not len(worse):
        return f"**On this map LLKD is not distinguishable from the best simpler selection anywhere.** {counts}."
    if len(worse) > len(better):
        winner = worse["method"].mode().iloc[0]
        budgets = ", ".join(str(b) for b in sorted(worse["budget"].unique()))
        return (f"**Where a difference is detected, it more often favours a simpler selection than LLKD.** {counts}; "
                f"the cells LLKD loses are mostly to {winner}, at {budgets} steps.")
    if len(better) > len(worse):
        where = ", ".join(f"{r.condition} at {r.budget} steps" for r in better.itertuples())
        return (f"**Where a difference is detected, it more often favours LLKD.** {counts}; LLKD wins at {where}.")
    return f"**Detected differences go as often one way as the other.** {counts}."


def _trend(rule: MarginRule) -> str:
    """Take-away 2: whether the margin moves with the teacher's confidence quality and accuracy."""
    slopes = rule.slopes().dropna()
    described = {name: f"{row.effect:+.3f} [{row.low:+.3f}, {row.high:+.3f}] {name}" for name, row in slopes.iterrows()}
    clear = {name: row for name, row in slopes.iterrows() if row.low > 0 or row.high < 0}
    if not clear:
        return ("**No trend of LLKD's margin with the teacher or the budget stands out on this map.** The rule's "
                "slopes all have intervals that include 0: " + "; ".join(described.values())
                + ". Selecting confident labels can help only as far as confidence ranks right labels above wrong "
                  "ones (AUROC); these teachers do not show that it does here.")
    return ("**LLKD's margin moves with " + " and ".join(
        f"{name.removeprefix('per ')} ({'up' if row.effect > 0 else 'down'})" for name, row in clear.items())
            + ".** The rule's slopes: " + "; ".join(described.values()) + " (a guide, not a test).")


def _simulation(check: pd.DataFrame | None) -> str:
    """Take-away 3: how far the simulated twin trains students like the real teacher."""
    if check is None or check.empty:
        return ("**Simulations were not checked against their real twin on this run,** so their cells are read as "
                "what-ifs only. Measure your own teacher (`llkd-nb teacher-profile`, section 6).")
    outside = check[~check["inside"]]
    if outside.empty:
        return (f"**The simulated twin trains students like the real teacher in all {len(check)} method x budget "
                "cells checked** (a weak check: it reads the real teacher's interval only). Its rungs still answer "
                "\"what if\", not \"what will my teacher do\": measure your own (`llkd-nb teacher-profile`).")
    methods = ", ".join(outside["method"].value_counts().index)
    return (f"**A simulation answers \"what if\", not \"what will my teacher do\".** The twin leaves the real "
            f"teacher's seed interval in {len(outside)} of {len(check)} method x budget cells ({methods}), so the "
            "simulated rungs are an exploratory family, out of the counts and the rule. For your own teacher, "
            "measure it (`llkd-nb teacher-profile`, section 6) and validate the methods on your validation set.")


def _student(regime: pd.DataFrame | None) -> str:
    """Take-away 4: whether the paper's student (the whole encoder) changes the verdicts or the scores."""
    if regime is None or regime.empty:
        return "**The paper's student was not trained on this run** (`paper_regime_seeds: 0`)."
    by = regime.set_index(["condition", "student"])
    rungs = list(dict.fromkeys(regime["condition"]))
    verdict = lambda rung, student: by.loc[(rung, student), "verdict"]  # noqa: E731
    turned = [f"{rung} ({verdict(rung, MAP_STUDENT)} → {verdict(rung, PAPER_STUDENT)})"
              for rung in rungs if verdict(rung, MAP_STUDENT) != verdict(rung, PAPER_STUDENT)]
    lift, other_lift = (np.mean([by.loc[(rung, PAPER_STUDENT), column] - by.loc[(rung, MAP_STUDENT), column]
                                 for rung in rungs]) for column in ("LLKD macro-F1", "other macro-F1"))
    scores = (f"Training the whole encoder (section 7) changes LLKD's macro-F1 by {lift:+.3f} on average over the "
              f"{len(rungs)} rungs, and the best other method's by {other_lift:+.3f}")
    if turned:
        return (f"**A stronger student turns the verdict at {len(turned)} of {len(rungs)} rungs:** "
                + "; ".join(turned) + f". {scores}. Which method to use can depend on the student: check yours.")
    return (f"**A stronger student does not turn any verdict here.** {scores}; the verdict at every rung is the same "
            "for both students, so a better student is not, by itself, a reason to switch to LLKD.")


def map_takeaways(best: pd.DataFrame, rule: MarginRule, check: pd.DataFrame | None,
                  regime: pd.DataFrame | None) -> str:
    """Notebook 05's take-aways as a numbered Markdown list, from the map's cells (``best``), the rule, the
    simulation's twin check and the paper's-student table (None where the run skipped them)."""
    items = [_counted(best), _trend(rule), _simulation(check), _student(regime)]
    return "\n".join(f"{n}. {item}" for n, item in enumerate(items, start=1))


"""Notebook 05's take-aways, written from its tables: each sentence reads the numbers it states, so a
table that says otherwise changes the sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .decision_map import MarginRule, confirmatory, family

MAP_STUDENT, PAPER_STUDENT = "map's student", "paper's student"  # the students of notebook 05's section 7
TREND_NOUNS = {"per +0.1 teacher accuracy": "the teacher's accuracy", "per +0.1 confidence AUROC": "the teacher's "
               "confidence AUROC", "per doubling of the budget": "the budget"}  # the rule's slopes, by name


def _counted(best: pd.DataFrame) -> str:
    """Take-away 1: the verdicts over the confirmatory cells, and whom a detected difference favours."""
    cells = confirmatory(best)
    better, worse = cells[cells["verdict"] == "better"], cells[cells["verdict"] == "worse"]
    neutral = len(cells) - len(better) - len(worse)
    counts = (f"Over the map's {len(cells)} cells of real and proxy teachers, with every choice made against the "
              f"teacher's labels, LLKD is better than the best other method in {len(better)}, worse in {len(worse)} and not distinguishable in {neutral}")
    if not len(better) and not len(worse):
        return f"**On this map LLKD is not distinguishable from the best simpler selection anywhere.** {counts}."
    if len(worse) > len(better):
        winners = worse["method"].value_counts()
        to = (f"mostly to {winners.index[0]}" if winners.iloc[0] > len(worse) / 2
              else "to " + ", ".join(f"{method} ({n})" for method, n in winners.items()))
        budgets = ", ".join(str(b) for b in sorted(worse["budget"].unique()))
        return (f"**Where a difference is detected, it more often favours a simpler selection than LLKD.** {counts}; "
                f"LLKD loses {to}, at {budgets} steps.")
    if len(better) > len(worse):
        where = ", ".join(f"{r.condition} at {r.budget} steps" for r in better.itertuples())
        return (f"**Where a difference is detected, it more often favours LLKD.** {counts}; LLKD wins at {where}.")
    return f"**Detected differences go as often one way as the other.** {counts}."


def selections_side_by_side(best: pd.DataFrame, gold_best: pd.DataFrame) -> pd.DataFrame:
    """Per teacher x budget: the best other method, LLKD's margin over it and the verdict, with every choice
    made against the teacher's labels (``best``) and against gold (``gold_best``)."""
    keys, shown = ["condition", "kind", "budget"], ["method", "llkd_minus", "verdict"]
    return best.set_index(keys)[shown].join(gold_best.set_index(keys)[shown], lsuffix=" (pseudo)", rsuffix=" (gold)")


def _confirmatory_pairs(best: pd.DataFrame, gold_best: pd.DataFrame) -> pd.DataFrame:
    both = selections_side_by_side(best, gold_best)
    return both[both.index.get_level_values("kind").map(family) == "confirmatory"]


def selection_sentence(best: pd.DataFrame, gold_best: pd.DataFrame) -> str:
    """The map's verdicts over the real and proxy cells chosen against gold, and how many cells change verdict
    from the choice against the teacher's labels."""
    both = _confirmatory_pairs(best, gold_best)
    counts = both["verdict (gold)"].value_counts()
    changed = both[both["verdict (pseudo)"] != both["verdict (gold)"]]
    listed = "; ".join(f"{condition} at {budget} steps: {row['verdict (pseudo)']} → {row['verdict (gold)']}"
                       for (condition, _, budget), row in changed.iterrows())
    return (f"Chosen against gold (every checkpoint, tuned value and best other method), LLKD is better than the best "
            f"other method in {counts.get('better', 0)}, worse in {counts.get('worse', 0)} and not distinguishable in "
            f"{counts.get('no detectable difference', 0)} of the {len(both)} cells of real and proxy teachers; "
            f"{len(changed)} of them change verdict from the choice against the teacher's labels"
            + (f" ({listed})" if len(changed) else "") + ".")


def _selections(best: pd.DataFrame, gold_best: pd.DataFrame | None) -> str | None:
    """The take-away on model selection, when the map was also read with gold choices."""
    if gold_best is None:
        return None
    both = _confirmatory_pairs(best, gold_best)
    changed = int((both["verdict (pseudo)"] != both["verdict (gold)"]).sum())
    head = ("**The verdicts do not depend on how the choices are made.**" if not changed else
            f"**How the choices are made changes {changed} of the {len(both)} verdicts.**")
    return f"{head} {selection_sentence(best, gold_best)}"


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
    return ("**LLKD's predicted margin " + " and ".join(
        f"{'rises' if row.effect > 0 else 'falls'} with {TREND_NOUNS[name]}" for name, row in clear.items())
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
        return (f"**The paper's student turns the verdict at {len(turned)} of {len(rungs)} rungs:** "
                + "; ".join(turned) + f". {scores}. Which method to use can depend on the student: check yours.")
    return (f"**The paper's student turns no verdict here.** {scores}; the verdict at every rung is the same for both "
            "students, so the student, by itself, is no reason to choose another method.")


def map_takeaways(best: pd.DataFrame, rule: MarginRule, check: pd.DataFrame | None, regime: pd.DataFrame | None,
                  gold_best: pd.DataFrame | None = None) -> str:
    """Notebook 05's take-aways as a numbered Markdown list, from the map's cells (``best``; ``gold_best`` with
    every choice made against gold), the rule, the simulation's twin check and the paper's-student table (None
    where the run skipped them)."""
    items = [item for item in (_counted(best), _selections(best, gold_best), _trend(rule), _simulation(check),
                               _student(regime)) if item is not None]
    return "\n".join(f"{n}. {item}" for n, item in enumerate(items, start=1))


"""The "When to use LLKD" box that notebooks 04 and 05 end with: a decision, what it costs, and what
was not tested. The decision's words follow the run's Holm-corrected verdicts, and the costs its own
counts of student passes; nothing in the box is typed by hand except what this run cannot measure."""

from __future__ import annotations

import pandas as pd

from .compare import best_other
from .decision_map import family
from .methods import LLKD_ROW

NOT_TESTED = ("a real 8-70B teacher like the paper's LLaMA and Gemma models (the strongest real teacher here is "
              "SmolLM2-135M, far weaker), and the paper's student trained whole at the paper's data sizes")


def passes_per_sample(costs: pd.DataFrame) -> pd.Series:
    """Student forward passes (selection + update) per gradient sample, per method (index: method)."""
    return costs["training_forwards"] / costs["gradient_samples"].where(costs["gradient_samples"] > 0)


def _costs(passes: pd.Series, other: str) -> str:
    return (f"**Costs:** LLKD scores every drawn batch with the student before choosing what to learn from: "
            f"{passes[LLKD_ROW]:.1f} student passes per gradient sample on this run, against {passes[other]:.1f} "
            f"for {other}.")


def box(decision: str, costs: str) -> str:
    return (f"> **When to use LLKD** (computed from this run). {decision}\n>\n> {costs}\n>\n"
            f"> **Not tested here:** {NOT_TESTED}.")


def from_comparison(summary: pd.DataFrame, verdicts: pd.DataFrame) -> str:
    """Notebook 04's box, from its summary (per method: scores and costs) and its verdict table."""
    other = best_other(summary)
    verdict = verdicts.loc[other, "LLKD is"]
    if verdict == "better":
        decision = (f"LLKD is detectably better than the best other method by validation, {other}, on this run: use "
                    "LLKD, and confirm it on your own texts with notebook 04's protocol.")
    elif verdict == "worse":
        decision = f"The best other method by validation, {other}, is detectably better than LLKD on this run: use it."
    else:
        decision = (f"LLKD and the best other method by validation, {other}, are not distinguishable on this run "
                    "(see the smallest difference the design detects, above): prefer the cheaper of the two.")
    return box(decision, _costs(passes_per_sample(summary), other))


def from_map(best: pd.DataFrame, costs: pd.DataFrame) -> str:
    """Notebook 05's box, from the map's cells of real and proxy teachers (``best``: LLKD against the best
    other method per teacher x budget, with Holm verdicts) and the reported runs' costs per method."""
    best = best[best["kind"].map(family) == "confirmatory"]  # the simulations are exploratory
    cell = lambda rows: ", ".join(f"{r.condition} at {r.budget} steps" for r in rows.itertuples())  # noqa: E731
    ahead, behind = best[best["verdict"] == "better"], best[best["verdict"] == "worse"]
    usual = best["method"].mode().iloc[0]
    if len(ahead):
        decision = (f"LLKD beat the best simpler selection in {len(ahead)} of the map's {len(best)} cells of real and "
                    f"proxy teachers ({cell(ahead)}). Elsewhere, use the simpler selection that scores best on your validation set "
                    f"(here most often {usual}); treat those cells as leads, and place your own teacher on the map "
                    "(section 6) before choosing LLKD.")
    else:
        decision = (f"LLKD beat the best simpler selection in none of the map's {len(best)} cells of real and proxy "
                    f"teachers: use the simpler selection that scores best on your validation set (here most often "
                    f"{usual}).")
    if len(behind):
        decision += f" LLKD was detectably behind in {len(behind)} ({cell(behind)})."
    return box(decision, _costs(passes_per_sample(costs), usual))

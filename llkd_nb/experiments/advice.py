"""The "When to use LLKD" box that notebooks 04 and 05 and README end with: a decision, what it costs,
and what was not tested. The decision's words follow the Holm-corrected verdicts of the readings it is
given (a dataset under a model selection), and the costs the runs' own counts of student passes;
nothing in the box is typed by hand except what the runs cannot measure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from .compare import best_other
from .decision_map import confirmatory
from .methods import LLKD_ROW

NOT_TESTED = ("a real 8-70B teacher like the paper's LLaMA and Gemma models (the strongest real teacher here is "
              "SmolLM2-135M, far weaker), and the paper's student trained whole at the paper's data sizes")


def passes_per_sample(costs: pd.DataFrame) -> pd.Series:
    """Student forward passes (selection + update) per gradient sample, per method (index: method)."""
    return costs["training_forwards"] / costs["gradient_samples"].where(costs["gradient_samples"] > 0)


def costs_sentence(rows: list[tuple[pd.Series, str, str]]) -> str:
    """LLKD's student passes per gradient sample against another method's, per ``(passes per method, the
    other method, where)``."""
    return ("LLKD scores every drawn batch with the student before choosing what to learn from: " + "; ".join(
        f"{passes[LLKD_ROW]:.1f} student passes per gradient sample {where}, against {passes[other]:.1f} for {other}"
        for passes, other, where in rows) + ".")


def box(decision: str, costs: str, source: str = "this run") -> str:
    return (f"> **When to use LLKD** (computed from {source}). {decision}\n>\n> **Costs:** {costs}\n>\n"
            f"> **Not tested here:** {NOT_TESTED}.")


@dataclass(frozen=True)
class Reading:
    """LLKD against the best other method by validation in one comparison: ``where`` names it (a dataset,
    a model selection), ``difference`` is LLKD − that method with its Holm-corrected interval."""

    where: str
    other: str
    verdict: str
    difference: str

    @classmethod
    def of(cls, where: str, summary: pd.DataFrame, verdicts: pd.DataFrame) -> "Reading":
        """From notebook 04's summary and verdict tables (as saved)."""
        other = best_other(summary)
        row = verdicts.loc[other]
        return cls(where, other, row["LLKD is"],
                   f"{row['LLKD − method (mean over seeds)']:+.3f} {row['95 % interval (Holm)']}")


def _usual(readings: list[Reading]) -> str:
    """The best other method of most readings (the first one's on a tie)."""
    return Counter(r.other for r in readings).most_common(1)[0][0]


def _which(readings: list[Reading]) -> str:
    """The best other method of ``readings`` in words: the one, the one of a strict majority, or the list."""
    counts = Counter(r.other for r in readings).most_common()
    if len(counts) == 1:
        return f"here {counts[0][0]}"
    if counts[0][1] > len(readings) / 2:
        return f"most often {counts[0][0]}"
    return "here " + " or ".join(name for name, _ in counts)


def _listing(readings: list[Reading]) -> str:
    return "; ".join(f"{r.where}, against {r.other}: {r.difference}" for r in readings)


def decision(readings: list[Reading]) -> str:
    """What to do, from the verdicts of LLKD against the best other method in each reading."""
    ahead = [r for r in readings if r.verdict == "better"]
    behind = [r for r in readings if r.verdict == "worse"]
    some = lambda part: "on this run" if len(readings) == 1 else f"in {len(part)} of the {len(readings)} readings"  # noqa: E731
    if ahead and not behind:
        if len(ahead) == len(readings):
            return (f"LLKD is detectably better than the best other method by validation {some(ahead)} "
                    f"({_listing(ahead)}): use LLKD, and confirm it on your own texts with notebook 04's protocol.")
        return (f"LLKD is detectably better than the best other method by validation {some(ahead)} "
                f"({_listing(ahead)}) and detectably worse in none: try LLKD first, with the simpler method as the "
                "check on your validation set.")
    if behind and not ahead:
        return (f"The best other method by validation is detectably better than LLKD {some(behind)} "
                f"({_listing(behind)}), and LLKD is detectably better in none: LLKD is not a default win; use the "
                f"simpler selection that scores best on your validation set ({_which(behind)}).")
    if ahead and behind:
        return (f"LLKD is detectably better {some(ahead)} ({_listing(ahead)}) and detectably worse "
                f"{some(behind)} ({_listing(behind)}): which wins depends on the data and on how the choices are "
                "made; validate both on your own texts.")
    return (f"LLKD and the best other method by validation are not distinguishable "
            f"{'on this run' if len(readings) == 1 else f'in any of the {len(readings)} readings'} ({_listing(readings)}; see "
            f"the smallest difference the design detects): LLKD is not a default win; prefer the cheaper of the two "
            "(the costs below).")


def from_comparison(summary: pd.DataFrame, verdicts: pd.DataFrame, gold: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> str:
    """Notebook 04's box, from its summary (per method: scores and costs) and its verdict table, chosen
    against the teacher's labels, and ``gold``'s (summary, verdicts) chosen against gold when it ran."""
    readings = [Reading.of("chosen against the teacher's labels", summary, verdicts)]
    if gold is not None:
        readings.append(Reading.of("chosen against gold", *gold))
    return box(decision(readings), costs_sentence([(passes_per_sample(summary), _usual(readings), "on this run")]))


def from_map(best: pd.DataFrame, costs: pd.DataFrame) -> str:
    """Notebook 05's box, from the map's cells of real and proxy teachers (``best``: LLKD against the best
    other method per teacher x budget, with Holm verdicts) and the reported runs' costs per method."""
    best = confirmatory(best)  # the simulations are exploratory
    cell = lambda rows: ", ".join(f"{r.condition} at {r.budget} steps" for r in rows.itertuples())  # noqa: E731
    ahead, behind = best[best["verdict"] == "better"], best[best["verdict"] == "worse"]
    usual = best["method"].mode().iloc[0]
    if len(ahead):
        choice = (f"LLKD beat the best simpler selection in {len(ahead)} of the map's {len(best)} cells of real and "
                  f"proxy teachers ({cell(ahead)}). Elsewhere, use the simpler selection that scores best on your "
                  f"validation set (here most often {usual}); treat those cells as leads, and place your own teacher "
                  "on the map (section 6) before choosing LLKD.")
    else:
        choice = (f"LLKD beat the best simpler selection in none of the map's {len(best)} cells of real and proxy "
                  f"teachers: use the simpler selection that scores best on your validation set (here most often "
                  f"{usual}).")
    if len(behind):
        choice += f" LLKD was detectably behind in {len(behind)} ({cell(behind)})."
    return box(choice, costs_sentence([(passes_per_sample(costs), usual, "on this run")]))

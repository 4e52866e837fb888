"""Notebook 05's take-aways are computed: a table that contradicts a sentence changes it."""

import numpy as np
import pandas as pd

from llkd_nb.experiments.decision_map import MarginRule
from llkd_nb.experiments.takeaways import map_takeaways

TEACHERS = pd.DataFrame({"accuracy": [0.3, 0.5, 0.7, 0.9], "auroc": [0.6, 0.8, 0.65, 0.85]},
                        index=[f"proxy {i}" for i in range(4)])


def _best(verdicts: list[str], slope_auroc: float = 0.0) -> pd.DataFrame:
    """Four proxy teachers x two budgets (their verdicts in that order), and one simulated cell that reads better."""
    rng = np.random.default_rng(0)
    rows = [{"condition": name, "kind": "proxy", "budget": budget, "method": "top-k % per class", "se": 0.01,
             "llkd_minus": slope_auroc * (TEACHERS.loc[name, "auroc"] - 0.7) + rng.normal(0, 0.01)}
            for name in TEACHERS.index for budget in (20, 60)]
    best = pd.DataFrame(rows).assign(verdict=verdicts)
    simulated = {"condition": "proxy 0", "kind": "simulated", "budget": 60, "method": "all pseudo-labels",
                 "se": 0.01, "llkd_minus": 0.3, "verdict": "better"}
    return pd.concat([best, pd.DataFrame([simulated])], ignore_index=True)


NEUTRAL = ["no detectable difference"] * 8


def _check(inside: list[bool]) -> pd.DataFrame:
    return pd.DataFrame({"budget": 20, "method": ["LLKD", "top-k % per class", "fixed confidence threshold"][:len(inside)],
                         "inside": inside})


def _regime(paper_verdicts: tuple[str, str]) -> pd.DataFrame:
    rows = []
    for rung, paper in zip(("zero-shot", "proxy 3"), paper_verdicts):
        rows += [{"condition": rung, "student": "map's student", "verdict": "worse", "LLKD macro-F1": 0.5,
                  "other macro-F1": 0.6},
                 {"condition": rung, "student": "paper's student", "verdict": paper, "LLKD macro-F1": 0.7,
                  "other macro-F1": 0.75}]
    return pd.DataFrame(rows)


def _takeaways(best, check=None, regime=None) -> list[str]:
    rule = MarginRule.fit(best, TEACHERS)
    return map_takeaways(best, rule, check, regime).split("\n")


def test_the_verdict_count_follows_the_cells_and_leaves_the_simulations_out():
    first = _takeaways(_best(NEUTRAL))[0]
    assert first.startswith("1. **On this map LLKD is not distinguishable") and "in 0, worse in 0" in first
    losing = _takeaways(_best(["worse", "worse", *NEUTRAL[2:]]))[0]
    assert "more often favours a simpler selection" in losing and "loses mostly to top-k % per class, at 20, 60 steps" in losing
    winning = _takeaways(_best(["better", *NEUTRAL[1:]]))[0]
    assert "more often favours LLKD" in winning and "LLKD wins at proxy 0 at 20 steps" in winning
    assert "8 cells of real and proxy teachers" in winning  # the simulated cell is not counted


def test_the_trend_sentence_follows_the_rules_intervals():
    flat = _takeaways(_best(NEUTRAL))[1]
    assert "No trend of LLKD's margin" in flat
    steep = _takeaways(_best(NEUTRAL, slope_auroc=2.0))[1]
    assert "LLKD's predicted margin rises with the teacher's confidence AUROC.**" in steep


def test_the_simulation_sentence_follows_the_twin_check():
    assert "were not checked" in _takeaways(_best(NEUTRAL))[2]
    assert "in all 2 method x budget cells checked" in _takeaways(_best(NEUTRAL), _check([True, True]))[2]
    departing = _takeaways(_best(NEUTRAL), _check([True, False, False]))[2]
    assert "leaves the real teacher's seed interval in 2 of 3" in departing


def test_the_student_sentence_says_whether_a_verdict_turned():
    kept = _takeaways(_best(NEUTRAL), regime=_regime(("worse", "worse")))[3]
    assert "turns no verdict here" in kept and "+0.200 on average over the 2 rungs" in kept
    turned = _takeaways(_best(NEUTRAL), regime=_regime(("no detectable difference", "worse")))[3]
    assert "turns the verdict at 1 of 2 rungs:** zero-shot (worse → no detectable difference)" in turned
    assert "not trained on this run" in _takeaways(_best(NEUTRAL))[3]


def test_the_selection_take_away_counts_the_verdicts_a_gold_choice_changes():
    best = _best(NEUTRAL)
    same = map_takeaways(best, MarginRule.fit(best, TEACHERS), None, None, gold_best=best).split("\n")[1]
    assert same.startswith("2. **The verdicts do not depend on how the choices are made.**")
    gold = _best(["worse", *NEUTRAL[1:]])
    changed = map_takeaways(best, MarginRule.fit(best, TEACHERS), None, None, gold_best=gold).split("\n")[1]
    assert "changes 1 of the 8 verdicts" in changed and "worse in 1 and not distinguishable in 7" in changed
    assert "(proxy 0 at 20 steps: no detectable difference → worse)" in changed
    assert len(map_takeaways(best, MarginRule.fit(best, TEACHERS), None, None).split("\n")) == 4  # no gold: no item

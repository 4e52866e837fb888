"""The decision map's rule: it recovers a known margin surface, states where LLKD is ahead, and places a
teacher on the map with the method the map recommends."""

import re

import numpy as np
import pandas as pd
import pytest

from llkd_nb.experiments.decision_map import MarginRule, nearest_rung, recommendation


def map_cells(slope_auroc: float, noise: float = 0.005, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nine teachers x three budgets whose margin is ``slope_auroc · (AUROC − 0.75)``, plus noise."""
    rng = np.random.default_rng(seed)
    teachers = pd.DataFrame({"accuracy": np.repeat([0.4, 0.6, 0.8], 3), "auroc": np.tile([0.6, 0.75, 0.9], 3)},
                            index=[f"teacher {i}" for i in range(9)])
    rows = []
    for name, teacher in teachers.iterrows():
        for budget in (20, 60, 180):
            margin = slope_auroc * (teacher["auroc"] - 0.75) + rng.normal(0, noise)
            rows.append({"condition": name, "budget": budget, "llkd_minus": margin, "se": noise,
                         "method": "top-k % per class", "verdict": "better" if margin > 3 * noise else "no detectable difference"})
    return pd.DataFrame(rows), teachers


def test_the_rule_recovers_a_known_surface_and_says_where_llkd_is_ahead():
    best, teachers = map_cells(slope_auroc=1.0)
    rule = MarginRule.fit(best, teachers)
    slopes = rule.slopes()
    auroc = slopes.loc["per +0.1 confidence AUROC"]
    assert auroc["low"] < 0.1 < auroc["high"] and auroc["high"] - auroc["low"] < 0.02
    accuracy = slopes.loc["per +0.1 teacher accuracy"]
    assert accuracy["low"] < 0 < accuracy["high"]  # no effect, and the interval says so
    region = rule.region()
    assert (region["ahead"] > 0.3).all() and (region["behind"] > 0.3).all() and (region["best_auroc"] == 0.9).all()
    statement = rule.statement()
    assert "detectably ahead" in statement and re.search(r"AUROC 0\.90 and \d+ steps", statement)
    assert ".0 steps" not in statement
    mean, low, high = rule.predict(0.6, 0.9, 60)
    assert low < mean < high and mean == pytest.approx(0.15, abs=0.01)


def test_a_flat_map_puts_llkd_ahead_nowhere():
    best, teachers = map_cells(slope_auroc=0.0, noise=0.02)
    rule = MarginRule.fit(best, teachers)
    assert (rule.region()["ahead"] == 0).all()
    assert rule.statement().count("Nowhere in the box the ladder spans") == 1


def test_scatter_beyond_the_cells_own_errors_widens_the_rule():
    best, teachers = map_cells(slope_auroc=1.0, noise=0.005)
    noisy = best.assign(llkd_minus=best["llkd_minus"] + np.random.default_rng(1).normal(0, 0.05, len(best)))
    width = lambda rule: float(np.diff(rule.predict(0.6, 0.75, 60)[1:], axis=0)[0])  # noqa: E731
    assert width(MarginRule.fit(noisy, teachers)) > 3 * width(MarginRule.fit(best, teachers))


def test_too_few_cells_is_a_clear_error():
    best, teachers = map_cells(slope_auroc=1.0)
    with pytest.raises(ValueError, match="more than 4 cells"):
        MarginRule.fit(best.iloc[::7].head(4), teachers)


def test_a_feature_the_map_does_not_vary_is_left_out_and_said_so():
    best, teachers = map_cells(slope_auroc=1.0)
    rule = MarginRule.fit(best[best["budget"] == 60], teachers)  # one budget: log2(budget) is the intercept
    assert np.isnan(rule.slopes().loc["per doubling of the budget", "effect"])
    assert rule.slopes().loc["per +0.1 confidence AUROC", "effect"] == pytest.approx(0.1, abs=0.01)
    assert "does not vary the budget" in rule.statement()


def test_a_cell_with_no_spread_weighs_in_without_dominating():
    best, teachers = map_cells(slope_auroc=1.0)
    best.loc[0, ["llkd_minus", "se"]] = [0.5, 0.0]  # identical predictions on every seed: se 0
    slope = MarginRule.fit(best, teachers).slopes().loc["per +0.1 confidence AUROC", "effect"]
    assert np.isfinite(slope) and 0.0 < slope < 0.2


def test_a_teacher_is_placed_at_its_nearest_rung_with_advice_per_budget():
    best, teachers = map_cells(slope_auroc=1.0)
    rule = MarginRule.fit(best, teachers)
    assert nearest_rung(teachers, 0.61, 0.88) == "teacher 5"
    placed, advice = recommendation(rule, best, teachers, 0.61, 0.88)
    assert list(placed["budget"]) == [20, 60, 180] and (placed["verdict"] == "LLKD ahead").all()
    assert (placed["nearest_rung"] == "teacher 5").all() and "use **LLKD**" in advice and "inside" in advice
    placed, advice = recommendation(rule, best, teachers, 0.61, 0.62)
    assert (placed["verdict"] == "LLKD behind").all() and "use **top-k % per class**" in advice
    _, advice = recommendation(rule, best, teachers, 0.95, 0.99)
    assert "outside (the rule extrapolates there)" in advice

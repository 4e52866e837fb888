"""The decision map's rule: it recovers a known margin surface, says where its predicted margin lies above
0, counts a teacher's cells as one teacher's evidence, leaves the simulations out, speaks as a guide, and
places a teacher on the map."""

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
            rows.append({"condition": name, "kind": "proxy", "budget": budget, "llkd_minus": margin, "se": noise,
                         "method": "top-k % per class", "verdict": "better" if margin > 3 * noise else "no detectable difference"})
    return pd.DataFrame(rows), teachers


def test_the_rule_recovers_a_known_surface_and_says_where_its_margin_lies_above_0():
    best, teachers = map_cells(slope_auroc=1.0)
    rule = MarginRule.fit(best, teachers)
    slopes = rule.slopes()
    auroc = slopes.loc["per +0.1 confidence AUROC"]
    assert auroc["low"] < 0.1 < auroc["high"] and auroc["high"] - auroc["low"] < 0.02
    accuracy = slopes.loc["per +0.1 teacher accuracy"]
    assert accuracy["low"] < 0 < accuracy["high"]  # no effect, and the interval says so
    region = rule.region()
    assert (region["above"] > 0.3).all() and (region["below"] > 0.3).all() and (region["best_auroc"] == 0.9).all()
    statement = rule.statement()
    assert "interval lies above 0 in" in statement and re.search(r"AUROC 0\.90 and \d+ steps", statement)
    assert "9 real and proxy teachers" in statement
    assert ".0 steps" not in statement
    mean, low, high = rule.predict(0.6, 0.9, 60)
    assert low < mean < high and mean == pytest.approx(0.15, abs=0.01)


def test_a_flat_map_predicts_a_margin_above_0_nowhere():
    best, teachers = map_cells(slope_auroc=0.0, noise=0.02)
    rule = MarginRule.fit(best, teachers)
    assert (rule.region()["above"] == 0).all()
    assert rule.statement().count("Nowhere in the box the fitted teachers span") == 1


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


VERDICT_WORDS = re.compile(r"detectabl|better|worse|ahead|behind|\buse\b", re.IGNORECASE)


def test_a_teacher_is_placed_at_its_nearest_rung_and_the_guide_speaks_as_one():
    best, teachers = map_cells(slope_auroc=1.0)
    rule = MarginRule.fit(best, teachers)
    assert nearest_rung(teachers, 0.61, 0.88) == "teacher 5"
    placed, advice = recommendation(rule, best, teachers, 0.61, 0.88)
    assert list(placed["budget"]) == [20, 60, 180] and (placed["interval"] == "above 0").all()
    assert (placed["nearest_rung"] == "teacher 5").all() and "points to **LLKD**" in advice and "inside" in advice
    placed, advice = recommendation(rule, best, teachers, 0.61, 0.62)
    assert (placed["interval"] == "below 0").all() and "points to **top-k % per class**" in advice
    _, advice = recommendation(rule, best, teachers, 0.95, 0.99)
    assert "outside (the rule extrapolates there)" in advice
    for text in (rule.statement(), recommendation(rule, best, teachers, 0.61, 0.62)[1]):
        assert "guide" in text and not VERDICT_WORDS.search(text), text  # predicted margins, no verdicts


def test_a_measured_cell_that_disagrees_with_the_guide_is_quoted_with_its_verdict():
    best, teachers = map_cells(slope_auroc=1.0)
    best.loc[(best["condition"] == "teacher 5") & (best["budget"] == 60), "verdict"] = "worse"
    _, advice = recommendation(MarginRule.fit(best, teachers), best, teachers, 0.61, 0.88)
    assert advice.count("own measured cell") == 1 and "finds LLKD worse: read it too" in advice


def test_the_simulations_are_left_out_of_the_rule():
    best, teachers = map_cells(slope_auroc=1.0)
    simulated = best.assign(kind="simulated", condition=best["condition"] + " (simulated)", llkd_minus=-1.0)
    both = pd.concat([best, simulated], ignore_index=True)
    twins = pd.concat([teachers, teachers.rename(index=lambda name: f"{name} (simulated)")])
    alone, with_simulations = MarginRule.fit(best, teachers), MarginRule.fit(both, twins)
    np.testing.assert_allclose(with_simulations.coefficients, alone.coefficients)
    assert with_simulations.cells == len(best) and with_simulations.teachers == len(teachers)


def _teacher_effect_map(seed: int, teachers: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A map whose cells share their teacher's shift (sd 0.05), far above each cell's own error (0.005)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"accuracy": rng.uniform(0.3, 0.8, teachers), "auroc": rng.uniform(0.6, 0.9, teachers)},
                         index=[f"teacher {i}" for i in range(teachers)])
    rows = [{"condition": name, "kind": "proxy", "budget": budget, "se": 0.005, "method": "m", "verdict": "x",
             "llkd_minus": 0.5 * (teacher["auroc"] - 0.75) + shift + rng.normal(0, 0.005)}
            for (name, teacher), shift in zip(table.iterrows(), rng.normal(0, 0.05, teachers))
            for budget in (10, 20, 40, 80, 160)]
    return pd.DataFrame(rows), table


def test_cells_that_share_a_teacher_count_as_one_teachers_evidence():
    """The AUROC slope's interval covers the truth (0.05 per +0.1) at about its nominal rate when the cells of
    a teacher share a shift; the same fit that takes every cell for an independent teacher covers it far
    less often."""
    covered = {"by teacher": 0, "cells as independent": 0}
    maps = 40
    for seed in range(maps):
        best, teachers = _teacher_effect_map(seed)
        independent = best.assign(condition=[f"cell {i}" for i in range(len(best))])
        for name, (cells, table) in {"by teacher": (best, teachers), "cells as independent": (
                independent, teachers.loc[best["condition"]].set_axis(independent["condition"]))}.items():
            slope = MarginRule.fit(cells, table).slopes().loc["per +0.1 confidence AUROC"]
            covered[name] += slope["low"] <= 0.05 <= slope["high"]
    assert covered["by teacher"] / maps >= 0.88, covered
    assert covered["cells as independent"] / maps <= 0.7, covered


def test_too_few_teachers_for_the_teacher_level_terms_is_a_clear_error():
    best, teachers = map_cells(slope_auroc=1.0)
    three = best[best["condition"].isin(["teacher 0", "teacher 4", "teacher 8"])]
    with pytest.raises(ValueError, match="needs more teachers than that outside the simulations, got 3"):
        MarginRule.fit(three, teachers)


def test_teachers_whose_accuracy_and_auroc_move_together_are_a_clear_error():
    best, teachers = map_cells(slope_auroc=1.0)
    diagonal = best[best["condition"].isin(["teacher 0", "teacher 4", "teacher 8"])]
    line = pd.concat([teachers, pd.DataFrame({"accuracy": [0.5], "auroc": [0.675]}, index=["teacher 9"])])
    fourth = diagonal[diagonal["condition"] == "teacher 0"].assign(condition="teacher 9")
    with pytest.raises(ValueError, match="move together on this map"):
        MarginRule.fit(pd.concat([diagonal, fourth]), line)


def test_the_guide_never_places_a_teacher_at_a_simulated_rung():
    best, teachers = map_cells(slope_auroc=1.0)
    teachers = teachers.assign(kind="proxy")
    twin = pd.DataFrame({"kind": ["simulated"], "accuracy": [0.61], "auroc": [0.88]}, index=["simulated twin"])
    simulated = best[best["condition"] == "teacher 5"].assign(condition="simulated twin", kind="simulated")
    with_twin, ladder = pd.concat([best, simulated], ignore_index=True), pd.concat([teachers, twin])
    placed, advice = recommendation(MarginRule.fit(with_twin, ladder), with_twin, ladder, 0.61, 0.88)
    assert (placed["nearest_rung"] == "teacher 5").all() and "simulated twin" not in advice


def _with_verdicts(best: pd.DataFrame, noise: float = 0.005) -> pd.DataFrame:
    return best.assign(verdict=np.where(best["llkd_minus"] > 3 * noise, "better",
                                        np.where(best["llkd_minus"] < -3 * noise, "worse", "no detectable difference")))


def test_a_rule_fitted_on_two_maps_predicts_a_third_and_is_scored_against_the_naive_pick():
    from llkd_nb.experiments.decision_map import out_of_sample, out_of_sample_sentence, pooled

    maps = {name: map_cells(slope_auroc=1.0, seed=seed) for name, seed in (("a", 0), ("b", 1))}
    cells, teachers = pooled(maps)
    assert len(cells) == 54 and cells["condition"].iloc[0] == "a: teacher 0" and "b: teacher 8" in teachers.index
    best, held_teachers = map_cells(slope_auroc=1.0, seed=2)
    table = out_of_sample(maps, (_with_verdicts(best), held_teachers))
    assert len(table) == 27 and table["inside"].all()
    assert table["rule_side_right"].mean() > 0.8  # the surface is the same: the rule's sides match the verdicts
    assert table["rule_pick_right"].sum() > table["naive_pick_right"].sum()  # LLKD wins where AUROC is high
    words = out_of_sample_sentence(table, ["a", "b"], "c")
    assert words.startswith("Fitted on the maps of a and b and asked about the 27 cells of real and proxy teachers of c")
    assert words.endswith("The rule predicts better than the naive predictor here.")
    flat, flat_teachers = map_cells(slope_auroc=0.0, noise=0.002, seed=3)
    flat_table = out_of_sample(maps, (_with_verdicts(flat), flat_teachers))  # a dataset where LLKD never wins
    assert flat_table["naive_pick_right"].all() and flat_table["rule_side_right"].mean() < 0.8
    assert out_of_sample_sentence(flat_table, ["a", "b"], "c").endswith("does no better than the naive predictor here.")
    reversed_map, reversed_teachers = map_cells(slope_auroc=-1.0, seed=4)  # LLKD loses where the others found it winning
    wrong = out_of_sample(maps, (_with_verdicts(reversed_map), reversed_teachers))
    assert not wrong.loc[wrong["interval"] == "above 0", "rule_pick_right"].any()

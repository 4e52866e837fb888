"""The "When to use LLKD" box: its decision follows the verdicts, its costs the run's counts."""

import pandas as pd
import pytest

from llkd_nb.experiments.advice import from_comparison, from_map
from llkd_nb.experiments.methods import LLKD_ROW


def summary(forwards_llkd: float = 4000.0) -> pd.DataFrame:
    return pd.DataFrame({"val_macro_f1_mean": [0.5, 0.6, 0.4], "gradient_samples": [2000.0, 2000.0, 2000.0],
                         "training_forwards": [forwards_llkd, 2000.0, 2000.0]},
                        index=[LLKD_ROW, "top-k % per class", "all pseudo-labels"])


@pytest.mark.parametrize("verdict, words", [("better", "LLKD is detectably better"),
                                            ("worse", "is detectably better than LLKD"),
                                            ("no detectable difference", "not distinguishable")])
def test_the_comparison_box_follows_the_verdict_against_the_best_other_method(verdict, words):
    verdicts = pd.DataFrame({"LLKD is": [verdict, "worse"]}, index=["top-k % per class", "all pseudo-labels"])
    text = from_comparison(summary(), verdicts)
    assert words in text and "top-k % per class" in text
    assert "2.0 student passes per gradient sample" in text and "against 1.0" in text
    assert "Not tested here" in text


def test_the_map_box_names_the_cells_where_llkd_is_ahead_or_behind_and_leaves_the_simulations_out():
    best = pd.DataFrame({"condition": ["proxy, 30 gold texts", "zero-shot, raw", "zero-shot, raw", "simulated"],
                         "kind": ["proxy", "real", "real", "simulated"], "budget": [180, 20, 60, 60],
                         "method": ["top-k % per class"] * 4,
                         "verdict": ["better", "no detectable difference", "worse", "better"]})
    text = from_map(best, summary())
    assert "in 1 of the map's 3 cells of real and proxy teachers" in text and "proxy, 30 gold texts at 180 steps" in text
    assert "detectably behind in 1 (zero-shot, raw at 60 steps)" in text and "simulated" not in text
    none_ahead = from_map(best.assign(verdict="no detectable difference"), summary())
    assert "in none of the map's 3 cells" in none_ahead and "behind" not in none_ahead

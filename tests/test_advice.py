"""The "When to use LLKD" box: its decision follows the verdicts, its costs the run's counts."""

import pandas as pd
import pytest

from llkd_nb.experiments.advice import from_comparison, from_map
from llkd_nb.experiments.methods import LLKD_ROW


def summary(forwards_llkd: float = 4000.0) -> pd.DataFrame:
    return pd.DataFrame({"val_macro_f1_mean": [0.5, 0.6, 0.4], "gradient_samples": [2000.0, 2000.0, 2000.0],
                         "training_forwards": [forwards_llkd, 2000.0, 2000.0]},
                        index=[LLKD_ROW, "top-k % per class", "all pseudo-labels"])


def verdicts(against_best: str) -> pd.DataFrame:
    return pd.DataFrame({"LLKD is": [against_best, "worse"], "LLKD − method (mean over seeds)": [0.05, -0.1],
                         "95 % interval (Holm)": ["[+0.010, +0.090]", "[-0.200, -0.010]"]},
                        index=["top-k % per class", "all pseudo-labels"])


@pytest.mark.parametrize("verdict, words", [("better", "LLKD is detectably better than the best other method by "
                                                       "validation on this run"),
                                            ("worse", "is detectably better than LLKD on this run"),
                                            ("no detectable difference", "not distinguishable on this run")])
def test_the_comparison_box_follows_the_verdict_against_the_best_other_method(verdict, words):
    text = from_comparison(summary(), verdicts(verdict))
    assert words in text and "against top-k % per class: +0.050 [+0.010, +0.090]" in text
    assert "2.0 student passes per gradient sample" in text and "against 1.0" in text
    assert "Not tested here" in text


@pytest.mark.parametrize("pseudo, gold, words", [
    ("better", "better", "in 2 of the 2 readings (chosen against the teacher's labels, against top-k"),
    ("better", "no detectable difference", "better than the best other method by validation in 1 of the 2 readings "
                                           "(chosen against the teacher's labels, against top-k % per class: +0.050 "
                                           "[+0.010, +0.090]) and detectably worse in none: try LLKD first"),
    ("no detectable difference", "worse", "better than LLKD in 1 of the 2 readings (chosen against gold, against top-k "
                                          "% per class: +0.050 [+0.010, +0.090]), and LLKD is detectably better in "
                                          "none: LLKD is not a default win"),
    ("better", "worse", "depends on the data and on how the choices are made"),
    ("no detectable difference", "no detectable difference", "not distinguishable in any of the 2 readings"),
])
def test_the_box_reads_both_model_selections_and_its_words_follow_them(pseudo, gold, words):
    """A pair of verdict tables that contradicts each sentence changes the sentence."""
    text = from_comparison(summary(), verdicts(pseudo), (summary(), verdicts(gold)))
    assert words in text, text
    assert ("use LLKD," in text) == (pseudo == gold == "better")


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

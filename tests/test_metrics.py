"""ECE, binning, coverage and the trend sentence, against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from llkd_nb.core.metrics import (
    accuracy_by_bin, accuracy_coverage, classification_scores, confidence_auroc, equal_count_bins,
    expected_calibration_error, normalised_entropy,
)
from llkd_nb.experiments.analysis import describe_trend, joint_grid, premise_verdict, ranking_auroc


def test_ece_of_a_perfectly_calibrated_sample_is_near_zero():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.2, 1.0, 200_000)
    correct = rng.uniform(size=confidence.size) < confidence  # right with probability = confidence
    assert expected_calibration_error(confidence, correct) < 0.01


def test_ece_by_hand():
    # bin [0.9, 1.0]: confidences 0.9, 0.9, 0.9, 0.9 -> mean 0.9, accuracy 0.5 -> gap 0.4, weight 4/6
    # bin [0.6, 0.7): confidences 0.6, 0.6 -> mean 0.6, accuracy 1.0 -> gap 0.4, weight 2/6
    confidence = np.array([0.9, 0.9, 0.9, 0.9, 0.6, 0.6])
    correct = np.array([1, 0, 1, 0, 1, 1])
    assert expected_calibration_error(confidence, correct) == pytest.approx(4 / 6 * 0.4 + 2 / 6 * 0.4)


def test_equal_count_bins_and_accuracy_per_bin():
    values = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2])
    assert equal_count_bins(values, 3).tolist() == [1, 0, 2, 1, 2, 0]
    table = accuracy_by_bin(values, np.array([1, 0, 1, 0, 1, 1]), 3, "confidence")
    assert table["count"].tolist() == [2, 2, 2]
    assert table["accuracy"].tolist() == [0.5, 0.5, 1.0]
    assert table["mean_confidence"].tolist() == pytest.approx([0.15, 0.4, 0.8])


def test_accuracy_coverage_keeps_the_most_confident_first():
    table = accuracy_coverage(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 1]), coverages=[0.5, 1.0])
    assert table["accuracy"].tolist() == [1.0, 0.75] and table["count"].tolist() == [2, 4]


def test_auroc_and_scores():
    assert confidence_auroc(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert np.isnan(confidence_auroc(np.array([0.9, 0.8]), np.array([1, 1])))
    scores = classification_scores([0, 1, 2, 2], [0, 1, 2, 1], 4)
    assert scores["accuracy"] == 0.75
    # per-class F1: 1, 2/3, 2/3 and 0 for the absent class 3
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3 + 0) / 4)


def test_normalised_entropy_bounds():
    assert normalised_entropy(np.array([[0.25] * 4, [1, 0, 0, 0]])) == pytest.approx([1.0, 0.0], abs=1e-9)


def test_the_premise_is_read_from_an_interval_not_from_the_bins():
    rng = np.random.default_rng(0)
    score = rng.random(400)
    ranked = rng.random(400) < score  # right more often where the score is high
    bins = pd.DataFrame({"accuracy": [0.3, 0.5, 0.7]})
    holds = describe_trend(bins, "confidence", "rises", score, ranked)
    assert "The premise holds on this run" in holds and "over the 400 texts, confidence ranks the right labels" in holds.lower()
    assert "The premise fails on this run" in describe_trend(bins, "uncertainty", "falls", score, ranked, items="predictions")
    unrelated = rng.random(400) < 0.5
    assert "is not resolved on this run" in describe_trend(bins, "confidence", "rises", score, unrelated)
    auroc = ranking_auroc(score, ranked)
    assert auroc["low"] < auroc["value"] < auroc["high"] and premise_verdict(auroc) == "holds"


def test_joint_grid_counts_every_sample_once():
    rng = np.random.default_rng(1)
    accuracy, counts = joint_grid(rng.uniform(size=90), rng.uniform(size=90), rng.uniform(size=90) < 0.5)
    assert counts.to_numpy().sum() == 90 and accuracy.shape == (3, 3)
    assert list(accuracy.index) == ["high", "mid", "low"] and list(accuracy.columns) == ["low", "mid", "high"]


def test_a_threshold_settles_where_it_stays_within_its_tolerance_of_its_final_value():
    from llkd_nb.experiments.analysis import settling_steps

    steps = pd.DataFrame({"step": [1, 2, 3, 4, 5], "tau_T/0": [0.2, 0.5, 0.98, 1.0, 1.0],
                          "tau_T/1": [0.5, 0.5, 0.5, 0.5, 0.5], "tau_T/2": [np.nan, 0.3, 0.9, 0.6, 0.6]})
    settled = settling_steps(steps, ["a", "b", "c", "never seen"])
    assert settled.to_dict() == {"a": 3, "b": 1, "c": 4}

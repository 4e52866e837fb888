"""Paired bootstrap over seeds and test texts, and the verdict words computed from it."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from llkd_nb.stats import PairedDifference, macro_f1_batch, paired_bootstrap


def test_batched_macro_f1_matches_scikit_learn():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 4, size=(6, 50))
    predicted = np.where(rng.random((6, 50)) < 0.6, gold, rng.integers(0, 4, size=(6, 50)))
    predicted[0] = 0  # a row that never predicts three of the classes
    expected = [f1_score(g, p, labels=range(4), average="macro", zero_division=0) for g, p in zip(gold, predicted)]
    assert np.allclose(macro_f1_batch(gold, predicted, 4), expected)


def noisy_predictions(gold, accuracy, seeds, rng):
    right = rng.random((seeds, len(gold))) < accuracy
    return np.where(right, gold, (gold + 1 + rng.integers(0, 3, size=(seeds, len(gold)))) % 4)


def test_identical_methods_show_no_difference():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 4, 300)
    a = noisy_predictions(gold, 0.7, 5, rng)
    result = paired_bootstrap(gold, a, a.copy(), 4, replicates=300)
    assert result.mean == result.low == result.high == 0 and result.verdict == "no detectable difference"


def test_a_clearly_better_method_is_better_and_the_reverse_worse():
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 4, 300)
    strong, weak = noisy_predictions(gold, 0.85, 5, rng), noisy_predictions(gold, 0.55, 5, rng)
    better = paired_bootstrap(gold, strong, weak, 4, replicates=500)
    assert better.verdict == "better" and 0 < better.low < better.mean < better.high
    assert len(better.per_seed) == 5 and all(d > 0 for d in better.per_seed)
    assert paired_bootstrap(gold, weak, strong, 4, replicates=500).verdict == "worse"


def test_a_small_difference_on_few_texts_is_not_detectable():
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 4, 40)
    a, b = noisy_predictions(gold, 0.62, 3, rng), noisy_predictions(gold, 0.6, 3, rng)
    assert paired_bootstrap(gold, a, b, 4, replicates=500).verdict == "no detectable difference"


def test_the_interval_widens_with_seed_noise():
    """Resampling seeds matters: methods whose seeds disagree get a wider interval than steady ones."""
    rng = np.random.default_rng(4)
    gold = rng.integers(0, 4, 300)
    base = noisy_predictions(gold, 0.7, 1, rng).repeat(6, 0)
    steady = paired_bootstrap(gold, base, noisy_predictions(gold, 0.7, 1, rng).repeat(6, 0), 4, replicates=500)
    varied = paired_bootstrap(gold, base, np.concatenate([noisy_predictions(gold, acc, 1, rng) for acc in
                                                          (0.4, 0.9, 0.45, 0.95, 0.5, 0.85)]), 4, replicates=500)
    assert varied.high - varied.low > steady.high - steady.low


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="predictions must both be"):
        paired_bootstrap(np.zeros(5, int), np.zeros((2, 5), int), np.zeros((3, 5), int), 2)


def test_verdict_words():
    assert PairedDifference((0.1,), 0.1, 0.01, 0.2).verdict == "better"
    assert PairedDifference((-0.1,), -0.1, -0.2, -0.01).verdict == "worse"
    assert PairedDifference((0.1,), 0.1, -0.01, 0.2).verdict == "no detectable difference"

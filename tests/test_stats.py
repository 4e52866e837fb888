"""Paired intervals over seeds and test texts, Holm's correction, the calibration of the whole
procedure on synthetic scores, and the verdict words computed from it."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from llkd_nb.experiments.compare import Comparison
from llkd_nb.experiments.stats import (
    PairedDifference, holm, holm_correct, macro_f1_batch, minimum_detectable_effect, paired_difference,
    seed_interval, t_difference,
)


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
    result = paired_difference(gold, a, a.copy(), 4, replicates=300)
    assert result.mean == result.low == result.high == 0 and result.p_value == 1.0
    assert result.verdict == "no detectable difference"


def test_a_clearly_better_method_is_better_and_the_reverse_worse():
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 4, 300)
    strong, weak = noisy_predictions(gold, 0.85, 5, rng), noisy_predictions(gold, 0.55, 5, rng)
    better = paired_difference(gold, strong, weak, 4, replicates=500)
    assert better.verdict == "better" and 0 < better.low < better.mean < better.high
    assert len(better.per_seed) == 5 and all(d > 0 for d in better.per_seed)
    assert paired_difference(gold, weak, strong, 4, replicates=500).verdict == "worse"


def test_a_small_difference_on_few_texts_is_not_detectable():
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 4, 40)
    a, b = noisy_predictions(gold, 0.62, 3, rng), noisy_predictions(gold, 0.6, 3, rng)
    assert paired_difference(gold, a, b, 4, replicates=500).verdict == "no detectable difference"


def test_the_interval_widens_with_seed_noise():
    """Resampling seeds matters: methods whose seeds disagree get a wider interval than steady ones."""
    rng = np.random.default_rng(4)
    gold = rng.integers(0, 4, 300)
    base = noisy_predictions(gold, 0.7, 1, rng).repeat(6, 0)
    steady = paired_difference(gold, base, noisy_predictions(gold, 0.7, 1, rng).repeat(6, 0), 4, replicates=500)
    varied = paired_difference(gold, base, np.concatenate([noisy_predictions(gold, acc, 1, rng) for acc in
                                                          (0.4, 0.9, 0.45, 0.95, 0.5, 0.85)]), 4, replicates=500)
    assert varied.high - varied.low > steady.high - steady.low


def test_shapes_and_seed_count_are_checked():
    with pytest.raises(ValueError, match="predictions must both be"):
        paired_difference(np.zeros(5, int), np.zeros((2, 5), int), np.zeros((3, 5), int), 2)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        paired_difference(np.zeros(5, int), np.zeros((1, 5), int), np.zeros((1, 5), int), 2)


def test_seed_component_is_a_t_interval_over_seeds():
    """With no text noise the interval is exactly the t-interval over seeds (S - 1 degrees of freedom)."""
    per_seed = np.array([0.05, -0.02, 0.08, 0.01, 0.03])
    difference = t_difference(per_seed, text_variance=0.0)
    t = stats.ttest_1samp(per_seed, 0.0)
    low, high = t.confidence_interval(0.95)
    assert difference.df == 4 and np.isclose(difference.p_value, t.pvalue)
    assert np.allclose([difference.low, difference.high], [low, high])
    wider = t_difference(per_seed, text_variance=1e-4)  # the texts add their share, never degrees of freedom
    assert wider.high - wider.low > high - low and wider.df == 4


def test_holm_matches_the_step_down_rule():
    assert np.allclose(holm([0.01, 0.04, 0.03, 0.5]), [0.04, 0.09, 0.09, 0.5])
    assert np.allclose(holm([0.2, 0.9]), [0.4, 0.9])


def test_corrected_interval_excludes_zero_exactly_when_holm_rejects():
    differences = {name: t_difference(np.array(values), 0.0) for name, values in {
        "strong": [0.10, 0.12, 0.09, 0.11, 0.13], "fragile": [0.03, 0.01, 0.05, 0.01, 0.02],
        "null": [0.02, -0.03, 0.01, -0.01, 0.0]}.items()}
    assert differences["fragile"].low > 0  # significant alone
    corrected = holm_correct(differences)
    for name, d in corrected.items():
        low, high = d.corrected
        assert (d.p_adjusted < 0.05) == (low > 0 or high < 0), name
        assert low <= d.low and high >= d.high  # never narrower than the raw interval
    assert [corrected[n].verdict for n in ("strong", "fragile", "null")] == [
        "better", "no detectable difference", "no detectable difference"]


def test_verdict_words():
    assert t_difference(np.array([0.1, 0.12, 0.11]), 0.0).verdict == "better"
    assert t_difference(np.array([-0.1, -0.12, -0.11]), 0.0).verdict == "worse"
    assert t_difference(np.array([0.1, -0.1, 0.02]), 0.0).verdict == "no detectable difference"
    assert isinstance(t_difference(np.array([0.1, 0.12]), 0.0), PairedDifference)


def test_minimum_detectable_effect_grows_with_noise_and_comparisons():
    one = minimum_detectable_effect(0.01, 9)
    assert np.isclose(one, (stats.t.ppf(0.975, 9) + stats.t.ppf(0.8, 9)) * 0.01)
    assert minimum_detectable_effect(0.01, 9, comparisons=9) > one


def simulated_pair(rng, shift, seeds=10, texts=400, labels=5, seed_sd=0.1):
    """Per-seed x per-text predictions of two methods on shared texts: a text difficulty both see, a
    training-seed effect per method and seed, and noise per seed and text; ``shift`` moves method a's
    logit of being right."""
    gold = rng.integers(0, labels, texts)
    difficulty = rng.normal(0, 1.0, texts)

    def method(offset):
        logit = (0.4 + offset + difficulty[None] + rng.normal(0, seed_sd, (seeds, 1))
                 + rng.normal(0, 0.5, (seeds, texts)))
        right = rng.random((seeds, texts)) < 1 / (1 + np.exp(-logit))
        return np.where(right, gold, (gold + rng.integers(1, labels, (seeds, texts))) % labels)

    return gold, method(shift), method(0.0)


@pytest.mark.parametrize("shift, expected_difference, flagged", [(0.0, 0.0, (0.0, 0.07)), (0.26, 0.05, (0.8, 1.0))])
def test_procedure_is_calibrated_on_synthetic_scores(shift, expected_difference, flagged):
    """400 simulated comparisons at the default sizes (10 seeds, 400 test texts): with no true difference
    at most 7 % are flagged; with a true +0.05 in macro-F1 at least 80 %."""
    rng = np.random.default_rng(0)
    results = [paired_difference(*simulated_pair(rng, shift), 5, replicates=200, seed=i) for i in range(400)]
    assert abs(np.mean([r.mean for r in results]) - expected_difference) < 0.005
    rate = np.mean([r.verdict != "no detectable difference" for r in results])
    assert flagged[0] <= rate <= flagged[1], rate


def null_with_structure(rng, seeds=10, texts=400, labels=5, interaction_sd=0.8, shared_seed_sd=0.3):
    """Two methods equal on average over texts, with the structure real runs have: a method x text effect
    (each text favours one method or the other, drawn once with the test set) and a seed's luck that both
    methods share, on top of each method's own seed noise and noise per seed and text."""
    gold = rng.integers(0, labels, texts)
    difficulty = rng.normal(0, 1.0, texts)
    interaction = rng.normal(0, interaction_sd, texts)  # mean 0: no true difference over texts
    shared = rng.normal(0, shared_seed_sd, (seeds, 1))

    def method(sign):
        logit = (0.4 + difficulty[None] + sign * interaction[None] / 2 + shared
                 + rng.normal(0, 0.1, (seeds, 1)) + rng.normal(0, 0.5, (seeds, texts)))
        right = rng.random((seeds, texts)) < 1 / (1 + np.exp(-logit))
        return np.where(right, gold, (gold + rng.integers(1, labels, (seeds, texts))) % labels)

    return gold, method(1), method(-1)


def seed_only(gold, a, b, labels, seed=0):
    """The anti-conservative alternative: a t-interval over the per-seed differences, the test set taken as fixed."""
    full = gold[None].repeat(len(a), 0)
    return t_difference(macro_f1_batch(full, a, labels) - macro_f1_batch(full, b, labels), 0.0)


def test_the_null_with_real_structure_holds_the_procedure_and_catches_a_seed_only_test():
    """400 comparisons with no true difference but a method x text effect and shared seed luck: the
    procedure flags at most 7 %; a seed-only test, which ignores that the test texts are a sample, flags
    more than 10 %, so this test would fail if the procedure dropped its text component."""
    rng = np.random.default_rng(0)
    nulls = [null_with_structure(rng) for _ in range(400)]

    def flagged(procedure) -> float:
        return float(np.mean([procedure(*null, 5, seed=i).verdict != "no detectable difference"
                              for i, null in enumerate(nulls)]))

    ours = flagged(lambda gold, a, b, labels, seed: paired_difference(gold, a, b, labels, replicates=200, seed=seed))
    ignoring_texts = flagged(seed_only)
    assert ours <= 0.07 and ignoring_texts > 0.10, (ours, ignoring_texts)


def test_seed_interval_is_scipys_t_interval_elementwise():
    per_seed = np.random.default_rng(0).normal(size=(6, 3))
    mean, low, high = seed_interval(per_seed)
    for column in range(3):
        expected = stats.t.interval(0.95, 5, loc=per_seed[:, column].mean(), scale=stats.sem(per_seed[:, column]))
        assert np.allclose((low[column], high[column]), expected)
    assert np.allclose(mean, per_seed.mean(axis=0))
    with pytest.raises(ValueError, match="at least 2 seeds"):
        seed_interval(per_seed[:1])


def test_per_class_difference_pairs_seeds_and_shows_where_a_method_gains():
    """Method B is right on class 0 and wrong on class 1 where A is the reverse: the difference A - B is
    positive on class 1, negative on class 0, and its interval is a t-interval over the paired seeds."""
    gold = np.array([0, 0, 1, 1])
    one_hot = np.eye(2)
    rng = np.random.default_rng(0)
    predictions = {}
    for seed in range(4):
        noisy = rng.integers(0, 2)  # one text per seed that both methods get the same, right or wrong
        predictions[("A", seed)] = one_hot[[1, noisy, 1, 1]]
        predictions[("B", seed)] = one_hot[[0, noisy, 0, 0]]
    comparison = Comparison(runs=None, predictions=predictions, curves={}, protocol="full_batches")
    table = comparison.per_class_difference(gold, ["zero", "one"], "B", reference="A")
    assert list(table.columns) == ["mean", "low", "high"] and list(table.index) == ["zero", "one"]
    assert table.loc["one", "mean"] > 0 > table.loc["zero", "mean"]
    assert (table["low"] <= table["mean"]).all() and (table["mean"] <= table["high"]).all()
    with pytest.raises(ValueError, match="compares two methods"):
        comparison.per_class_difference(gold, ["zero", "one"], "A", reference="A")


def test_an_a_a_split_reads_as_the_paired_interval_and_the_rate_counts_false_verdicts():
    from llkd_nb.experiments.stats import a_a_calibration, seed_scores, split_difference

    rng = np.random.default_rng(1)
    gold, runs, _ = null_with_structure(rng, seeds=21, texts=200)
    full, on_draws = seed_scores(gold, runs, 5, replicates=300, seed=3)
    a, b = np.arange(0, 10), np.arange(10, 20)
    direct = paired_difference(gold, runs[a], runs[b], 5, replicates=300, seed=3)
    split = split_difference(full, on_draws, a, b)
    assert split.per_seed == pytest.approx(direct.per_seed) and split.se == pytest.approx(direct.se, rel=1e-9)
    calibration = a_a_calibration(gold, runs, 5, arm=10, splits=50, replicates=300)
    assert 0 <= calibration.low <= calibration.rate <= calibration.high <= 1 and calibration.seeds == 21
    draws = np.random.default_rng(0)  # the same splits, each read by paired_difference itself
    arms = [draws.permutation(21)[:20].reshape(2, 10) for _ in range(50)]
    by_hand = np.mean([paired_difference(gold, runs[a], runs[b], 5, replicates=300).verdict != "no detectable difference"
                       for a, b in arms])
    assert calibration.rate == by_hand > 0  # two of the 50 splits read a difference that is not there
    with pytest.raises(ValueError, match="at least 21 seeds"):
        a_a_calibration(gold, runs[:20], 5, arm=10)

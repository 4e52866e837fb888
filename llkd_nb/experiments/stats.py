"""Paired comparisons over seeds and test texts: intervals, p-values, Holm's correction, verdict words.

Two methods trained with the same seeds (same head initialisation, same stream of drawn batches) and
scored on the same test texts are compared **paired**, on ``d_s = metric(a_s) - metric(b_s)`` per seed.
The mean difference ``d̄`` has two sources of noise, and the interval adds them:

- **seeds** (training randomness): ``s²/S``, the variance of the per-seed differences over the S seeds
  (on the full test set), with a t distribution of S - 1 degrees of freedom: with few seeds the
  interval widens as it must;
- **test texts** (a finite test set): the variance of ``d̄`` over a bootstrap that resamples the texts
  and keeps every seed.

The standard error is the root of their sum, read with the seeds' S - 1 degrees of freedom whatever
the texts add (Welch-Satterthwaite would grant more, and can then narrow the interval when text noise
is added: we keep the conservative choice). The interval is ``d̄ ± t·se`` and the p-value the two-sided
t tail. Both components count the noise of a seed on each text once more, so the procedure errs on
the wide side (measured in the tests: about 1-4 % false verdicts at a nominal 5 %). Within a table of several comparisons, Holm's step-down correction
adjusts the p-values (:func:`holm`); the corrected interval is the one at the level Holm grants that
comparison, so it excludes 0 exactly when Holm rejects, and the verdict words are read from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as scipy_stats

VERDICTS = ("better", "no detectable difference", "worse")


def macro_f1_batch(gold: np.ndarray, predicted: np.ndarray, num_labels: int) -> np.ndarray:
    """Macro-F1 of each row of ``predicted`` (``[R, N]``) against the matching row of ``gold``;
    classes absent from both count as F1 0, as in :func:`llkd_nb.core.metrics.classification_scores`."""
    rows = np.arange(len(predicted))[:, None]
    cells = (rows * num_labels + gold) * num_labels + predicted
    confusion = np.bincount(cells.ravel(), minlength=len(predicted) * num_labels ** 2)
    confusion = confusion.reshape(len(predicted), num_labels, num_labels)
    true_positive = np.diagonal(confusion, axis1=1, axis2=2)
    denominator = confusion.sum(axis=1) + confusion.sum(axis=2)  # predicted + actual per class
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(true_positive.shape), where=denominator > 0)
    return f1.mean(axis=1)


def accuracy_batch(gold: np.ndarray, predicted: np.ndarray, num_labels: int) -> np.ndarray:
    return (predicted == gold).mean(axis=1)


METRICS = {"macro_f1": macro_f1_batch, "accuracy": accuracy_batch}


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` on a metric: the per-seed differences, their mean, its standard error (seeds and texts
    together) with its degrees of freedom, and the p-value; ``p_adjusted`` is Holm's within the
    comparison's table (the raw p-value until :func:`holm_correct` sets it). ``verdict`` reads the
    corrected interval from ``a``'s side."""

    per_seed: tuple[float, ...]
    mean: float
    se: float
    df: float
    p_value: float
    p_adjusted: float | None = None
    level: float = 0.95

    def interval(self, level: float) -> tuple[float, float]:
        half = scipy_stats.t.ppf(0.5 + level / 2, self.df) * self.se if self.se > 0 else 0.0
        return self.mean - half, self.mean + half

    @property
    def low(self) -> float:
        return self.interval(self.level)[0]

    @property
    def high(self) -> float:
        return self.interval(self.level)[1]

    @property
    def corrected_level(self) -> float:
        """The level Holm grants this comparison: ``1 - alpha * p / p_adjusted``."""
        alpha, p, adjusted = 1 - self.level, self.p_value, self.p_adjusted
        if adjusted is None or adjusted <= p:
            return self.level
        return 1 - alpha * p / adjusted

    @property
    def corrected(self) -> tuple[float, float]:
        return self.interval(self.corrected_level)

    @property
    def verdict(self) -> str:
        low, high = self.corrected
        if low > 0:
            return "better"
        if high < 0:
            return "worse"
        return "no detectable difference"

    def describe(self) -> str:
        low, high = self.corrected
        return f"{self.mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def t_difference(per_seed: np.ndarray, text_variance: float, level: float = 0.95) -> PairedDifference:
    """The paired difference from its per-seed values and the test-text variance of their mean."""
    per_seed = np.asarray(per_seed, dtype=float)
    seeds = len(per_seed)
    if seeds < 2:
        raise ValueError(f"a paired interval over seeds needs at least 2 seeds, got {seeds}")
    seed_variance = per_seed.var(ddof=1) / seeds
    variance = seed_variance + text_variance
    mean = float(per_seed.mean())
    if variance <= 0:
        return PairedDifference(tuple(per_seed.tolist()), mean, 0.0, float(seeds - 1), 1.0 if mean == 0 else 0.0,
                                level=level)
    df = float(seeds - 1)
    se = float(np.sqrt(variance))
    p_value = float(2 * scipy_stats.t.sf(abs(mean) / se, df))
    return PairedDifference(tuple(per_seed.tolist()), mean, se, df, p_value, level=level)


def seed_interval(per_seed: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) and its t-interval ``(mean, low, high)``, elementwise: seed noise only,
    for a picture of spread (a verdict needs :func:`paired_difference`)."""
    per_seed = np.asarray(per_seed, dtype=float)
    seeds = len(per_seed)
    if seeds < 2:
        raise ValueError(f"an interval over seeds needs at least 2 seeds, got {seeds}")
    mean = per_seed.mean(axis=0)
    half = scipy_stats.t.ppf((1 + level) / 2, seeds - 1) * per_seed.std(axis=0, ddof=1) / np.sqrt(seeds)
    return mean, mean - half, mean + half


def paired_difference(gold: np.ndarray, predictions_a: np.ndarray, predictions_b: np.ndarray, num_labels: int,
                      metric: str = "macro_f1", replicates: int = 2000, seed: int = 0,
                      level: float = 0.95) -> PairedDifference:
    """``metric(a) - metric(b)``, paired over seeds and test texts (see the module docstring).

    ``predictions_a`` and ``predictions_b`` are ``[S, N]`` predicted class indices, row ``s`` of both
    from seed ``s``; ``gold`` is ``[N]``. ``replicates`` bootstrap draws of the N texts estimate the
    test-text variance.
    """
    a, b, gold = np.asarray(predictions_a), np.asarray(predictions_b), np.asarray(gold)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(gold):
        raise ValueError(f"predictions must both be [seeds, texts] = [S, {len(gold)}], got {a.shape} and {b.shape}")
    score = METRICS[metric]
    seeds, texts = a.shape
    full = gold[None, :].repeat(seeds, 0)
    per_seed = score(full, a, num_labels) - score(full, b, num_labels)
    text_draws = _text_draws(texts, replicates, seed)
    resampled_gold = gold[text_draws]
    replicate_means = np.mean([
        score(resampled_gold, a[s][text_draws], num_labels) - score(resampled_gold, b[s][text_draws], num_labels)
        for s in range(seeds)
    ], axis=0)  # [R]: the mean difference over seeds on replicate r's texts
    return t_difference(per_seed, float(replicate_means.var(ddof=1)), level)


def _text_draws(texts: int, replicates: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, texts, size=(replicates, texts))


def seed_scores(gold: np.ndarray, predictions: np.ndarray, num_labels: int, metric: str = "macro_f1",
                replicates: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each seed's score on the whole test set (``[S]``) and on each of the bootstrap draws of the texts
    that :func:`paired_difference` with ``seed`` makes (``[S, replicates]``)."""
    score = METRICS[metric]
    full = score(gold[None].repeat(len(predictions), 0), predictions, num_labels)
    draws = _text_draws(len(gold), replicates, seed)
    return full, np.stack([score(gold[draws], row[draws], num_labels) for row in predictions])


def split_difference(full: np.ndarray, on_draws: np.ndarray, a: np.ndarray, b: np.ndarray,
                     level: float = 0.95) -> PairedDifference:
    """Seeds ``a`` minus seeds ``b`` (paired position by position) from :func:`seed_scores`: the interval
    :func:`paired_difference` gives on the same runs, to rounding."""
    return t_difference(full[a] - full[b], float((on_draws[a].mean(0) - on_draws[b].mean(0)).var(ddof=1)), level)


@dataclass(frozen=True)
class AACalibration:
    """How often the verdict rule reads a difference between two groups of runs of the *same* method: the
    share of ``splits`` random splits of the seed pool into two disjoint arms of ``arm`` seeds whose
    paired interval excludes 0 at the nominal level, and a 95 % interval for that share. The splits share
    seeds, so they are not independent draws (a binomial interval over them would be far too narrow):
    the interval is a delete-one-seed jackknife over the pool, each leave-one-out pool split anew."""

    rate: float
    low: float
    high: float
    seeds: int
    arm: int
    splits: int

    def describe(self) -> str:
        return (f"{self.rate:.1%} [{self.low:.1%}, {self.high:.1%}] of {self.splits} random {self.arm}-vs-{self.arm} "
                f"splits of {self.seeds} seeds")


def a_a_calibration(gold: np.ndarray, predictions: np.ndarray, num_labels: int, arm: int, splits: int = 1000,
                    metric: str = "macro_f1", replicates: int = 2000, seed: int = 0,
                    level: float = 0.95) -> AACalibration:
    """The false-positive rate of :func:`paired_difference`'s verdict on one method's runs (``predictions``:
    ``[S, N]``, one row per seed, S >= 2 x ``arm`` + 1): each split pairs the seeds of two random disjoint
    arms position by position and reads the interval exactly as :func:`paired_difference` with ``seed``
    would (the same text draws for every split, so each seed's bootstrap scores are computed once)."""
    predictions, gold = np.asarray(predictions), np.asarray(gold)
    seeds = len(predictions)
    if seeds < 2 * arm + 1:
        raise ValueError(f"an A/A calibration of {arm}-vs-{arm} splits needs at least {2 * arm + 1} seeds, got {seeds}")
    full, on_draws = seed_scores(gold, predictions, num_labels, metric, replicates, seed)

    def flagged_share(pool: np.ndarray) -> float:
        rng = np.random.default_rng(seed)
        arms = [rng.permutation(pool)[: 2 * arm].reshape(2, arm) for _ in range(splits)]
        return float(np.mean([split_difference(full, on_draws, a, b, level).verdict != "no detectable difference"
                              for a, b in arms]))

    everyone = np.arange(seeds)
    rate = flagged_share(everyone)
    leave_one_out = np.array([flagged_share(np.delete(everyone, s)) for s in range(seeds)])
    se = float(np.sqrt((seeds - 1) / seeds * ((leave_one_out - leave_one_out.mean()) ** 2).sum()))
    half = scipy_stats.norm.ppf(0.975) * se
    return AACalibration(rate, max(0.0, rate - half), min(1.0, rate + half), seeds, arm, splits)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the order given."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    steps = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return adjusted


def holm_correct(differences: dict[str, PairedDifference]) -> dict[str, PairedDifference]:
    """The same differences with Holm's adjusted p-values over the family they form."""
    adjusted = holm([d.p_value for d in differences.values()])
    return {name: replace(d, p_adjusted=float(p)) for (name, d), p in zip(differences.items(), adjusted)}


def minimum_detectable_effect(se: float, df: float, comparisons: int = 1, alpha: float = 0.05,
                              power: float = 0.8) -> float:
    """The true difference the design detects with ``power`` at family-wise ``alpha`` (Bonferroni-level
    for ``comparisons``, Holm's first step): ``(t_{1-a/2m} + t_{power}) · se``."""
    tail = alpha / comparisons / 2
    return float((scipy_stats.t.ppf(1 - tail, df) + scipy_stats.t.ppf(power, df)) * se)

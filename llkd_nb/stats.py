"""Paired comparisons over seeds and test texts: bootstrap intervals and the verdict words.

Two methods trained with the same seeds (same head initialisation, same stream of drawn batches) and
scored on the same test texts are compared **paired**: each bootstrap replicate resamples the seeds and the test
texts with replacement, scores both methods on exactly that resample, and keeps the mean difference.
The 95 % interval is the 2.5 and 97.5 percentiles of those differences. It covers both sources of
noise a reviewer asks about: training randomness (seeds) and the finite test set (texts). With few
seeds the percentile interval is on the narrow side, and it is not corrected for several comparisons:
read a verdict whose interval barely clears 0 as fragile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VERDICTS = ("better", "no detectable difference", "worse")


def macro_f1_batch(gold: np.ndarray, predicted: np.ndarray, num_labels: int) -> np.ndarray:
    """Macro-F1 of each row of ``predicted`` (``[R, N]``) against the matching row of ``gold``;
    classes absent from both count as F1 0, as in :func:`llkd_nb.metrics.classification_scores`."""
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
    """``a - b`` on a metric: per-seed differences on the full test set, their mean, and the paired
    bootstrap 95 % interval; ``verdict`` reads it from ``a``'s side."""

    per_seed: tuple[float, ...]
    mean: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "no detectable difference"

    def describe(self) -> str:
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def paired_bootstrap(gold: np.ndarray, predictions_a: np.ndarray, predictions_b: np.ndarray, num_labels: int,
                     metric: str = "macro_f1", replicates: int = 2000, seed: int = 0,
                     level: float = 0.95) -> PairedDifference:
    """Paired bootstrap of ``metric(a) - metric(b)`` over seeds and test texts.

    ``predictions_a`` and ``predictions_b`` are ``[S, N]`` predicted class indices, row ``s`` of both
    from seed ``s``; ``gold`` is ``[N]``. Each replicate draws S seeds and N texts with replacement.
    """
    a, b, gold = np.asarray(predictions_a), np.asarray(predictions_b), np.asarray(gold)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(gold):
        raise ValueError(f"predictions must both be [seeds, texts] = [S, {len(gold)}], got {a.shape} and {b.shape}")
    score = METRICS[metric]
    seeds, texts = a.shape
    rng = np.random.default_rng(seed)
    text_draws = rng.integers(0, texts, size=(replicates, texts))
    seed_draws = rng.integers(0, seeds, size=(replicates, seeds))
    resampled_gold = gold[text_draws]
    per_replicate_seed = np.stack([
        score(resampled_gold, a[s][text_draws], num_labels) - score(resampled_gold, b[s][text_draws], num_labels)
        for s in range(seeds)
    ], axis=1)  # [R, S]: the difference of seed s on replicate r's texts
    differences = np.take_along_axis(per_replicate_seed, seed_draws, axis=1).mean(axis=1)
    full = gold[None, :].repeat(seeds, 0)
    per_seed = score(full, a, num_labels) - score(full, b, num_labels)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return PairedDifference(per_seed=tuple(float(d) for d in per_seed), mean=float(per_seed.mean()),
                            low=float(low), high=float(high))

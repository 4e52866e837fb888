"""Metrics: classification scores (scikit-learn), calibration (ECE, reliability), binning, coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


def classification_scores(y_true, y_pred, num_labels: int) -> dict[str, float]:
    """Accuracy and macro-F1 over all ``num_labels`` classes (absent classes count as F1 0)."""
    labels = list(range(num_labels))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }


def per_class_f1(y_true, y_pred, num_labels: int) -> np.ndarray:
    return f1_score(y_true, y_pred, labels=list(range(num_labels)), average=None, zero_division=0)


def equal_count_bins(values: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin index (0 = lowest) of each value, bins of (nearly) equal counts; ties stay together."""
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    ranks = pd.Series(values).rank(method="first").to_numpy() - 1
    return np.minimum((ranks * num_bins / max(len(values), 1)).astype(int), num_bins - 1)


def accuracy_by_bin(values: np.ndarray, correct: np.ndarray, num_bins: int, name: str = "value") -> pd.DataFrame:
    """Per equal-count bin of ``values``: its range, count, mean value and accuracy."""
    frame = pd.DataFrame({name: values, "correct": correct.astype(float), "bin": equal_count_bins(values, num_bins)})
    table = frame.groupby("bin").agg(
        low=(name, "min"), high=(name, "max"), count=(name, "size"), mean=(name, "mean"), accuracy=("correct", "mean"),
    )
    return table.rename(columns={"mean": f"mean_{name}"}).reset_index()


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, num_bins: int = 10) -> float:
    """ECE with ``num_bins`` equal-width confidence bins on [0, 1]:
    ``sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|``."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    bins = np.minimum((confidence * num_bins).astype(int), num_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        members = bins == b
        total += members.sum() / len(confidence) * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def reliability_table(confidence: np.ndarray, correct: np.ndarray, num_bins: int = 10) -> pd.DataFrame:
    """Equal-width reliability diagram data: per bin, mean confidence, accuracy and count."""
    bins = np.minimum((np.asarray(confidence) * num_bins).astype(int), num_bins - 1)
    frame = pd.DataFrame({"bin": bins, "confidence": confidence, "correct": np.asarray(correct, float)})
    table = frame.groupby("bin").agg(confidence=("confidence", "mean"), accuracy=("correct", "mean"), count=("correct", "size"))
    return table.reset_index().assign(bin_low=lambda t: t["bin"] / num_bins)


def confidence_auroc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """AUROC of confidence for "the pseudo-label is correct" (NaN when only one outcome occurs)."""
    correct = np.asarray(correct, int)
    if correct.min() == correct.max():
        return float("nan")
    return float(roc_auc_score(correct, confidence))


def accuracy_coverage(confidence: np.ndarray, correct: np.ndarray, coverages=np.linspace(0.1, 1.0, 10)) -> pd.DataFrame:
    """Accuracy of the top ``coverage`` fraction most confident samples, per coverage."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    sorted_correct = np.asarray(correct, float)[order]
    rows = []
    for coverage in coverages:
        n = max(1, int(round(coverage * len(order))))
        rows.append({"coverage": float(coverage), "count": n, "accuracy": float(sorted_correct[:n].mean())})
    return pd.DataFrame(rows)


def normalised_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy of each row divided by log K, in [0, 1]."""
    probs = np.clip(np.asarray(probs, float), 1e-12, 1.0)
    return -(probs * np.log(probs)).sum(axis=-1) / np.log(probs.shape[-1])

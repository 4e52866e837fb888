"""Tables the notebooks show: teacher quality, confidence studies, examples, formatting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.metrics import (
    accuracy_coverage, classification_scores, confidence_auroc, equal_count_bins, expected_calibration_error,
    reliability_table,
)
from ..core.params import param
from ..core.validation import check_range, check_types
from ..teacher.artifacts import TeacherArtifact
from ..teacher.calibration import METHODS


@dataclass
class AnalysisConfig:
    """Notebook 02's binning."""

    num_bins: int = param(5, "equal-count bins of teacher confidence and of student uncertainty")

    def __post_init__(self) -> None:
        check_types(self)
        check_range("num_bins", self.num_bins, 2, None)


def seconds(value: float) -> str:
    """A duration as ``12.3 s`` (the nbval sanitizer masks this form)."""
    return f"{value:.1f} s"


def teacher_scores(artifact: TeacherArtifact, split: str = "pool") -> pd.DataFrame:
    """Accuracy, macro-F1 and calibration of the teacher on ``split`` under every calibration."""
    gold = artifact.gold(split)
    rows = {}
    for method in METHODS:
        probs = artifact.probs(split, method)
        confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
        correct = predicted == gold
        rows[method] = {
            **classification_scores(gold, predicted, artifact.num_labels),
            "mean_confidence": float(confidence.mean()),
            "ece": expected_calibration_error(confidence, correct),
            "auroc": confidence_auroc(confidence, correct),
            "labels_used": int(len(np.unique(predicted))),
        }
    return pd.DataFrame(rows).T.rename_axis("calibration")


def gold_split(artifact: TeacherArtifact) -> tuple[str | None, str]:
    """Where the teacher can be checked against gold, and a phrase naming those texts: the pool when
    it is labelled, else the test set (a practitioner's unlabeled pool with a labelled eval file), else
    ``None`` and what is missing."""
    for split, phrase in (("pool", "the pool's {} gold-labelled texts"),
                          ("test", "the {} gold-labelled test texts (the pool has no gold labels)")):
        if artifact.has_gold(split):
            return split, phrase.format(len(artifact.split(split)))
    return None, ("no gold labels on the pool or the test set: give a labelled file (eval_dataset) to measure "
                  "the teacher")


def calibration_curves(artifact: TeacherArtifact, split: str = "pool", num_bins: int = 10) -> tuple[dict, dict]:
    """Per calibration: reliability table and accuracy-vs-coverage table."""
    gold = artifact.gold(split)
    reliability, coverage = {}, {}
    for method in METHODS:
        probs = artifact.probs(split, method)
        correct = probs.argmax(axis=1) == gold
        reliability[method] = reliability_table(probs.max(axis=1), correct, num_bins)
        coverage[method] = accuracy_coverage(probs.max(axis=1), correct)
    return reliability, coverage


def joint_grid(confidence: np.ndarray, uncertainty: np.ndarray, correct: np.ndarray, num_bins: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy and count per (teacher-confidence bin, student-uncertainty bin), equal-count bins."""
    names = ["low", "mid", "high"] if num_bins == 3 else [f"q{i + 1}" for i in range(num_bins)]
    frame = pd.DataFrame({
        "teacher confidence": pd.Categorical(np.asarray(names)[equal_count_bins(confidence, num_bins)], names),
        "student uncertainty": pd.Categorical(np.asarray(names)[equal_count_bins(uncertainty, num_bins)], names),
        "correct": np.asarray(correct, float),
    })
    grouped = frame.groupby(["teacher confidence", "student uncertainty"], observed=False)["correct"]
    accuracy = grouped.mean().unstack().iloc[::-1]
    counts = grouped.size().unstack().iloc[::-1]
    return accuracy, counts


def examples(artifact: TeacherArtifact, split: str = "pool", count: int = 3, most_confident: bool = True,
             width: int = 160) -> pd.DataFrame:
    """The ``count`` most (or least) confident texts with their pseudo-label and gold label."""
    frame = artifact.split(split).sort_values("confidence", ascending=not most_confident, kind="stable").head(count)
    return pd.DataFrame({
        "text": frame["text"].str.slice(0, width) + "…", "pseudo_label": frame["pseudo_label"],
        "confidence": frame["confidence"].round(3), "gold (hidden)": frame["gold"],
    }).reset_index(drop=True)


def describe_trend(table: pd.DataFrame, signal: str, expect: str) -> str:
    """A sentence on how accuracy moves across the bins of ``table`` (from :func:`accuracy_by_bin`),
    and whether that matches the expected direction (``"rises"`` or ``"falls"``)."""
    first, last = table["accuracy"].iloc[0], table["accuracy"].iloc[-1]
    rho = float(pd.Series(table["accuracy"].to_numpy()).corr(pd.Series(np.arange(len(table))), method="spearman"))
    direction = "rises" if last > first else "falls" if last < first else "is flat"
    holds = direction == expect
    return (
        f"Accuracy {direction} from {first:.2f} in the lowest-{signal} bin to {last:.2f} in the highest "
        f"(Spearman rank correlation with the bin order {rho:+.2f}). "
        + ("The premise holds on this run." if holds else f"**The premise does not hold on this run** (expected: accuracy {expect}).")
    )

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


# Where the teacher is checked against gold, first choice first: the pool when every text has a gold label, else
# the test set (a practitioner's unlabeled pool with a labelled eval file); each with the phrase that names it.
GOLD_SPLITS = {"pool": "the pool's {} gold-labelled texts",
               "test": "the {} gold-labelled test texts (the pool has no gold labels)"}


def gold_split(artifact: TeacherArtifact) -> tuple[str | None, str]:
    """The first of :data:`GOLD_SPLITS` whose every text has gold, and a phrase naming those texts, else
    ``None`` and what is missing."""
    for split, phrase in GOLD_SPLITS.items():
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


def bootstrap_table(statistics, count: int, replicates: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Each statistic of ``statistics(index) -> {name: value}`` on all ``count`` texts (``value``) with its basic
    bootstrap 95 % interval over resamples of the texts (``low``, ``high``: 2·value − the upper and lower
    quantile, clipped to [0, 1]). Basic, not percentile: a resampled ECE is biased upward, and the percentile
    interval would then miss the estimate itself. A statistic that is NaN on a resample is skipped there."""
    rng = np.random.default_rng(seed)
    resampled = pd.DataFrame([statistics(rng.integers(0, count, count)) for _ in range(replicates)])
    value = pd.Series(statistics(np.arange(count)))
    return pd.DataFrame({"value": value, "low": (2 * value - resampled.quantile(0.975)).clip(0, 1),
                         "high": (2 * value - resampled.quantile(0.025)).clip(0, 1)})


def ranking_auroc(score: np.ndarray, correct: np.ndarray, replicates: int = 1000, seed: int = 0) -> pd.Series:
    """How well ``score`` ranks right labels above wrong ones (AUROC; 0.5: not at all), with its bootstrap
    interval over the texts (:func:`bootstrap_table`): ``value``, ``low``, ``high``."""
    score, correct = np.asarray(score, float), np.asarray(correct, bool)

    def auroc(index: np.ndarray) -> dict[str, float]:
        right = correct[index]
        return {"auroc": confidence_auroc(score[index], right) if 0 < right.sum() < len(right) else np.nan}

    return bootstrap_table(auroc, len(score), replicates, seed).loc["auroc"]


def premise_verdict(auroc: pd.Series) -> str:
    """``holds``, ``fails`` or ``not resolved``: where the AUROC's interval (:func:`ranking_auroc`) lies against 0.5."""
    return "holds" if auroc["low"] > 0.5 else "fails" if auroc["high"] < 0.5 else "not resolved"


def describe_trend(table: pd.DataFrame, signal: str, expect: str, score: np.ndarray, correct: np.ndarray,
                   items: str = "labels") -> str:
    """A sentence on how accuracy moves across the bins of ``table`` (from :func:`accuracy_by_bin`), and the
    premise's verdict read from an interval: the AUROC with which ``score`` (``expect="rises"``) or its
    negative (``"falls"``) ranks the right ``items`` above the wrong ones, over the texts behind the bins."""
    first, last = table["accuracy"].iloc[0], table["accuracy"].iloc[-1]
    direction = "rises" if last > first else "falls" if last < first else "is flat"
    auroc = ranking_auroc(score if expect == "rises" else -np.asarray(score, float), correct)
    verdict = premise_verdict(auroc)
    ranked = f"ranks the right {items} above the wrong ones" if expect == "rises" else f"ranks the wrong {items} above the right ones"
    return (f"Accuracy {direction} from {first:.2f} in the lowest-{signal} bin to {last:.2f} in the highest. Over the "
            f"{len(correct)} texts, {signal} {ranked} with AUROC {auroc['value']:.3f} [{auroc['low']:.3f}, "
            f"{auroc['high']:.3f}] (0.5: not at all; 95 % bootstrap interval over the texts). "
            + {"holds": "The premise holds on this run: the interval lies above 0.5.",
               "fails": f"**The premise fails on this run**: the interval lies below 0.5 (expected: accuracy {expect}).",
               "not resolved": "**The premise is not resolved on this run**: the interval includes 0.5."}[verdict])


def settling_steps(steps: pd.DataFrame, labels: list[str], prefix: str = "tau_T", tolerance: float = 0.05) -> pd.Series:
    """Per class, the optimizer step from which its ``prefix`` threshold (``<prefix>/<class index>`` columns of
    a training run's ``steps``) stays within ``tolerance`` (relative) of its final value; classes never seen
    are left out."""
    settled = {}
    for k, label in enumerate(labels):
        if f"{prefix}/{k}" not in steps:
            continue
        values = steps[f"{prefix}/{k}"].ffill()
        final = values.iloc[-1]
        if not np.isfinite(final):
            continue
        away = steps.loc[(values - final).abs() > tolerance * abs(final), "step"]
        settled[label] = int(away.max()) + 1 if len(away) else int(steps["step"].min())
    return pd.Series(settled, name="settled by step", dtype=int)

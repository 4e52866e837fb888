"""Where does my teacher sit? Its accuracy, confidence AUROC, ECE, macro-F1 and per-class accuracy on
whatever labelled texts exist, each with a bootstrap interval over those texts.

The labelled texts are the pool's gold when the pool has it, else the validation and test texts' (for a
practitioner with an unlabeled pool and a labelled eval file), or a labelled sample given by id. The
profile says which texts it used; it needs at least :data:`MIN_LABELLED` of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.data import DataError
from ..core.metrics import classification_scores, confidence_auroc, expected_calibration_error
from ..teacher.artifacts import TeacherArtifact

MIN_LABELLED = 100


@dataclass
class TeacherProfile:
    """The teacher's scores (``value``, 95 % bootstrap ``low`` / ``high``) and per-class accuracy on
    the labelled texts named in ``used``."""

    used: str
    scores: pd.DataFrame
    per_class: pd.DataFrame

    def describe(self) -> str:
        row = lambda name: self.scores.loc[name]  # noqa: E731
        return (f"On {self.used}: accuracy {row('accuracy')['value']:.3f} [{row('accuracy')['low']:.3f}, "
                f"{row('accuracy')['high']:.3f}], confidence AUROC {row('auroc')['value']:.3f} [{row('auroc')['low']:.3f}, "
                f"{row('auroc')['high']:.3f}], ECE {row('ece')['value']:.3f} [{row('ece')['low']:.3f}, "
                f"{row('ece')['high']:.3f}]. Weakest class: {self.per_class['accuracy'].idxmin()} "
                f"({self.per_class['accuracy'].min():.2f}).")


def labelled_texts(artifact: TeacherArtifact, sample: pd.DataFrame | None = None,
                   source: str = "the labelled sample") -> tuple[pd.DataFrame, str]:
    """The artifact's rows with a gold label, and a phrase naming them. ``sample`` (columns ``id`` and
    ``label``) gives gold to the artifact's texts by id; else the pool's gold, else validation + test."""
    frame = artifact.frame
    if sample is not None:
        for column in ("id", "label"):
            if column not in sample.columns:
                raise DataError(f"{source} needs an {column!r} column; it has {list(sample.columns)}")
        unknown = sample[~sample["label"].isin(artifact.labels)]
        if len(unknown):
            row = unknown.index[0]
            raise DataError(f"{source}, row {row}: label {unknown['label'].iloc[0]!r} is not one of {artifact.labels}")
        ids = frame["id"].astype(str)
        missing = ~sample["id"].astype(str).isin(ids)
        if missing.any():
            raise DataError(f"{source}: {int(missing.sum())} of {len(sample)} ids are not texts of this run "
                            f"(first: {sample['id'][missing].iloc[0]!r})")
        gold = dict(zip(sample["id"].astype(str), sample["label"]))
        rows = frame[ids.isin(gold)].assign(gold=lambda f: f["id"].astype(str).map(gold))
        return rows, f"{len(rows)} texts labelled in {source}"
    with_gold = frame[frame["gold"].notna()]
    pool = with_gold[with_gold["split"] == "pool"]
    if len(pool) and frame.loc[frame["split"] == "pool", "gold"].notna().all():
        return pool, f"the pool's {len(pool)} gold-labelled texts"
    held_out = with_gold[with_gold["split"].isin(["validation", "test"])]
    return held_out, f"the {len(held_out)} gold-labelled validation and test texts (the pool has no gold)"


def teacher_profile(artifact: TeacherArtifact, sample: pd.DataFrame | None = None, replicates: int = 1000,
                    seed: int = 0, minimum: int = MIN_LABELLED, source: str = "the labelled sample") -> TeacherProfile:
    """The teacher's profile on the labelled texts of :func:`labelled_texts`, with basic bootstrap
    intervals over those texts (``replicates`` resamples under ``seed``); per class, percentile intervals
    of its accuracy (a class of few texts gets a wide or degenerate one)."""
    rows, used = labelled_texts(artifact, sample, source)
    if len(rows) == 0:
        raise DataError("no gold labels anywhere: the teacher's accuracy needs labelled texts. Give an eval_dataset "
                        f"(a labelled file) or a labelled sample of at least {minimum} of the run's texts (id, label)")
    if len(rows) < minimum:
        raise DataError(f"only {len(rows)} labelled texts ({used}); the profile needs at least {minimum} for intervals "
                        "worth reading: label more texts")
    labels = artifact.labels
    gold = rows["gold"].map(labels.index).to_numpy()
    predicted = rows["pseudo_label"].map(labels.index).to_numpy()
    confidence = rows["confidence"].to_numpy()
    correct = predicted == gold

    def scores(index: np.ndarray) -> dict[str, float]:
        right = correct[index]
        return {"accuracy": float(right.mean()),
                "macro_f1": classification_scores(gold[index], predicted[index], len(labels))["macro_f1"],
                "auroc": confidence_auroc(confidence[index], right) if 0 < right.sum() < len(right) else np.nan,
                "ece": expected_calibration_error(confidence[index], right)}

    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(rows), len(rows)) for _ in range(replicates)]
    everything = np.arange(len(rows))
    resampled = pd.DataFrame([scores(index) for index in draws])  # AUROC of a one-class resample: NaN, skipped
    value = pd.Series(scores(everything))
    # Basic bootstrap interval (2·value − the upper and lower quantile): a resampled ECE is biased upward,
    # and the percentile interval would then miss the estimate itself.
    table = pd.DataFrame({"value": value, "low": (2 * value - resampled.quantile(0.975)).clip(0, 1),
                          "high": (2 * value - resampled.quantile(0.025)).clip(0, 1)})
    per_class = {}
    for k, label in enumerate(labels):
        members = np.flatnonzero(gold == k)
        if len(members) == 0:
            continue
        boot = [correct[rng.choice(members, len(members))].mean() for _ in range(replicates)]
        per_class[label] = {"texts": len(members), "accuracy": float(correct[members].mean()),
                            "low": float(np.quantile(boot, 0.025)), "high": float(np.quantile(boot, 0.975))}
    return TeacherProfile(used=used, scores=table, per_class=pd.DataFrame(per_class).T.rename_axis("gold class"))

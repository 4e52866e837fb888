"""Where does my teacher sit? Its accuracy, confidence AUROC, ECE, macro-F1 and per-class accuracy on
whatever labelled texts exist, each with a bootstrap interval over those texts.

The labelled texts are those notebooks 01 and 02 check the teacher on (:func:`~.analysis.gold_split`: the
pool's gold when the pool has it, else the test texts', for a practitioner with an unlabeled pool and a
labelled eval file), or a labelled sample given by id. The profile says which texts it used; it needs at
least :data:`MIN_LABELLED` of them. A teacher whose confidence does not detectably rank its right labels
above its wrong ones gets a plain answer first (:meth:`TeacherProfile.premise`): no confidence-based
selection can help it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.data import DataError
from ..core.metrics import classification_scores, confidence_auroc, expected_calibration_error
from ..teacher.artifacts import TeacherArtifact
from .analysis import bootstrap_table, gold_split, premise_verdict

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


    def premise(self) -> str:
        """Whether confidence-based selection has anything to work with, read from the AUROC's interval."""
        auroc = self.scores.loc["auroc"]
        measured = f"confidence AUROC {auroc['value']:.3f} [{auroc['low']:.3f}, {auroc['high']:.3f}] on {self.used}"
        if premise_verdict(auroc) == "holds":
            return (f"The teacher's confidence ranks its right labels above its wrong ones ({measured}): selecting on "
                    "confidence has something to work with.")
        return (f"**Confidence-based selection cannot help with this teacher**: its confidence does not detectably rank "
                f"its right labels above its wrong ones ({measured}, an interval that does not lie above 0.5), so LLKD, a "
                "fixed threshold or top-k per class would keep wrong labels as readily as right ones. Train on all its "
                "labels, or improve the teacher first (calibration, in-context examples, a larger model); no decision "
                "map is consulted for it.")


def labelled_texts(artifact: TeacherArtifact, sample: pd.DataFrame | None = None,
                   source: str = "the labelled sample") -> tuple[pd.DataFrame, str]:
    """The artifact's rows with a gold label, and a phrase naming them. ``sample`` (columns ``id`` and
    ``label``) gives gold to the artifact's texts by id; else the texts of :func:`~.analysis.gold_split`."""
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
    split, phrase = gold_split(artifact)
    return (frame[frame["split"] == split], phrase) if split else (frame.iloc[:0], phrase)


def require_labelled(count: int, used: str, minimum: int = MIN_LABELLED) -> None:
    """Stop with what is needed when a profile would read fewer than ``minimum`` gold-labelled texts."""
    if count == 0:
        raise DataError("no gold labels anywhere: the teacher's accuracy needs labelled texts. Give an eval_dataset "
                        f"(a labelled file) or a labelled sample of at least {minimum} of the run's texts (id, label)")
    if count < minimum:
        raise DataError(f"only {count} labelled texts ({used}); the profile needs at least {minimum} for intervals "
                        "worth reading: label more texts")


def teacher_profile(artifact: TeacherArtifact, sample: pd.DataFrame | None = None, replicates: int = 1000,
                    seed: int = 0, minimum: int = MIN_LABELLED, source: str = "the labelled sample") -> TeacherProfile:
    """The teacher's profile on the labelled texts of :func:`labelled_texts`, with basic bootstrap
    intervals over those texts (``replicates`` resamples under ``seed``); per class, percentile intervals
    of its accuracy (a class of few texts gets a wide or degenerate one)."""
    rows, used = labelled_texts(artifact, sample, source)
    require_labelled(len(rows), used, minimum)
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

    table = bootstrap_table(scores, len(rows), replicates, seed)
    rng = np.random.default_rng(seed + 1)
    per_class = {}
    for k, label in enumerate(labels):
        members = np.flatnonzero(gold == k)
        if len(members) == 0:
            continue
        boot = [correct[rng.choice(members, len(members))].mean() for _ in range(replicates)]
        per_class[label] = {"texts": len(members), "accuracy": float(correct[members].mean()),
                            "low": float(np.quantile(boot, 0.025)), "high": float(np.quantile(boot, 0.975))}
    return TeacherProfile(used=used, scores=table, per_class=pd.DataFrame(per_class).T.rename_axis("gold class"))

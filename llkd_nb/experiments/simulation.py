"""Simulated teachers for notebook 05: the real teacher's labels, with how well its confidence ranks them set.

A real teacher's mistakes depend on the text: it confuses the same kinds of text every time, and a
student learns those mistakes. A simulation that draws each text's correctness at random makes
mistakes that are noise, which a student averages away; tried here first, it trained students far
better than the real teacher it imitated (notebook 05, section 3, checks this). So the calibrated
simulation (:func:`calibrated_teacher`) keeps the real teacher's **labels**, mistakes and all, and
redraws only **which text carries which confidence**:

1. each text gets a score ``z = d * right + N(0, 1)``;
2. within each class, the real distributions of the texts labelled that class, ordered by confidence,
   are handed out in the order of ``z``: the text with the class's k-th highest score receives the
   class's k-th most confident distribution, its entries placed on the text's own classes in the text's
   own order, so its label stays its label;
3. ``d`` is solved so that the confidence AUROC of the result (right labels above wrong ones, over the
   whole split) equals the target.

At the real teacher's labels, each class keeps the confidences it has with the real teacher, so a
per-class threshold or a per-class top-k sees the real teacher's levels; only their order within the
class changes, and with it the confidence AUROC. At another accuracy than the real teacher's, a random
share of right labels turns wrong (each wrong label drawn from the real teacher's confusion matrix of
mistakes) or of wrong labels right: those changed labels, and only those, are text-independent.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from ..core.metrics import confidence_auroc
from ..core.validation import ParameterError, check_range
from ..teacher.artifacts import SPLITS, TeacherArtifact

SEPARATION_BOUND = 40.0  # |d| at which N(0, 1) noise can no longer reorder a right and a wrong text


def error_confusion(predicted: np.ndarray, gold: np.ndarray, num_labels: int) -> np.ndarray:
    """``[K, K]`` P(wrong label j | gold k) of a real teacher's mistakes (rows without mistakes: uniform)."""
    counts = np.zeros((num_labels, num_labels))
    np.add.at(counts, (gold, predicted), 1)
    np.fill_diagonal(counts, 0)
    empty = counts.sum(axis=1) == 0
    counts[empty] = 1 - np.eye(num_labels)[empty]
    return counts / counts.sum(axis=1, keepdims=True)


def labels_at_accuracy(labels: np.ndarray, gold: np.ndarray, accuracy: float, confusion: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    """``labels`` with just enough of them changed, chosen at random, that ``round(accuracy * N)`` are
    right: right ones turned wrong (drawn from ``confusion``'s row of the gold class) or wrong ones right."""
    labels = labels.copy()
    right = labels == gold
    change = round(accuracy * len(labels)) - int(right.sum())
    if change > 0:
        chosen = rng.choice(np.flatnonzero(~right), change, replace=False)
        labels[chosen] = gold[chosen]
    elif change < 0:
        chosen = rng.choice(np.flatnonzero(right), -change, replace=False)
        labels[chosen] = [rng.choice(len(confusion), p=confusion[k]) for k in gold[chosen]]
    return labels


def hand_out(probs: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``probs`` ``[N, K]`` redistributed class by class: among the texts labelled ``c``, the one with the
    k-th highest score gets the k-th most confident of their rows' values, placed on its own classes ordered
    label first, then as its own row ranks them."""
    n, k = probs.shape
    values = np.empty_like(probs)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rows = -np.sort(-probs[members], axis=1)
        values[members[np.argsort(-scores[members], kind="stable")]] = rows[np.argsort(-rows[:, 0], kind="stable")]
    own = np.argsort(-probs, axis=1, kind="stable")
    order = np.concatenate([labels[:, None], own[own != labels[:, None]].reshape(n, k - 1)], axis=1)
    redistributed = np.empty_like(probs)
    redistributed[np.arange(n)[:, None], order] = values
    tied = np.flatnonzero(redistributed.argmax(axis=1) != labels)  # a tie at the top: the label wins by one ulp
    redistributed[tied, labels[tied]] = np.nextafter(redistributed[tied, labels[tied]], np.inf)
    return redistributed


def reorder_to_auroc(probs: np.ndarray, labels: np.ndarray, right: np.ndarray, auroc: float,
                     rng: np.random.Generator) -> np.ndarray:
    """``probs`` handed out (:func:`hand_out`) by the scores ``d * right + N(0, 1)``, with the noise drawn once
    and ``d`` solved on it so that the result's confidence AUROC on ``right`` is ``auroc`` (to within one
    reordering's step; the AUROC never falls as ``d`` grows). A target beyond what the per-class confidence levels
    allow gets the nearest AUROC they do (notebook 05 shows the AUROC each rung reached). With only right or
    only wrong labels, by the noise."""
    noise = rng.standard_normal(len(right))
    if right.all() or not right.any():
        return hand_out(probs, labels, noise)
    reordered = lambda d: hand_out(probs, labels, d * right + noise)  # noqa: E731
    gap = lambda d: confidence_auroc(reordered(d).max(axis=1), right) - auroc  # noqa: E731
    low, high = gap(-SEPARATION_BOUND), gap(SEPARATION_BOUND)
    if low > 0 or high < 0:  # beyond what this split's per-class confidence levels allow: the nearest order
        return reordered(SEPARATION_BOUND if high < 0 else -SEPARATION_BOUND)
    return reordered(brentq(gap, -SEPARATION_BOUND, SEPARATION_BOUND))


def calibrated_teacher(artifact: TeacherArtifact, accuracy: float | None = None, auroc: float | None = None,
                       seed: int = 0) -> TeacherArtifact:
    """A simulated teacher fitted to ``artifact``'s real one (see the module docstring): its labels
    moved to ``accuracy`` and its confidences reordered to confidence ``auroc`` on every split
    (``None``: the real teacher's pool accuracy, or its pool AUROC). Seeded."""
    if accuracy is not None:
        check_range("accuracy", accuracy, 0, 1, low_open=True, high_open=True)
    pool_probs, pool_gold = artifact.probs("pool"), artifact.gold("pool")
    real_right = pool_probs.argmax(axis=1) == pool_gold
    if auroc is None:
        auroc = confidence_auroc(pool_probs.max(axis=1), real_right)
    if not 0.5 < auroc < 1:
        raise ParameterError(f"a simulated teacher's confidence AUROC must lie in (0.5, 1), got {auroc}")
    confusion = error_confusion(pool_probs.argmax(axis=1), pool_gold, artifact.num_labels)
    rng = np.random.default_rng(seed)
    probs = {}
    for name in SPLITS:
        real, gold = artifact.probs(name), artifact.gold(name)
        labels = real.argmax(axis=1)
        if accuracy is not None and len(labels):
            labels = labels_at_accuracy(labels, gold, accuracy, confusion, rng)
        probs[name] = reorder_to_auroc(real, labels, labels == gold, auroc, rng)
    label_source = "the real teacher's" + ("" if accuracy is None else ", a random share changed to reach the accuracy")
    target = "real" if accuracy is None else f"{accuracy:.4f}"
    accuracy = float(real_right.mean()) if accuracy is None else accuracy
    return artifact.with_distribution(probs, {
        "teacher": f"calibrated simulation of {artifact.meta.get('teacher')}",
        "teacher_fingerprint": f"calibrated-simulation-v3:{artifact.meta.get('teacher_fingerprint')}:accuracy={target}:"
                               f"auroc={auroc:.4f}:seed={seed}",
        "simulation": {"accuracy": accuracy, "auroc": auroc, "seed": seed, "labels": label_source,
                       "wrong_labels": "the real teacher's confusion matrix",
                       "base_calibration": artifact.meta["calibration"]}})

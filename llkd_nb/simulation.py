"""Simulated teachers for notebook 05: a real teacher's distributions, with which class wins redrawn.

A **controlled simulation** uses the gold labels by construction, so it is reported apart from the real
teachers. Each text is correct with probability ``sigmoid(a + s * logit(r))``, where ``r`` is the rank of
the real teacher's confidence in (0, 1): ``a`` sets the accuracy, ``s`` (informativeness) how strongly
correctness follows confidence, and so the confidence AUROC. A correct text's top probability moves to
its gold class, a wrong text's to a wrong class; swapping two entries keeps every text's confidence and
the shape of its distribution.

The **calibrated** simulation (:func:`calibrated_teacher`) is fitted to the real teacher: ``s`` is solved
so that the expected AUROC equals a target (the real teacher's own, or a chosen level), and wrong labels
are drawn from the real teacher's confusion matrix, so its mistakes land where the real one's do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

from .artifacts import SPLITS, TeacherArtifact
from .metrics import confidence_auroc
from .validation import ParameterError, check_range

DRAWS = 200  # seeded redraws of the pool's correctness until it lies within the tolerance of both targets
TOLERANCE = 0.01  # on a pool of fewer than 100 texts: one text's share, 1 / pool size


def rank_logits(confidence: np.ndarray) -> np.ndarray:
    """``logit`` of each confidence's rank in (0, 1) (ties share a rank)."""
    return logit((pd.Series(confidence).rank(method="average").to_numpy() - 0.5) / len(confidence))


def correctness_probabilities(score: np.ndarray, accuracy: float) -> np.ndarray:
    """``sigmoid(a + score)`` with ``a`` solved so that the probabilities average ``accuracy``."""
    check_range("accuracy", accuracy, 0, 1, low_open=True, high_open=True)
    bound = 50 + float(np.abs(score).max(initial=0.0))  # wide enough for any accuracy in (0, 1)
    intercept = brentq(lambda a: expit(a + score).mean() - accuracy, -bound, bound)
    return expit(intercept + score)


def expected_auroc(ranks: np.ndarray, p: np.ndarray) -> float:
    """The AUROC of ``ranks`` expected when text i is correct with probability ``p[i]``: expected
    (correct, wrong) pairs ordered right, over expected pairs."""
    p = p[np.argsort(ranks, kind="stable")]
    wrong_below = np.cumsum(1 - p) - (1 - p)
    pairs = p.sum() * (1 - p).sum() - (p * (1 - p)).sum()
    return float((p * wrong_below).sum() / pairs)


def informativeness_for(confidence: np.ndarray, accuracy: float, auroc: float) -> float:
    """The informativeness ``s`` whose expected AUROC at ``accuracy`` is ``auroc`` (in (0.5, 1))."""
    score = rank_logits(confidence)
    gap = lambda s: expected_auroc(score, correctness_probabilities(s * score, accuracy)) - auroc  # noqa: E731
    if not 0.5 < auroc < gap(50.0) + auroc:
        raise ParameterError(f"a confidence AUROC of {auroc} cannot be reached at accuracy {accuracy} "
                             f"(reachable: above 0.5, up to {gap(50.0) + auroc:.3f})")
    return brentq(gap, 0.0, 50.0)


def error_confusion(predicted: np.ndarray, gold: np.ndarray, num_labels: int) -> np.ndarray:
    """``[K, K]`` P(wrong label j | gold k) of a real teacher's mistakes (rows without mistakes: uniform)."""
    counts = np.zeros((num_labels, num_labels))
    np.add.at(counts, (gold, predicted), 1)
    np.fill_diagonal(counts, 0)
    empty = counts.sum(axis=1) == 0
    counts[empty] = 1 - np.eye(num_labels)[empty]
    return counts / counts.sum(axis=1, keepdims=True)


def redraw_winners(probs: np.ndarray, gold: np.ndarray, correct: np.ndarray, rng: np.random.Generator,
                   confusion: np.ndarray | None = None) -> np.ndarray:
    """``probs`` with each text's top probability swapped onto its gold class (``correct``) or a wrong
    class: drawn from ``confusion``'s row of its gold class, else the real teacher's top wrong class."""
    ranked = np.argsort(-probs, axis=1, kind="stable")
    rows = np.arange(len(probs))
    if confusion is None:
        wrong = np.where(ranked[:, 0] == gold, ranked[:, 1], ranked[:, 0])
    else:
        wrong = np.array([rng.choice(len(confusion), p=confusion[k]) for k in gold], dtype=int)
    winner = np.where(correct, gold, wrong)
    top = ranked[:, 0]
    redrawn = probs.copy()
    redrawn[rows, top], redrawn[rows, winner] = probs[rows, winner], probs[rows, top]
    return redrawn


def simulated_distribution(probs: np.ndarray, gold: np.ndarray, accuracy: float, informativeness: float,
                           rng: np.random.Generator, confusion: np.ndarray | None = None) -> np.ndarray:
    """A teacher of chosen ``accuracy`` and ``informativeness`` built from real distributions ``probs``
    ``[N, K]``: correctness drawn per text (see the module docstring), winners redrawn."""
    p = correctness_probabilities(informativeness * rank_logits(probs.max(axis=1)), accuracy)
    return redraw_winners(probs, gold, rng.random(len(p)) < p, rng, confusion)


def calibrated_teacher(artifact: TeacherArtifact, accuracy: float | None = None, auroc: float | None = None,
                       seed: int = 0) -> TeacherArtifact:
    """A simulated teacher fitted to ``artifact``'s real one (its calibrated distributions, its
    confusion matrix) at ``accuracy`` and confidence ``auroc`` on the pool (``None``: the real
    teacher's). The pool's correctness is redrawn (seeded, at most :data:`DRAWS` times) until both lie
    within :data:`TOLERANCE` of their targets; validation and test follow the same model."""
    pool_probs, pool_gold = artifact.probs("pool"), artifact.gold("pool")
    real_correct = pool_probs.argmax(axis=1) == pool_gold
    accuracy = float(real_correct.mean()) if accuracy is None else accuracy
    auroc = confidence_auroc(pool_probs.max(axis=1), real_correct) if auroc is None else auroc
    informativeness = informativeness_for(pool_probs.max(axis=1), accuracy, auroc)
    confusion = error_confusion(pool_probs.argmax(axis=1), pool_gold, artifact.num_labels)
    rng = np.random.default_rng(seed)
    p = correctness_probabilities(informativeness * rank_logits(pool_probs.max(axis=1)), accuracy)
    tolerance = max(TOLERANCE, 1 / len(p))
    for _ in range(DRAWS):
        correct = rng.random(len(p)) < p
        if abs(correct.mean() - accuracy) <= tolerance and \
                abs(confidence_auroc(pool_probs.max(axis=1), correct) - auroc) <= tolerance:
            break
    else:
        raise ParameterError(f"no draw of {DRAWS} reached accuracy {accuracy:.3f} and AUROC {auroc:.3f} within "
                             f"{tolerance:.3f} on {len(p)} pool texts: the pool is too small for these targets")
    probs = {"pool": redraw_winners(pool_probs, pool_gold, correct, rng, confusion)}
    for name in SPLITS:
        if name != "pool":
            probs[name] = simulated_distribution(artifact.probs(name), artifact.gold(name), accuracy,
                                                 informativeness, rng, confusion)
    return artifact.with_distribution(probs, {
        "teacher": f"calibrated simulation of {artifact.meta.get('teacher')}",
        "teacher_fingerprint": f"calibrated-simulation:{artifact.meta.get('teacher_fingerprint')}:accuracy={accuracy:.4f}:"
                               f"auroc={auroc:.4f}:seed={seed}",
        "simulation": {"accuracy": accuracy, "auroc": auroc, "informativeness": informativeness, "seed": seed,
                       "wrong_labels": "the real teacher's confusion matrix",
                       "base_calibration": artifact.meta["calibration"]}})

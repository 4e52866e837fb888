"""Calibrating the teacher's label distribution before selection (our addition; the paper does not).

- ``batch``: divide each class probability by its mean over the unlabeled pool, renormalise
  (removes the teacher's bias towards some labels without any gold label).
- ``contextual``: divide by the distribution the teacher gives to content-free inputs ("N/A", ...).
"""

from __future__ import annotations

import numpy as np

METHODS = ("none", "batch", "contextual")
CONTENT_FREE_TEXTS = ("N/A", "[MASK]", "")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax: label log-probabilities to a distribution over the K labels."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def calibrate(probs: np.ndarray, method: str, pool_probs: np.ndarray | None = None,
              content_free_probs: np.ndarray | None = None) -> np.ndarray:
    """Calibrated ``[N, K]`` distribution. ``batch`` needs ``pool_probs``; ``contextual`` needs
    ``content_free_probs`` (``[K]``)."""
    if method == "none":
        return probs
    if method == "batch":
        if pool_probs is None:
            raise ValueError("batch calibration needs the pool's probabilities")
        prior = pool_probs.mean(axis=0)
    elif method == "contextual":
        if content_free_probs is None:
            raise ValueError("contextual calibration needs the content-free distribution")
        prior = np.asarray(content_free_probs)
    else:
        raise ValueError(f"unknown calibration {method!r}; choose one of {METHODS}")
    scaled = probs / np.clip(prior, 1e-12, None)
    return scaled / scaled.sum(axis=-1, keepdims=True)

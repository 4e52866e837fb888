"""Proxy teachers: real classifiers of another kind than the student, for the teacher ladder (notebook 05).

A proxy teacher is TF-IDF word and bigram features and a logistic regression (scikit-learn), trained
on ``n`` gold-labelled texts drawn from the split's spare texts, which are disjoint from the pool, the
validation set and the test set. Unlike the simulated teacher, its errors depend on the text and its
confidence is its own; unlike the LLM, its accuracy is set by ``n``. Its class distributions enter a
teacher artifact like an LLM's, uncalibrated.
"""

from __future__ import annotations

import numpy as np

from ..core.data import DataError, Splits, take_stratified
from ..teacher.artifacts import TeacherArtifact, build_artifact


DECIMALS = 6  # what is left of BLAS differences between machines; rounded, the run cache keys do not see them


def stable(probs: np.ndarray) -> np.ndarray:
    """Class probabilities rounded to :data:`DECIMALS` and renormalised: the same on every machine."""
    rounded = np.round(probs, DECIMALS)
    return rounded / rounded.sum(axis=1, keepdims=True)


def proxy_teacher_artifact(splits: Splits, labels: list[str], n: int, seed: int = 0,
                           meta: dict | None = None) -> TeacherArtifact:
    """The artifact of a TF-IDF + logistic-regression teacher trained on ``n`` spare gold texts
    (stratified, under ``seed``); ``meta`` records which texts it saw (``proxy_train_ids``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from threadpoolctl import threadpool_limits

    spare = splits.spare
    if spare is None or spare.empty or spare["label"].isna().any():
        raise DataError("a proxy teacher trains on gold-labelled texts outside the pool, validation and test, and this "
                        "split has none: lower pool_size so that some labelled texts are left over")
    train, _ = take_stratified(spare, n, seed, "proxy_train", " among the spare texts (outside the pool, "
                               "validation and test)")
    labelled = set().union(*(set(frame["text"]) for frame in splits.frames().values()))
    if shared := labelled & set(train["text"]):  # possible with deduplicate: false
        raise DataError(f"{len(shared)} of the proxy teacher's training texts also appear in the pool, validation or "
                        "test set: keep deduplicate on")
    model = make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)),
                          LogisticRegression(C=10.0, max_iter=2000))
    with threadpool_limits(1):  # the solver's last bits depend on the BLAS thread count
        model.fit(train["text"], train["label"])
        columns = [list(model.classes_).index(label) for label in labels]  # stratified: every label is a class
        raw = {name: stable(model.predict_proba(frame["text"])[:, columns]) if len(frame) else np.zeros((0, len(labels)))
               for name, frame in splits.frames().items()}
    return build_artifact(splits.frames(), raw, labels, "none", np.full(len(labels), 1 / len(labels)), {
        **(meta or {}), "teacher": f"proxy:tfidf-logreg:n={n}", "teacher_fingerprint": f"proxy:tfidf-logreg:n={n}:seed={seed}",
        "proxy_train_ids": train["id"].astype(str).tolist(),
    })

"""Proxy teachers: trained on spare gold texts only, disjoint from pool, validation and test; more gold,
a better teacher."""

import numpy as np
import pytest

from llkd_nb.core.data import DataConfig, DataError, get_spec, load_splits
from llkd_nb.experiments.analysis import teacher_scores
from llkd_nb.experiments.proxy_teacher import proxy_teacher_artifact

LABELS = list(get_spec("bbc_news").labels)


@pytest.fixture(scope="module")
def splits():
    return load_splits(DataConfig(pool_size=200, validation_size=50, test_size=100))


def test_the_spare_texts_are_disjoint_from_pool_validation_and_test(splits):
    used = set().union(*(set(frame["id"]) for frame in splits.frames().values()))
    assert len(splits.spare) > 0 and not set(splits.spare["id"]) & used
    artifact = proxy_teacher_artifact(splits, LABELS, n=30)
    trained_on = set(artifact.meta["proxy_train_ids"])
    assert len(trained_on) == 30 and trained_on <= set(splits.spare["id"].astype(str))
    assert not trained_on & set(artifact.frame["id"].astype(str))  # it never saw a text it labels


def test_more_gold_texts_make_a_more_accurate_teacher_with_its_own_confidence(splits):
    weak, strong = (teacher_scores(proxy_teacher_artifact(splits, LABELS, n=n), "pool").loc["none"] for n in (10, 200))
    assert 0.3 < weak["accuracy"] < strong["accuracy"] and strong["accuracy"] > 0.85
    assert strong["auroc"] > 0.7  # its confidence ranks its right labels above its wrong ones
    artifact = proxy_teacher_artifact(splits, LABELS, n=30)
    assert np.allclose(artifact.raw_probs("pool").sum(axis=1), 1.0)
    assert artifact.identity()["teacher"] != proxy_teacher_artifact(splits, LABELS, n=30, seed=1).identity()["teacher"]


def test_no_spare_gold_is_a_clear_error(splits):
    whole = load_splits(DataConfig(pool_size=None, validation_size=50, test_size=100))
    with pytest.raises(DataError, match="lower pool_size"):
        proxy_teacher_artifact(whole, LABELS, n=30)
    with pytest.raises(DataError, match="proxy_train_size 5000 asks for more texts than there are"):
        proxy_teacher_artifact(splits, LABELS, n=5000)

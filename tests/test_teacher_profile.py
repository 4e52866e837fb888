"""Where does my teacher sit: scores with intervals on whatever labelled texts exist, and clear errors
when there are too few or none."""

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest

from llkd_nb.core.data import DataConfig, DataError, get_spec, load_splits
from llkd_nb.experiments.analysis import gold_split, teacher_scores
from llkd_nb.experiments.proxy_teacher import proxy_teacher_artifact
from llkd_nb.experiments.teacher_profile import teacher_profile
from llkd_nb.study.cli import main

LABELS = list(get_spec("bbc_news").labels)


@pytest.fixture(scope="module")
def artifact():
    return proxy_teacher_artifact(load_splits(DataConfig(pool_size=200, validation_size=60, test_size=100)), LABELS, n=30)


def without_pool_gold(artifact):
    unlabeled = copy.deepcopy(artifact)
    unlabeled.frame.loc[unlabeled.frame["split"] == "pool", "gold"] = None
    return unlabeled


def test_the_profile_reads_the_pools_gold_with_intervals_around_each_score(artifact):
    profile = teacher_profile(artifact, replicates=200)
    expected = teacher_scores(artifact, "pool").loc["none"]
    assert "pool's 200" in profile.used
    for metric in ("accuracy", "auroc", "ece", "macro_f1"):
        row = profile.scores.loc[metric]
        assert row["value"] == pytest.approx(expected[metric]) and row["low"] <= row["value"] <= row["high"]
    assert profile.per_class["texts"].sum() == 200 and set(profile.per_class.index) == set(LABELS)
    assert "accuracy" in profile.describe()


def test_an_unlabeled_pool_falls_back_to_the_test_texts_that_notebooks_01_and_02_read(artifact):
    unlabeled = without_pool_gold(artifact)
    profile = teacher_profile(unlabeled, replicates=100)
    split, phrase = gold_split(unlabeled)
    assert split == "test" and profile.used == phrase and f"the {len(unlabeled.split('test'))} gold-labelled test texts" in phrase
    assert profile.scores.loc["auroc", "value"] == pytest.approx(teacher_scores(unlabeled, "test").loc["none", "auroc"])


def test_a_teacher_whose_confidence_ranks_nothing_gets_a_plain_answer(artifact):
    profile = teacher_profile(artifact, replicates=200)
    confident = profile.scores.assign(value=0.8, low=0.7, high=0.9)
    assert "has something to work with" in dataclasses.replace(profile, scores=confident).premise()
    blind = profile.scores.assign(value=0.55, low=0.47, high=0.63)
    words = dataclasses.replace(profile, scores=blind).premise()
    assert words.startswith("**Confidence-based selection cannot help with this teacher**") and "[0.470, 0.630]" in words
    assert "Train on all its labels, or improve the teacher first" in words


def test_a_labelled_sample_by_id_and_its_errors(artifact):
    pool = artifact.split("pool")
    sample = pd.DataFrame({"id": pool["id"].iloc[:120], "label": pool["gold"].iloc[:120]})
    profile = teacher_profile(without_pool_gold(artifact), sample, replicates=100, source="mine.csv")
    assert profile.used == "120 texts labelled in mine.csv"
    with pytest.raises(DataError, match=r"mine.csv, row 3: label 'weather' is not one of"):
        teacher_profile(artifact, sample.assign(label=lambda f: f["label"].where(f.index != 3, "weather")), source="mine.csv")
    with pytest.raises(DataError, match=r"only 50 labelled texts .* at least 100"):
        teacher_profile(artifact, sample.iloc[:50])
    nothing = copy.deepcopy(artifact)
    nothing.frame["gold"] = None
    with pytest.raises(DataError, match="no gold labels anywhere"):
        teacher_profile(nothing)


def test_the_command_prints_the_profile_of_a_run(artifact, tmp_path, capsys):
    artifact.save_to_run(tmp_path)
    assert main(["teacher-profile", str(tmp_path), "--replicates", "100"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "per gold class" in out and np.isfinite(teacher_profile(artifact, replicates=10).scores["value"]).all()


def test_the_command_places_the_teacher_on_a_decision_map(artifact, tmp_path, capsys):
    from test_decision_map import map_cells

    artifact.save_to_run(tmp_path / "run")
    best, teachers = map_cells(slope_auroc=1.0)
    (tmp_path / "map" / "tables").mkdir(parents=True)
    best.to_csv(tmp_path / "map" / "tables" / "05_best_other.csv", index=False)
    teachers.to_csv(tmp_path / "map" / "tables" / "05_teachers.csv")
    assert main(["teacher-profile", str(tmp_path / "run"), "--replicates", "50", "--map", str(tmp_path / "map")]) == 0
    out = capsys.readouterr().out
    assert "on the decision map of" in out and "nearest rung is teacher" in out and "At 180 steps" in out
    assert main(["teacher-profile", str(tmp_path / "run"), "--map", str(tmp_path / "nowhere")]) == 2
    assert "run notebook 05" in capsys.readouterr().err


def test_notebooks_01_and_02_check_the_teacher_where_gold_exists(artifact):
    """The pool when it is labelled, else the test set (an unlabeled pool with a labelled eval file),
    else nowhere, with what is missing."""
    from llkd_nb.experiments.analysis import gold_split

    assert gold_split(artifact) == ("pool", "the pool's 200 gold-labelled texts")
    split, phrase = gold_split(without_pool_gold(artifact))
    assert split == "test" and phrase.startswith("the 100 gold-labelled test texts")
    nothing = copy.deepcopy(artifact)
    nothing.frame["gold"] = None
    split, phrase = gold_split(nothing)
    assert split is None and "eval_dataset" in phrase

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
from llkd_nb.teacher.labeling import LabelingRun

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
    assert f"On the map {tmp_path / 'map'}" in out and "nearest rung is teacher" in out and "At 180 steps" in out
    assert "against the teacher's labels" in out and "against gold" not in out  # the map holds no gold-selection table
    assert main(["teacher-profile", str(tmp_path / "run"), "--map", str(tmp_path / "nowhere")]) == 2
    assert "neither a shipped map" in capsys.readouterr().err


def test_a_shipped_map_is_found_by_name_and_read_under_both_selections(tmp_path):
    from test_decision_map import map_cells

    from llkd_nb.experiments.decision_map import place_on_maps
    from llkd_nb.experiments.maps import map_folder, map_record, shipped_maps, write_map
    from llkd_nb.study.advise import first_method

    best, teachers = map_cells(slope_auroc=1.0)
    run = tmp_path / "runs" / "my_map"
    (run / "tables").mkdir(parents=True)
    (run / "config").mkdir()
    (run / "config" / "study.yaml").write_text("dataset: bbc_news\nstudent: offline:minilm-l6\ntrainable_layers: 1\n"
                                              "max_length: 32\nbudgets: [20, 60, 180]\nseeds: [0, 1]\nvalidation_size: 200\n")
    best.to_csv(run / "tables" / "05_best_other.csv", index=False)
    best.assign(llkd_minus=-best["llkd_minus"]).to_csv(
        run / "tables" / "05_best_other_gold_selection.csv", index=False)
    teachers.to_csv(run / "tables" / "05_teachers.csv")
    with pytest.raises(FileNotFoundError, match="no complete map"):
        write_map(tmp_path, tmp_path / "maps")
    write_map(run, tmp_path / "maps")
    assert shipped_maps(tmp_path / "maps") == ["my_map"] and map_folder("my_map", tmp_path / "maps") == tmp_path / "maps" / "my_map"
    assert map_record("my_map", tmp_path / "maps")["budgets"] == [20, 60, 180]
    placements = place_on_maps(0.6, 0.9, [run])
    assert [p.model_selection for p in placements] == ["pseudo", "gold"]
    assert "offline:minilm-l6 with the top 1 layer(s) trained on 32 tokens" in placements[0].describe()
    method, words = first_method(placements, 150)
    assert words.startswith(f"Try **{method}** first: at the map budget nearest yours (150 steps)")
    from llkd_nb.study.advise import simpler_to_check

    assert simpler_to_check(placements, 150) != "LLKD" and simpler_to_check([], 150) == "all pseudo-labels"


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


def test_advise_profiles_places_names_a_method_and_checks_it_on_the_users_data(artifact, tmp_path, monkeypatch, capsys):
    from test_decision_map import map_cells

    from llkd_nb.study import advise

    best, teachers = map_cells(slope_auroc=1.0)
    (tmp_path / "map" / "tables").mkdir(parents=True)
    best.to_csv(tmp_path / "map" / "tables" / "05_best_other.csv", index=False)
    teachers.to_csv(tmp_path / "map" / "tables" / "05_teachers.csv")
    study = tmp_path / "mine.yaml"
    study.write_text("name: mine\nmax_steps: 4\nbatch_size: 4\nmax_length: 16\nnum_evals: 2\ntuning_seeds: [100]\n"
                     "bootstrap_replicates: 100\nprogress: false\n")
    monkeypatch.setattr(advise, "label_for_advice", lambda study, run_dir, progress=False: LabelingRun(artifact, 5))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(advise, "CHECK_SEEDS", 2)
    assert main(["advise", str(study), "--map", str(tmp_path / "map"), "--check"]) == 0
    out = capsys.readouterr().out
    assert "has something to work with" in out and f"On the map {tmp_path / 'map'}" in out
    assert "first: at the map budget nearest yours (4 steps)" in out
    tested, validated = len(artifact.split("test")), len(artifact.split("validation"))
    assert f"Check on your data (2 seeds, {tested} test texts, every choice against {validated} gold validation texts" in out
    assert "LLKD − " in out
    assert "min; saved in" in out.splitlines()[-1]
    words = advise.advice_time(tmp_path / "runs" / "mine")
    assert words.startswith("`llkd-nb advise` on the run `mine` took **") and ", with --check:" in words
    assert f"{len(artifact.frame)} texts labelled by the teacher with {len(artifact.frame) - 5} of its texts already" in words
    blind = copy.deepcopy(artifact)
    blind.frame["confidence"] = np.random.default_rng(0).random(len(blind.frame))  # ranks nothing
    monkeypatch.setattr(advise, "label_for_advice", lambda study, run_dir, progress=False: LabelingRun(blind, 0))
    assert main(["advise", str(study), "--map", str(tmp_path / "map")]) == 0
    out = capsys.readouterr().out
    assert "Confidence-based selection cannot help with this teacher" in out and "On the map" not in out


def test_advise_stops_before_any_labeling_on_too_little_gold_or_an_unknown_map(tmp_path, monkeypatch, capsys):
    from llkd_nb.study import advise
    from llkd_nb.study.config import load_study

    def no_labeling(*args, **kwargs):
        raise AssertionError("the teacher labelled texts before the input was checked")

    monkeypatch.setattr(advise, "label_all", no_labeling)
    monkeypatch.setattr(advise, "prepare", lambda data, teacher: (None, load_splits(data), None, None))
    study = tmp_path / "mine.yaml"
    study.write_text("name: mine\npool_size: 50\nvalidation_size: 20\ntest_size: 30\nprogress: false\n")
    with pytest.raises(DataError, match=r"only 50 labelled texts .* at least 100"):
        advise.label_for_advice(load_study(study), tmp_path / "runs" / "mine")
    monkeypatch.setattr(advise, "label_for_advice", no_labeling)
    assert main(["advise", str(study), "--map", "no_such_map", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "no_such_map is neither a shipped map" in capsys.readouterr().err


def _shipped():
    from llkd_nb.experiments.maps import shipped_maps

    return shipped_maps()


@pytest.mark.parametrize("name", _shipped())
def test_a_shipped_map_is_the_committed_run_it_names(name):
    """A map ships the tables of the committed snapshot of its run (`llkd-nb report` writes both), and names the
    commit that snapshot ran at: a map edited by hand, or left behind by a re-executed notebook 05, fails here."""
    import json
    from pathlib import Path

    from llkd_nb.experiments.maps import MAP_TABLES, MAPS, map_record
    from llkd_nb.study.compare_runs import COMMITTED, SNAPSHOT_RECORD

    snapshot = Path(COMMITTED) / name
    assert (snapshot / SNAPSHOT_RECORD).exists(), f"map {name} ships without the committed snapshot of its run"
    for table in MAP_TABLES:
        assert (MAPS / name / table).read_bytes() == (snapshot / "tables" / table).read_bytes(), f"{name}: {table} drifted"
    assert map_record(name)["git_commit"] == json.loads((snapshot / SNAPSHOT_RECORD).read_text())["git_commit"]

"""`llkd-nb`: the whole study on a tiny config, and bad configs rejected before any work."""

import ast
import dataclasses
from pathlib import Path

import pandas as pd
import papermill
import pytest
import yaml

from llkd_nb.cli import REPO_NOTEBOOKS, main
from llkd_nb.config import NOTEBOOKS, StudyConfig, load_study

TINY = {
    "name": "tiny", "pool_size": 30, "validation_size": 10, "test_size": 20, "max_words": 30,
    "max_steps": 4, "batch_size": 8, "max_length": 16, "num_bins": 3, "seeds": [0, 1],
    "study_variants": False, "progress": False,
}


def write(tmp_path, values) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_study_config_matches_the_notebooks_parameters():
    """Every notebook parameter is a study key with the notebook's default (paths aside)."""
    defaults = dataclasses.asdict(StudyConfig())
    for name in NOTEBOOKS:
        for parameter, info in papermill.inspect_notebook(str(REPO_NOTEBOOKS / f"{name}.ipynb")).items():
            if parameter in ("run_dir", "cache_path"):
                continue
            assert parameter in defaults, f"{name}: parameter {parameter!r} missing from StudyConfig"
            assert ast.literal_eval(info["default"]) == defaults[parameter], f"{name}: default of {parameter!r} differs"


def test_default_config_file_is_the_default_study():
    study = load_study(Path(__file__).parents[1] / "configs" / "default.yaml")
    assert dataclasses.asdict(study) == dataclasses.asdict(StudyConfig())


@pytest.mark.parametrize("values, message", [
    ({"pool_sise": 10}, r"unknown key\(s\) \['pool_sise'\]"),
    ({"lr": "fast"}, "lr must be float"),
    ({"seeds": 3}, "seeds must be list"),
    ({"calibration": "platt"}, "calibration must be one of"),
    ({"dataset": "missing.csv", "labels": ["a", "b"], "task": "t"}, "dataset file not found: missing.csv"),
    ({"teacher": "/nowhere/model.gguf"}, "teacher file or folder not found"),
    ({"student_momentum": 1.0}, r"student_momentum must lie in \[0.0, 1.0\)"),
    ({"notebooks": [5]}, "notebooks must list numbers among 1-4"),
])
def test_bad_config_is_rejected_before_any_work(tmp_path, capsys, values, message):
    runs = tmp_path / "runs"
    assert main(["run", str(write(tmp_path, values)), "--runs-dir", str(runs)]) == 2
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)
    assert not runs.exists()


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "parameters file not found" in capsys.readouterr().err


def test_whole_study_end_to_end_on_a_tiny_config(tmp_path):
    config = {**TINY, "cache_path": str(tmp_path / "cache.sqlite")}
    assert main(["run", str(write(tmp_path, config)), "--runs-dir", str(tmp_path / "runs")]) == 0
    run = tmp_path / "runs" / "tiny"
    assert sorted(p.name for p in (run / "notebooks").glob("*.ipynb")) == [f"{n}.ipynb" for n in NOTEBOOKS]
    assert (run / "teacher_labels.parquet").exists()
    assert yaml.safe_load((run / "config" / "study.yaml").read_text())["pool_size"] == 30
    assert set(yaml.safe_load((run / "config" / "timings.yaml").read_text())) == {*NOTEBOOKS, "total"}
    for name in NOTEBOOKS:  # each notebook recorded its parameters, package versions and machine
        record = yaml.safe_load((run / "config" / f"{name}.json").read_text())
        assert record["packages"]["torch"] and record["machine"]["cpu_count"]
    summary = pd.read_csv(run / "tables" / "04_summary.csv", index_col=0)
    assert "LLKD" in summary.index and len(summary) == 11 and (summary["seeds"] == 2).all()
    assert {f"04_{n}.png" for n in ("macro_f1", "data_efficiency", "per_class_f1")} <= {p.name for p in (run / "figures").iterdir()}


def test_default_study_injects_no_parameters(tmp_path):
    """`make reproduce` runs the committed notebooks as they are; an edited key is passed on."""
    from llkd_nb.cli import notebook_parameters

    root = REPO_NOTEBOOKS.parent
    study = StudyConfig()
    for name in NOTEBOOKS:
        notebook = REPO_NOTEBOOKS / f"{name}.ipynb"
        assert notebook_parameters(notebook, study, root / "runs" / "default", root / "runs/cache/teacher.sqlite") == {}
    changed = notebook_parameters(REPO_NOTEBOOKS / "04_baseline_comparison.ipynb", dataclasses.replace(study, seeds=[5]),
                                  tmp_path / "x", root / "runs/cache/teacher.sqlite")
    assert set(changed) == {"seeds", "run_dir"} and changed["seeds"] == [5]
    assert (REPO_NOTEBOOKS / changed["run_dir"]).resolve() == (tmp_path / "x").resolve()

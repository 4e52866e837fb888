"""`llkd-nb`: the whole study on a tiny config, and bad configs rejected before any work."""

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llkd_nb.study.cli import REPO_NOTEBOOKS, main, notebook_parameters, resolved_study_values
from llkd_nb.study.config import NOTEBOOKS, RunConfig, Study, last_runs

MAIN_JOB = [list(NOTEBOOKS)[n - 1] for n in RunConfig().notebooks]  # what a study runs by default (01-04)

TINY = {
    "name": "tiny", "pool_size": 30, "validation_size": 10, "test_size": 20, "max_words": 30,
    "max_steps": 4, "batch_size": 8, "max_length": 16, "num_evals": 2, "num_bins": 3, "seeds": [0, 1],
    "tune": False, "robustness": False, "a_a_seeds": 5, "bootstrap_replicates": 100, "progress": False,
}


def write(tmp_path, values) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize("values, message", [
    ({"pool_sise": 10}, r"unknown key\(s\)"),
    ({"teacher": "/nowhere/model.gguf"}, "teacher file or folder not found"),
])
def test_bad_config_is_rejected_before_any_work(tmp_path, capsys, values, message):
    runs = tmp_path / "runs"
    assert main(["run", str(write(tmp_path, values)), "--runs-dir", str(runs)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not runs.exists()


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "parameters file not found" in capsys.readouterr().err


def test_whole_study_end_to_end_on_a_tiny_config(tmp_path):
    config = {**TINY, "cache_path": str(tmp_path / "cache.sqlite")}
    assert main(["run", str(write(tmp_path, config)), "--runs-dir", str(tmp_path / "runs")]) == 0
    run = tmp_path / "runs" / "tiny"
    assert sorted(p.name for p in (run / "notebooks").glob("*.ipynb")) == [f"{n}.ipynb" for n in MAIN_JOB]
    assert (run / "teacher_labels.parquet").exists()
    assert yaml.safe_load((run / "config" / "study.yaml").read_text())["pool_size"] == 30
    assert last_runs(tmp_path / "runs") == dict.fromkeys(MAIN_JOB, "tiny")  # what the notebooks open by hand
    assert set(yaml.safe_load((run / "config" / "timings.yaml").read_text())) == {*MAIN_JOB, "total"}
    for name in MAIN_JOB:  # each notebook recorded its parameters, package versions and machine
        record = yaml.safe_load((run / "config" / f"{name}.json").read_text())
        assert record["packages"]["torch"] and record["machine"]["cpu_count"] and record["machine"]["cpu"]
    summary = pd.read_csv(run / "tables" / "04_summary.csv", index_col=0)
    assert "LLKD" in summary.index and len(summary) == 11 and (summary["seeds"] == 2).all()
    assert {"optimizer_steps", "gradient_samples", "training_forwards", "seconds"} <= set(summary.columns)
    verdicts = pd.read_csv(run / "tables" / "04_verdicts.csv", index_col=0)
    assert set(verdicts["LLKD is"]) <= {"better", "no detectable difference", "worse"} and len(verdicts) == 9
    figures = {p.name for p in (run / "figures").iterdir()}
    assert {f"04_{n}.png" for n in ("macro_f1", "paired_differences", "learning_curves", "per_class_f1")} <= figures


def test_a_run_passes_each_notebook_its_study_file_and_run_folder_relative_to_it(tmp_path):
    """An executed notebook names its study and run folder, and no path of the machine it ran on."""
    parameters = notebook_parameters(REPO_NOTEBOOKS / "04_baseline_comparison.ipynb", tmp_path / "x")
    assert set(parameters) == {"study_file", "run_dir"}
    assert not any(Path(value).is_absolute() for value in parameters.values())
    assert (REPO_NOTEBOOKS / parameters["run_dir"]).resolve() == (tmp_path / "x").resolve()
    assert (REPO_NOTEBOOKS / parameters["study_file"]).resolve() == (tmp_path / "x" / "config" / "study.yaml").resolve()


def test_the_run_study_file_holds_paths_the_notebooks_can_open(tmp_path, monkeypatch):
    """Paths in a study file are relative to where `llkd-nb run` runs; the notebooks run in notebooks/."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pool.csv").write_text("text\nan ad\n")
    study = Study.from_flat({"dataset": "pool.csv", "labels": ["a", "b"], "task": "t", "cache_path": "c.sqlite"})
    values = resolved_study_values(study)
    assert values["dataset"] == str(tmp_path / "pool.csv") and values["cache_path"] == str(tmp_path / "c.sqlite")
    assert resolved_study_values(Study())["dataset"] == "bbc_news"  # a registry name stays a name


@pytest.fixture(scope="module")
def practitioner_files(tmp_path_factory):
    """A practitioner's data: unlabeled texts, and a small labelled file whose labels are codes."""
    from llkd_nb.core.data import DataConfig, load_splits

    splits = load_splits(DataConfig(pool_size=30, validation_size=25, test_size=20))
    codes = {"business": "biz", "entertainment": "ent", "politics": "pol", "sports": "spo", "tech": "tec"}
    folder = tmp_path_factory.mktemp("practitioner")
    splits.pool[["text"]].rename(columns={"text": "body"}).to_csv(folder / "unlabeled.csv", index=False)
    held_out = pd.concat([splits.validation, splits.test])
    held_out.assign(body=held_out["text"], topic=held_out["label"].map(codes))[["body", "topic"]].to_json(
        folder / "labelled.jsonl", orient="records", lines=True)
    return folder


PRACTITIONER = {**TINY, "labels": ["biz", "ent", "pol", "spo", "tec"], "text_column": "body", "label_column": "topic",
                "verbalizers": ["business", "entertainment", "politics", "sports", "technology"],
                "task": "Classify the topic of the news article.", "validation_size": 10}


@pytest.mark.parametrize("with_eval", [True, False], ids=["pool plus labelled eval file", "no gold at all"])
def test_pool_only_study_with_verbalizers_runs_all_notebooks(tmp_path, practitioner_files, with_eval):
    config = {**PRACTITIONER, "name": "mine", "dataset": str(practitioner_files / "unlabeled.csv"),
              "cache_path": str(tmp_path / "cache.sqlite")}
    if with_eval:
        config["eval_dataset"] = str(practitioner_files / "labelled.jsonl")
    else:
        config["pool_size"] = 20  # the validation set comes out of the same 30 texts
    assert main(["run", str(write(tmp_path, config)), "--runs-dir", str(tmp_path / "runs")]) == 0
    run = tmp_path / "runs" / "mine"
    notebook_01 = (run / "notebooks" / "01_teacher_labeling.ipynb").read_text()
    assert "technology" in notebook_01 and "tec" in notebook_01  # the label -> verbalizer mapping is shown
    for name in MAIN_JOB:
        text = (run / "notebooks" / f"{name}.ipynb").read_text()
        assert '"output_type": "error"' not in text
    skipped = (run / "notebooks" / "02_confidence_analysis.ipynb").read_text()
    assert "skipped" in skipped.lower()  # every analysis needs gold on the pool
    verdicts = run / "tables" / "04_verdicts.csv"
    assert verdicts.exists() == with_eval  # the paired comparison needs a gold test set
    assert (run / "student" / "config.json").exists()


def test_site_renders_the_executed_notebooks_with_their_figures(tmp_path):
    notebooks = Path(__file__).parent / "notebooks"
    assert main(["site", str(notebooks), "--notes", str(REPO_NOTEBOOKS.parent / "README.md"), "--output", str(tmp_path)]) == 0
    index = (tmp_path / "index.html").read_text()
    pages = sorted(p.name for p in tmp_path.glob("0*.html"))
    assert pages == sorted(f"{p.stem}.html" for p in notebooks.glob("0*.ipynb"))
    assert all(page in index for page in pages) and f"{REPO_NOTEBOOKS.parent.name}_README.html" in index
    assert "data:image/png;base64" in (tmp_path / "04_baseline_comparison.html").read_text()  # figures embedded


def test_site_without_notebooks_is_a_clear_error(tmp_path, capsys):
    assert main(["site", str(tmp_path), "--output", str(tmp_path / "site")]) == 2
    assert "no notebooks" in capsys.readouterr().err


def test_check_says_ready_on_a_set_up_machine_and_names_what_is_wrong_elsewhere(tmp_path, monkeypatch, capsys):
    """`make check`, the workshop's smoke test: "ready" here (the teacher labels and the student reads a few
    texts); a missing package and a Jupyter kernel of another Python are each named with what to do."""
    from types import SimpleNamespace

    from jupyter_client.kernelspec import KernelSpecManager

    from llkd_nb.study import check

    assert main(["check", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("ready") and "PROBLEM" not in out
    assert "labelled 15 texts" in out and "the workshop track has not run yet" in out
    monkeypatch.setattr(check, "PACKAGES", (*check.PACKAGES, "no_such_package"))
    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec",
                        lambda self, name: SimpleNamespace(argv=["/elsewhere/bin/python", "-m", "ipykernel_launcher"],
                                                           resource_dir="/elsewhere/kernels/python3"))
    ready, report = check.check(tmp_path, {"packages": check.packages, "Jupyter kernel": check.jupyter_kernel})
    assert not ready and report.splitlines()[-1].startswith("not ready: 2 problems")
    assert "not installed: no_such_package" in report and "starts /elsewhere/bin/python" in report

"""One definition per parameter: the study file, the notebooks' parameters cells and the dataclasses agree."""

import dataclasses
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

from llkd_nb.core.params import default_of, study_fields
from llkd_nb.core.validation import ParameterError
from llkd_nb.teacher.artifacts import ARTIFACT_FILE
from llkd_nb.study.config import (
    CLI_KEYS, KEYS, NOTEBOOKS, RUNS_DIR, SECTIONS, SHOWN, Study, last_runs, load_study, notebook_keys, open_notebook,
    parameters_cell, record_last_run, study_yaml,
)

ROOT = Path(__file__).resolve().parents[1]


def parameters_source(notebook: str) -> str:
    cells = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4).cells
    return next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_parameters_cells_are_generated_from_the_dataclasses(notebook):
    assert parameters_source(notebook) == parameters_cell(notebook), "run `make params`"


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_a_parameters_cell_shows_a_few_keys_and_the_study_file_sets_the_rest(notebook):
    declared = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"))
    assert list(declared) == ["study_file", "run_dir", *SHOWN[notebook]]
    assert all(eval(declared[key]["default"]) is None for key in declared)  # noqa: S307 - our own generated literal
    assert set(SHOWN[notebook]) <= set(notebook_keys(notebook)) and 3 <= len(SHOWN[notebook]) <= 8
    for key in SHOWN[notebook]:  # None means "the study's value": no shown key may take None as a value itself
        assert default_of(KEYS[key][1]) is not None and "None" not in str(KEYS[key][1].type), key


def test_default_study_file_is_generated_and_is_the_default_study():
    assert (ROOT / "configs" / "default.yaml").read_text() == study_yaml(), "run `make params`"
    assert load_study(ROOT / "configs" / "default.yaml").flat() == Study().flat()


def test_every_study_key_reaches_a_notebook_or_the_cli():
    used = set(CLI_KEYS).union(*(notebook_keys(nb) for nb in NOTEBOOKS))
    assert set(KEYS) == used, f"accepted but never read: {sorted(set(KEYS) - used)}"


def test_each_key_is_defined_by_exactly_one_component():
    owners = {}
    for section, cls in SECTIONS.items():
        for f in study_fields(cls):
            owners.setdefault(f.name, []).append(section)
    assert all(len(v) == 1 for v in owners.values())
    assert set(owners) == set(KEYS)


@pytest.mark.parametrize("values, message", [
    ({"pool_sise": 10}, r"unknown key\(s\).*'pool_sise' \(did you mean 'pool_size'\?\)"),
    ({"lr": "fast"}, "lr must be float"),
    ({"seeds": 3}, "seeds must be list"),
    ({"calibration": "platt"}, "calibration must be one of"),
    ({"protocol": "half"}, "protocol must be one of"),
    ({"dataset": "missing.csv", "labels": ["a", "b"], "task": "t"}, "dataset file not found: missing.csv"),
    ({"student_momentum": 1.0}, r"student_momentum must lie in \[0.0, 1.0\)"),
    ({"notebooks": [9]}, "notebooks must list numbers among 1-5"),
    ({"seeds": [0, 1], "tuning_seeds": [1]}, "must not overlap"),
    ({"seeds": [0]}, r"seeds must hold at least 2 seeds"),
    ({"seeds": [0, 0, 1]}, "seeds must not repeat a seed"),
    ({"verbalizers": ["a", "a", "b", "c", "d"]}, "verbalizers must be unique"),
    ({"verbalizers": ["a", "b"]}, "5 labels but 2 verbalizers"),
])
def test_bad_values_name_the_key(values, message):
    with pytest.raises((ParameterError, ValueError), match=message):
        Study.from_flat(values)


@pytest.mark.parametrize("key, value", [
    ("momentum", 0.9), ("init", "prior"), ("teacher_level", "quantile"), ("weighting", "none"),
    ("model_selection", "last"), ("protocol", "masked_batches"), ("text_column", "body"), ("label_column", "topic"),
])
def test_keys_that_were_dead_reach_their_component(key, value):
    study = Study.from_flat({key: value})
    section = KEYS[key][0]
    assert getattr(getattr(study, section), key) == value
    assert study.flat()[key] == value


def cell_of(notebook: str, **values) -> dict:
    """A parameters cell's namespace as generated (every value None), with ``values`` set in it."""
    return {"study_file": None, "run_dir": None, **dict.fromkeys(SHOWN[notebook]), **values}


def labelled(*runs: Path) -> None:
    """Run folders where notebook 01 has (seemingly) run: notebooks 02-04 open only those."""
    for run in runs:
        run.mkdir(parents=True, exist_ok=True)
        (run / ARTIFACT_FILE).touch()


def test_a_notebook_that_reads_notebook_01s_labels_needs_them_in_its_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"holds no teacher artifact: notebook 03 reads notebook 01's labels\. "
                                                r"Run notebook 01 into that folder first \(papermill 01_teacher_labeling"):
        open_notebook(cell_of("03_llkd_training", run_dir=str(tmp_path / "new")), "03_llkd_training", runs_dir=tmp_path)
    assert not (tmp_path / "new").exists()  # nothing written before the error


def test_a_notebook_opens_its_study_file_then_the_keys_set_in_its_cell(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: mine\nmax_steps: 9\nweighting: mean\n")
    runs = tmp_path / "runs"
    labelled(runs / "mine", runs / "default")
    study, run = open_notebook(cell_of("04_baseline_comparison", study_file=str(mine), max_steps=7),
                               "04_baseline_comparison", runs_dir=runs)
    assert study.train.max_steps == 7 and study.llkd.weighting == "mean" and run == runs / "mine"
    record = yaml.safe_load((run / "config" / "04_baseline_comparison.json").read_text())
    assert record["parameters"]["max_steps"] == 7 and record["packages"]["torch"]
    with pytest.raises(ParameterError, match="max_steps must be int"):
        open_notebook(cell_of("04_baseline_comparison", max_steps="200"), "04_baseline_comparison", runs_dir=runs)
    with pytest.raises(ParameterError, match="study_file must be a path"):
        open_notebook(cell_of("04_baseline_comparison", study_file=3), "04_baseline_comparison", runs_dir=runs)
    with pytest.raises(ParameterError, match=r"missing from the parameters cell"):
        open_notebook({"run_dir": "x"}, "04_baseline_comparison", runs_dir=runs)


def test_a_notebook_opened_by_hand_finds_the_run_that_last_ran_it(tmp_path):
    """After `make workshop`, notebooks 01-04 open the workshop's study and run folder, with no edits."""
    runs = tmp_path / "runs"
    labelled(runs / "default", runs / "workshop")
    study, run = open_notebook(cell_of("03_llkd_training"), "03_llkd_training", runs_dir=runs)
    assert study == Study() and run == runs / "default"  # nothing run yet: the defaults
    (runs / "workshop" / "config").mkdir(parents=True)
    (runs / "workshop" / "config" / "study.yaml").write_text(yaml.safe_dump({"name": "workshop", "max_steps": 80}))
    for notebook in ("01_teacher_labeling", "03_llkd_training"):
        record_last_run(runs, notebook, "workshop")
    study, run = open_notebook(cell_of("03_llkd_training"), "03_llkd_training", runs_dir=runs)
    assert study.run.name == "workshop" and study.train.max_steps == 80 and run == runs / "workshop"
    study, _ = open_notebook(cell_of("03_llkd_training", max_steps=5), "03_llkd_training", runs_dir=runs)
    assert study.train.max_steps == 5  # a key set in the cell wins
    study, _ = open_notebook(cell_of("04_baseline_comparison"), "04_baseline_comparison", runs_dir=runs)
    assert study.run.name == "default"  # the workshop did not run it
    record_last_run(runs, "03_llkd_training", "exercise")
    assert last_runs(runs) == {"01_teacher_labeling": "workshop", "03_llkd_training": "exercise"}
    study, run = open_notebook(cell_of("04_baseline_comparison", run_dir=str(runs / "workshop")), "04_baseline_comparison",
                               runs_dir=runs)
    assert study.train.max_steps == 80 and run == runs / "workshop"  # a run folder given: its own study


def test_the_notebooks_and_the_solutions_look_for_runs_where_llkd_nb_run_writes_them():
    """The kernel runs in notebooks/ (and notebooks/solutions/); `llkd-nb run` writes runs/ at the root."""
    notebooks = ROOT / "notebooks"
    assert (notebooks / RUNS_DIR).resolve() == ROOT / "runs"
    assert (notebooks / "solutions" / "../../runs").resolve() == ROOT / "runs"
    for solutions in (notebooks / "solutions").glob("*.ipynb"):
        assert 'runs_dir="../../runs"' in "".join(c.source for c in nbformat.read(solutions, as_version=4).cells)


def test_study_round_trips_through_its_flat_form():
    study = Study.from_flat({"max_steps": 9, "seeds": [3, 4], "dataset": "yahoo_answers"})
    assert Study.from_flat(study.flat()) == study
    assert dataclasses.replace(study.train, max_steps=9) == study.train


@pytest.mark.parametrize("path", sorted((ROOT / "configs").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_a_valid_study(path):
    assert load_study(path).run.name == yaml.safe_load(path.read_text()).get("name", "default")


def test_a_study_file_extends_another_and_its_own_keys_win(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\nmax_steps: 80\nseeds: [0, 1, 2]\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.yaml").write_text("extends: ../base.yaml\nname: child\nmax_steps: 160\n")
    study = load_study(tmp_path / "sub" / "child.yaml")
    assert (study.run.name, study.train.max_steps, study.comparison.seeds) == ("child", 160, [0, 1, 2])
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\nname: loop\n")
    with pytest.raises(ParameterError, match="loop"):
        load_study(tmp_path / "loop.yaml")
    (tmp_path / "orphan.yaml").write_text("extends: missing.yaml\nname: orphan\n")
    with pytest.raises(FileNotFoundError, match="extended by"):
        load_study(tmp_path / "orphan.yaml")
    (tmp_path / "typo.yaml").write_text("extends: base.yaml\nname: typo\nmax_step: 3\n")
    with pytest.raises(ParameterError, match="did you mean 'max_steps'"):
        load_study(tmp_path / "typo.yaml")


def test_an_extending_study_needs_its_own_name_and_each_file_answers_for_its_keys(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\nmax_stepz: 80\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\n")
    with pytest.raises(ParameterError, match=r"unknown key\(s\) in .*base.yaml: 'max_stepz'"):
        load_study(tmp_path / "child.yaml")
    (tmp_path / "base.yaml").write_text("name: base\n")
    (tmp_path / "nameless.yaml").write_text("extends: base.yaml\nmax_steps: 9\n")
    with pytest.raises(ParameterError, match="give it a name of its own"):
        load_study(tmp_path / "nameless.yaml")


def test_gold_selection_on_a_file_without_gold_labels_fails_before_any_work(tmp_path):
    texts = tmp_path / "mine.csv"
    texts.write_text("text\nfirst text\nsecond text\n")
    values = {"dataset": str(texts), "labels": ["a", "b"], "task": "Sort the text.", "model_selection": "gold"}
    with pytest.raises(ParameterError, match="model_selection: gold needs gold labels .* no 'label' column"):
        Study.from_flat(values)
    texts.write_text("text,label\nfirst text,a\nsecond text,\n")
    with pytest.raises(ParameterError, match="1 rows without a label: give eval_dataset"):
        Study.from_flat(values)
    assert Study.from_flat({**values, "model_selection": "pseudo"}).train.model_selection == "pseudo"

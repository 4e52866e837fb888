"""The study: every parameter of the notebooks, composed from the components that own them.

One mechanism derives everything from the components' dataclass fields (:mod:`llkd_nb.core.params`):

- the flat study file (``configs/*.yaml``, read by :func:`load_study`, written by :func:`study_yaml`);
- each notebook's papermill ``parameters`` cell (:func:`parameters_cell`; ``make params`` rewrites
  them): the few keys a reader changes (:data:`SHOWN`), and the study file the rest come from;
- the study a notebook opens with (:func:`open_notebook`): the study file it is given, else the study
  ``llkd-nb run`` last ran it with (:data:`LAST_RUNS`), else the defaults; then the shown keys set in its cell;
- the resolved parameters recorded in every run folder.

A parameter is therefore defined once, with one default and one line of help.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..core.data import DataConfig, read_table
from ..core.params import default_of, param, study_fields, values_of
from ..core.validation import ParameterError, check_range, check_types
from ..experiments.analysis import AnalysisConfig
from ..experiments.compare import ComparisonConfig
from ..experiments.conditions import ConditionsConfig
from ..experiments.sweep import check_executor, make_executor, use_executor
from ..student.selection import STRATEGIES
from ..student.training import TrainConfig
from ..teacher.artifacts import ARTIFACT_FILE
from ..teacher.config import TeacherConfig

RUNS_DIR = "../runs"  # the run folders, as a notebook (run from notebooks/) finds them
LAST_RUNS = "last_runs.yaml"  # in the runs folder: the run folder `llkd-nb run` last ran each notebook in


@dataclass
class RunConfig:
    """The run itself: its name, which notebooks, progress bars, CPU threads.

    ``threads`` is a fixed number, not "every core": a run on a machine with more cores gives the same
    tables as one with fewer; ``workers`` trains that many runs at once (:mod:`llkd_nb.experiments.sweep`),
    with the same tables. The default, 2, is the core count of the machine the committed runs and CI
    use, where it is also torch's own default, so their numbers stay as they were; a study sets another
    count where a machine has cores to spare (its tables are then those of that count)."""

    name: str = param("default", "results go to runs/<name>/")
    notebooks: list = param([1, 2, 3, 4], "which notebooks to run, in order")
    progress: bool = param(True, "progress bars while running (committed notebooks keep none)")
    threads: int = param(2, "CPU threads of torch and the BLAS libraries in every notebook and every worker: "
                            "results are bit-identical only at the same count (and CPU kind)")
    workers: int | None = param(None, "training runs at once, each on `threads` threads (None: as many as this "
                                      "machine's cores hold, at least 1)")
    executor: str = param("processes", "who trains the runs: processes (this machine) or dask (a Dask cluster)")
    dask_address: str | None = param(None, "executor dask: the scheduler's address, e.g. tcp://host:8786 "
                                           "(None: a local Dask cluster of `workers` processes)")

    def __post_init__(self) -> None:
        check_types(self)
        if not self.name or "/" in self.name:
            raise ParameterError(f"name must be a non-empty folder name, got {self.name!r}")
        if not self.notebooks or any(n not in range(1, len(NOTEBOOKS) + 1) for n in self.notebooks):
            raise ParameterError(f"notebooks must list numbers among 1-{len(NOTEBOOKS)}, got {self.notebooks!r}")
        check_range("threads", self.threads, 1, None)
        if self.workers is not None:
            check_range("workers", self.workers, 1, None)
        check_executor(self.executor, self.dask_address)


# A strategy with study keys (LLKD's) is a section of its own, named after it: a new strategy's keys reach the
# study file, the notebooks and the run records from its class alone.
STRATEGY_SECTIONS: dict[str, type] = {name: cls for name, cls in STRATEGIES.items() if study_fields(cls)}
SECTIONS: dict[str, type] = {
    "run": RunConfig, "data": DataConfig, "teacher": TeacherConfig, "analysis": AnalysisConfig,
    "train": TrainConfig, **STRATEGY_SECTIONS, "comparison": ComparisonConfig, "conditions": ConditionsConfig,
}
CLI_KEYS = ("name", "notebooks")  # read by `llkd-nb run`, not by a notebook

RUN_KEYS = ["progress", "threads"]  # what every notebook reads of the run: its progress bars, its thread count
SWEEP_KEYS = RUN_KEYS + ["workers", "executor", "dask_address"]  # and a notebook that trains sweeps, who trains them

# Which parameters each notebook declares: whole sections (None) or some of their fields.
NOTEBOOKS: dict[str, dict[str, list[str] | None]] = {
    "01_teacher_labeling": {"run": RUN_KEYS, "data": None, "teacher": None},
    "02_confidence_analysis": {"run": RUN_KEYS, "analysis": None, "train": None},
    "03_llkd_training": {"run": SWEEP_KEYS, "train": None, "llkd": None, "comparison": ["tune", "tuning_seeds"]},
    "04_baseline_comparison": {"run": SWEEP_KEYS, "train": None, **dict.fromkeys(STRATEGY_SECTIONS), "comparison": None},
    "05_when_llkd_helps": {
        "run": SWEEP_KEYS, "data": None,
        "teacher": [f.name for f in study_fields(TeacherConfig) if f.name != "num_examples"],  # few_shot sets it
        "train": None, "llkd": None,  # its rows: LLKD and the simpler selections (conditions.CONDITION_IDS)
        "comparison": ["seeds", "tune", "tuning_seeds", "bootstrap_replicates"],
        "conditions": None,
    },
}


# The keys a reader of each notebook is most likely to change: its parameters cell shows them, each `None`
# for "the study's value" (so none of them may take None as a value of its own); every other key it reads
# (:func:`notebook_keys`) comes from the study file.
SHOWN: dict[str, list[str]] = {
    "01_teacher_labeling": ["dataset", "teacher", "max_words", "num_examples", "calibration"],
    "02_confidence_analysis": ["num_bins", "max_steps", "seed"],
    "03_llkd_training": ["max_steps", "weighting", "momentum", "teacher_level", "quantile", "seed", "tune"],
    "04_baseline_comparison": ["seeds", "max_steps", "protocol", "model_selection", "tune", "robustness"],
    "05_when_llkd_helps": ["dataset", "budgets", "proxy_sizes", "simulated_accuracies", "simulated_aurocs", "seeds",
                           "paper_regime_seeds"],
}


def _key_index() -> dict[str, tuple[str, dataclasses.Field]]:
    index: dict[str, tuple[str, dataclasses.Field]] = {}
    for section, cls in SECTIONS.items():
        for f in study_fields(cls):
            if f.name in index:
                raise TypeError(f"study key {f.name!r} is declared by both {index[f.name][0]} and {section}")
            index[f.name] = (section, f)
    return index


KEYS = _key_index()


def notebook_keys(notebook: str) -> list[str]:
    """The study keys ``notebook`` declares, in section order."""
    if notebook not in NOTEBOOKS:
        raise KeyError(f"unknown notebook {notebook!r}; notebooks: {list(NOTEBOOKS)}")
    keys = []
    for section, names in NOTEBOOKS[notebook].items():
        keys += [f.name for f in study_fields(SECTIONS[section]) if names is None or f.name in names]
    return keys


class _StudyMethods:
    """What a :class:`Study` does; its fields, one per section of :data:`SECTIONS`, are made from there."""

    @classmethod
    def from_flat(cls, values: dict, where: str = "parameters") -> "Study":
        """Split flat ``values`` by the component that owns each key; unknown keys, wrong types and
        bad values are reported with the key's name."""
        if not isinstance(values, dict):
            raise ParameterError(f"{where} must be a mapping of parameter names to values, got {type(values).__name__}")
        check_known(values, where)
        grouped: dict[str, dict] = {section: {} for section in SECTIONS}
        for key, value in values.items():
            grouped[KEYS[key][0]][key] = value
        study = cls(**{section: SECTIONS[section](**grouped[section]) for section in SECTIONS})
        study.check_gold_selection()
        return study

    def check_gold_selection(self) -> None:
        """``model_selection: gold`` reads the gold labels of the validation texts: a local file without them
        (and without a labelled ``eval_dataset``) is refused here, before any work, naming the key."""
        data = self.data
        if self.train.model_selection != "gold" or not data.is_local or data.eval_dataset is not None:
            return
        frame = read_table(data.dataset)
        if data.label_column not in frame or frame[data.label_column].isna().any():
            lacking = (f"no {data.label_column!r} column" if data.label_column not in frame
                       else f"{int(frame[data.label_column].isna().sum())} rows without a label")
            raise ParameterError(f"model_selection: gold needs gold labels on the validation texts, but {data.dataset} "
                                 f"has {lacking}: give eval_dataset (a labelled file) or use model_selection: pseudo")

    def flat(self) -> dict:
        """Every study key with its value."""
        out = {}
        for section in SECTIONS:
            out.update(values_of(getattr(self, section)))
        return out

    def values_for(self, notebook: str) -> dict:
        flat = self.flat()
        return {key: flat[key] for key in notebook_keys(notebook)}

    @property
    def strategies(self) -> tuple:
        """The strategies whose keys the study sets (LLKD's), as it sets them: what a comparison's rows are
        built on (:func:`llkd_nb.experiments.methods.comparison_methods`)."""
        return tuple(getattr(self, section) for section in STRATEGY_SECTIONS)


Study = dataclasses.make_dataclass(
    "Study", [(section, cls, field(default_factory=cls)) for section, cls in SECTIONS.items()],
    bases=(_StudyMethods,), namespace={"__doc__": "Every parameter, by section (:data:`SECTIONS`). Build it from a "
                                                  "flat mapping (:meth:`from_flat`).", "__module__": __name__})


def check_known(values: dict, where: str) -> None:
    """Raise for the keys of ``values`` that are no study key, with the nearest one as a hint."""
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        hints = {k: difflib.get_close_matches(k, KEYS, n=1) for k in unknown}
        shown = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise ParameterError(f"unknown key(s) in {where}: {shown}; `llkd-nb keys` lists them all")


def load_study(path: str | Path) -> Study:
    """Read and validate a YAML study file; every problem is reported before any work. A file may
    start from another: ``extends: workshop.yaml`` (a path relative to the file) takes that file's values,
    and its own keys replace them."""
    return Study.from_flat(study_values(Path(path)), str(path))


def study_values(path: Path, extended_by: tuple[Path, ...] = ()) -> dict:
    """The flat values of the study file ``path``, those of the file it ``extends`` first."""
    if not path.exists():
        raise FileNotFoundError(f"parameters file not found: {path}" +
                                (f" (extended by {extended_by[-1]})" if extended_by else ""))
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ParameterError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(values, dict):
        raise ParameterError(f"{path} must be a mapping of parameter names to values, got {type(values).__name__}")
    base = values.pop("extends", None)
    check_known(values, str(path))
    if base is None:
        return values
    if not isinstance(base, str):
        raise ParameterError(f"{path}: extends must be the path of another study file, got {base!r}")
    if "name" not in values:
        raise ParameterError(f"{path} extends {base}: give it a name of its own, or its runs would overwrite "
                             "those of the study it extends (runs/<name>/)")
    base_path = (path.parent / base).resolve()
    if base_path in (*extended_by, path.resolve()):
        raise ParameterError(f"{path}: extends {base} makes a loop of study files")
    return {**study_values(base_path, (*extended_by, path.resolve())), **values}


def last_runs(runs_dir: str | Path = RUNS_DIR) -> dict[str, str]:
    """The run folder (its name in ``runs_dir``) that ``llkd-nb run`` last ran each notebook in."""
    path = Path(runs_dir) / LAST_RUNS
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def record_last_run(runs_dir: Path, notebook: str, run_name: str) -> None:
    """Note ``run_name`` as the run folder ``notebook`` last ran in (what :func:`open_notebook` opens by
    default); written atomically, so an interrupted write leaves the old record."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    partial = runs_dir / f".{LAST_RUNS}.{os.getpid()}"
    partial.write_text(yaml.safe_dump({**last_runs(runs_dir), notebook: run_name}))
    os.replace(partial, runs_dir / LAST_RUNS)


def last_run_dir(notebook: str, runs_dir: str | Path = RUNS_DIR) -> Path | None:
    """The run folder ``llkd-nb run`` last ran ``notebook`` in, if it still holds its study file."""
    name = last_runs(runs_dir).get(notebook)
    return Path(runs_dir) / name if name and (Path(runs_dir) / name / "config" / "study.yaml").exists() else None


def run_of(notebook: str, run_dir: str | Path | None = None, runs_dir: str | Path = RUNS_DIR) -> Path:
    """``run_dir``, else the run folder ``llkd-nb run`` last ran ``notebook`` in: what a solutions notebook
    opens (after ``make workshop``, the workshop's run)."""
    run = Path(run_dir) if run_dir else last_run_dir(notebook, runs_dir)
    if run is None:
        raise FileNotFoundError(f"no run of {notebook} in {runs_dir}: run it first (`make workshop`), or set run_dir")
    print(f"Run folder: {run}")
    return run


def study_source(study_file: str | Path | None, run_dir: str | Path | None, notebook: str,
                 runs_dir: str | Path = RUNS_DIR) -> tuple[Path | None, str]:
    """The study file a notebook opens, and why: ``study_file``, else the study of the run folder ``run_dir``,
    else the study ``llkd-nb run`` last ran ``notebook`` with; ``None`` for the defaults."""
    if study_file:
        return Path(study_file), ""
    if run_dir and (Path(run_dir) / "config" / "study.yaml").exists():
        return Path(run_dir) / "config" / "study.yaml", " (the run folder's)"
    last = last_run_dir(notebook, runs_dir)
    if last:
        return last / "config" / "study.yaml", " (the last `llkd-nb run` of this notebook)"
    return None, "the defaults"


READS_ARTIFACT = ("02_confidence_analysis", "03_llkd_training", "04_baseline_comparison")  # notebook 01's labels


def open_notebook(namespace: dict, notebook: str, runs_dir: str | Path = RUNS_DIR) -> tuple[Study, Path]:
    """What a notebook's setup cell calls: the :class:`Study` its parameters cell (``namespace``, its
    ``globals()``) asks for, and the run folder, prepared, with the resolved parameters, package versions
    and machine recorded in ``config/<notebook>.json``.

    The study is the file ``study_file`` names, else the study of the run folder ``run_dir`` names, else
    the one ``llkd-nb run`` last ran this notebook with (after ``make workshop``, the workshop's), else the
    defaults; a shown key set to a value (not ``None``) replaces the study's. The run folder is ``run_dir``,
    else that run's folder (``runs/<the study's name>``). The notebook runs on the study's ``threads``, its sweeps on the study's executor."""
    from ..core.runinfo import prepare_run, use_threads

    missing = [key for key in ["study_file", "run_dir", *SHOWN[notebook]] if key not in namespace]
    if missing:
        raise ParameterError(f"{notebook}: parameter(s) {missing} missing from the parameters cell (`make params`)")
    for key in ("study_file", "run_dir"):
        if namespace[key] is not None and not isinstance(namespace[key], (str, Path)):
            raise ParameterError(f"{key} must be a path (or None), got {namespace[key]!r}")
    study_file, where = study_source(namespace["study_file"], namespace["run_dir"], notebook, runs_dir)
    values = study_values(study_file) if study_file else {}
    shown = {key: namespace[key] for key in SHOWN[notebook] if namespace[key] is not None}
    study = Study.from_flat({**values, **shown}, f"{notebook} parameters")
    run_dir = Path(namespace["run_dir"] or Path(runs_dir) / study.run.name)
    if notebook in READS_ARTIFACT and not (run_dir / ARTIFACT_FILE).exists():
        raise FileNotFoundError(
            f"{run_dir} holds no teacher artifact: notebook {notebook[:2]} reads notebook 01's labels. Run notebook 01 "
            f"into that folder first (papermill 01_teacher_labeling.ipynb {run_dir}/01.ipynb -p run_dir {run_dir}), or "
            "run the whole study with `llkd-nb run` (a run folder of its own: set `name`)")
    changed = f", with {', '.join(f'{key}={value!r}' for key, value in shown.items())}" if shown else ""
    print(f"Study: {study_file or ''}{where}{changed}. Run folder: {run_dir}")
    if shown and not namespace["run_dir"]:
        print("(Keys set in the parameters cell change this run folder's results: set run_dir to a folder of "
              "your own to keep the study's run as it is.)")
    use_threads(study.run.threads)  # before the record, which names the count in force
    use_executor(make_executor(study.run.executor, study.run.workers, study.run.threads, study.run.dask_address))
    return study, prepare_run(run_dir, notebook, study.values_for(notebook))


def recorded_study(run_dir: str | Path, notebook: str) -> Study:
    """The :class:`Study` that ``notebook`` ran with in ``run_dir``, from its record
    (``config/<notebook>.json``): what the solution notebooks start from."""
    record = Path(run_dir) / "config" / f"{notebook}.json"
    if not record.exists():
        raise FileNotFoundError(f"{record} not found: run notebook {notebook} in {run_dir} first")
    return Study.from_flat(json.loads(record.read_text())["parameters"], str(record))


def _help(key: str) -> str:
    return KEYS[key][1].metadata["help"]


def parameters_cell(notebook: str) -> str:
    """The source of ``notebook``'s papermill parameters cell, generated from the dataclasses: the study file,
    the run folder and the keys a reader changes (:data:`SHOWN`), each ``None`` (the study's value)."""
    lines = [
        "# Parameters (papermill -p NAME VALUE). None takes the study's value: from study_file, else from the",
        "# last `llkd-nb run` of this notebook, else the default. Every key: `llkd-nb keys`. Generated by `make params`.",
        "study_file = None  # a study file (YAML, relative to notebooks/) that sets every other key",
        "run_dir = None  # the run folder, relative to notebooks/ (None: ../runs/<the study's name>)",
    ]
    for key in SHOWN[notebook]:
        lines.append(f"{key} = None  # {_help(key)} (default {default_of(KEYS[key][1])!r})")
    return "\n".join(lines)


STUDY_FILE_HEADER = """\
# The whole study on the embedded offline default: `llkd-nb run configs/default.yaml` (or `make reproduce`).
# Copy this file, keep the keys you change, delete the rest (every key has this default). Every key is a
# parameter of the notebooks (`llkd-nb keys`); their parameters cells show the few a reader changes there.
# Unknown keys, wrong types and missing files are reported before any work starts.
# Generated from the library's dataclasses by `make params`."""


def study_yaml() -> str:
    """The default study as a commented YAML file (``configs/default.yaml``)."""
    lines = [STUDY_FILE_HEADER]
    for section, cls in SECTIONS.items():
        users = [nb[:2] for nb, sections in NOTEBOOKS.items() if section in sections]
        where = f"notebook {', '.join(users)}" if users else "llkd-nb run"
        lines.append(f"\n# {section} ({cls.__module__}.{cls.__name__}; {where})")
        for f in study_fields(cls):
            default = default_of(f)
            value = json.dumps(default) if isinstance(default, list) else yaml.safe_dump(default).split("\n")[0]
            lines.append(f"{f.name}: {value}  # {_help(f.name)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def write_parameters(notebooks_dir: str | Path, study_file: str | Path) -> list[Path]:
    """Rewrite every notebook's parameters cell (outputs untouched) and the default study file from
    the dataclasses; returns the files that changed."""
    import nbformat

    changed = []
    for notebook in NOTEBOOKS:
        path = Path(notebooks_dir) / f"{notebook}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        if cell.source != parameters_cell(notebook):
            cell.source = parameters_cell(notebook)
            nbformat.write(nb, path)
            changed.append(path)
    study_file = Path(study_file)
    if not study_file.exists() or study_file.read_text() != study_yaml():
        study_file.write_text(study_yaml())
        changed.append(study_file)
    return changed

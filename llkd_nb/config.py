"""The study's parameters file: one flat YAML whose keys are the notebooks' parameters.

Every key has the same name, default and meaning as in the notebooks' ``parameters`` cells (a test
keeps them in sync). :func:`load_study` checks names, types, ranges and files before any work starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from .assets import OFFLINE_STUDENT, OFFLINE_TEACHER
from .data import get_spec
from .labeling import LabelingConfig
from .selection import make_strategy
from .training import TrainConfig
from .validation import ParameterError, check_range, check_types, from_dict

NOTEBOOKS = ("01_teacher_labeling", "02_confidence_analysis", "03_llkd_training", "04_baseline_comparison")
LOCAL_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")


@dataclass
class StudyConfig:
    """All parameters of a study (notebooks 01-04), with the notebooks' defaults."""

    name: str = "default"  # results go to <runs_dir>/<name>/
    notebooks: list = field(default_factory=lambda: [1, 2, 3, 4])
    # data and teacher (01)
    dataset: str = "bbc_news"
    labels: list | None = None
    task: str | None = None
    teacher: str = OFFLINE_TEACHER
    teacher_revision: str | None = None
    max_words: int = 120
    num_examples: int = 0
    calibration: Literal["none", "batch", "contextual"] = "batch"
    pool_size: int | None = 600
    validation_size: int = 100
    test_size: int | None = None
    teacher_batch_size: int = 8
    cache_path: str = "runs/cache/teacher.sqlite"
    # analysis (02)
    num_bins: int = 5
    # student training (02-04)
    student: str = OFFLINE_STUDENT
    max_steps: int = 60
    batch_size: int = 16
    max_length: int = 32
    lr: float = 3e-4
    seed: int = 0
    # LLKD (03)
    momentum: float = 0.99
    student_momentum: float | None = 0.5
    init: Literal["first_batch", "prior"] = "first_batch"
    teacher_level: Literal["ema", "kept_ema", "quantile"] = "ema"
    weighting: Literal["product", "mean", "none"] = "product"
    min_kept_per_step: int = 1
    model_selection: Literal["pseudo", "gold", "last"] = "pseudo"
    study_variants: bool = True
    # comparison (04)
    seeds: list = field(default_factory=lambda: [0, 1, 2])
    llkd_variant: Literal["from_03", "default"] = "from_03"
    progress: bool = True

    def __post_init__(self) -> None:
        check_types(self)
        if not self.name or "/" in self.name:
            raise ParameterError(f"name must be a non-empty folder name, got {self.name!r}")
        bad = [n for n in self.notebooks if n not in (1, 2, 3, 4)]
        if bad or not self.notebooks:
            raise ParameterError(f"notebooks must list numbers among 1-4, got {self.notebooks!r}")
        if not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in self.seeds):
            raise ParameterError(f"seeds must be a non-empty list of integers, got {self.seeds!r}")
        check_range("num_bins", self.num_bins, 2, None)
        labeling = self.labeling_config()
        if Path(self.dataset).suffix.lower() in LOCAL_SUFFIXES:
            if not Path(self.dataset).exists():
                raise ParameterError(f"dataset file not found: {self.dataset}")
            labeling.spec()
        else:
            get_spec(self.dataset)
        for model, what in ((self.teacher, "teacher"), (self.student, "student")):
            if model.endswith(".gguf") or model.startswith((".", "/")):
                if not Path(model).exists():
                    raise ParameterError(f"{what} file or folder not found: {model}")
        self.train_config()
        make_strategy("llkd", **self.llkd_params())

    def labeling_config(self) -> LabelingConfig:
        names = {f.name for f in dataclasses.fields(LabelingConfig)}
        return LabelingConfig(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})

    def train_config(self) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})

    def llkd_params(self) -> dict:
        return {"momentum": self.momentum, "student_momentum": self.student_momentum, "init": self.init,
                "teacher_level": self.teacher_level, "weighting": self.weighting}


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a YAML parameters file; every problem is reported before any work."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"parameters file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ParameterError(f"{path} is not valid YAML: {error}") from error
    return from_dict(StudyConfig, values, str(path))

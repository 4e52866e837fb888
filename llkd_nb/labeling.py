"""Notebook 01's pipeline: split the data, prompt the teacher, score every text, build the artifact."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .artifacts import SPLITS, TeacherArtifact, build_artifact
from .assets import OFFLINE_TEACHER
from .cache import TeacherCache
from .calibration import CONTENT_FREE_TEXTS, softmax
from .data import DatasetSpec, Splits, get_spec, load_dataset_frame, local_spec, split_dataset
from .prompts import Prompt, build_prompt
from .teacher import Teacher
from .validation import check_range, check_types

ARTIFACT_NAME = "teacher_labels.parquet"


@dataclass
class LabelingConfig:
    """Parameters of notebook 01 (see its parameters cell)."""

    dataset: str = "bbc_news"
    labels: list | None = None  # local files only: the label set
    task: str | None = None  # local files only: the instruction
    text_column: str = "text"
    label_column: str = "label"
    teacher: str = OFFLINE_TEACHER
    teacher_revision: str | None = None
    max_words: int = 120
    num_examples: int = 0
    calibration: Literal["none", "batch", "contextual"] = "batch"
    pool_size: int | None = 600
    validation_size: int = 100
    test_size: int | None = None
    seed: int = 0
    teacher_batch_size: int = 8
    cache_path: str = "cache/teacher.sqlite"

    def __post_init__(self) -> None:
        check_types(self)
        check_range("max_words", self.max_words, 1, None)
        check_range("num_examples", self.num_examples, 0, None)
        check_range("teacher_batch_size", self.teacher_batch_size, 1, None)

    def spec(self) -> DatasetSpec:
        if Path(self.dataset).suffix.lower() in (".csv", ".jsonl", ".ndjson", ".parquet"):
            if not self.labels or not self.task:
                raise ValueError("a local dataset file needs `labels` (the label set) and `task` (the instruction)")
            return local_spec(self.dataset, self.labels, self.task, text_column=self.text_column, label_column=self.label_column)
        return get_spec(self.dataset)


def in_context_examples(validation: pd.DataFrame, spec: DatasetSpec, count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` labelled examples from the validation set, cycling through the classes."""
    if count == 0:
        return []
    shuffled = validation.sample(frac=1.0, random_state=seed)
    by_class = [group for _, group in shuffled.groupby("label", sort=True)]
    picked = [by_class[i % len(by_class)].iloc[i // len(by_class)] for i in range(count)]
    return [(row["text"], spec.verbalizers[spec.label_index(row["label"])]) for row in picked]


@dataclass
class LabelingRun:
    """What labeling produced: the artifact, and how many texts the teacher scored in this run."""

    artifact: TeacherArtifact
    newly_scored: int  # the rest came from the cache


def prepare(config: LabelingConfig) -> tuple[DatasetSpec, Splits, Teacher, Prompt]:
    """Data, split, teacher and prompt: everything before any text is scored."""
    spec = config.spec()
    splits = split_dataset(load_dataset_frame(spec), seed=config.seed, validation_size=config.validation_size,
                           pool_size=config.pool_size, test_size=config.test_size)
    teacher = Teacher.load(config.teacher, revision=config.teacher_revision)
    examples = in_context_examples(splits.validation, spec, config.num_examples, config.seed)
    prompt = build_prompt(teacher.tokenizer, spec.task, spec.verbalizers, config.max_words, examples)
    return spec, splits, teacher, prompt


def label_all(config: LabelingConfig, spec: DatasetSpec, splits: Splits, teacher: Teacher, prompt: Prompt,
              progress: bool = True) -> LabelingRun:
    """Score pool, validation and test (through the cache) and assemble the artifact."""
    scorer = teacher.scorer(prompt, spec.verbalizers)
    cache = TeacherCache(config.cache_path)
    cached_before = len(cache)
    try:
        frames = splits.frames()
        texts = [t for name in SPLITS for t in frames[name]["text"]]
        logprobs = scorer.logprobs(texts, cache=cache, batch_size=config.teacher_batch_size, progress=progress)
        content_free = softmax(scorer.logprobs(list(CONTENT_FREE_TEXTS), cache=cache, progress=False)).mean(axis=0)
        newly_scored = len(cache) - cached_before
    finally:
        cache.close()
    bounds = np.cumsum([0] + [len(frames[name]) for name in SPLITS])
    raw = {name: softmax(logprobs[bounds[i]: bounds[i + 1]]) for i, name in enumerate(SPLITS)}
    artifact = build_artifact(frames, raw, list(spec.labels), config.calibration, content_free, meta={
        "dataset": config.dataset, "verbalizers": list(spec.verbalizers), "teacher": teacher.name,
        "teacher_fingerprint": teacher.fingerprint, "prompt": asdict(prompt), "config": asdict(config),
    })
    return LabelingRun(artifact=artifact, newly_scored=newly_scored)

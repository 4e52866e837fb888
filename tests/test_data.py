import pandas as pd
import pytest

from llkd_nb.data import (
    DataConfig, DataError, DatasetSpec, REGISTRY, deduplicate, get_spec, load_dataset_frame, load_splits, normalise_frame,
    normalised_words, split_dataset,
)


@pytest.fixture(scope="module")
def bbc():
    return load_dataset_frame(get_spec("bbc_news"))


def test_bbc_news_loads_all_articles(bbc):
    assert len(bbc) == 2225
    assert bbc["label"].value_counts().to_dict() == {"sports": 511, "business": 510, "politics": 417, "tech": 401, "entertainment": 386}
    assert bbc["id"].is_unique and bbc["text"].str.len().min() > 0


def test_split_is_seeded_stratified_and_disjoint(bbc):
    a, b = split_dataset(bbc, seed=3, pool_size=200), split_dataset(bbc, seed=3, pool_size=200)
    for name in ("pool", "validation", "test"):
        assert a.frames()[name]["id"].tolist() == b.frames()[name]["id"].tolist()
    ids = [set(f["id"]) for f in a.frames().values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert a.sizes == {"pool": 200, "validation": 100, "test": 445}
    share = a.pool["label"].value_counts(normalize=True)
    overall = bbc["label"].value_counts(normalize=True)
    assert (share - overall).abs().max() < 0.02
    other = split_dataset(bbc, seed=4, pool_size=200)
    assert other.pool["id"].tolist() != a.pool["id"].tolist()


def test_test_set_does_not_depend_on_pool_size(bbc):
    small, large = split_dataset(bbc, seed=0, pool_size=50), split_dataset(bbc, seed=0, pool_size=500)
    assert small.test["id"].tolist() == large.test["id"].tolist()


@pytest.mark.parametrize("kwargs, message", [
    ({"pool_size": "100"}, "pool_size must be a positive integer"),
    ({"validation_size": 0}, "validation_size must be a positive integer"),
    ({"validation_size": 3}, "smaller than the number of classes"),
    ({"test_fraction": 1.5}, "test_fraction"),
])
def test_split_rejects_bad_parameters(bbc, kwargs, message):
    with pytest.raises(DataError, match=message):
        split_dataset(bbc, **kwargs)


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(DataError, match="unknown dataset 'bbc'.*bbc_news"):
        get_spec("bbc")


SPEC = DatasetSpec(name="x.csv", task="Classify the sentiment.", labels=("pos", "neg"), verbalizers=("pos", "neg"))


def test_missing_column_is_named():
    with pytest.raises(DataError, match="missing text column"):
        normalise_frame(pd.DataFrame({"body": ["a"], "label": ["pos"]}), SPEC)
    with pytest.raises(DataError, match="missing label column 'label'"):
        normalise_frame(pd.DataFrame({"text": ["a"]}), SPEC)


def test_empty_text_names_the_row():
    with pytest.raises(DataError, match=r"empty or whitespace-only text in row\(s\) \[1\]"):
        normalise_frame(pd.DataFrame({"text": ["fine", "   "], "label": ["pos", "neg"]}), SPEC)


def test_unknown_label_names_the_row_and_value():
    with pytest.raises(DataError, match=r"outside the label set.*2: 'meh'"):
        normalise_frame(pd.DataFrame({"text": ["a", "b", "c"], "label": ["pos", "NEG", "meh"]}), SPEC)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_local_files_round_trip(tmp_path, suffix):
    frame = pd.DataFrame({"review": [f"text {i}" for i in range(6)], "stars": ["pos", "neg"] * 3})
    path = tmp_path / f"data{suffix}"
    {".csv": lambda: frame.to_csv(path, index=False), ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
     ".parquet": lambda: frame.to_parquet(path)}[suffix]()
    config = DataConfig(dataset=str(path), labels=["pos", "neg"], task="Classify the sentiment.",
                        text_column="review", label_column="stars")
    loaded = load_dataset_frame(config.spec(), "local", path)
    assert loaded["text"].tolist() == frame["review"].tolist()
    assert loaded["label"].tolist() == frame["stars"].tolist()


def test_local_file_needs_labels_and_task(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="needs `labels`"):
        DataConfig(dataset=str(path))


def test_duplicates_are_removed_before_the_split(bbc):
    """BBC News repeats about a hundred articles; after de-duplication no text is in two splits."""
    splits = load_splits(DataConfig(pool_size=None))
    assert splits.duplicates.exact >= 90 and splits.duplicates.near > 0
    assert sum(splits.sizes.values()) == len(bbc) - splits.duplicates.total
    texts = {name: set(frame["text"]) for name, frame in splits.frames().items()}
    assert not (texts["pool"] & texts["validation"] or texts["pool"] & texts["test"] or texts["validation"] & texts["test"])
    openings = {name: {" ".join(normalised_words(t)[:30]) for t in frame["text"]} for name, frame in splits.frames().items()}
    assert not (openings["pool"] & openings["test"] or openings["validation"] & openings["test"])


def test_deduplicate_counts_exact_and_near_copies():
    frame = pd.DataFrame({"id": list("abcde"), "text": ["Hello world.", "Hello  world.", "hello, WORLD", "other", "Other!"]})
    kept, report = deduplicate(frame)
    assert kept["id"].tolist() == ["a", "d"] and (report.exact, report.near) == (1, 2)


def test_yahoo_answers_offline_form():
    config = DataConfig(dataset="yahoo_answers", pool_size=100, validation_size=20, test_size=50)
    assert config.resolved_source() == "offline" and DataConfig(dataset="yahoo_answers", source="hub").resolved_source() == "hub"
    splits = load_splits(config)
    assert splits.sizes == {"pool": 100, "validation": 20, "test": 50}
    assert set(splits.pool["label"]) <= set(get_spec("yahoo_answers").labels) and splits.pool["label"].nunique() == 10
    assert not splits.pool["text"].str.contains("\\n", regex=False).any()


def test_pool_only_file_with_a_labelled_eval_file(tmp_path):
    """A practitioner's case: an unlabeled file for the pool, a small labelled file for validation and test."""
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"body": [f"unlabeled text number {i}" for i in range(30)]}).to_csv(pool, index=False)
    held_out = tmp_path / "eval.jsonl"
    pd.DataFrame({"body": [f"labelled text {i}" for i in range(12)] + ["unlabeled text number 3"],
                  "tag": ["forsale", "wanted"] * 6 + ["wanted"]}).to_json(held_out, orient="records", lines=True)
    config = DataConfig(dataset=str(pool), eval_dataset=str(held_out), labels=["forsale", "wanted"],
                        verbalizers=["sale", "request"], task="Is the ad offering or asking?", text_column="body",
                        label_column="tag", validation_size=4, pool_size=None)
    assert config.spec().verbalizers == ("sale", "request")
    splits = load_splits(config)
    assert splits.sizes == {"pool": 29, "validation": 4, "test": 9}  # the pool copy of an eval text is dropped
    assert splits.pool["label"].isna().all() and splits.test["label"].notna().all()


def test_pool_only_file_without_gold_has_no_test_set(tmp_path):
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"text": [f"text {i} here" for i in range(20)]}).to_csv(pool, index=False)
    splits = load_splits(DataConfig(dataset=str(pool), labels=["a", "b"], task="t", validation_size=5, pool_size=None))
    assert splits.sizes == {"pool": 15, "validation": 5, "test": 0}


def test_partly_labelled_file_is_a_clear_error(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a b", "c d"], "label": ["pos", None]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"1 row\(s\) without a label"):
        load_splits(DataConfig(dataset=str(path), labels=["pos", "neg"], task="t", validation_size=1))


# The paper's datasets come from the hub, which is unreachable here: their loading code runs on small
# in-memory datasets with the same columns and label encodings.
HUB_ROWS = {
    "pubmed_rct20k": {"abstract_id": ["1", "1"], "label": ["BACKGROUND", "results"], "text": ["We studied x.", "It worked."], "sentence_id": [0, 1]},
    "yahoo_answers": {"id": [0, 1], "topic": [0, 9], "question_title": ["Why?", "Vote?"], "question_content": ["", "who"], "best_answer": ["because", "nobody"]},
    "emotion": {"text": ["i am sad", "so happy"], "label": [0, 1]},
    "arxiv10": {"title": ["Black holes", "Graphs"], "abstract": ["We observe.", "We prove."], "label": ["astro-ph", "math"]},
    "bios_bias": {"hard_text": ["She teaches yoga.", "He writes code."], "profession": [27, 24], "gender": [1, 0]},
}


@pytest.mark.parametrize("name", sorted(HUB_ROWS))
def test_hub_loaders_on_local_data_in_the_hub_format(monkeypatch, name):
    import datasets

    spec = REGISTRY[name]
    calls = []

    def fake_load_dataset(hub_id, split):
        calls.append((hub_id, split))
        return datasets.Dataset.from_dict(HUB_ROWS[name])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    frame = load_dataset_frame(spec, "hub")
    assert [c[0] for c in calls] == [spec.hub_id] * len(spec.hub_splits)
    assert len(frame) == 2 * len(spec.hub_splits)
    assert set(frame["label"]) <= set(spec.labels)
    expected_first = {"pubmed_rct20k": "background", "yahoo_answers": "Society & Culture", "emotion": "sadness",
                      "arxiv10": "astro-ph", "bios_bias": "yoga_teacher"}[name]
    assert frame["label"].iloc[0] == expected_first

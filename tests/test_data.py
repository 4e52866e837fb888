import pandas as pd
import pytest

from llkd_nb.core.data import (
    DataConfig, DataError, DatasetSpec, REGISTRY, deduplicate, get_spec, load_dataset_frame, load_splits,
    normalise_frame, normalised_words, split_dataset,
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


@pytest.mark.parametrize("name", sorted(name for name, spec in REGISTRY.items() if spec.offline))
def test_every_offline_dataset_reads_its_labels_from_its_wheel(name):
    from llkd_nb.core.data import OFFLINE_READERS

    spec = get_spec(name)
    frame = OFFLINE_READERS[name]()
    assert {"id", "text", "label"} <= set(frame.columns) and frame["id"].is_unique
    assert set(frame["label"]) == set(spec.labels)  # every class present, none outside the registry's


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


def _pool_and_eval(tmp_path, eval_labels):
    pool, held_out = tmp_path / "pool.csv", tmp_path / "eval.jsonl"
    pd.DataFrame({"text": [f"unlabeled text number {i}" for i in range(30)]}).to_csv(pool, index=False)
    pd.DataFrame({"text": [f"labelled text {i}" for i in range(len(eval_labels))], "label": eval_labels}).to_json(
        held_out, orient="records", lines=True)
    return pool, held_out


def test_a_bad_label_in_the_eval_file_is_reported_in_the_eval_files_name(tmp_path):
    pool, held_out = _pool_and_eval(tmp_path, ["a", "b", "a", "maybe", "b", "a"])
    with pytest.raises(DataError, match=r"eval\.jsonl: label\(s\) outside the label set \['a', 'b'\] in row\(s\) \{3: 'maybe'\}") as error:
        load_splits(DataConfig(dataset=str(pool), eval_dataset=str(held_out), labels=["a", "b"], task="t",
                               validation_size=2))
    assert "pool.csv" not in str(error.value)


@pytest.mark.parametrize("sizes, message", [
    ({"validation_size": 6}, r"validation_size 6 leaves no test texts: eval_dataset .*eval\.jsonl has 6 labelled texts"),
    ({"validation_size": 9}, r"validation_size 9 leaves no test texts: eval_dataset .*has 6 labelled texts"),
    ({"validation_size": 2, "test_size": 5}, r"test_size 5 asks for more texts than there are: 4 available in .*eval\.jsonl"),
    ({"validation_size": 2, "pool_size": 31}, r"pool_size 31 asks for more texts than there are: 30 available in .*pool\.csv"),
])
def test_sizes_that_cannot_be_met_fail_with_both_numbers(tmp_path, sizes, message):
    pool, held_out = _pool_and_eval(tmp_path, ["a", "b"] * 3)
    with pytest.raises(DataError, match=message):
        load_splits(DataConfig(dataset=str(pool), eval_dataset=str(held_out), labels=["a", "b"], task="t", **sizes))


def test_a_registry_split_too_small_for_the_asked_sizes_is_an_error():
    with pytest.raises(DataError, match=r"test_size 5000 asks for more texts than there are: \d+ available in the 20% test split"):
        load_splits(DataConfig(test_size=5000))


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


def hub_dataset(name: str, split: str):
    """The split's own rows (the split name in every text), with the hub's ClassLabel features."""
    import datasets

    rows = {column: list(values) for column, values in HUB_ROWS[name].items()}
    spec = REGISTRY[name]
    rows[spec.text_fields[0]] = [f"{split}: {text}" for text in rows[spec.text_fields[0]]]
    features = datasets.Dataset.from_dict(rows).features.copy()
    if isinstance(rows[spec.label_field][0], int):
        features[spec.label_field] = datasets.ClassLabel(names=list(spec.labels))
    return datasets.Dataset.from_dict(rows, features=features)


@pytest.mark.parametrize("name", sorted(HUB_ROWS))
def test_hub_loaders_on_local_data_in_the_hub_format(monkeypatch, name):
    import datasets

    spec = REGISTRY[name]
    calls = []

    def fake_load_dataset(hub_id, config=None, split=None, revision=None):
        calls.append((hub_id, config, split, revision))
        return hub_dataset(name, split)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr("llkd_nb.core.data.hub_commit", lambda hub_id, revision=None: "c0ffee")
    frame = load_dataset_frame(spec, "hub", revision="v1.0")
    assert calls == [(spec.hub_id, spec.hub_config, split, "c0ffee") for split in spec.hub_splits]
    assert frame.attrs["revision"] == "c0ffee"
    assert len(frame) == 2 * len(spec.hub_splits)
    for split in spec.hub_splits:  # each split's own rows, under its own ids
        part = frame[frame["id"].str.startswith(f"{split}/")]
        assert len(part) == 2 and part["text"].str.startswith(f"{split}: ").all()
    assert set(frame["label"]) <= set(spec.labels)
    expected_first = {"pubmed_rct20k": "background", "yahoo_answers": "Society & Culture", "emotion": "sadness",
                      "arxiv10": "astro-ph", "bios_bias": "yoga_teacher"}[name]
    assert frame["label"].iloc[0] == expected_first


def test_emotion_asks_for_its_split_configuration():
    assert REGISTRY["emotion"].hub_config == "split"  # dair-ai/emotion has "split" and "unsplit"


def test_yahoo_hub_texts_lose_their_literal_newline_escapes(monkeypatch):
    import datasets

    rows = {**HUB_ROWS["yahoo_answers"], "best_answer": ["first line\\nsecond line", "nobody"]}
    monkeypatch.setattr(datasets, "load_dataset", lambda hub_id, config=None, split=None, revision=None: datasets.Dataset.from_dict(rows))
    monkeypatch.setattr("llkd_nb.core.data.hub_commit", lambda hub_id, revision=None: None)
    frame = load_dataset_frame(REGISTRY["yahoo_answers"], "hub", revision="main")
    assert not frame["text"].str.contains("\\n", regex=False).any()
    assert "first line second line" in frame["text"].iloc[0]


def test_class_label_names_in_another_order_are_an_error(monkeypatch):
    import datasets

    swapped = ["joy", "sadness", "love", "anger", "fear", "surprise"]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=swapped)})
    dataset = datasets.Dataset.from_dict(HUB_ROWS["emotion"], features=features)
    monkeypatch.setattr(datasets, "load_dataset", lambda hub_id, config=None, split=None, revision=None: dataset)
    monkeypatch.setattr("llkd_nb.core.data.hub_commit", lambda hub_id, revision=None: None)
    with pytest.raises(DataError, match=r"emotion: the hub's label names .* differ from the registry's"):
        load_dataset_frame(REGISTRY["emotion"], "hub", revision="main")


def test_an_unpinned_hub_dataset_is_read_at_its_newest_commit_which_the_split_records(monkeypatch):
    """Without dataset_revision the loader asks the hub which commit is newest, reads exactly that
    commit (every split the same one), and the split keeps it for the artifact."""
    import datasets
    import huggingface_hub

    revisions = []

    def fake_load_dataset(hub_id, config=None, split=None, revision=None):
        revisions.append(revision)
        return hub_dataset("emotion", split)

    class FakeApi:
        def dataset_info(self, hub_id, revision=None):
            assert hub_id == "dair-ai/emotion"
            if revision == "offline":
                raise ConnectionError("no network")
            return type("Info", (), {"sha": {None: "abc123", "v1.0": "def456"}[revision]})()

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    frame = load_dataset_frame(REGISTRY["emotion"], "hub")
    assert revisions == ["abc123"] * 3 and frame.attrs["revision"] == "abc123"
    revisions.clear()  # a tag is read, and recorded, as the commit it names
    assert load_dataset_frame(REGISTRY["emotion"], "hub", revision="v1.0").attrs["revision"] == "def456"
    assert revisions == ["def456"] * 3
    revisions.clear()  # without the hub, the datasets cache answers: nothing is recorded as read
    assert load_dataset_frame(REGISTRY["emotion"], "hub", revision="offline").attrs["revision"] is None
    assert revisions == ["offline"] * 3
    assert load_dataset_frame(get_spec("bbc_news"), "offline").attrs["revision"] is None

"""The teacher cache: no duplicate work, resume after an interruption, clear error on a corrupt file."""

import numpy as np
import pytest

from llkd_nb.teacher.cache import CacheError, TeacherCache
from llkd_nb.teacher.prompts import build_prompt

LABELS = ["business", "entertainment", "politics", "sports", "technology"]
TEXTS = [f"Article number {i} about {topic}." for i, topic in
         enumerate(["markets", "films", "elections", "football", "phones", "banks", "music", "tennis", "chips", "taxes"])]


@pytest.fixture(scope="module")
def scorer(teacher):
    return teacher.scorer(build_prompt(teacher.tokenizer, "Classify the topic.", LABELS, max_words=30), LABELS)


class CountingScorer:
    """Wraps the batched scorer: counts texts scored, optionally fails on the n-th batch."""

    def __init__(self, inner, fail_on_batch=None):
        self.inner, self.fail_on_batch, self.batches, self.texts = inner, fail_on_batch, 0, 0

    def __call__(self, middles):
        self.batches += 1
        if self.batches == self.fail_on_batch:
            raise KeyboardInterrupt("simulated kill")
        self.texts += len(middles)
        return self.inner(middles)


def test_cache_round_trip_and_persistence(tmp_path):
    cache = TeacherCache(tmp_path / "c.sqlite")
    cache.put_many({"a": np.array([0.1, -2.0]), "b": np.array([1.0, 2.0])})
    cache.close()
    again = TeacherCache(tmp_path / "c.sqlite")
    assert len(again) == 2 and np.allclose(again.get_many(["a", "zzz"])["a"], [0.1, -2.0])


def test_second_run_scores_nothing(tmp_path, scorer, monkeypatch):
    cache = TeacherCache(tmp_path / "c.sqlite")
    first = scorer.logprobs(TEXTS, cache=cache, batch_size=4, progress=False)
    counting = CountingScorer(scorer._scorer)
    monkeypatch.setattr(scorer, "_scorer", counting)
    second = scorer.logprobs(TEXTS + TEXTS[:3], cache=cache, batch_size=4, progress=False)
    assert counting.texts == 0
    assert np.array_equal(second[: len(TEXTS)], first) and np.array_equal(second[len(TEXTS):], first[:3])


def test_interrupted_run_resumes_without_recomputing(tmp_path, scorer, monkeypatch):
    reference = scorer.logprobs(TEXTS, batch_size=4, progress=False)
    cache = TeacherCache(tmp_path / "c.sqlite")
    original = scorer._scorer
    monkeypatch.setattr(scorer, "_scorer", CountingScorer(original, fail_on_batch=2))
    with pytest.raises(KeyboardInterrupt):
        scorer.logprobs(TEXTS, cache=cache, batch_size=4, progress=False)
    assert len(cache) == 4  # the finished first batch is on disk, nothing of the killed one
    resumed = CountingScorer(original)
    monkeypatch.setattr(scorer, "_scorer", resumed)
    result = scorer.logprobs(TEXTS, cache=cache, batch_size=4, progress=False)
    assert resumed.texts == len(TEXTS) - 4
    assert np.allclose(result, reference, atol=1e-5)


def test_corrupt_cache_file_gives_a_clear_error_and_is_left_alone(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match="move it aside or delete it"):
        TeacherCache(path)
    assert path.read_bytes() == b"this is not a database" * 100


def test_key_depends_on_model_prompt_labels_and_text(scorer):
    from llkd_nb.teacher.cache import cache_key

    base = cache_key("m", "p", LABELS, "t")
    assert len({base, cache_key("m2", "p", LABELS, "t"), cache_key("m", "p2", LABELS, "t"),
                cache_key("m", "p", LABELS[:4], "t"), cache_key("m", "p", LABELS, "t2")}) == 5

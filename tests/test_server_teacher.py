"""The server teacher: parsing echoed log-probabilities, and every way a server can let it down.

These run against :class:`tests.servers.StubCompletions`, a small OpenAI-compatible server on the
loopback interface; the comparison with the in-process teacher against a real server is in
``test_llama_cpp.py``.
"""

import numpy as np
import pytest

from llkd_nb.cache import TeacherCache
from llkd_nb.labeling import TeacherConfig
from llkd_nb.prompts import build_prompt
from llkd_nb.server_teacher import ServerError, ServerTeacher, continuation_logprob
from llkd_nb.validation import ParameterError
from llkd_nb.local_server import free_port
from servers import StubCompletions, stub_logprob

LABELS = ("business", "entertainment", "politics")
TEXTS = [f"Report number {i} on {topic}." for i, topic in enumerate(["markets", "films", "votes", "banks", "music"])]


def echoed(tokens, values, generated=1):
    return {"choices": [{"logprobs": {"tokens": tokens, "token_logprobs": values}}],
            "usage": {"completion_tokens": generated}}


def test_the_label_is_the_last_prompt_tokens_before_the_generated_one():
    response = echoed(["<s>", "Label", ":", "\n", "ent", "ertain", "ment", ","], [None, -1, -2, -3, -0.5, -0.25, -0.125, -9])
    assert continuation_logprob(response, "entertainment", "here") == pytest.approx(-0.875)
    without_generation = echoed(["Label", ":", "sports"], [None, -1.0, -2.5], generated=0)
    assert continuation_logprob(without_generation, "sports", "here") == -2.5


def test_a_label_merged_with_the_prompt_end_is_reported():
    with pytest.raises(ServerError, match="do not spell the label 'sports'"):
        continuation_logprob(echoed(["Label", ":\nsp", "orts", "!"], [None, -1.0, -2.0, -1.0]), "sports", "here")


@pytest.mark.parametrize("logprobs", [None, {"tokens": ["a", "b"], "token_logprobs": None}, {"tokens": ["a", "b"], "token_logprobs": [None, None]}])
def test_missing_prompt_logprobs_name_the_servers_that_have_them(logprobs):
    response = {"choices": [{"text": "ab", "logprobs": logprobs}], "usage": {"completion_tokens": 0}}
    with pytest.raises(ServerError, match="llama-server does not return them"):
        continuation_logprob(response, "b", "the server")


@pytest.fixture
def prompt(teacher):
    return build_prompt(teacher.tokenizer, "Classify the topic.", LABELS, max_words=20)


def connect(url, teacher, **kwargs):
    kwargs.setdefault("model", "stub-model")
    return ServerTeacher.connect(url, tokenizer=teacher.tokenizer, retries=1, backoff=0.01, **kwargs)


def test_scores_come_from_the_server_and_the_cache_key_names_the_model(teacher, prompt):
    with StubCompletions(labels=LABELS) as server:
        served = connect(server.url, teacher, concurrency=3)
        scores = served.scorer(prompt, LABELS).logprobs(TEXTS[:2], progress=False)
    expected = [[stub_logprob(prompt.render(t), v) for v in LABELS] for t in TEXTS[:2]]
    assert np.allclose(scores, expected) and server.requests == 2 * len(LABELS)
    assert served.fingerprint == "server:stub-model"


def test_unreachable_url_is_a_clear_error(teacher):
    with pytest.raises(ServerError, match="cannot reach the teacher server at http://127.0.0.1"):
        connect(f"http://127.0.0.1:{free_port()}/v1", teacher)


def test_wrong_model_name_lists_what_the_server_serves(teacher):
    with StubCompletions(labels=LABELS) as server:
        with pytest.raises(ServerError, match=r"serves \['stub-model'\], not teacher_model 'llama-3-8b'"):
            connect(server.url, teacher, model="llama-3-8b")


def test_a_server_without_prompt_logprobs_is_a_clear_error(teacher, prompt):
    with StubCompletions(labels=LABELS, logprobs=False) as server:
        served = connect(server.url, teacher)
        with pytest.raises(ServerError, match="no prompt log-probabilities .* vLLM, SGLang or llama-cpp-python"):
            served.scorer(prompt, LABELS).logprobs(TEXTS[:1], progress=False)


def test_a_500_midway_loses_no_finished_batch_and_resume_scores_only_the_rest(teacher, prompt, tmp_path):
    with StubCompletions(labels=LABELS) as healthy:
        reference = connect(healthy.url, teacher).scorer(prompt, LABELS).logprobs(TEXTS, progress=False)
    cache = TeacherCache(tmp_path / "cache.sqlite")
    with StubCompletions(labels=LABELS, fail_from=2 * len(LABELS) + 1) as failing:  # texts 1-2 answered, then 500s
        scorer = connect(failing.url, teacher, concurrency=2).scorer(prompt, LABELS)
        with pytest.raises(ServerError, match="answered 500"):
            scorer.logprobs(TEXTS, cache=cache, batch_size=1, progress=False)
    assert len(cache) == 2
    with StubCompletions(labels=LABELS) as healthy:
        resumed = connect(healthy.url, teacher).scorer(prompt, LABELS).logprobs(TEXTS, cache=cache, progress=False)
        assert healthy.requests == (len(TEXTS) - 2) * len(LABELS)
    assert np.array_equal(resumed, reference)


def test_the_api_key_comes_from_the_environment_only(teacher, monkeypatch):
    monkeypatch.setenv("MY_TEACHER_KEY", "secret-123")
    with StubCompletions(labels=LABELS) as server:
        served = connect(server.url, teacher, api_key_env="MY_TEACHER_KEY")
    assert served.client.session.headers["Authorization"] == "Bearer secret-123"
    assert "secret-123" not in repr(TeacherConfig(teacher=server.url, teacher_model="m", teacher_api_key_env="MY_TEACHER_KEY"))


def test_server_config_needs_a_model_name_and_no_local_engine():
    with pytest.raises(ParameterError, match="give teacher_model"):
        TeacherConfig(teacher="http://localhost:8000/v1")
    with pytest.raises(ParameterError, match="a server teacher runs on its server"):
        TeacherConfig(teacher="http://localhost:8000/v1", teacher_model="m", teacher_engine="llama-cpp")
    with pytest.raises(ParameterError, match="runs GGUF files"):
        TeacherConfig(teacher="HuggingFaceTB/SmolLM2-135M-Instruct", teacher_engine="llama-cpp")
    with pytest.raises(ParameterError, match="teacher_concurrency"):
        TeacherConfig(teacher="http://localhost:8000/v1", teacher_model="m", teacher_concurrency=0)

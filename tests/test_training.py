"""The shared training loop: plain fine-tuning as a special case, the two protocols, costs, errors."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from llkd_nb.core.data import DataConfig, load_splits
from llkd_nb.core.validation import ParameterError
from llkd_nb.student.encoder import Features, Student, encode, load_model
from llkd_nb.student.selection import Strategy, make_strategy
from llkd_nb.student.training import (
    DataFeatures, TrainConfig, TrainingData, textbook_fine_tuning, train_student,
)

LABELS = ["business", "entertainment", "politics", "sports", "tech"]
SMALL = dict(max_length=16, batch_size=4, max_steps=3, warmup_ratio=0.0, num_evals=3, device="cpu")


@pytest.fixture(scope="module")
def data():
    splits = load_splits(DataConfig(pool_size=12, validation_size=5, test_size=5))
    gold = lambda f: f["label"].map(LABELS.index).to_numpy()  # noqa: E731
    noisy = gold(splits.pool).copy()
    noisy[::3] = (noisy[::3] + 1) % 5
    return TrainingData(
        labels=LABELS, pool_text=splits.pool["text"].tolist(), pool_target=noisy,
        pool_confidence=np.linspace(0.2, 0.9, 12), val_text=splits.validation["text"].tolist(),
        val_target=gold(splits.validation), val_gold=gold(splits.validation),
        test_text=splits.test["text"].tolist(), test_gold=gold(splits.test),
    )


@pytest.mark.parametrize("trainable_layers", [None, 1])
def test_keep_everything_with_unit_weights_is_plain_fine_tuning(data, trainable_layers):
    config = TrainConfig(**SMALL, trainable_layers=trainable_layers, model_selection="last")
    result = train_student(data, make_strategy("all"), config)
    student = textbook_fine_tuning(data, config)
    for (name, ours), theirs in zip(result.student.model.state_dict().items(), student.model.state_dict().values()):
        assert torch.allclose(ours, theirs, atol=1e-6, rtol=0), name
    assert np.array_equal(result.usage, np.ones(12, dtype=int))  # 3 steps x 4 = one pass over 12 samples
    assert result.costs.selection_forwards == 0  # keep-all never needs the student's signals


def test_frozen_layers_give_the_same_logits_as_the_whole_model(data):
    """The top layers reading the cached output of the frozen ones compute what the full model does."""
    device = torch.device("cpu")
    whole = load_model("offline:minilm-l6", 5, seed=3).eval()
    tokens = encode("offline:minilm-l6", data.pool_text, 16, None, device)
    expected = whole(**tokens.take(slice(None), device)).logits
    features = encode("offline:minilm-l6", data.pool_text, 16, 2, device)
    student = Student.load("offline:minilm-l6", 5, features, device, seed=3)
    student.model.eval()
    with torch.no_grad():
        assert torch.allclose(student.logits(features, slice(None)), expected, atol=1e-5)
        with student.full_model() as model:  # the whole network, e.g. to save it
            assert torch.allclose(model(**tokens.take(slice(None), device)).logits, expected, atol=1e-5)
    assert sum(p.numel() for p in student.parameters()) < sum(p.numel() for p in whole.parameters()) / 3


@pytest.mark.parametrize("trainable_layers", [None, 0, 1, 2])
def test_first_token_last_layer_gives_the_hugging_face_logits(data, trainable_layers):
    """The last layer computed at [CLS] only gives the logits of the whole Hugging Face forward."""
    device = torch.device("cpu")
    features = encode("offline:minilm-l6", data.pool_text, 16, trainable_layers, device)
    fast, reference = (Student.load("offline:minilm-l6", 5, features, device, seed=3, first_token_only=flag)
                       for flag in (True, False))
    assert fast.first_token_only and not reference.first_token_only
    for student in (fast, reference):
        student.model.eval()
    with torch.no_grad():
        assert torch.allclose(fast.logits(features, slice(None)), reference.logits(features, slice(None)), atol=1e-5)


def test_the_students_modes_switch_dropout_and_padding_is_masked(data):
    """Student.train(False) gives the Hugging Face eval forward (padded positions masked), twice alike;
    Student.train() turns dropout back on."""
    device = torch.device("cpu")
    features = encode("offline:minilm-l6", data.pool_text, 16, 1, device)
    features.inputs["attention_mask"][0, 9:] = 0  # a short first text: its last positions are padding
    fast, reference = (Student.load("offline:minilm-l6", 5, features, device, seed=3, first_token_only=flag)
                       for flag in (True, False))
    fast.train(False)
    reference.model.eval()
    with torch.no_grad():
        expected = reference.logits(features, slice(None))
        assert torch.allclose(fast.logits(features, slice(None)), expected, atol=1e-5)
        assert np.array_equal(fast.predict_proba(features), fast.predict_proba(features))
        fast.train()
        assert not torch.allclose(fast.logits(features, slice(None)), fast.logits(features, slice(None)))


def test_first_token_last_layer_fits_a_roberta_style_head():
    """RoBERTa's head (the paper's student) reads the first token itself: a tiny random RoBERTa agrees."""
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, num_labels=3, max_position_embeddings=40)
    model = RobertaForSequenceClassification(config).eval()
    ids = torch.randint(3, 50, (4, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    ids[1, 7:] = config.pad_token_id
    features = Features({"input_ids": ids, "attention_mask": mask}, 0)
    student = Student(model, 0, torch.device("cpu"), reads_hidden_states=False)
    assert student.first_token_only
    with torch.no_grad():
        assert torch.allclose(student.logits(features, slice(None)), model(input_ids=ids, attention_mask=mask).logits,
                              atol=1e-5)


def test_same_seed_same_numbers(data):
    config = TrainConfig(**SMALL)
    a = train_student(data, make_strategy("llkd"), config)
    b = train_student(data, make_strategy("llkd"), config)
    assert a.metrics == b.metrics
    assert a.steps.equals(b.steps) and np.array_equal(a.usage, b.usage)


def test_full_batches_give_every_update_a_full_batch_of_kept_samples(data):
    config = TrainConfig(**SMALL, protocol="full_batches")
    result = train_student(data, make_strategy("fixed_threshold", threshold=0.5), config)
    kept_per_sample = data.pool_confidence >= 0.5
    assert result.costs.optimizer_steps == 3 and result.costs.gradient_samples == 3 * 4
    assert result.usage[~kept_per_sample].sum() == 0 and result.usage.sum() == 12
    assert result.costs.drawn > 12  # it read more batches to fill its updates
    assert result.fraction_used == pytest.approx((result.usage > 0).mean())


def test_masked_batches_update_on_what_each_drawn_batch_kept(data):
    config = TrainConfig(**SMALL, protocol="masked_batches")
    result = train_student(data, make_strategy("fixed_threshold", threshold=0.5), config)
    assert result.costs.drawn == 12  # one drawn batch per step of the budget
    assert result.costs.gradient_samples == result.usage.sum() < 12


def test_student_signals_cost_a_selection_pass(data):
    result = train_student(data, make_strategy("llkd"), TrainConfig(**SMALL))
    assert result.costs.selection_forwards == result.costs.drawn >= result.costs.gradient_samples
    assert result.costs.training_forwards == result.costs.selection_forwards + result.costs.gradient_samples


def test_scoring_the_batches_ahead_gives_the_signals_of_one_pass_per_batch(data, monkeypatch):
    config = TrainConfig(**{**SMALL, "max_steps": 6})
    ahead = train_student(data, make_strategy("llkd"), config)
    assert ahead.costs.drawn > ahead.costs.gradient_samples  # some steps drew several batches: scored together
    monkeypatch.setattr("llkd_nb.student.training._Selector.score_ahead", False)
    one_by_one = train_student(data, make_strategy("llkd"), config)
    assert np.array_equal(ahead.usage, one_by_one.usage) and ahead.costs == one_by_one.costs
    assert np.allclose(ahead.steps["mean_uncertainty"], one_by_one.steps["mean_uncertainty"], atol=1e-6)
    assert ahead.metrics == pytest.approx(one_by_one.metrics, abs=1e-6)


def test_validation_is_scored_num_evals_times_and_test_once_per_chosen_checkpoint(data):
    config = TrainConfig(**{**SMALL, "max_steps": 6, "num_evals": 3})
    result = train_student(data, make_strategy("all"), config)
    assert result.evals["step"].tolist() == [2, 4, 6]
    assert result.best_step in (2, 4, 6)
    chosen_steps = {checkpoint.step for checkpoint in result.checkpoints.values()}
    assert result.costs.evaluation_forwards == 3 * len(data.val_text) + len(chosen_steps) * len(data.test_text)


def test_every_criterion_keeps_its_own_checkpoint(data):
    """Model selection only reads the run: each criterion keeps its best validation step, and the same
    run under model_selection='gold' reports exactly the gold checkpoint of the run under 'pseudo'."""
    config = TrainConfig(**{**SMALL, "max_steps": 6, "num_evals": 3})
    pseudo = train_student(data, make_strategy("all"), config)
    evals = pseudo.evals.set_index("step")
    assert pseudo.checkpoints["pseudo"].step == evals["val_target_macro_f1"].idxmax() == pseudo.best_step
    assert pseudo.checkpoints["gold"].step == evals["val_gold_macro_f1"].idxmax()
    assert pseudo.checkpoints["last"].step == 6
    gold = train_student(data, make_strategy("all"), replace(config, model_selection="gold"))
    assert gold.best_step == pseudo.checkpoints["gold"].step
    assert np.array_equal(gold.test_proba, pseudo.checkpoints["gold"].test_proba)
    assert gold.metrics == pseudo.checkpoints["gold"].metrics


def test_a_starved_run_is_scored_as_it_stands_not_dropped(data):
    """Keeping nothing for a whole pass stops the run; the student is scored where it stopped."""
    result = train_student(data, make_strategy("fixed_threshold", threshold=1.0), TrainConfig(**SMALL))
    assert "kept no sample during pass 0" in result.starved and result.status == "starved at step 0"
    assert result.costs.gradient_samples == 0 and result.best_step == 0
    assert result.evals["step"].tolist() == [0] and len(result.test_proba) == len(data.test_text)
    assert {"test_macro_f1", "val_target_macro_f1"} <= set(result.metrics)
    assert train_student(data, make_strategy("all"), TrainConfig(**SMALL)).status == "ok"


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": "fast"}, "lr must be float"),
    ({"max_steps": 0}, "max_steps must lie in"),
    ({"batch_size": 2.5}, "batch_size must be int"),
    ({"model_selection": "test"}, "model_selection must be one of"),
    ({"protocol": "some_batches"}, "protocol must be one of"),
])
def test_bad_training_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        TrainConfig(**kwargs)


def test_invalid_weights_stop_training_with_a_clear_error(data):
    class Broken(Strategy):
        name = "broken"

        def weights(self, s):
            return torch.full_like(s.confidence, float("nan"))

    with pytest.raises(FloatingPointError, match=r"strategy .broken. returned invalid weights at step 0"):
        train_student(data, Broken(), TrainConfig(**SMALL))


def test_shared_features_give_the_same_run(data):
    config = TrainConfig(**SMALL)
    features = DataFeatures.encode(data, config)
    a = train_student(data, make_strategy("llkd"), config, features)
    b = train_student(data, make_strategy("llkd"), config)
    assert a.metrics == b.metrics

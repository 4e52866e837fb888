"""The shared training loop: plain fine-tuning as a special case, determinism, usage, errors."""

import numpy as np
import pytest
import torch

from llkd_nb.data import get_spec, load_dataset_frame, split_dataset
from llkd_nb.selection import make_strategy
from llkd_nb.training import EmptySelectionError, TrainConfig, TrainingData, textbook_fine_tuning, train_student
from llkd_nb.validation import ParameterError

SMALL = dict(max_length=16, batch_size=4, max_steps=3, warmup_ratio=0.0, eval_every=100, device="cpu")


@pytest.fixture(scope="module")
def data():
    spec = get_spec("bbc_news")
    splits = split_dataset(load_dataset_frame(spec), seed=0, pool_size=12, validation_size=5, test_size=5)
    gold = lambda f: f["label"].map(spec.label_index).to_numpy()  # noqa: E731
    noisy = gold(splits.pool).copy()
    noisy[::3] = (noisy[::3] + 1) % 5
    return TrainingData(
        num_labels=5, pool_text=splits.pool["text"].tolist(), pool_target=noisy,
        pool_confidence=np.linspace(0.2, 0.9, 12), val_text=splits.validation["text"].tolist(),
        val_target=gold(splits.validation), val_gold=gold(splits.validation),
        test_text=splits.test["text"].tolist(), test_gold=gold(splits.test),
    )


def test_keep_everything_with_unit_weights_is_plain_fine_tuning(data):
    config = TrainConfig(**SMALL, model_selection="last")
    result = train_student(data, make_strategy("all"), config)

    model = textbook_fine_tuning(data, config)
    for (name, ours), theirs in zip(result.model.state_dict().items(), model.state_dict().values()):
        assert torch.allclose(ours, theirs, atol=1e-6, rtol=0), name
    assert np.array_equal(result.usage, np.ones(12, dtype=int))  # 3 steps x 4 = one pass over 12 samples


def test_same_seed_same_numbers(data):
    config = TrainConfig(**SMALL)
    a = train_student(data, make_strategy("llkd"), config)
    b = train_student(data, make_strategy("llkd"), config)
    assert a.metrics == b.metrics
    assert a.steps.equals(b.steps) and np.array_equal(a.usage, b.usage)


def test_budget_is_counted_in_updates_with_full_kept_batches(data):
    config = TrainConfig(**{**SMALL, "min_kept_per_step": 4})
    result = train_student(data, make_strategy("fixed_threshold", threshold=0.5), config)
    kept_per_sample = data.pool_confidence >= 0.5
    assert result.metrics["steps"] == 3
    assert result.usage[~kept_per_sample].sum() == 0
    assert result.usage.sum() >= 3 * 4  # every update saw at least a full batch of kept samples
    assert result.fraction_used == pytest.approx((result.usage > 0).mean())


def test_empty_selection_for_a_whole_pass_is_an_error(data):
    with pytest.raises(EmptySelectionError, match="kept no sample during pass 0"):
        train_student(data, make_strategy("fixed_threshold", threshold=1.0), TrainConfig(**SMALL))


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": "fast"}, "lr must be float"),
    ({"max_steps": 0}, "max_steps must lie in"),
    ({"batch_size": 2.5}, "batch_size must be int"),
    ({"model_selection": "test"}, "model_selection must be one of"),
])
def test_bad_training_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        TrainConfig(**kwargs)


def test_invalid_weights_stop_training_with_a_clear_error(data):
    from llkd_nb.selection import Strategy

    class Broken(Strategy):
        name = "broken"

        def weights(self, s):
            return torch.full_like(s.confidence, float("nan"))

    with pytest.raises(FloatingPointError, match=r"strategy .broken. returned invalid weights at step 0"):
        train_student(data, Broken(), TrainConfig(**SMALL))

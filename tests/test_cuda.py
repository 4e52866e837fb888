"""The student's training loop on a CUDA GPU: every selection strategy trains there and gives what it
gives on the CPU. Skipped without CUDA (CI has none). A tiny random encoder stands in for MiniLM, so the
check needs no model from a wheel or the hub."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from llkd_nb.student.selection import STRATEGIES, make_strategy
from llkd_nb.student.training import TrainConfig, TrainingData, train_student

WORDS = "the a market shares film music vote party match team phone software".split()
DEVICES = ("cpu", "cuda")


def tiny_student(folder) -> str:
    """A two-layer BERT with random weights, no dropout and a vocabulary of :data:`WORDS`, in ``folder``."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    BertTokenizerFast(vocab={token: index for index, token in enumerate(tokens)}).save_pretrained(folder)
    config = BertConfig(vocab_size=5 + len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,  # CUDA draws other masks
                        initializer_range=0.2)  # weights large enough that each text gets its own output
    BertModel(config).save_pretrained(folder)  # no head: the student adds one per label set
    return str(folder)


def tiny_data() -> TrainingData:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, 8)) for _ in range(60)]
    gold = rng.integers(0, 3, 60)
    return TrainingData(labels=["a", "b", "c"], pool_text=texts[:40], pool_target=gold[:40],
                        pool_confidence=rng.uniform(0.3, 1.0, 40), val_text=texts[40:50], val_target=gold[40:50],
                        val_gold=gold[40:50], test_text=texts[50:], test_gold=gold[50:])


def runs_on(devices, strategy: str, folder) -> dict:
    config = TrainConfig(student=tiny_student(folder), trainable_layers=1, max_length=12, batch_size=8,
                         max_steps=6, warmup_ratio=0.0, num_evals=2, model_selection="last")
    data = tiny_data()
    return {device: train_student(data, make_strategy(strategy), replace(config, device=device)) for device in devices}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_trains_on_cuda_as_on_the_cpu(strategy, tmp_path):
    runs = runs_on(DEVICES, strategy, tmp_path)
    cpu, cuda = runs["cpu"], runs["cuda"]
    assert len(np.unique(cpu.test_proba.round(4), axis=0)) > 1, "the tiny student reads its texts"
    assert np.array_equal(cpu.usage, cuda.usage), "the same samples are kept on both devices"
    assert np.allclose(cpu.test_proba, cuda.test_proba, atol=1e-4)
    assert cpu.costs == cuda.costs and cpu.starved == cuda.starved

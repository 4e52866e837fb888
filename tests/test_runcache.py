"""The run cache: a finished run is found again, only missing runs are trained after an interruption,
and any change of input or of the training code trains anew."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import llkd_nb.experiments.runcache as runcache
from llkd_nb.experiments.compare import run_methods
from llkd_nb.experiments.methods import Method
from llkd_nb.experiments.runcache import RunCache
from llkd_nb.student.training import TrainConfig

CONFIG = TrainConfig(max_length=16, batch_size=4, max_steps=3, num_evals=1, device="cpu")
METHODS = [Method("all", "all pseudo-labels", "all"), Method("fixed", "fixed", "fixed_threshold", {"threshold": 0.3})]
SEEDS = [0, 1]


@pytest.fixture(scope="module")
def artifact(random_teacher_artifact):
    return random_teacher_artifact(pool_size=16, validation_size=10, test_size=8)


def _comparable(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.drop(columns="seconds")


def test_a_rerun_reuses_every_run_and_gives_identical_tables(tmp_path, artifact):
    fresh = run_methods(artifact, METHODS, SEEDS, CONFIG, progress=False)
    cache = RunCache(tmp_path)
    first = run_methods(artifact, METHODS, SEEDS, CONFIG, progress=False, cache=cache)
    assert cache.trained == len(METHODS) * len(SEEDS)
    pd.testing.assert_frame_equal(_comparable(first.runs), _comparable(fresh.runs))
    again = RunCache(tmp_path)
    second = run_methods(artifact, METHODS, SEEDS, CONFIG, progress=False, cache=again)
    assert again.trained == 0
    pd.testing.assert_frame_equal(second.runs, first.runs)  # seconds too: the cost of the run that was trained
    for key, proba in first.predictions.items():
        np.testing.assert_array_equal(second.predictions[key], proba)
        pd.testing.assert_frame_equal(second.curves[key], first.curves[key])


def test_an_interrupted_comparison_trains_only_the_missing_runs(tmp_path, artifact, monkeypatch):
    cache = RunCache(tmp_path)
    calls = {"n": 0}
    real = runcache.train_student

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the kernel stopped midway through the second method
        return real(*args, **kwargs)

    monkeypatch.setattr(runcache, "train_student", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_methods(artifact, METHODS, SEEDS, CONFIG, progress=False, cache=cache)
    monkeypatch.setattr(runcache, "train_student", real)
    assert len(list(tmp_path.glob("*.npz"))) == 2 and not list(tmp_path.glob("*.tmp*"))
    resumed_cache = RunCache(tmp_path)
    resumed = run_methods(artifact, METHODS, SEEDS, CONFIG, progress=False, cache=resumed_cache)
    assert resumed_cache.trained == 2
    uninterrupted = run_methods(artifact, METHODS, SEEDS, CONFIG, progress=False)
    pd.testing.assert_frame_equal(_comparable(resumed.runs), _comparable(uninterrupted.runs))


def test_a_change_of_training_key_parameters_or_code_retrains(tmp_path, artifact, monkeypatch):
    run_methods(artifact, METHODS[:1], [0], CONFIG, progress=False, cache=RunCache(tmp_path))
    for config, methods in ((replace(CONFIG, lr=1e-3), METHODS[:1]),
                            (CONFIG, [Method("all", "all pseudo-labels", "fixed_threshold", {"threshold": 0.0})])):
        cache = RunCache(tmp_path)
        run_methods(artifact, methods, [0], config, progress=False, cache=cache)
        assert cache.trained == 1
    monkeypatch.setattr(runcache, "code_fingerprint", lambda: "another version of the training code")
    cache = RunCache(tmp_path)
    run_methods(artifact, METHODS[:1], [0], CONFIG, progress=False, cache=cache)
    assert cache.trained == 1


def test_one_stored_run_answers_either_model_selection(tmp_path, artifact):
    """Model selection is a view of a run, not an input: the runs stored under 'pseudo' give a 'gold'
    comparison with nothing retrained, equal to a fresh 'gold' comparison."""
    config = replace(CONFIG, max_steps=4, num_evals=4)
    run_methods(artifact, METHODS, SEEDS, config, progress=False, cache=RunCache(tmp_path))
    cache = RunCache(tmp_path)
    gold = run_methods(artifact, METHODS, SEEDS, replace(config, model_selection="gold"), progress=False, cache=cache)
    assert cache.trained == 0 and gold.model_selection == "gold"
    fresh = run_methods(artifact, METHODS, SEEDS, replace(config, model_selection="gold"), progress=False)
    pd.testing.assert_frame_equal(_comparable(gold.runs), _comparable(fresh.runs))
    for key, proba in fresh.predictions.items():
        np.testing.assert_array_equal(gold.predictions[key], proba)


def test_the_code_fingerprint_ignores_where_imports_point_and_the_module_docstring_but_not_code():
    """Moving a module within the package rewrites where its imports point: its cached runs stay valid.
    A change of code (a comment, a constant, what an import binds, an import added) invalidates them;
    an import that shares its line with other code is refused, since dropping the line would hide it."""
    source = ('"""What it is for."""\n\nimport numpy as np\n\nfrom .metrics import macro_f1, roc_auc\nfrom .params import param\n'
              '\n\ndef f():\n    return 1\n')
    moved = ('"""What it is for,\nsaid again."""\n\nimport numpy as np\n\nfrom ..core.params import param\n'
             'from ..core.scores import (\n    macro_f1,\n)\nfrom .ranks import roc_auc\n\n\ndef f():\n    return 1\n')
    assert runcache.code_lines(moved) == runcache.code_lines(source)
    for edited in (source.replace("return 1", "return 2"), source.replace("return 1", "return 1  # one"),
                   source.replace("import macro_f1", "import accuracy as macro_f1"),
                   source.replace("import numpy as np", "import torch as np"),
                   source.replace("def f():", "def f():\n    from .metrics import macro_f1")):
        assert runcache.code_lines(edited) != runcache.code_lines(source)
    with pytest.raises(ValueError, match="line 3 holds an import and other code"):
        runcache.code_lines(source.replace("import numpy as np", "import numpy as np; SEED = 1"))
    assert len(runcache.code_fingerprint()) == 16

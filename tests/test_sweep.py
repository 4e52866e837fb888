"""Sweeps: the same runs give the same tables serially, on local worker processes and on Dask's in-process
cluster; a strategy from the user's own file trains on workers, one from a notebook cell in the driver; an
interrupted or broken parallel sweep keeps every finished run and trains only the missing ones when run
again; the executor keys fail clearly."""

import importlib.util
import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import psutil
import pytest

from llkd_nb.core.validation import ParameterError
from llkd_nb.experiments.compare import run_methods
from llkd_nb.experiments.methods import Method
from llkd_nb.experiments.runcache import RunCache
from llkd_nb.experiments.sweep import (
    DaskCluster, LocalProcesses, Serial, SharedInputs, Task, WorkerLost, available_cores, check_executor, make_executor,
    use_executor,
)
from llkd_nb.student.selection import STRATEGIES, Strategy, register
from llkd_nb.student.training import TrainConfig

CONFIG = TrainConfig(max_length=16, batch_size=4, max_steps=3, num_evals=1, device="cpu")
METHODS = [Method("all", "all pseudo-labels", "all"), Method("fixed", "fixed", "fixed_threshold", {"threshold": 0.3}),
           Method("llkd", "LLKD", "llkd")]
SEEDS = [0, 1]
RUNS = len(METHODS) * len(SEEDS)


@pytest.fixture(scope="module")
def artifact(random_teacher_artifact):
    return random_teacher_artifact(pool_size=16, validation_size=10, test_size=8)


@pytest.fixture
def executor():
    """Run the test body's sweeps on an executor it sets, then put back the serial default (which closes it)."""
    yield use_executor
    use_executor(Serial())


def _sweep(artifact):
    return run_methods(artifact, METHODS, SEEDS, CONFIG, progress=False)


def test_serial_local_workers_and_dask_give_identical_tables(artifact, executor):
    tables = {}
    for name, chosen in (("serial", Serial()), ("2 local workers", LocalProcesses(2)),
                         ("dask in-process", DaskCluster(None, 1, processes=False))):
        executor(chosen)  # every worker trains at the driver's thread count
        tables[name] = _sweep(artifact)
    serial = tables.pop("serial")
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table.runs.drop(columns="seconds"), serial.runs.drop(columns="seconds"),
                                      obj=name)
        for key, proba in serial.predictions.items():
            np.testing.assert_array_equal(table.predictions[key], proba, err_msg=f"{name}: {key}")
            pd.testing.assert_frame_equal(table.curves[key], serial.curves[key], obj=f"{name}: {key}")


STRATEGY_FILE = ('from dataclasses import dataclass\nfrom typing import ClassVar\nimport torch\n'
                 'from llkd_nb.student.selection import Method, Strategy, register\n\n\n@register\n@dataclass\n'
                 'class FromMyFile(Strategy):\n    name: ClassVar[str] = "from_my_file"\n\n    @classmethod\n'
                 '    def rows(cls, configured):\n        return (Method("mine", "mine", cls.name),)\n\n'
                 '    def weights(self, s):\n        return torch.rand_like(s.confidence)\n')


def test_a_strategy_from_the_users_own_file_trains_on_the_workers(tmp_path, artifact, executor):
    """The workers import the file that registers it (it is on no path), and train it as the driver would."""
    (tmp_path / "my_strategies.py").write_text(STRATEGY_FILE)
    spec = importlib.util.spec_from_file_location("my_strategies", tmp_path / "my_strategies.py")
    sys.modules["my_strategies"] = module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        methods = [Method("mine", "mine", "from_my_file")]
        serial = run_methods(artifact, methods, SEEDS, CONFIG, progress=False)
        executor(LocalProcesses(2))
        parallel = run_methods(artifact, methods, SEEDS, CONFIG, progress=False)
        pd.testing.assert_frame_equal(parallel.runs.drop(columns="seconds"), serial.runs.drop(columns="seconds"))
    finally:
        STRATEGIES.pop("from_my_file", None)
        sys.modules.pop("my_strategies", None)


def test_a_strategy_from_a_notebook_cell_trains_in_the_driver(artifact, executor, monkeypatch):
    """No worker can import ``__main__``: its batches train in this process, whatever the executor."""

    @dataclass
    class InACell(Strategy):
        name: ClassVar[str] = "in_a_cell"

        @classmethod
        def rows(cls, configured):
            return (Method("cell", "cell", cls.name),)

    InACell.__module__ = "__main__"
    register(InACell)
    executor(LocalProcesses(2))
    monkeypatch.setattr(LocalProcesses, "run", lambda *args: pytest.fail("a worker was asked to import __main__"))
    try:
        table = run_methods(artifact, [*METHODS[:1], Method("cell", "cell", "in_a_cell")], SEEDS, CONFIG, progress=False)
        assert len(table.runs) == 2 * len(SEEDS)
    finally:
        STRATEGIES.pop("in_a_cell", None)


def test_an_interrupted_parallel_sweep_trains_only_the_missing_runs(tmp_path, artifact, executor):
    executor(LocalProcesses(2))
    cache = RunCache(tmp_path)
    seen = {"runs": 0}

    def stop_after_two():
        seen["runs"] += 1
        if seen["runs"] == 2:
            raise KeyboardInterrupt  # the kernel is stopped while the other worker still trains

    from llkd_nb.experiments import sweep

    with pytest.raises(KeyboardInterrupt):
        sweep.train_runs(_requests(artifact), _features(artifact), cache, on_run=stop_after_two)
    kept = len(list(tmp_path.glob("*.npz")))
    assert kept == 2 and not list(tmp_path.glob("*.tmp*"))
    resumed = RunCache(tmp_path)
    run_methods(artifact, METHODS, SEEDS, CONFIG, progress=False, cache=resumed)
    assert resumed.trained == RUNS - kept


def test_a_worker_that_dies_is_reported_and_the_finished_runs_stay_cached(tmp_path, artifact, executor):
    executor(LocalProcesses(2))
    cache = RunCache(tmp_path)
    from llkd_nb.experiments import sweep

    def kill_a_worker():
        if cache.trained == 1:
            workers = [p for p in psutil.Process().children(recursive=True)
                       if any("spawn_main" in part for part in p.cmdline())]
            assert workers, "no worker process found to kill"
            workers[0].kill()

    with pytest.raises(WorkerLost, match="died while training.*trains only the missing ones"):
        sweep.train_runs(_requests(artifact), _features(artifact), cache, on_run=kill_a_worker)
    kept = len(list(tmp_path.glob("*.npz")))
    assert 1 <= kept < RUNS
    resumed = RunCache(tmp_path)
    run_methods(artifact, METHODS, SEEDS, CONFIG, progress=False, cache=resumed)
    assert resumed.trained == RUNS - kept


def _requests(artifact):
    from llkd_nb.experiments.sweep import RunRequest
    from llkd_nb.student.training import TrainingData

    data = TrainingData.from_artifact(artifact)
    return [RunRequest(data, m.strategy, m.params, TrainConfig(**{**CONFIG.__dict__, "seed": seed}))
            for m in METHODS for seed in SEEDS]


def _features(artifact):
    from llkd_nb.student.training import DataFeatures, TrainingData

    return DataFeatures.encode(TrainingData.from_artifact(artifact), CONFIG)


def test_executor_keys_fail_clearly():
    with pytest.raises(ParameterError, match="exceeds this machine's"):
        make_executor("processes", available_cores() + 1, 1)
    with pytest.raises(ParameterError, match="executor must be one of processes, dask"):
        check_executor("ray")
    with pytest.raises(ParameterError, match="set executor: dask"):
        check_executor("processes", "tcp://127.0.0.1:1")
    assert isinstance(make_executor("processes", 1, 64), Serial)  # one worker of any thread count is no pool


def test_a_dask_worker_that_runs_two_tasks_at_once_is_refused(artifact):
    """Two runs in one process would interleave their draws from torch's global random state."""
    from distributed import Client, LocalCluster

    cluster = DaskCluster(None, 1, processes=False)
    cluster._cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    cluster._client = Client(cluster._cluster)
    try:
        with pytest.raises(ParameterError, match="start every worker with --nthreads 1"):
            list(cluster.run(SharedInputs((), None), [Task(0, "all", {}, CONFIG)]))  # refused before it trains
    finally:
        cluster.close()
    with pytest.raises(ValueError, match="takes one worker"):
        DaskCluster(None, 2, processes=False)


def test_an_unreachable_dask_scheduler_is_named_with_its_key_before_any_work():
    with pytest.raises(ParameterError, match=r"dask_address 'tcp://127.0.0.1:9': no Dask scheduler answered"):
        make_executor("dask", None, 1, "tcp://127.0.0.1:9")  # nothing listens on the discard port

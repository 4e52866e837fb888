"""Training runs in bulk: the runs a sweep lacks, trained one after another, on worker processes of this
machine, or on a Dask cluster, behind one small interface (:class:`Executor`).

Every run of notebooks 03-05 (a tuning grid, a comparison's seeds, a map's cells) is independent of the
others and keyed by its inputs in the run cache (:mod:`llkd_nb.experiments.runcache`). :func:`train_runs`
takes a batch of them, reads the ones the cache holds, sends the rest to the process-wide executor
(:func:`use_executor`; the study's ``executor``, ``workers`` and ``dask_address`` keys set it), and writes
each run into the cache as it comes back, in the driver: an interrupted sweep keeps every run that finished
and trains only the missing ones when it is run again, and the workers need no shared filesystem.

The texts, labels and student features a batch shares travel to each worker once per batch, not once per
run. Every worker trains at the driver's thread count (torch's, when the batch starts), so a run is
bit-identical whichever executor trains it, and its cache key names the count it was trained at
(:func:`llkd_nb.experiments.runcache.run_code`).

Why Dask and not Ray: Dask's distributed scheduler is pure Python, so one lock installs it on Linux,
macOS and Windows alike; ``Client.scatter(..., broadcast=True)`` ships the shared inputs once per
worker; ``LocalCluster(processes=False)`` runs the same code path in-process for the tests; and its
launchers (dask-jobqueue for Slurm, dask-kubernetes) start workers wherever a cluster runs. Ray would give
the same here (an object store, ``ray.put``) with a larger binary install that lags behind new Python
releases; the interface keeps the choice swappable.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

import torch

from ..core.runinfo import use_threads
from ..core.validation import ParameterError
from ..student.selection import STRATEGIES, Strategy
from ..student.training import DataFeatures, TrainConfig, TrainingData
from .runcache import FinishedRun, RunCache, run_code, train_once

EXECUTORS = ("processes", "dask")
CONNECT_TIMEOUT = "10s"  # how long a Dask client waits for a scheduler before saying it is unreachable


@dataclass(frozen=True)
class RunRequest:
    """One training run of ``strategy(**params)`` on ``data`` under ``config`` (its seed included)."""

    data: TrainingData
    strategy: str
    params: dict
    config: TrainConfig


ModuleFiles = tuple[tuple[str, str | None], ...]  # (module name, its file)


@dataclass(frozen=True)
class SharedInputs:
    """What every run of a batch reads and no run changes: shipped to each worker once. ``modules`` names the
    modules (and their files) that define the batch's strategies, for a worker to import before it trains."""

    data: tuple[TrainingData, ...]
    features: DataFeatures
    modules: ModuleFiles = ()


def strategy_modules(strategies: list[str]) -> ModuleFiles:
    """``(module, file)`` of every class that defines ``strategies`` (their own and the strategies they inherit
    from), so that a worker process imports a strategy registered outside the package, from a file of the
    user's included."""
    classes = [c for name in strategies if name in STRATEGIES for c in STRATEGIES[name].__mro__
               if issubclass(c, Strategy)]
    return tuple(dict.fromkeys((c.__module__, getattr(sys.modules[c.__module__], "__file__", None)) for c in classes))


def defined_in_main(strategies: list[str]) -> list[str]:
    """The strategies defined in ``__main__`` (a notebook cell, a script): no other process can import them."""
    return [name for name in strategies if name in STRATEGIES
            and any(c.__module__ == "__main__" for c in STRATEGIES[name].__mro__)]


def import_modules(modules: ModuleFiles) -> None:
    """Import each module by name, or, where it is not on this process's path, from its file (registering its
    strategies)."""
    for name, file in modules:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            if file is None:
                raise
            spec = importlib.util.spec_from_file_location(name, file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)


@dataclass(frozen=True)
class Task:
    """A run as it travels to a worker: its data by position in :class:`SharedInputs`."""

    data: int
    strategy: str
    params: dict
    config: TrainConfig

    def train(self, shared: SharedInputs) -> FinishedRun:
        return train_once(shared.data[self.data], self.strategy, self.params, self.config, shared.features)


class WorkerLost(RuntimeError):
    """A worker died while training; the runs that finished before it are in the run cache."""


class Executor(Protocol):
    """Trains ``tasks`` and yields ``(position in tasks, finished run)`` as each one finishes, every run at
    the driver's thread count (the count a run's cache key names)."""

    def run(self, shared: SharedInputs, tasks: list[Task]) -> Iterator[tuple[int, FinishedRun]]: ...

    def close(self) -> None: ...


class Serial:
    """Every run in this process, one after another."""

    def run(self, shared: SharedInputs, tasks: list[Task]) -> Iterator[tuple[int, FinishedRun]]:
        for position, task in enumerate(tasks):
            yield position, task.train(shared)

    def close(self) -> None:
        pass


_installed: SharedInputs | None = None  # a worker process's shared inputs (set by _install)


def _install(shared: SharedInputs, threads: int) -> None:
    global _installed
    use_threads(threads)
    import_modules(shared.modules)
    _installed = shared


def _train_installed(task: Task) -> FinishedRun:
    return task.train(_installed)


def _stop_now(pool: ProcessPoolExecutor) -> None:
    """End ``pool`` without waiting for the runs in flight (their results would be thrown away anyway)."""
    if hasattr(pool, "terminate_workers"):  # Python 3.14+
        pool.terminate_workers()
        return
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


class LocalProcesses:
    """``workers`` processes of this machine, each training one run at a time on the driver's thread count.
    A pool starts for each batch of two runs or more (its workers import torch once per batch)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, shared: SharedInputs, tasks: list[Task]) -> Iterator[tuple[int, FinishedRun]]:
        if self.workers == 1 or len(tasks) < 2:  # a pool would only add its start-up
            yield from Serial().run(shared, tasks)
            return
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), initializer=_install,
                                   initargs=(shared, torch.get_num_threads()),
                                   mp_context=multiprocessing.get_context("spawn"))
        futures = {pool.submit(_train_installed, task): position for position, task in enumerate(tasks)}
        finished = False
        try:
            for future in as_completed(futures):
                try:
                    run = future.result()
                except BrokenProcessPool as error:
                    yield from ((futures[f], f.result()) for f in futures  # runs done before the loss
                                if f is not future and f.done() and not f.cancelled() and f.exception() is None)
                    raise WorkerLost(f"a worker process died while training ({error}); every run that finished "
                                     "is in the run cache, so running the sweep again trains only the missing "
                                     "ones") from error
                yield futures[future], run
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:  # interrupted, or a worker lost
                _stop_now(pool)

    def close(self) -> None:
        pass


def _worker_code(modules: ModuleFiles, strategies: list[str], threads: int) -> list:
    use_threads(threads)
    import_modules(modules)
    return [run_code(strategy) for strategy in strategies]


def _train_remote(shared: SharedInputs, task: Task, threads: int) -> FinishedRun:
    use_threads(threads)
    import_modules(shared.modules)
    return task.train(shared)


class DaskCluster:
    """A Dask cluster: the scheduler at ``address``, or a local cluster of ``workers`` processes (or, for tests,
    one worker thread of this process with ``processes=False``). Its workers must run the same package and code as the driver:
    before each batch every worker's code fingerprint is compared with the driver's, and a mismatch stops
    the sweep before anything trains."""

    def __init__(self, address: str | None, workers: int, processes: bool = True) -> None:
        if not processes and workers > 1:
            raise ValueError("an in-process Dask cluster trains in threads of this process, which share torch's "
                             "random state: it takes one worker")
        self.address, self.workers, self.processes = address, workers, processes
        self._client = None
        self._cluster = None

    def client(self):
        """The Dask client, connected on first use (a local cluster is started then)."""
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.address is None:
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=self.processes,
                                             dashboard_address=None)
                self._client = Client(self._cluster)
            else:
                try:
                    self._client = Client(self.address, timeout=CONNECT_TIMEOUT)
                except (OSError, TimeoutError) as error:
                    raise ParameterError(
                        f"dask_address {self.address!r}: no Dask scheduler answered within {CONNECT_TIMEOUT} ({error}). "
                        "Start one (`dask scheduler`, then `dask worker ADDRESS --nthreads 1`), or set dask_address: "
                        "null for a local cluster.") from error
        return self._client

    def close(self) -> None:
        """Close the client, and the local cluster this object started (a remote one keeps running)."""
        for part in (self._client, self._cluster):
            if part is not None:
                part.close()
        self._client = self._cluster = None

    def _check_workers(self, client, modules: ModuleFiles, strategies: list[str], threads: int) -> None:
        """Every worker takes one run at a time (two runs in one process would share torch's global random
        state, and their draws would interleave) and runs the driver's code and packages."""
        crowded = {address: info["nthreads"] for address, info in client.scheduler_info()["workers"].items()
                   if info["nthreads"] != 1}
        if crowded:
            raise ParameterError(f"Dask workers {crowded} run several tasks at once in one process: two training runs "
                                 "in one process would share torch's random state, so start every worker with "
                                 "--nthreads 1 (and as many --nworkers as the cores hold at the study's threads)")
        expected = [run_code(strategy) for strategy in strategies]
        for worker, code in client.run(_worker_code, modules, strategies, threads).items():
            if code != expected:
                raise RuntimeError(f"Dask worker {worker} trains with other code or packages than this driver "
                                   f"(worker: {code}, driver: {expected}): install the same checkout and lock on "
                                   "every worker")

    def run(self, shared: SharedInputs, tasks: list[Task]) -> Iterator[tuple[int, FinishedRun]]:
        from distributed import as_completed as completed_futures
        from distributed.scheduler import KilledWorker

        client, threads = self.client(), torch.get_num_threads()
        self._check_workers(client, shared.modules, sorted({task.strategy for task in tasks}), threads)
        inputs = client.scatter(shared, broadcast=True, hash=False)
        futures = [client.submit(_train_remote, inputs, task, threads, pure=False) for task in tasks]
        position = {future.key: n for n, future in enumerate(futures)}
        try:
            for future in completed_futures(futures):
                yield position[future.key], future.result()
        except KilledWorker as error:
            raise WorkerLost(f"a Dask worker died while training ({error}); every run that finished is in the "
                             "run cache, so running the sweep again trains only the missing ones") from error
        finally:
            client.cancel(futures)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system reports one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(threads: int) -> int:
    """As many workers of ``threads`` threads as this machine's cores hold, at least one."""
    return max(1, available_cores() // threads)


def check_executor(executor: str, dask_address: str | None = None) -> None:
    """Raise a :class:`ParameterError` naming the key when the executor keys contradict each other (any
    machine); :func:`make_executor` checks what depends on the machine."""
    if executor not in EXECUTORS:
        raise ParameterError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if dask_address is not None and executor != "dask":
        raise ParameterError(f"dask_address is set ({dask_address!r}) but executor is {executor!r}: set executor: dask")


def make_executor(executor: str, workers: int | None, threads: int, dask_address: str | None = None) -> Executor:
    """The executor the study's keys name. On this machine ``workers x threads`` must fit the cores; a Dask
    scheduler at ``dask_address`` must answer now, before any work (its own workers count, not ``workers``)."""
    check_executor(executor, dask_address)
    local = executor == "processes" or dask_address is None
    if workers is not None and workers > 1 and local and workers * threads > available_cores():
        raise ParameterError(f"workers x threads = {workers} x {threads} = {workers * threads} exceeds this machine's "
                             f"{available_cores()} cores: lower workers (or threads), or leave workers unset "
                             f"({default_workers(threads)} here)")
    workers = workers or default_workers(threads)
    if executor == "dask":
        cluster = DaskCluster(dask_address, workers)
        if dask_address is not None:
            cluster.client()
        return cluster
    return LocalProcesses(workers) if workers > 1 else Serial()


_executor: Executor = Serial()


def use_executor(executor: Executor) -> None:
    """Make ``executor`` train every later sweep of this process, closing the one it replaces."""
    global _executor
    previous, _executor = _executor, executor
    if previous is not executor:
        previous.close()


atexit.register(lambda: _executor.close())


def current_executor() -> Executor:
    return _executor


def train_runs(requests: list[RunRequest], features: DataFeatures, cache: RunCache | None = None,
               on_run: Callable[[], None] | None = None, executor: Executor | None = None) -> list[FinishedRun]:
    """Every run of ``requests``, in order: from ``cache`` where it holds them, the others trained by
    ``executor`` (default: :func:`current_executor`; in this process for a batch with a strategy defined in
    ``__main__``, which no worker can import), each written to ``cache`` as it finishes. Requests with the
    same key train once. ``on_run()`` is called after each run, found or trained (progress)."""
    strategies = list(dict.fromkeys(request.strategy for request in requests))
    executor = Serial() if defined_in_main(strategies) else executor or current_executor()
    runs: list[FinishedRun | None] = [None] * len(requests)
    keys = [cache.key(r.data, r.strategy, r.params, r.config) if cache is not None else None for r in requests]
    missing: dict[str | int, list[int]] = {}  # one training per key; without a cache, one per request
    for n, (request, key) in enumerate(zip(requests, keys)):
        found = cache.get(key, request.config.model_selection) if cache is not None else None
        if found is not None:
            runs[n] = found.under(request.config.model_selection)
            if on_run is not None:
                on_run()
        else:
            missing.setdefault(n if key is None else key, []).append(n)
    if missing:
        data = list({id(requests[group[0]].data): requests[group[0]].data for group in missing.values()}.values())
        slot = {id(d): n for n, d in enumerate(data)}
        groups = list(missing.values())
        tasks = [Task(slot[id(requests[group[0]].data)], requests[group[0]].strategy, requests[group[0]].params,
                      requests[group[0]].config) for group in groups]
        shared = SharedInputs(tuple(data), features, strategy_modules(strategies))
        for position, finished in executor.run(shared, tasks):
            group = groups[position]
            if cache is not None:
                cache.put(keys[group[0]], finished)
                cache.trained += 1
            for n in group:
                runs[n] = finished.under(requests[n].config.model_selection)
                if on_run is not None:
                    on_run()
    return runs

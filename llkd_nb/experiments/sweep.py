"""Training runs in bulk: the runs a sweep lacks, trained one after another, on worker processes of this
machine, or on a Dask cluster, behind one small interface (:class:`Executor`).

Every run of notebooks 03-05 (a tuning grid, a comparison's seeds, a map's cells) is independent of the
others and keyed by its inputs in the run cache (:mod:`llkd_nb.experiments.runcache`). :func:`train_runs`
takes a batch of them, reads the ones the cache holds, sends the rest to the process-wide executor
(:func:`use_executor`; the study's ``executor``, ``workers`` and ``dask_address`` keys set it), and writes
each run into the cache as it comes back, in the driver: an interrupted sweep keeps every run that finished
and trains only the missing ones when it is run again, and the workers need no shared filesystem.

The texts, labels and student features a batch shares travel to each worker once per batch, not once per
run. Every worker trains at the driver's thread count, so a run is bit-identical whichever executor
trains it (the thread count is part of a run's key, :func:`llkd_nb.experiments.runcache.run_code`).

Why Dask and not Ray: Dask's distributed scheduler is pure Python, so one lock installs it on Linux,
macOS and Windows alike; ``Client.scatter(..., broadcast=True)`` ships the shared inputs once per
worker; ``LocalCluster(processes=False)`` runs the same code path in-process for the tests; and its
launchers (dask-jobqueue for Slurm, dask-kubernetes) start workers wherever a cluster runs. Ray would give
the same here (an object store, ``ray.put``) with a larger binary install that lags behind new Python
releases; the interface keeps the choice swappable.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

from ..core.runinfo import use_threads
from ..core.validation import ParameterError
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


@dataclass(frozen=True)
class SharedInputs:
    """What every run of a batch reads and no run changes: shipped to each worker once."""

    data: tuple[TrainingData, ...]
    features: DataFeatures


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
    """Trains ``tasks`` and yields ``(position in tasks, finished run)`` as each one finishes."""

    workers: int

    def run(self, shared: SharedInputs, tasks: list[Task]) -> Iterator[tuple[int, FinishedRun]]: ...


class Serial:
    """Every run in this process, one after another."""

    workers = 1

    def run(self, shared: SharedInputs, tasks: list[Task]) -> Iterator[tuple[int, FinishedRun]]:
        for position, task in enumerate(tasks):
            yield position, task.train(shared)


_installed: SharedInputs | None = None  # a worker process's shared inputs (set by _install)


def _install(shared: SharedInputs, threads: int) -> None:
    global _installed
    use_threads(threads)
    _installed = shared


def _train_installed(task: Task) -> FinishedRun:
    return task.train(_installed)


class LocalProcesses:
    """``workers`` processes of this machine, each training one run at a time on ``threads`` threads."""

    def __init__(self, workers: int, threads: int) -> None:
        self.workers, self.threads = workers, threads

    def run(self, shared: SharedInputs, tasks: list[Task]) -> Iterator[tuple[int, FinishedRun]]:
        if self.workers == 1 or len(tasks) < 2:  # a pool would only add its start-up
            yield from Serial().run(shared, tasks)
            return
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), initializer=_install,
                                   initargs=(shared, self.threads), mp_context=multiprocessing.get_context("spawn"))
        futures = {pool.submit(_train_installed, task): position for position, task in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BrokenProcessPool as error:
            raise WorkerLost(f"a worker process died while training ({error}); every run that finished before "
                             "is in the run cache, so running the sweep again trains only the missing ones") from error
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _train_remote(shared: SharedInputs, task: Task, threads: int) -> tuple[FinishedRun, list]:
    use_threads(threads)
    return task.train(shared), run_code(task.strategy)


class DaskCluster:
    """A Dask cluster: the scheduler at ``address``, or a local cluster of ``workers`` (processes, or threads of
    this process with ``processes=False``). Its workers must run the same package and code as the driver:
    each run comes back with its worker's code fingerprint, and a mismatch stops the sweep."""

    def __init__(self, address: str | None, workers: int, threads: int, processes: bool = True) -> None:
        self.address, self.workers, self.threads, self.processes = address, workers, threads, processes
        self._client = None

    def client(self):
        """The Dask client, connected on first use (a local cluster is started then)."""
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.address is None:
                cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=self.processes,
                                       dashboard_address=None)
                self._client = Client(cluster)
            else:
                try:
                    self._client = Client(self.address, timeout=CONNECT_TIMEOUT)
                except (OSError, TimeoutError) as error:
                    raise ParameterError(
                        f"dask_address {self.address!r}: no Dask scheduler answered within {CONNECT_TIMEOUT} ({error}). "
                        "Start one (`dask scheduler`, then `dask worker ADDRESS --nthreads 1`), or set dask_address: "
                        "null for a local cluster.") from error
        return self._client

    def run(self, shared: SharedInputs, tasks: list[Task]) -> Iterator[tuple[int, FinishedRun]]:
        from distributed import as_completed as completed_futures
        from distributed.scheduler import KilledWorker

        client = self.client()
        inputs = client.scatter(shared, broadcast=True, hash=False)
        futures = [client.submit(_train_remote, inputs, task, self.threads, pure=False) for task in tasks]
        position = {future.key: n for n, future in enumerate(futures)}
        try:
            for future in completed_futures(futures):
                finished, code = future.result()
                expected = run_code(tasks[position[future.key]].strategy)
                if code != expected:
                    raise RuntimeError(f"a Dask worker trains with other code, packages or threads than this driver "
                                       f"(worker: {code}, driver: {expected}): install the same checkout on every "
                                       "worker; no run of it was cached")
                yield position[future.key], finished
        except KilledWorker as error:
            raise WorkerLost(f"a Dask worker died while training ({error}); every run that finished before is in "
                             "the run cache, so running the sweep again trains only the missing ones") from error
        finally:
            client.cancel(futures)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system reports one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(threads: int) -> int:
    """As many workers of ``threads`` threads as this machine's cores hold, at least one."""
    return max(1, available_cores() // threads)


def check_executor(executor: str, workers: int | None, threads: int, dask_address: str | None = None) -> None:
    """Raise a :class:`ParameterError` naming the key when the study's executor keys cannot work: an
    unknown executor, or workers that do not fit this machine's cores (``workers x threads``)."""
    if executor not in EXECUTORS:
        raise ParameterError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if dask_address is not None and executor != "dask":
        raise ParameterError(f"dask_address is set ({dask_address!r}) but executor is {executor!r}: set executor: dask")
    local = executor == "processes" or dask_address is None
    if workers is not None and local and workers * threads > available_cores():
        raise ParameterError(f"workers x threads = {workers} x {threads} = {workers * threads} exceeds this machine's "
                             f"{available_cores()} cores: lower workers (or threads), or leave workers unset "
                             f"({default_workers(threads)} here)")


def make_executor(executor: str, workers: int | None, threads: int, dask_address: str | None = None) -> Executor:
    """The executor the study's keys name (:func:`check_executor`)."""
    check_executor(executor, workers, threads, dask_address)
    workers = workers or default_workers(threads)
    if executor == "dask":
        return DaskCluster(dask_address, workers, threads)
    return LocalProcesses(workers, threads) if workers > 1 else Serial()


_executor: Executor = Serial()


def use_executor(executor: Executor) -> Executor:
    """Make ``executor`` train every later sweep of this process; returns the one it replaces."""
    global _executor
    previous, _executor = _executor, executor
    return previous


def current_executor() -> Executor:
    return _executor


def train_runs(requests: list[RunRequest], features: DataFeatures, cache: RunCache | None = None,
               on_run: Callable[[], None] | None = None, executor: Executor | None = None) -> list[FinishedRun]:
    """Every run of ``requests``, in order: from ``cache`` where it holds them, the others trained by
    ``executor`` (default: :func:`current_executor`), each written to ``cache`` as it finishes. Requests with
    the same key train once. ``on_run()`` is called after each run, found or trained (progress)."""
    executor = executor or current_executor()
    runs: list[FinishedRun | None] = [None] * len(requests)
    keys = [cache.key(r.data, r.strategy, r.params, r.config) if cache is not None else None for r in requests]
    missing: dict[str | int, list[int]] = {}  # one training per key; without a cache, one per request
    for n, (request, key) in enumerate(zip(requests, keys)):
        found = cache.get(key, request.config.model_selection) if cache is not None else None
        if found is not None:
            runs[n] = found
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
        for position, finished in executor.run(SharedInputs(tuple(data), features), tasks):
            group = groups[position]
            if cache is not None:
                cache.put(keys[group[0]], finished)
                cache.trained += 1
            for n in group:
                runs[n] = finished.under(requests[n].config.model_selection)
                if on_run is not None:
                    on_run()
    return runs

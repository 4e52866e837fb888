"""A store of finished training runs, keyed by everything that decides them.

A run's key hashes the content of what it trains and is scored on (the texts, the teacher's labels and
confidences, the gold labels), the method's strategy and parameters, the whole training configuration
(seed included), a fingerprint of the code that trains and scores a student (the shared loop and the
run's own strategy module, not the other strategies', nor any description), the versions of the packages
that do (torch, transformers, the offline student's wheel, ...) and the thread count (:func:`run_code`). Model selection is not in the key: a run keeps its
checkpoint under every criterion, so the same stored run answers a comparison under either. Re-executing a notebook after a change of text or display finds its runs here; an
interrupted notebook trains only the runs it lacks; a change of any input, or of that code, trains
anew. Each run is one file, written atomically, so an interrupted write leaves no half run behind.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core.params import values_of
from ..core.runinfo import package_versions
from ..core.validation import ParameterError
from ..student.selection import STRATEGIES, Strategy, make_strategy
from ..student.training import Costs, DataFeatures, TrainConfig, TrainingData, train_student

# The modules of the loop every strategy shares: a change to any of them invalidates every cached run. A
# run's key adds its own strategy's module (:func:`strategy_fingerprint`), so a change to one strategy retrains
# only that strategy's runs, and a new strategy leaves every cached run valid.
SHARED_MODULES = ("student.training", "student.selection.base", "student.encoder", "core.metrics",
                  "teacher.artifacts", "core.devices", "core.assets")


DESCRIPTIONS = ("rows",)  # methods that describe a strategy (its comparison rows), never how it trains


def code_lines(source: str) -> str:
    """``source`` as a run's outcome depends on it: its code in order, then the names its imports bind,
    sorted (an import from inside the package without its module, another package's with it); docstrings
    and the methods named in :data:`DESCRIPTIONS` left out (a strategy's rows: its display name, what it
    keeps, what lies past its grid). Moving a module within the package rewrites only where its imports
    point and how they are grouped, and rewording a description rewrites only text, so cached runs stay valid.

    The price: a change that only swaps which of the package's modules a name is imported from, or moves
    an import from one function to another, keeps the fingerprint; it never happens in a move, and the
    modules it could point to are fingerprinted themselves when they decide runs (:data:`SHARED_MODULES`)."""
    tree = ast.parse(source)
    dropped: set[int] = set()
    bindings: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            origin = ("" if isinstance(node, ast.Import) else "from . " if node.level else f"from {node.module} ")
            bindings += [f"{origin}import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                         for alias in node.names]
            dropped.update(range(node.lineno, node.end_lineno + 1))
    shared = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.stmt)
              and not isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno in dropped]
    if shared:
        raise ValueError(f"line {shared[0]} holds an import and other code: give the import a line of its own")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in DESCRIPTIONS:
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            dropped.update(range(first, node.end_lineno + 1))
        elif isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and ast.get_docstring(node, clean=False) is not None \
                and (isinstance(node, ast.Module) or node.body[0].lineno > node.lineno):  # a docstring on lines of its own
            dropped.update(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    code = [line for number, line in enumerate(source.splitlines(), start=1) if number not in dropped and line]
    return "\n".join(code + sorted(bindings))


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(code_lines(path.read_text(encoding="utf-8")).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()[:16]


def code_fingerprint(modules: tuple[str, ...] = SHARED_MODULES) -> str:
    """Hash of the code of ``modules`` (names within the package, :func:`code_lines`), in that order."""
    return _fingerprint([Path(importlib.import_module(f"..{name}", __package__).__file__) for name in modules])


def strategy_fingerprint(strategy: str) -> str:
    """Hash of the code of the modules that define the registered ``strategy``: its class's and those of the
    strategies it inherits from (:class:`Strategy` itself is shared code, :data:`SHARED_MODULES`)."""
    if strategy not in STRATEGIES:
        raise ParameterError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    classes = [c for c in STRATEGIES[strategy].__mro__ if issubclass(c, Strategy) and c is not Strategy]
    return _fingerprint(list(dict.fromkeys(Path(inspect.getfile(c)) for c in classes)))


def run_code(strategy: str) -> list:
    """What decides a run of ``strategy`` besides its inputs: the shared loop's code, the strategy's own code,
    the package versions and the thread count (sums split by thread add in another order at another count)."""
    return [code_fingerprint(), strategy_fingerprint(strategy), package_versions(), torch.get_num_threads()]


@dataclass
class FinishedRun:
    """What a comparison and tuning read of a training run (the student itself is not kept): the
    checkpoint of every model-selection criterion, seen through ``model_selection``'s."""

    checkpoints: dict[str, dict]  # criterion -> {"step", "metrics", "test_proba"}
    model_selection: str
    status: str
    costs: Costs
    seconds: float
    evals: pd.DataFrame

    @property
    def starved(self) -> bool:
        return self.status != "ok"

    @property
    def metrics(self) -> dict[str, float]:
        return self.checkpoints[self.model_selection]["metrics"]

    @property
    def best_step(self) -> int:
        return self.checkpoints[self.model_selection]["step"]

    @property
    def test_proba(self) -> np.ndarray:
        return self.checkpoints[self.model_selection]["test_proba"]

    def under(self, model_selection: str) -> "FinishedRun":
        """The same run, seen through another criterion's checkpoint."""
        if model_selection not in self.checkpoints:
            raise KeyError(f"this run has no {model_selection!r} checkpoint (criteria: {sorted(self.checkpoints)})")
        return replace(self, model_selection=model_selection)


class RunCache:
    """Finished runs under ``directory``, one ``<key>.npz`` each."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        # run_code()'s parts, read once per cache: the strategies' own code on first use (_strategy_code)
        self.shared_code, self.versions, self.threads = code_fingerprint(), package_versions(), torch.get_num_threads()
        self._strategy_code: dict[str, str] = {}
        self.trained = 0  # runs trained (not found) by this cache object: what a resumed notebook redid

    def key(self, data: TrainingData, strategy: str, params: dict, config: TrainConfig) -> str:
        digest = hashlib.sha256()
        for value in asdict(data).values():
            digest.update(np.asarray(value if value is not None else []).tobytes() if not isinstance(value, list)
                          else "\x1f".join(map(str, value)).encode())
            digest.update(b"\x1e")
        training = {k: v for k, v in values_of(config).items() if k != "model_selection"}  # a view, not an input
        if strategy not in self._strategy_code:
            self._strategy_code[strategy] = strategy_fingerprint(strategy)
        code = [self.shared_code, self._strategy_code[strategy], self.versions, self.threads]
        blob = json.dumps([digest.hexdigest(), strategy, params, training, code], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def get(self, key: str, model_selection: str) -> FinishedRun | None:
        path = self._path(key)
        if not path.exists():
            return None
        with np.load(path) as stored:
            record = json.loads(str(stored["record"]))
            checkpoints = {criterion: {**checkpoint, "test_proba": stored[f"test_proba/{criterion}"]}
                           for criterion, checkpoint in record["checkpoints"].items()}
            evals = pd.DataFrame({column: stored[f"evals/{column}"] for column in record["evals"]})
        return FinishedRun(checkpoints=checkpoints, model_selection=model_selection, status=record["status"],
                           costs=Costs(**record["costs"]), seconds=record["seconds"], evals=evals)

    def put(self, key: str, run: FinishedRun) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"checkpoints": {c: {k: v for k, v in checkpoint.items() if k != "test_proba"}
                                  for c, checkpoint in run.checkpoints.items()},
                  "status": run.status, "costs": asdict(run.costs), "seconds": run.seconds,
                  "evals": list(run.evals.columns)}
        arrays = {f"evals/{column}": run.evals[column].to_numpy() for column in run.evals.columns}  # exact floats
        arrays |= {f"test_proba/{c}": checkpoint["test_proba"] for c, checkpoint in run.checkpoints.items()}
        handle, tmp = tempfile.mkstemp(suffix=".tmp.npz", dir=self.directory)  # one per writer
        with os.fdopen(handle, "wb") as file:
            np.savez_compressed(file, record=np.array(json.dumps(record)), **arrays)
        Path(tmp).replace(self._path(key))


def train_once(data: TrainingData, strategy: str, params: dict, config: TrainConfig,
               features: DataFeatures) -> FinishedRun:
    """One training run of ``strategy(**params)`` on ``data``, trained now (the cache is the caller's:
    :func:`llkd_nb.experiments.sweep.train_runs`)."""
    result = train_student(data, make_strategy(strategy, **params), config, features)
    checkpoints = {criterion: {"step": c.step, "metrics": c.metrics, "test_proba": c.test_proba}
                   for criterion, c in result.checkpoints.items()}
    return FinishedRun(checkpoints=checkpoints, model_selection=config.model_selection, status=result.status,
                       costs=result.costs, seconds=result.seconds, evals=result.evals)

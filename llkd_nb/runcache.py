"""A store of finished training runs, keyed by everything that decides them.

A run's key hashes the content of what it trains and is scored on (the texts, the teacher's labels and
confidences, the gold labels), the method's strategy and parameters, the whole training configuration (seed included), and
a fingerprint of the code that trains and scores a student, and the versions of the packages that do
(torch, transformers, the offline student's wheel, ...). Re-executing a notebook after a change of
text or display finds its runs here; an interrupted notebook trains only the runs it lacks; a change of
any input, or of that code, trains anew. Each run is one file, written atomically, so an interrupted
write leaves no half run behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .params import values_of
from .runinfo import package_versions
from .selection import make_strategy
from .training import Costs, DataFeatures, TrainConfig, TrainingData, train_student

# The modules whose code decides a run's outcome: a change to any of them invalidates every cached run.
CODE_MODULES = ("training", "selection", "student", "metrics", "artifacts", "devices", "assets")


def code_fingerprint() -> str:
    """Hash of the source of :data:`CODE_MODULES`."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in CODE_MODULES:
        digest.update((here / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class FinishedRun:
    """What a comparison and tuning read of a training run (the student itself is not kept)."""

    metrics: dict[str, float]
    status: str
    best_step: int
    costs: Costs
    seconds: float
    test_proba: np.ndarray
    evals: pd.DataFrame

    @property
    def starved(self) -> bool:
        return self.status != "ok"


class RunCache:
    """Finished runs under ``directory``, one ``<key>.npz`` each."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.code = [code_fingerprint(), package_versions()]
        self.trained = 0  # runs trained (not found) by this cache object: what a resumed notebook redid

    def key(self, data: TrainingData, strategy: str, params: dict, config: TrainConfig) -> str:
        digest = hashlib.sha256()
        for value in asdict(data).values():
            digest.update(np.asarray(value if value is not None else []).tobytes() if not isinstance(value, list)
                          else "\x1f".join(map(str, value)).encode())
            digest.update(b"\x1e")
        blob = json.dumps([digest.hexdigest(), strategy, params, values_of(config), self.code], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def get(self, key: str) -> FinishedRun | None:
        path = self._path(key)
        if not path.exists():
            return None
        with np.load(path) as stored:
            record = json.loads(str(stored["record"]))
            test_proba = stored["test_proba"]
            evals = pd.DataFrame({column: stored[f"evals/{column}"] for column in record["evals"]})
        return FinishedRun(metrics=record["metrics"], status=record["status"], best_step=record["best_step"],
                           costs=Costs(**record["costs"]), seconds=record["seconds"], test_proba=test_proba,
                           evals=evals)

    def put(self, key: str, run: FinishedRun) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"metrics": run.metrics, "status": run.status, "best_step": run.best_step, "costs": asdict(run.costs),
                  "seconds": run.seconds, "evals": list(run.evals.columns)}
        columns = {f"evals/{column}": run.evals[column].to_numpy() for column in run.evals.columns}  # exact floats
        handle, tmp = tempfile.mkstemp(suffix=".tmp.npz", dir=self.directory)  # one per writer
        with os.fdopen(handle, "wb") as file:
            np.savez_compressed(file, record=np.array(json.dumps(record)), test_proba=run.test_proba, **columns)
        Path(tmp).replace(self._path(key))


def train_run(data: TrainingData, strategy: str, params: dict, config: TrainConfig, features: DataFeatures,
              cache: RunCache | None = None) -> FinishedRun:
    """One training run of ``strategy(**params)`` on ``data``, from ``cache`` when it holds it."""
    key = cache.key(data, strategy, params, config) if cache is not None else None
    if cache is not None and (found := cache.get(key)) is not None:
        return found
    result = train_student(data, make_strategy(strategy, **params), config, features)
    run = FinishedRun(metrics=result.metrics, status=result.status, best_step=result.best_step, costs=result.costs,
                      seconds=result.seconds, test_proba=result.test_proba, evals=result.evals)
    if cache is not None:
        cache.put(key, run)
        cache.trained += 1
    return run

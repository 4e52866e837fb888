"""Equal tuning: every method's grid is searched the same way, on the validation set only.

Each candidate trains on every tuning seed (seeds the comparison does not report) and is scored by
the model-selection criterion at its chosen checkpoint (validation macro-F1 against the teacher's
labels by default, no gold needed; against gold under ``model_selection: gold``). The best mean wins; ties go to the earlier candidate. The outcome
is a :class:`Tuned` record saved in the run folder (``tuning/<method>.json``), so notebook 04 reuses
what notebook 03 tuned for LLKD, and a rerun reuses what nothing invalidated.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.params import values_of
from ..student.training import DataFeatures, TrainConfig, TrainingData, validation_score
from ..teacher.artifacts import TeacherArtifact
from .methods import Method
from .runcache import FinishedRun, RunCache, run_code
from .sweep import RunRequest, train_runs


@dataclass
class Tuned:
    """What tuning one method found: every candidate's validation scores, and the choice."""

    method: str
    chosen: dict
    candidates: list[dict]  # {"params": overrides, "scores": [per tuning seed, None if starved]}
    seeds: list[int]
    key: str
    model_selection: str = "pseudo"  # the criterion the candidates were scored by

    @staticmethod
    def path(run_dir: str | Path, method: str, model_selection: str = "pseudo") -> Path:
        slug = re.sub(r"[^a-z0-9]+", "_", method.lower()).strip("_")
        return Path(run_dir) / "tuning" / f"{slug}{'' if model_selection == 'pseudo' else '.' + model_selection}.json"

    def save(self, run_dir: str | Path) -> Path:
        path = self.path(run_dir, self.method, self.model_selection)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, run_dir: str | Path, method: str, model_selection: str = "pseudo") -> "Tuned | None":
        path = cls.path(run_dir, method, model_selection)
        return cls(**json.loads(path.read_text())) if path.exists() else None

    def table(self) -> pd.DataFrame:
        """One row per candidate: its overrides, mean validation score, and whether it was chosen."""
        rows = []
        for candidate in self.candidates:
            scores = [s for s in candidate["scores"] if s is not None]
            rows.append({
                "candidate": ", ".join(f"{k}={v}" for k, v in candidate["params"].items()),
                "validation macro-F1": float(np.mean(scores)) if scores else float("nan"),
                "starved seeds": sum(s is None for s in candidate["scores"]),
                "chosen": candidate["params"] == self.chosen,
            })
        return pd.DataFrame(rows).set_index("candidate")


def tuning_key(method: Method, config: TrainConfig, seeds: list[int], artifact: TeacherArtifact) -> str:
    """Changes whenever anything that could change the outcome changes: the method's strategy, parameters
    and grid (not its descriptions), the code, packages and threads its runs depend on (:func:`run_code`),
    the training, the seeds and the teacher."""
    blob = json.dumps([method.decisive(), run_code(method.strategy), values_of(config), list(seeds),
                       artifact.identity()], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _score(run: FinishedRun, model_selection: str) -> float | None:
    return None if run.starved else run.metrics[validation_score(model_selection)]


def _scored(candidates: list[tuple[dict, RunRequest]], seeds: list[int], features: DataFeatures, model_selection: str,
            on_run=None, cache: RunCache | None = None) -> list[dict]:
    """Each candidate (its overrides, and the run it asks for, the seed aside) trained on every seed of ``seeds``
    in one sweep (in parallel where the executor has workers): ``{"params": overrides, "scores": [per seed,
    None if starved]}``."""
    requests = [replace(request, config=replace(request.config, seed=seed)) for _, request in candidates for seed in seeds]
    runs = iter(train_runs(requests, features, cache, on_run))
    return [{"params": dict(overrides), "scores": [_score(next(runs), model_selection) for _ in seeds]}
            for overrides, _ in candidates]


def _candidate(method: Method, overrides: dict, data: TrainingData, config: TrainConfig) -> tuple[dict, RunRequest]:
    return overrides, RunRequest(data, method.strategy, {**method.params, **overrides}, config)


def tune(methods: list[Method], data: TrainingData, features: DataFeatures, config: TrainConfig, seeds: list[int],
         keys: dict[str, str] | None = None, on_run=None, cache: RunCache | None = None,
         extend: bool = False) -> dict[str, Tuned]:
    """Train every candidate of each method's grid on every seed of ``seeds`` and pick each method's best by
    validation. A candidate that starved on any tuning seed is never chosen. ``extend``: where the best is an
    end of the grid that is no hard limit, also try the candidate one step past it (:meth:`Method.step_past`,
    a second sweep) and pick again. ``keys``: method name -> its tuning key, recorded with the choice;
    ``on_run()`` is called after each training run (progress)."""
    scored = iter(_scored([_candidate(m, o, data, config) for m in methods for o in m.grid], seeds, features,
                          config.model_selection, on_run, cache))
    grids = {m.name: [next(scored) for _ in m.grid] for m in methods}
    if extend:
        steps = [(m, past) for m in methods
                 if (past := m.step_past(_best(m.name, grids[m.name], seeds, "", config.model_selection).chosen))]
        extra = _scored([_candidate(m, past, data, config) for m, past in steps], seeds, features, config.model_selection,
                        on_run, cache)
        for (method, _), candidate in zip(steps, extra):
            grids[method.name].append(candidate)
    return {m.name: _best(m.name, grids[m.name], seeds, (keys or {}).get(m.name, ""), config.model_selection)
            for m in methods}


def _best(name: str, candidates: list[dict], seeds: list[int], key: str, model_selection: str) -> Tuned:
    """The candidate with the best mean score; one that starved on any seed is never chosen."""
    means = [-np.inf if any(s is None for s in c["scores"]) else np.mean(c["scores"]) for c in candidates]
    return Tuned(method=name, chosen=candidates[int(np.argmax(means))]["params"], candidates=candidates,
                 seeds=list(seeds), key=key, model_selection=model_selection)


LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3)
LEARNING_RATE = "learning rate"  # the name its record is saved under (tuning/learning_rate.json)


def rates_past(grid: tuple[float, ...] = LEARNING_RATES) -> tuple[float, float]:
    """One step past each end of a learning-rate ``grid``, at the ratio of its last step, to one digit."""
    return float(f"{grid[0] ** 2 / grid[1]:.0e}"), float(f"{grid[-1] ** 2 / grid[-2]:.0e}")


def tune_rate(method: Method, data: TrainingData, features: DataFeatures, config: TrainConfig, seeds: list[int],
              key: str = "", cache: RunCache | None = None, grid: tuple[float, ...] = LEARNING_RATES,
              extend: bool = False) -> Tuned:
    """The learning rate over ``grid`` that scores best for ``method`` on the tuning ``seeds`` (one sweep).
    ``extend``: where an end of the grid wins, also try the rate one step past it (:func:`rates_past`)."""
    def scored(rates: list[float]) -> list[dict]:
        return _scored([({"lr": lr}, RunRequest(data, method.strategy, method.params, replace(config, lr=lr)))
                        for lr in rates], seeds, features, config.model_selection, cache=cache)

    candidates = scored(list(grid))
    chosen = _best(LEARNING_RATE, candidates, seeds, key, config.model_selection).chosen["lr"]
    if extend and chosen in (grid[0], grid[-1]):
        candidates += scored([rates_past(grid)[chosen == grid[-1]]])
    return _best(LEARNING_RATE, candidates, seeds, key, config.model_selection)


def rate_edge(chosen: dict, grid: tuple[float, ...] = LEARNING_RATES, extended: bool = False) -> str:
    """Empty if the chosen learning rate lies inside ``grid`` (``extended``: with a step past each end);
    else which edge, and what lies past it."""
    ends = rates_past(grid) if extended else (grid[0], grid[-1])
    if chosen["lr"] not in ends:
        return ""
    first = chosen["lr"] == ends[0]
    where = "one step past the grid's {} value (tuning extended the grid)" if extended else "the grid's {} value"
    return (f"lr={chosen['lr']} is {where.format('first' if first else 'last')}; past it: a "
            f"{'smaller' if first else 'larger'} learning rate, not tried")


def tune_learning_rate(method: Method, artifact: TeacherArtifact, config: TrainConfig, seeds: list[int],
                       run_dir: str | Path, features: DataFeatures | None = None, cache: RunCache | None = None,
                       grid: tuple[float, ...] = LEARNING_RATES) -> Tuned:
    """The learning rate every method then shares, tuned once on ``method`` (all pseudo-labels: no
    selection knob to interact with) over ``grid``, on the tuning seeds, by the model-selection score.
    Saved in the run folder and reused while nothing it depends on changed."""
    key = tuning_key(method, replace(config, lr=max(grid)), seeds, artifact) + ":" + ",".join(map(str, grid))
    saved = Tuned.load(run_dir, LEARNING_RATE, config.model_selection)
    if saved is not None and saved.key == key:
        return saved
    data = TrainingData.from_artifact(artifact, method.targets, config.model_selection)
    tuned = tune_rate(method, data, features or DataFeatures.encode(data, config), config, seeds, key, cache, grid)
    tuned.save(run_dir)
    return tuned


def tune_all(methods: list[Method], artifact: TeacherArtifact, config: TrainConfig, seeds: list[int],
             run_dir: str | Path, features: DataFeatures | None = None, progress: bool = True,
             cache: RunCache | None = None) -> dict[str, Tuned]:
    """Tune every method that has a grid, reusing a saved :class:`Tuned` whose key still matches."""
    from tqdm.auto import tqdm

    to_tune = [m for m in methods if m.grid]
    results: dict[str, Tuned] = {}
    pending = []
    for method in to_tune:
        key = tuning_key(method, config, seeds, artifact)
        saved = Tuned.load(run_dir, method.name, config.model_selection)
        if saved is not None and saved.key == key:
            results[method.name] = saved
        else:
            pending.append((method, key))
    if pending:
        data = TrainingData.from_artifact(artifact, "pseudo", config.model_selection)
        features = features or DataFeatures.encode(data, config)
        total = sum(len(m.grid) for m, _ in pending) * len(seeds)
        with tqdm(total=total, desc="tuning runs", unit="run", disable=not progress) as bar:
            found = tune([m for m, _ in pending], data, features, config, seeds, {m.name: k for m, k in pending},
                         on_run=lambda: bar.update(1), cache=cache)
        for name, tuned in found.items():
            tuned.save(run_dir)
            results[name] = tuned
    return results

"""Run several methods over several seeds through the shared loop, and summarise them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from tqdm import tqdm

from .artifacts import TeacherArtifact
from .metrics import per_class_f1
from .selection import make_strategy
from .training import EmptySelectionError, TrainConfig, TrainingData, train_student

# Variants of LLKD's reconstruction studied in notebook 03 (method.md lists the open questions).
LLKD_VARIANTS: dict[str, dict] = {
    "prototype: prior init, m=0.99": {"params": {"init": "prior", "student_momentum": 0.99}},
    "first-batch init, m=0.99": {"params": {"student_momentum": 0.99}},
    "student threshold m_S=0.9": {"params": {"student_momentum": 0.9}},
    "student threshold m_S=0.5": {"params": {"student_momentum": 0.5}},
    "student threshold per batch (m_S=0)": {"params": {"student_momentum": 0.0}},
    "m_S=0.5 + teacher per-class median": {"params": {"student_momentum": 0.5, "teacher_level": "quantile"}},
    "m_S=0.5 + weights (c+u)/2": {"params": {"student_momentum": 0.5, "weighting": "mean"}},
    "m_S=0.5 + full kept batch per update": {"params": {"student_momentum": 0.5}, "training": {"min_kept_per_step": -1}},
}


@dataclass(frozen=True)
class Method:
    """A row of a comparison: a strategy with its parameters, training overrides and targets.

    ``training`` overrides :class:`TrainConfig` fields; ``min_kept_per_step: -1`` means one batch size.
    ``targets="gold"`` trains on the pool's gold labels (the supervised ceiling, not a distillation).
    """

    name: str
    strategy: str = "all"
    params: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    targets: Literal["pseudo", "gold"] = "pseudo"

    def config(self, base: TrainConfig, seed: int) -> TrainConfig:
        overrides = dict(self.training)
        if overrides.get("min_kept_per_step") == -1:
            overrides["min_kept_per_step"] = base.batch_size
        return replace(base, seed=seed, **overrides)


def baseline_methods(llkd: dict | None = None) -> list[Method]:
    """Notebook 04's rows: every baseline of method.md, LLKD without and with weights, and the ceiling.
    ``llkd`` (``{"params": ..., "training": ...}``) sets LLKD's variant, e.g. the one notebook 03 chose."""
    llkd = llkd or {}
    params, training = dict(llkd.get("params", {})), dict(llkd.get("training", {}))
    return [
        Method("all pseudo-labels", "all"),
        Method("fixed confidence threshold (0.5)", "fixed_threshold", {"threshold": 0.5}),
        Method("top 50% per class", "topk_per_class", {"fraction": 0.5}),
        Method("adaptive teacher threshold only", "llkd", {**params, "use_student": False, "weighting": "none"}, training),
        Method("student uncertainty only", "llkd", {**params, "use_teacher": False, "weighting": "none"}, training),
        Method("small-loss selection", "small_loss"),
        Method("self-paced learning", "self_paced"),
        Method("soft weighting (SoftMatch-style)", "soft_weighting"),
        Method("LLKD without weights", "llkd", {**params, "weighting": "none"}, training),
        Method("LLKD", "llkd", params, training),
        Method("gold labels (ceiling, uses gold)", "all", targets="gold"),
    ]


@dataclass
class Comparison:
    """Per-(method, seed) scores and test predictions; a run whose strategy kept nothing for a whole
    pass over the pool has ``status`` "starved: ..." and no scores."""

    runs: pd.DataFrame
    predictions: dict[tuple[str, int], np.ndarray]

    def summary(self) -> pd.DataFrame:
        """Mean and std over seeds per method (starved runs excluded, and counted), in run order."""
        order = list(dict.fromkeys(self.runs["method"]))
        grouped = self.runs.groupby("method", sort=False)
        table = pd.DataFrame({
            "accuracy_mean": grouped["test_accuracy"].mean(), "accuracy_std": grouped["test_accuracy"].std(ddof=1),
            "macro_f1_mean": grouped["test_macro_f1"].mean(), "macro_f1_std": grouped["test_macro_f1"].std(ddof=1),
            "val_macro_f1_mean": grouped["val_target_macro_f1"].mean(),
            "pool_used": grouped["fraction_used"].mean(), "seconds": grouped["seconds"].mean(), "seeds": grouped.size(),
            "starved_runs": grouped["status"].agg(lambda s: int((s != "ok").sum())),
        })
        return table.loc[order]

    def per_class_f1(self, gold: np.ndarray, labels: list[str]) -> pd.DataFrame:
        """Per-class test F1 averaged over seeds, one column per method."""
        out: dict[str, list[np.ndarray]] = {}
        for (method, _), proba in self.predictions.items():
            out.setdefault(method, []).append(per_class_f1(gold, proba.argmax(axis=1), len(labels)))
        return pd.DataFrame({m: np.mean(v, axis=0) for m, v in out.items()}, index=labels)


def run_methods(artifact: TeacherArtifact, methods: list[Method], seeds: list[int], base: TrainConfig,
                progress: bool = True) -> Comparison:
    """Train every method on every seed (same artifact, student, budget); progress bar over runs."""
    if not seeds:
        raise ValueError("at least one seed is needed")
    data = {targets: TrainingData.from_artifact(artifact, targets, base.model_selection) for targets in ("pseudo", "gold")}
    rows, predictions = [], {}
    with tqdm(total=len(methods) * len(seeds), desc="training runs", disable=not progress, unit="run", mininterval=10) as bar:
        for method in methods:
            for seed in seeds:
                bar.set_postfix_str(f"{method.name} / seed {seed}")
                try:
                    result = train_student(data[method.targets], make_strategy(method.strategy, **method.params),
                                           method.config(base, seed))
                except EmptySelectionError as error:  # a starved method is a result, not a crash
                    rows.append({"method": method.name, "seed": seed, "status": f"starved: {str(error).split(';')[0]}",
                                 **dict.fromkeys(("test_accuracy", "test_macro_f1", "val_target_macro_f1", "fraction_used", "seconds"), np.nan)})
                else:
                    rows.append({"method": method.name, "seed": seed, "status": "ok", **result.metrics,
                                 "seconds": result.seconds, "best_step": result.best_step})
                    predictions[(method.name, seed)] = result.test_proba
                bar.update(1)
    return Comparison(runs=pd.DataFrame(rows), predictions=predictions)

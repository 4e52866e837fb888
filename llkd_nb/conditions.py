"""Notebook 05: under which teacher and budget does LLKD's dual selection beat simpler selection?

A **condition** is a teacher artifact on the study's texts. Real conditions come from real levers: the
zero-shot teacher with raw and with calibrated confidences, and a few-shot prompt. Simulated conditions
set the teacher's accuracy to chosen levels (:func:`llkd_nb.simulation.simulated_distribution`): they use
the gold labels by construction, so they are a **controlled simulation**, reported apart from the real teachers.

Every condition x budget runs the same methods on the same seeds under the same protocol as notebook
04 (:func:`llkd_nb.compare.run_methods`), after the same equal tuning, and compares LLKD with every
other method by the same paired intervals (Holm-corrected over the map).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import teacher_scores
from .artifacts import SPLITS, TeacherArtifact
from .data import DataConfig, DataError
from .labeling import TeacherConfig
from .methods import LLKD_ROW, Method, with_tuned
from .params import param
from .runcache import RunCache
from .simulation import simulated_distribution
from .stats import PairedDifference, holm_correct
from .training import DataFeatures, TrainConfig, TrainingData
from .tuning import tune
from .validation import ParameterError, check_range, check_types

# The rows of notebook 05 (LLKD, its two halves, the simpler selections) and their short names.
SHORT_NAMES = {"all pseudo-labels": "all", "fixed confidence threshold": "fixed threshold",
               "top-k % per class": "top-k per class", "adaptive teacher threshold only": "teacher half",
               "student uncertainty only": "student half", LLKD_ROW: LLKD_ROW}
CONDITION_METHODS = tuple(SHORT_NAMES)


@dataclass
class ConditionsConfig:
    """Notebook 05's grid: which teachers and which training budgets."""

    few_shot: int = param(5, "in-context examples of the few-shot teacher (0: no few-shot teacher)")
    simulated_accuracies: list = param([0.5, 0.7, 0.9], "pool accuracies of the simulated teachers (controlled simulation: uses gold)")
    informativeness: float = param(2.0, "how strongly a simulated teacher's correctness follows its confidence rank (0: not at all)")
    budgets: list = param([20, 60, 180], "training budgets in optimizer steps, scarce to plenty; tuning uses the middle one")

    def __post_init__(self) -> None:
        check_types(self)
        check_range("few_shot", self.few_shot, 0, None)
        check_range("informativeness", self.informativeness, 0, None)
        if not all(isinstance(a, (int, float)) and 0 < a < 1 for a in self.simulated_accuracies):
            raise ParameterError(f"simulated_accuracies must be numbers in (0, 1), got {self.simulated_accuracies!r}")
        if not self.budgets or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in self.budgets):
            raise ParameterError(f"budgets must be a non-empty list of positive integers, got {self.budgets!r}")

    @property
    def tuning_budget(self) -> int:
        return sorted(self.budgets)[len(self.budgets) // 2]


@dataclass
class Condition:
    """One teacher: its name, its artifact, and whether it is a controlled simulation."""

    name: str
    artifact: TeacherArtifact
    simulated: bool = False

    def quality(self, split: str = "pool") -> dict[str, float]:
        """The teacher's accuracy, macro-F1, ECE and AUROC on ``split`` under its own calibration."""
        return teacher_scores(self.artifact, split).loc[self.artifact.meta["calibration"]].to_dict()


def simulated_teacher(artifact: TeacherArtifact, accuracy: float, informativeness: float, seed: int = 0) -> Condition:
    """The controlled-simulation condition at ``accuracy``, from ``artifact``'s calibrated distribution
    on every split (the pool trains, validation selects the checkpoint; test is scored against gold)."""
    rng = np.random.default_rng(seed)
    probs = {name: simulated_distribution(artifact.probs(name), artifact.gold(name), accuracy, informativeness, rng)
             for name in SPLITS}
    name = f"simulated, accuracy {accuracy:.2f}"
    simulated = artifact.with_distribution(probs, {
        "teacher": f"controlled simulation from {artifact.meta.get('teacher')}", "simulation": {
            "accuracy": accuracy, "informativeness": informativeness, "seed": seed,
            "base_calibration": artifact.meta["calibration"]}})
    return Condition(name, simulated, simulated=True)


def real_conditions(zero_shot: TeacherArtifact, few_shot: TeacherArtifact | None = None) -> list[Condition]:
    """The real teachers: zero-shot with raw confidences, zero-shot calibrated (the study's calibration),
    and few-shot calibrated when given."""
    calibration = zero_shot.meta["calibration"]
    conditions = [Condition("zero-shot, raw", zero_shot.recalibrated("none"))]
    if calibration != "none":
        conditions.append(Condition(f"zero-shot, {calibration} calibration", zero_shot))
    if few_shot is not None:
        shots = few_shot.meta["teacher_config"]["num_examples"]
        conditions.append(Condition(f"{shots}-shot, {few_shot.meta['calibration']} calibration", few_shot))
    return conditions


def label_real_teachers(data: DataConfig, teacher: TeacherConfig, few_shot: int, cache_path: str | Path,
                        progress: bool = True) -> list[Condition]:
    """Label the study's texts zero-shot and, when ``few_shot > 0``, with ``few_shot`` in-context
    examples (drawn from the labelled validation set, so those few validation texts are in the prompt);
    both go through the teacher cache, so texts notebook 01 scored are not scored again."""
    from .labeling import label_all, make_prompt, prepare

    zero_shot_config = replace(teacher, num_examples=0)
    spec, splits, model, prompt = prepare(data, zero_shot_config)
    for split, frame in splits.frames().items():
        if frame.empty or frame["label"].isna().any():
            raise DataError(f"notebook 05 needs gold labels on every split (the simulated teachers and the test "
                            f"scores use them); the {split} split has none")
    zero_shot = label_all(data, zero_shot_config, spec, splits, model, prompt, cache_path, progress).artifact
    few_shot_artifact = None
    if few_shot:
        config = replace(teacher, num_examples=few_shot)
        prompt = make_prompt(model, spec, splits, data, config)
        few_shot_artifact = label_all(data, config, spec, splits, model, prompt, cache_path, progress).artifact
    return real_conditions(zero_shot, few_shot_artifact)


@dataclass
class ConditionResults:
    """Every run (``runs``: condition, budget, method, seed, scores, costs) and, per condition x budget
    x method, the summary and the paired difference LLKD − method (``cells``)."""

    runs: pd.DataFrame
    cells: pd.DataFrame
    tuning: pd.DataFrame

    def best_other(self) -> pd.DataFrame:
        """Per condition x budget, the best other method by mean validation score (not by test) and
        LLKD's paired difference with it, Holm-corrected over the map's cells (the map is one family)."""
        others = self.cells[self.cells["method"] != LLKD_ROW].dropna(subset=["val_macro_f1_mean"])
        best = others.loc[others.groupby(["condition", "budget"], sort=False)["val_macro_f1_mean"].idxmax()]
        return holm_columns(best.reset_index(drop=True))


def holm_columns(cells: pd.DataFrame) -> pd.DataFrame:
    """Holm's correction over the rows that hold a difference (one family): ``p_holm``, the corrected
    interval ``low``/``high`` and the ``verdict`` read from it; the raw interval stays in ``*_raw``."""
    rows = cells.dropna(subset=["p_raw"])
    corrected = holm_correct({index: PairedDifference((), row.llkd_minus, row.se, row.df, row.p_raw)
                              for index, row in rows.iterrows()})
    out = cells.copy()
    for column in ("p_holm", "low", "high", "verdict"):
        out[column] = None if column == "verdict" else np.nan
    for index, difference in corrected.items():
        low, high = difference.corrected
        out.loc[index, ["p_holm", "low", "high", "verdict"]] = [difference.p_adjusted, low, high, difference.verdict]
    return out


def run_conditions(conditions: list[Condition], methods: list[Method], grid: ConditionsConfig, seeds: list[int],
                   tuning_seeds: list[int], config: TrainConfig, replicates: int, features: DataFeatures | None = None,
                   tune_methods: bool = True, progress: bool = True, cache: RunCache | None = None) -> ConditionResults:
    """Tune every method per condition at the middle budget (``grid.tuning_budget``), then run every
    method x seed at every budget, and compare LLKD with each method, paired over seeds and test texts."""
    from tqdm.auto import tqdm

    from .compare import run_methods

    budgets = grid.budgets
    texts = conditions[0].artifact.identity()["texts"]
    if any(c.artifact.identity()["texts"] != texts for c in conditions):
        raise ValueError("every condition must label the same texts (same data and split)")
    features = features or DataFeatures.encode(TrainingData.from_artifact(conditions[0].artifact), config)
    run_frames, cell_rows, tuning_rows = [], [], []
    with tqdm(total=len(conditions) * (len(budgets) + 1), desc="conditions x budgets", disable=not progress) as bar:
        for condition in conditions:
            artifact = condition.artifact
            gold = artifact.gold("test")
            data = TrainingData.from_artifact(artifact, "pseudo", config.model_selection)
            chosen = {}
            for method in methods:
                if tune_methods and method.grid:
                    tuned = tune(method, data, features, replace(config, max_steps=grid.tuning_budget), tuning_seeds,
                                 cache=cache)
                    tuning_rows.append({"condition": condition.name, "method": method.name,
                                        "chosen": ", ".join(f"{k}={v}" for k, v in tuned.chosen.items())})
                    chosen[method.name] = tuned.chosen
            tuned_methods = with_tuned(methods, chosen)
            bar.update(1)
            for budget in budgets:
                comparison = run_methods(artifact, tuned_methods, seeds, replace(config, max_steps=budget), features,
                                         progress=False, cache=cache)
                run_frames.append(comparison.runs.assign(condition=condition.name, budget=budget))
                differences = comparison.against(LLKD_ROW, gold, artifact.num_labels, replicates)
                for method, row in comparison.summary().iterrows():
                    difference = differences.get(method)
                    cell_rows.append({
                        "condition": condition.name, "simulated": condition.simulated, "budget": budget, "method": method,
                        "macro_f1_mean": row["macro_f1_mean"], "macro_f1_std": row["macro_f1_std"],
                        "val_macro_f1_mean": row["val_macro_f1_mean"], "starved_runs": row["starved_runs"],
                        "gradient_samples": row["gradient_samples"],
                        **({"llkd_minus": difference.mean, "se": difference.se, "df": difference.df,
                            "p_raw": difference.p_value, "low_raw": difference.low, "high_raw": difference.high}
                           if difference else {}),
                    })
                bar.update(1)
    runs = pd.concat(run_frames, ignore_index=True)
    runs = runs[["condition", "budget", *[c for c in runs.columns if c not in ("condition", "budget")]]]
    return ConditionResults(runs=runs, cells=holm_columns(pd.DataFrame(cell_rows)), tuning=pd.DataFrame(tuning_rows))


def conclusion(best: pd.DataFrame, teachers: pd.DataFrame) -> str:
    """The verdicts of the map in words: real teachers and the controlled simulation apart, and how
    LLKD's margin over the best other method moves with teacher accuracy and with the budget."""
    sentences = []
    for simulated, title in ((False, "With the real teachers"), (True, "In the controlled simulation")):
        part = best[best["simulated"] == simulated]
        if part.empty:
            continue
        counts = part["verdict"].value_counts()
        sentences.append(
            f"{title}, LLKD is better than the best other method in {counts.get('better', 0)} of {len(part)} "
            f"teacher x budget cells, worse in {counts.get('worse', 0)}, and not distinguishable in "
            f"{counts.get('no detectable difference', 0)} (Holm-corrected over the map's cells).")
        accuracy = teachers.loc[part["condition"], "accuracy"].to_numpy()
        if part["condition"].nunique() > 1:
            rho = pd.Series(accuracy).corr(pd.Series(part["llkd_minus"].to_numpy()), method="spearman")
            sentences.append(f"Its margin {'grows' if rho > 0 else 'shrinks'} with the teacher's accuracy "
                             f"(Spearman {rho:+.2f} over the cells).")
        by_budget = part.groupby("budget")["llkd_minus"].mean()
        sentences.append("Averaged over these teachers, the margin is " + ", ".join(
            f"{value:+.3f} at {budget} steps" for budget, value in by_budget.items()) + ".")
    return " ".join(sentences)

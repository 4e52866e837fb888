"""Run methods over seeds under one protocol, and compare each with LLKD, paired.

Every method gets the same teacher artifact, student, budget, protocol, model selection and seeds;
their tuned parameters come from :mod:`llkd_nb.experiments.tuning`. The comparison keeps every run's
test predictions and learning curve, reports what each method cost, and turns paired intervals over
seeds and test texts, Holm-corrected within the table (:mod:`llkd_nb.experiments.stats`), into verdict
words. A run that starved (kept nothing for a whole pass) stays in: it is scored as it stood when it
stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.metrics import per_class_f1
from ..core.params import param
from ..core.validation import ParameterError, check_types
from ..student.training import DataFeatures, TrainConfig, TrainingData, validation_score
from ..teacher.artifacts import TeacherArtifact
from .methods import CEILING_ROW, LLKD_ROW, UNWEIGHTED_ROW, Method
from .runcache import RunCache
from .stats import AACalibration, PairedDifference, holm_correct, paired_difference, seed_interval
from .sweep import RunRequest, train_runs


@dataclass
class ComparisonConfig:
    """Seeds, tuning and the robustness check of notebooks 03-04."""

    seeds: list = param(list(range(10)), "training seeds of the reported comparison (at least 2)")
    tune: bool = param(True, "tune every method's grid on the validation set (False: every method at its default)")
    tuning_seeds: list = param([100, 101, 102], "seeds for tuning only, never reported; a grid point's score is their mean")
    robustness: bool = param(True, "rerun LLKD and the best baseline under the other protocol")
    a_a_seeds: int = param(30, "LLKD's seeds in the A/A calibration of the verdict rule: the reported seeds and "
                               "more that no other run uses (at least 2 x seeds + 1)")
    bootstrap_replicates: int = param(2000, "bootstrap replicates of the test texts in the paired interval")
    run_cache: bool = param(True, "reuse finished training runs (cache/runs/ beside the run folder) whose inputs and training code match")

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("seeds", "tuning_seeds"):
            values = getattr(self, name)
            if not values or not all(isinstance(s, int) and not isinstance(s, bool) for s in values):
                raise ParameterError(f"{name} must be a non-empty list of integers, got {values!r}")
            if len(set(values)) != len(values):
                raise ParameterError(f"{name} must not repeat a seed, got {values!r}")
        if len(self.seeds) < 2:
            raise ParameterError(f"seeds must hold at least 2 seeds (the paired interval's seed component has "
                                 f"len(seeds) - 1 degrees of freedom), got {self.seeds!r}")
        if set(self.seeds) & set(self.tuning_seeds):
            raise ParameterError(f"tuning_seeds {self.tuning_seeds} must not overlap the reported seeds {self.seeds}")
        if self.a_a_seeds < 2 * len(self.seeds) + 1:
            raise ParameterError(f"a_a_seeds must be at least 2 x seeds + 1 = {2 * len(self.seeds) + 1} (two disjoint "
                                 f"arms of {len(self.seeds)} seeds and a seed to spare), got {self.a_a_seeds}")
        if self.bootstrap_replicates < 100:
            raise ParameterError(f"bootstrap_replicates must be at least 100, got {self.bootstrap_replicates}")


    def cache_for(self, run_dir: str | Path) -> RunCache | None:
        """The run cache beside ``run_dir`` (shared by the runs of one folder of runs), or None when off."""
        return RunCache(Path(run_dir).parent / "cache" / "runs") if self.run_cache else None


COST_COLUMNS = ("optimizer_steps", "gradient_samples", "training_forwards", "seconds")


@dataclass
class Comparison:
    """Per-(method, seed) scores, costs, test predictions and learning curves. A run whose strategy
    kept nothing for a whole pass over the pool has ``status`` "starved at step n" and the scores of the
    student as it stood then."""

    runs: pd.DataFrame
    predictions: dict[tuple[str, int], np.ndarray]
    curves: dict[tuple[str, int], pd.DataFrame]
    protocol: str
    model_selection: str = "pseudo"

    def summary(self) -> pd.DataFrame:
        """Mean and std over seeds per method (starved runs included, and counted), in run order.
        ``val_macro_f1_mean`` is the validation score that model selection reads."""
        order = list(dict.fromkeys(self.runs["method"]))
        grouped = self.runs.groupby("method", sort=False)
        validation = validation_score(self.model_selection)
        mean = grouped[["test_accuracy", "test_macro_f1", validation, "fraction_used", *COST_COLUMNS]].mean()
        table = pd.DataFrame({
            "accuracy_mean": mean["test_accuracy"], "accuracy_std": grouped["test_accuracy"].std(ddof=1),
            "macro_f1_mean": mean["test_macro_f1"], "macro_f1_std": grouped["test_macro_f1"].std(ddof=1),
            "val_macro_f1_mean": mean[validation], "pool_used": mean["fraction_used"],
            **{column: mean[column] for column in COST_COLUMNS},
            "seeds": grouped.size(), "starved_runs": grouped["status"].agg(lambda s: int((s != "ok").sum())),
        })
        return table.loc[order]

    def stacked_predictions(self, method: str, seeds: list[int]) -> np.ndarray:
        """``[S, N]`` predicted classes of ``method``, one row per seed."""
        return np.stack([self.predictions[(method, seed)].argmax(axis=1) for seed in seeds])

    def against(self, reference: str, gold: np.ndarray, num_labels: int, replicates: int = 2000,
                metric: str = "macro_f1", exclude: tuple[str, ...] = ()) -> dict[str, PairedDifference]:
        """``reference - method`` for every other method (but ``exclude``), paired over seeds and test
        texts, Holm-corrected over the comparisons returned (one table, one family)."""
        seeds = sorted(set(self.runs["seed"]))
        reference_predictions = self.stacked_predictions(reference, seeds)
        return holm_correct({
            method: paired_difference(gold, reference_predictions, self.stacked_predictions(method, seeds),
                                      num_labels, metric, replicates)
            for method in dict.fromkeys(self.runs["method"]) if method != reference and method not in exclude
        })

    def per_class_f1(self, gold: np.ndarray, labels: list[str]) -> pd.DataFrame:
        """Per-class test F1 averaged over seeds, one column per method."""
        out: dict[str, list[np.ndarray]] = {}
        for (method, _), proba in self.predictions.items():
            out.setdefault(method, []).append(per_class_f1(gold, proba.argmax(axis=1), len(labels)))
        return pd.DataFrame({m: np.mean(v, axis=0) for m, v in out.items()}, index=labels)

    def per_class_difference(self, gold: np.ndarray, labels: list[str], method: str,
                             reference: str = LLKD_ROW) -> pd.DataFrame:
        """Per class, the test F1 of ``reference`` minus ``method``, paired by seed: the mean and a 95 %
        t-interval over seeds (columns mean, low, high). Seed noise only and one interval per class,
        uncorrected: it shows where the gains lie, it does not give verdicts."""
        if method == reference:
            raise ValueError(f"per_class_difference compares two methods, got {method!r} twice")
        scores: dict[int, dict[str, np.ndarray]] = {}
        for (name, seed), proba in self.predictions.items():
            if name in (reference, method):
                scores.setdefault(seed, {})[name] = per_class_f1(gold, proba.argmax(axis=1), len(labels))
        per_seed = [by_method[reference] - by_method[method] for by_method in scores.values() if len(by_method) == 2]
        mean, low, high = seed_interval(np.array(per_seed))
        return pd.DataFrame({"mean": mean, "low": low, "high": high}, index=labels)

    def learning_curves(self) -> pd.DataFrame:
        """Every run's validation curve, long format: method, seed, step, scores."""
        frames = [curve.assign(method=method, seed=seed) for (method, seed), curve in self.curves.items()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def verdict_table(differences: dict[str, PairedDifference], reference: str = LLKD_ROW) -> pd.DataFrame:
    """One row per method: the paired difference ``reference - method``, its raw and Holm-corrected
    interval and p-value, the per-seed differences, and the verdict (from the corrected interval)."""
    def interval(bounds: tuple[float, float]) -> str:
        return f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]"

    return pd.DataFrame({
        f"{reference} − method (mean over seeds)": {m: d.mean for m, d in differences.items()},
        "95 % interval (raw)": {m: interval((d.low, d.high)) for m, d in differences.items()},
        "p (raw)": {m: d.p_value for m, d in differences.items()},
        "95 % interval (Holm)": {m: interval(d.corrected) for m, d in differences.items()},
        "p (Holm)": {m: d.p_adjusted for m, d in differences.items()},
        "per seed": {m: " ".join(f"{x:+.3f}" for x in d.per_seed) for m, d in differences.items()},
        f"{reference} is": {m: d.verdict for m, d in differences.items()},
    })


def run_methods(artifact: TeacherArtifact, methods: list[Method], seeds: list[int], config: TrainConfig,
                features: DataFeatures | None = None, progress: bool = True, cache: RunCache | None = None) -> Comparison:
    """Train every method on every seed (same artifact, student, budget, protocol) as one sweep (in parallel
    where the executor has workers); a progress bar over runs. Features are computed once and shared; runs
    found in ``cache`` are not trained again."""
    from tqdm.auto import tqdm

    if not seeds:
        raise ValueError("at least one seed is needed")
    data = {t: TrainingData.from_artifact(artifact, t, config.model_selection) for t in {m.targets for m in methods}}
    features = features or DataFeatures.encode(next(iter(data.values())), config)
    plan = [(method, seed) for method in methods for seed in seeds]
    requests = [RunRequest(data[method.targets], method.strategy, method.params, replace(config, seed=seed))
                for method, seed in plan]
    with tqdm(total=len(plan), desc="training runs", disable=not progress, unit="run") as bar:
        finished = train_runs(requests, features, cache, on_run=lambda: bar.update(1))
    rows, predictions, curves = [], {}, {}
    for (method, seed), result in zip(plan, finished):
        costs = result.costs
        rows.append({"method": method.name, "seed": seed, "status": result.status, **result.metrics,
                     "best_step": result.best_step, "optimizer_steps": costs.optimizer_steps,
                     "gradient_samples": costs.gradient_samples, "training_forwards": costs.training_forwards,
                     "seconds": result.seconds})
        predictions[(method.name, seed)] = result.test_proba
        curves[(method.name, seed)] = result.evals
    runs = pd.DataFrame(rows).reindex(columns=[
        "method", "seed", "status", "test_accuracy", "test_macro_f1", "val_target_macro_f1", "val_gold_macro_f1",
        "fraction_used", "best_step", *COST_COLUMNS])
    return Comparison(runs=runs, predictions=predictions, curves=curves, protocol=config.protocol,
                      model_selection=config.model_selection)


VERDICT_PHRASES = {"better": "LLKD is **better**", "worse": "LLKD is **worse**",
                   "no detectable difference": "there is **no detectable difference**"}


def best_other(summary: pd.DataFrame) -> str:
    """The best method other than LLKD, its unweighted ablation and the gold ceiling, by mean validation
    score (the model-selection signal, never the test set): "the best other method". LLKD's two halves
    stay candidates: each is a simpler selection a practitioner could use instead."""
    return summary.drop(index=[LLKD_ROW, UNWEIGHTED_ROW, CEILING_ROW], errors="ignore")["val_macro_f1_mean"].idxmax()


def headline(summary: pd.DataFrame, verdicts: pd.DataFrame) -> str:
    """LLKD's score, its verdict against the best other method, and the count of verdicts, from notebook
    04's summary and verdict tables (as saved): the sentences its conclusion and the README share."""
    llkd, best = summary.loc[LLKD_ROW], best_other(summary)
    row, counts = verdicts.loc[best], verdicts["LLKD is"].value_counts()
    return (f"LLKD scores test macro-F1 {llkd['macro_f1_mean']:.3f} ± {llkd['macro_f1_std']:.3f} using "
            f"{llkd['pool_used']:.0%} of the pool. Against the best other method by validation, **{best}**, "
            f"{VERDICT_PHRASES[row['LLKD is']]} (LLKD − it {row['LLKD − method (mean over seeds)']:+.3f}, Holm-corrected "
            f"95 % interval {row['95 % interval (Holm)']}). Of the {len(verdicts)} methods it is compared with, LLKD is "
            f"better than {_how_many(counts.get('better', 0), len(verdicts))}, worse than "
            f"{_how_many(counts.get('worse', 0), len(verdicts))} and not distinguishable from "
            f"{_how_many(counts.get('no detectable difference', 0), len(verdicts))}.")


def _how_many(count: int, total: int) -> str:
    return "none" if count == 0 else f"all {total}" if count == total else str(count)


A_A_LIMIT = 0.07  # the false-positive rate the verdict rule is held to (nominal 5 %, plus simulation slack)


def a_a_table(calibration: AACalibration, single: PairedDifference, single_seeds: tuple[str, str]) -> pd.DataFrame:
    """Notebook 04's A/A record: the verdict rule's false-positive rate over random splits of LLKD's runs
    (:func:`llkd_nb.experiments.stats.a_a_calibration`), and its one fixed draw (``single_seeds``: each arm's
    seeds, as text)."""
    return pd.DataFrame([{
        "seeds": calibration.seeds, "arm": calibration.arm, "splits": calibration.splits,
        "false-positive rate": calibration.rate, "rate low": calibration.low, "rate high": calibration.high,
        "draw": f"{single_seeds[0]} minus {single_seeds[1]}", "draw difference": single.describe(),
        "draw p": single.p_value, "draw verdict": single.verdict,
    }])


def a_a_sentence(record: pd.Series) -> str:
    """What notebook 04's A/A record says, in words computed from it (the notebook, README and results.md)."""
    rate, low, high = record["false-positive rate"], record["rate low"], record["rate high"]
    sentence = (f"Run against itself, LLKD reads as different from LLKD in **{rate:.1%}** (95 % interval {low:.1%} to "
                f"{high:.1%}) of {record['splits']} random {record['arm']}-vs-{record['arm']} splits of its "
                f"{record['seeds']} seeds (one comparison, uncorrected; nominal 5 %): "
                + ("within" if rate <= A_A_LIMIT else "**above**")
                + f" the {A_A_LIMIT:.0%} the procedure is held to"
                + ("." if rate <= A_A_LIMIT else ", so on this dataset its verdicts are less reliable than their nominal level."))
    draw = (f" The fixed draw, seeds {record['draw']}, reads {record['draw difference']}, p = {record['draw p']:.2f}: "
            f"**{record['draw verdict']}**")
    if record["draw verdict"] != "no detectable difference":
        draw += ", a false positive (both arms are LLKD) of the frequency just given"
    return sentence + draw + "."


def side_by_side(results: dict[str, tuple[Comparison, dict[str, PairedDifference]]]) -> pd.DataFrame:
    """Per method, under each model-selection criterion (``results``: criterion -> comparison and its
    differences from LLKD): mean test macro-F1, its rank among the methods, and LLKD's verdict."""
    means = {c: comparison.summary()["macro_f1_mean"] for c, (comparison, _) in results.items()}
    table = pd.DataFrame({
        **{f"macro-F1 ({c})": mean for c, mean in means.items()},
        **{f"rank ({c})": mean.rank(ascending=False, method="min").astype("Int64") for c, mean in means.items()},
        **{f"LLKD is ({c})": pd.Series({m: d.verdict for m, d in differences.items()}, dtype=object)
           for c, (_, differences) in results.items()},
    })
    return table.fillna({column: "–" for column in table.columns if column.startswith("LLKD is")})

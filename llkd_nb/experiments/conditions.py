"""Notebook 05: the teacher ladder, and under which teacher and budget LLKD beats simpler selection.

A **condition** is a teacher artifact on the study's texts, of one of three kinds:

- **real**: the LLM, zero-shot with raw and with calibrated confidences (and a few-shot prompt when asked);
- **proxy**: a TF-IDF + logistic-regression classifier trained on ``n`` spare gold texts
  (:mod:`llkd_nb.experiments.proxy_teacher`): a real model whose errors depend on the text, its accuracy set by ``n``;
- **simulated**: the calibrated simulation of the real teacher (:func:`llkd_nb.experiments.simulation.calibrated_teacher`)
  at a chosen confidence AUROC: it uses the gold labels by construction, so it is reported apart.

Every condition x budget tunes each method at that budget on the tuning seeds, then runs every method on
every seed under notebook 04's protocol (:func:`llkd_nb.experiments.compare.run_methods`), and compares LLKD with
every other method by the same paired intervals, Holm-corrected within each family of cells: the real and
proxy teachers', and the simulations' apart (:func:`llkd_nb.experiments.decision_map.family`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..core.data import DataConfig, DataError, Splits
from ..core.params import param
from ..core.validation import ParameterError, check_range, check_types
from ..student.training import DataFeatures, TrainConfig, TrainingData
from ..teacher.artifacts import TeacherArtifact
from ..teacher.config import TeacherConfig
from .analysis import teacher_scores
from .decision_map import MIN_TEACHERS, confirmatory, family
from .methods import LLKD_ROW, Method, comparison_methods, method_by_id, with_tuned
from .runcache import RunCache
from .stats import PairedDifference, holm_correct
from .tuning import LEARNING_RATE, rate_edge, tune, tune_rate

# The rows of notebook 05 (LLKD and the simpler selections a practitioner would try first), by id, and their
# display and short names. LLKD's halves are ablations, measured in notebook 04; here they would double the
# grid's cost.
CONDITION_IDS = ("all", "fixed_threshold", "topk_per_class", "llkd")
CONDITION_METHODS = tuple(method_by_id(comparison_methods(), i).name for i in CONDITION_IDS)
SHORT_NAMES = {m.name: m.display_short for m in comparison_methods() if m.id in CONDITION_IDS}
KINDS = {"real": "real teachers", "proxy": "proxy teachers (TF-IDF + logistic regression)",
         "simulated": "calibrated simulations (use gold)"}


def _numbers_in(values: list, low: float, high: float, allow_none: bool = False) -> bool:
    return all((v is None and allow_none) or (isinstance(v, (int, float)) and not isinstance(v, bool) and low < v < high)
               for v in values)


@dataclass
class ConditionsConfig:
    """Notebook 05's grid: which teachers, which training budgets, and the paper-regime check."""

    few_shot: int = param(0, "in-context examples of a few-shot LLM rung (0: none; it costs a second labelling pass)")
    proxy_sizes: list = param([10, 30, 100], "gold texts each proxy teacher trains on (TF-IDF + logistic regression, spare texts only)")
    simulated_accuracies: list = param([None], "pool accuracies of the calibrated simulations (None: the real teacher's)")
    simulated_aurocs: list = param([None, 0.8, 0.9], "their confidence AUROCs (None: the real teacher's, the rung that validates the simulation)")
    budgets: list = param([40, 80, 160], "training budgets in optimizer steps, scarce to plenty; each is tuned")
    drop_chance_cells: bool = param(True, "leave teacher x budget cells where every method is at chance out of the map, its verdicts and rule (false: keep them, for a smoke-test study)")
    paper_regime_seeds: int = param(5, "seeds of the paper's student regime (the whole encoder trained) at the real teacher and the strongest rung (0: skip)")
    paper_regime_max_length: int = param(64, "tokens per text for the paper's student regime (twice the map's; 128 costs 2x more)")
    paper_regime_evals: int = param(4, "validation scores per run of the paper's student (the map's: num_evals); each is a whole-encoder pass")

    def __post_init__(self) -> None:
        check_types(self)
        check_range("few_shot", self.few_shot, 0, None)
        check_range("paper_regime_seeds", self.paper_regime_seeds, 0, None)
        check_range("paper_regime_max_length", self.paper_regime_max_length, 8, None)
        check_range("paper_regime_evals", self.paper_regime_evals, 1, None)
        if self.paper_regime_seeds == 1:
            raise ParameterError("paper_regime_seeds must be 0 (skip) or at least 2 (a paired interval over seeds)")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in self.proxy_sizes):
            raise ParameterError(f"proxy_sizes must be a list of positive integers, got {self.proxy_sizes!r}")
        if not _numbers_in(self.simulated_accuracies, 0, 1, allow_none=True):
            raise ParameterError(f"simulated_accuracies must be numbers in (0, 1) or null, got {self.simulated_accuracies!r}")
        if not _numbers_in(self.simulated_aurocs, 0.5, 1, allow_none=True):
            raise ParameterError(f"simulated_aurocs must be numbers in (0.5, 1) or null, got {self.simulated_aurocs!r}")
        teachers = 1 + (self.few_shot > 0) + len(self.proxy_sizes)
        if teachers < MIN_TEACHERS:
            raise ParameterError(f"proxy_sizes: the map's rule needs at least {MIN_TEACHERS} real and proxy teachers (the real "
                                 f"one, a few-shot one when few_shot > 0, one per proxy size), got {teachers}: add proxy sizes")
        if not self.budgets or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in self.budgets):
            raise ParameterError(f"budgets must be a non-empty list of positive integers, got {self.budgets!r}")


@dataclass
class Condition:
    """One teacher: its name, its artifact, and its kind (a key of :data:`KINDS`)."""

    name: str
    artifact: TeacherArtifact
    kind: str = "real"

    @property
    def simulated(self) -> bool:
        return self.kind == "simulated"

    def quality(self, split: str = "pool") -> dict[str, float]:
        """The teacher's accuracy, macro-F1, ECE and AUROC on ``split`` under its own calibration."""
        return teacher_scores(self.artifact, split).loc[self.artifact.meta["calibration"]].to_dict()


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
                        progress: bool = True) -> tuple[list[Condition], Splits]:
    """Label the study's texts zero-shot and, when ``few_shot > 0``, with ``few_shot`` in-context
    examples (drawn from the labelled validation set, so those few validation texts are in the prompt);
    both go through the teacher cache, so texts notebook 01 scored are not scored again. Returns the
    real conditions and the split (whose spare texts train the proxy teachers)."""
    from ..teacher.labeling import label_all, make_prompt, prepare

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
    return real_conditions(zero_shot, few_shot_artifact), splits


def proxy_conditions(splits: Splits, base: TeacherArtifact, sizes: list[int]) -> list[Condition]:
    """One proxy teacher per size in ``sizes``, on the same texts as ``base`` (whose dataset record it keeps)."""
    from .proxy_teacher import proxy_teacher_artifact

    meta = {key: base.meta[key] for key in ("dataset", "data", "duplicates_removed") if key in base.meta}
    return [Condition(f"proxy, {n} gold texts", proxy_teacher_artifact(splits, base.labels, n, meta=meta), "proxy")
            for n in sizes]


def simulated_conditions(base: TeacherArtifact, accuracies: list, aurocs: list) -> list[Condition]:
    """The calibrated simulations of ``base`` at every accuracy x AUROC (``None``: the real teacher's);
    the one at the real teacher's own accuracy and AUROC is its "simulated twin"."""
    from .simulation import calibrated_teacher

    conditions = []
    for accuracy in accuracies:
        for auroc in aurocs:
            artifact = calibrated_teacher(base, accuracy, auroc)
            target = artifact.meta["simulation"]
            name = "simulated twin" if accuracy is None and auroc is None else "simulated"
            conditions.append(Condition(f"{name}, accuracy {target['accuracy']:.2f}, AUROC {target['auroc']:.2f}",
                                        artifact, "simulated"))
    return conditions


def teacher_table(conditions: list[Condition]) -> pd.DataFrame:
    """Each teacher's kind and its quality on the pool, measured against gold."""
    quality = pd.DataFrame({c.name: c.quality("pool") for c in conditions}).T
    quality.insert(0, "kind", [c.kind for c in conditions])
    return quality[["kind", "accuracy", "macro_f1", "mean_confidence", "ece", "auroc", "labels_used"]]


@dataclass
class ConditionResults:
    """Every run (``runs``: condition, budget, method, seed, scores, costs), per condition x budget x
    method the summary and the paired difference LLKD − method (``cells``), and the tuned knobs."""

    runs: pd.DataFrame
    cells: pd.DataFrame
    tuning: pd.DataFrame

    def at_chance(self, chance: float) -> pd.DataFrame:
        """Per condition x budget: the best method's mean test macro-F1, the highest lower end of a method's
        95 % t-interval over seeds, and ``at_chance``: every method's interval reaches down to ``chance``
        (:func:`chance_macro_f1`), so the cell says nothing about which selection is better."""
        cells = self.cells
        table = (cells.assign(low=cells["macro_f1_mean"] - seed_half_width(cells)).groupby(["condition", "budget"], sort=False)
                 .agg(kind=("kind", "first"), best_mean=("macro_f1_mean", "max"), highest_low=("low", "max"))
                 .reset_index())
        return table.assign(chance=chance, at_chance=table["highest_low"] <= chance)

    def best_other(self, chance: float | None = None) -> pd.DataFrame:
        """Per condition x budget, the best other method by mean validation score (not by test) and
        LLKD's paired difference with it, Holm-corrected within each family of cells
        (:func:`llkd_nb.experiments.decision_map.family`). ``chance``: cells at chance (:meth:`at_chance`)
        are left out before the correction."""
        cells = self.cells
        if chance is not None:
            kept = self.at_chance(chance).query("not at_chance")
            if confirmatory(kept)["condition"].nunique() < MIN_TEACHERS:
                raise ValueError(f"budgets: fewer than {MIN_TEACHERS} real and proxy teachers have a cell above chance "
                                 f"(macro-F1 of guessing {chance:.3f}), too few for the map's rule: lengthen the budgets, "
                                 "or set drop_chance_cells: false to keep cells at chance (a smoke test)")
            cells = cells.merge(kept[["condition", "budget"]], on=["condition", "budget"])
        others = cells[cells["method"] != LLKD_ROW].dropna(subset=["val_macro_f1_mean"])
        best = others.loc[others.groupby(["condition", "budget"], sort=False)["val_macro_f1_mean"].idxmax()]
        return holm_by_family(best.reset_index(drop=True))

    def chosen(self, condition: str, budget: int) -> dict[str, dict]:
        """The knobs each method was tuned to for ``condition`` at ``budget`` (and the shared learning rate,
        under :data:`llkd_nb.experiments.tuning.LEARNING_RATE`)."""
        rows = self.tuning[(self.tuning["condition"] == condition) & (self.tuning["budget"] == budget)]
        return dict(zip(rows["method"], rows["params"]))


def seed_half_width(cells: pd.DataFrame | pd.Series):
    """Half the width of the 95 % t-interval over seeds of a mean test macro-F1 (``macro_f1_std``, ``seeds``)."""
    return stats.t.ppf(0.975, cells["seeds"] - 1) * cells["macro_f1_std"] / np.sqrt(cells["seeds"])


def chance_macro_f1(labels: np.ndarray, num_labels: int) -> float:
    """Expected macro-F1 of guessing a class uniformly at random on texts with gold ``labels``: a class of
    share p gets precision p and recall 1/K, so F1 = 2p / (Kp + 1); 1/K when the classes are balanced."""
    share = np.bincount(np.asarray(labels), minlength=num_labels) / len(labels)
    return float(np.mean(2 * share / (num_labels * share + 1)))


def chance_sentence(table: pd.DataFrame) -> str:
    """What :meth:`ConditionResults.at_chance` found, in words: the cells left out, and the budgets at which
    every cell is at chance (lengthen or drop them)."""
    at = table[table["at_chance"]]
    chance = table["chance"].iloc[0]
    if at.empty:
        return (f"No teacher x budget cell is at chance: in each, some method's 95 % interval over seeds lies above "
                f"the macro-F1 of guessing ({chance:.3f}).")
    whole = [budget for budget, part in table.groupby("budget") if part["at_chance"].all()]
    return (f"{len(at)} of {len(table)} teacher x budget cells are at chance (every method's 95 % interval over seeds "
            f"reaches down to the macro-F1 of guessing, {chance:.3f}) and are left out of the map, its verdicts and "
            f"its rule: " + "; ".join(f"{row.condition} at {row.budget} steps (best mean {row.best_mean:.3f})"
                                      for row in at.itertuples()) + "."
            + (f" At {', '.join(map(str, whole))} steps every cell is: lengthen that budget or drop it." if whole else ""))


def edge_sentence(tuning: pd.DataFrame) -> str:
    """How many tuned choices (``tuning``: :attr:`ConditionResults.tuning`) sit at an edge of their grid,
    extended by a step past each end that won: at an edge that is no hard limit, and at a hard limit."""
    if tuning.empty:
        return "Nothing was tuned."
    at_edge = tuning[tuning["edge"] != ""]
    open_edge = at_edge[at_edge["open_edge"]]
    return (f"{len(open_edge)} of {len(tuning)} tuned choices ({len(open_edge) / len(tuning):.0%}) sit at an edge of their "
            "grid that is no hard limit, after each grid was extended by a step past an end that won"
            + (": " + "; ".join(f"{edge} ({count}x)" for edge, count in open_edge["edge"].value_counts().items())
               if len(open_edge) else "")
            + f". {len(at_edge) - len(open_edge)} sit at a hard limit of their knob, past which nothing lies.")


def holm_by_family(cells: pd.DataFrame) -> pd.DataFrame:
    """:func:`holm_columns` within each family of ``cells`` (by their ``kind``), with a ``family`` column."""
    cells = cells.assign(family=cells["kind"].map(family))
    return pd.concat([holm_columns(part) for _, part in cells.groupby("family", sort=False)]).sort_index()


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


def _cell_rows(condition: Condition, budget: int, comparison, differences: dict) -> list[dict]:
    rows = []
    for method, row in comparison.summary().iterrows():
        difference = differences.get(method)
        rows.append({
            "condition": condition.name, "kind": condition.kind, "budget": budget,
            "method": method, "macro_f1_mean": row["macro_f1_mean"], "macro_f1_std": row["macro_f1_std"],
            "val_macro_f1_mean": row["val_macro_f1_mean"], "seeds": row["seeds"],
            "starved_runs": row["starved_runs"], "gradient_samples": row["gradient_samples"],
            **({"llkd_minus": difference.mean, "se": difference.se, "df": difference.df, "p_raw": difference.p_value,
                "low_raw": difference.low, "high_raw": difference.high} if difference else {}),
        })
    return rows


def run_conditions(conditions: list[Condition], methods: list[Method], budgets: list[int], seeds: list[int],
                   tuning_seeds: list[int], config: TrainConfig, replicates: int, features: DataFeatures | None = None,
                   tune_methods: bool = True, progress: bool = True, cache: RunCache | None = None) -> ConditionResults:
    """For every condition x budget: tune the learning rate the methods share on all pseudo-labels, then every
    method's knob, at that budget on ``tuning_seeds``, each grid extended by a step past an end that won and
    is no hard limit; run every method x seed, and compare LLKD with each method, paired over seeds and test
    texts."""
    from tqdm.auto import tqdm

    from .compare import run_methods

    texts = conditions[0].artifact.identity()["texts"]
    if any(c.artifact.identity()["texts"] != texts for c in conditions):
        raise ValueError("every condition must label the same texts (same data and split)")
    if len({c.name for c in conditions}) < len(conditions):
        raise ValueError(f"two teachers share a name: {[c.name for c in conditions]} (a repeated proxy size or "
                         "simulation target?)")
    features = features or DataFeatures.encode(TrainingData.from_artifact(conditions[0].artifact), config)
    run_frames, cell_rows, tuning_rows = [], [], []
    with tqdm(total=len(conditions) * len(budgets), desc="teachers x budgets", disable=not progress) as bar:
        for condition in conditions:
            artifact = condition.artifact
            data = TrainingData.from_artifact(artifact, "pseudo", config.model_selection)
            for budget in budgets:
                budget_config = replace(config, max_steps=budget)
                if tune_methods:
                    rate = tune_rate(method_by_id(methods, "all"), data, features, budget_config, tuning_seeds,
                                     cache=cache, extend=True)
                    budget_config = replace(budget_config, lr=rate.chosen["lr"])
                    edge = rate_edge(rate.chosen, extended=True)
                    tuning_rows.append({"condition": condition.name, "budget": budget, "method": LEARNING_RATE,
                                        "params": rate.chosen, "edge": edge, "open_edge": bool(edge)})
                tunable = [method for method in methods if tune_methods and method.grid]
                chosen = {name: t.chosen for name, t in tune(tunable, data, features, budget_config, tuning_seeds,
                                                             cache=cache, extend=True).items()}
                tuning_rows += [{"condition": condition.name, "budget": budget, "method": method.name,
                                 "params": chosen[method.name], "edge": method.edge(chosen[method.name], extended=True),
                                 "open_edge": method.open_edge(chosen[method.name], extended=True)}
                                for method in tunable]
                comparison = run_methods(artifact, with_tuned(methods, chosen), seeds, budget_config, features,
                                         progress=False, cache=cache)
                run_frames.append(comparison.runs.assign(condition=condition.name, kind=condition.kind, budget=budget))
                differences = comparison.against(LLKD_ROW, artifact.gold("test"), artifact.num_labels, replicates)
                cell_rows += _cell_rows(condition, budget, comparison, differences)
                bar.update(1)
    runs = pd.concat(run_frames, ignore_index=True)
    runs = runs[["condition", "kind", "budget", *[c for c in runs.columns if c not in ("condition", "kind", "budget")]]]
    tuning = pd.DataFrame(tuning_rows, columns=["condition", "budget", "method", "params", "edge", "open_edge"])
    return ConditionResults(runs=runs, cells=holm_by_family(pd.DataFrame(cell_rows)), tuning=tuning)


def simulation_check(cells: pd.DataFrame, real: str, simulated: str) -> pd.DataFrame:
    """Does the simulation at the real teacher's accuracy and AUROC train students like the real teacher?
    Per method x budget: the real teacher's mean test macro-F1 and its t-interval over seeds, the
    simulated teacher's mean, and whether that mean lies inside the interval."""
    by_teacher = cells.set_index(["condition", "budget", "method"])
    rows = []
    for (budget, method), row in by_teacher.loc[real].iterrows():
        half = seed_half_width(row)
        simulated_mean = by_teacher.loc[(simulated, budget, method), "macro_f1_mean"]
        rows.append({"budget": budget, "method": method, "real_mean": row["macro_f1_mean"],
                     "real_low": row["macro_f1_mean"] - half, "real_high": row["macro_f1_mean"] + half,
                     "simulated_mean": simulated_mean, "inside": abs(simulated_mean - row["macro_f1_mean"]) <= half})
    return pd.DataFrame(rows)


def paper_regime(conditions: list[Condition], results: ConditionResults, budget: int, seeds: list[int],
                 config: TrainConfig, max_length: int, num_evals: int, replicates: int, progress: bool = True,
                 cache: RunCache | None = None, methods: list[Method] | None = None) -> pd.DataFrame:
    """LLKD against the map's best other method at ``budget``, per condition, with the paper's student
    (the whole encoder fine-tuned, on ``max_length`` tokens, scored on validation ``num_evals`` times) and with the
    map's student, on the same ``seeds``: each method keeps the knobs it was tuned to in the map, and both students
    the learning rate the map tuned at that teacher and budget (not re-tuned for the whole encoder). One row per
    condition x student."""
    from .compare import run_methods
    from .methods import method_named

    methods = methods or comparison_methods(with_ceiling=False)
    best = results.best_other().set_index(["condition", "budget"])
    paper_config = replace(config, max_steps=budget, trainable_layers=None, max_length=max_length, num_evals=num_evals)
    rows = []
    for condition in {c.name: c for c in conditions}.values():  # a rung named twice runs once
        other = best.loc[(condition.name, budget), "method"]
        chosen = results.chosen(condition.name, budget)
        pair = with_tuned([method_named(methods, LLKD_ROW), method_named(methods, other)], chosen)
        rate = chosen.get(LEARNING_RATE, {})  # the map's, at this teacher and budget
        for student, student_config in (("map's student", replace(config, max_steps=budget, **rate)),
                                        ("paper's student", replace(paper_config, **rate))):
            comparison = run_methods(condition.artifact, pair, seeds, student_config, progress=progress, cache=cache)
            difference = comparison.against(LLKD_ROW, condition.artifact.gold("test"), condition.artifact.num_labels,
                                            replicates)[other]
            summary = comparison.summary()
            rows.append({"condition": condition.name, "student": student, "best other": other,
                         "LLKD macro-F1": summary.loc[LLKD_ROW, "macro_f1_mean"],
                         "other macro-F1": summary.loc[other, "macro_f1_mean"], "llkd_minus": difference.mean,
                         "se": difference.se, "df": difference.df, "p_raw": difference.p_value,
                         "seconds per run": summary["seconds"].mean()})
    table = holm_columns(pd.DataFrame(rows))
    return table.drop(columns=["se", "df"])


def regime_margins(regime: pd.DataFrame) -> str:
    """:func:`paper_regime`'s table in words: per rung, LLKD's margin over the best other method with the
    paper's student, then with the map's (interval, verdict, LLKD's score)."""
    rungs = []
    for condition, part in regime.groupby("condition", sort=False):
        by = part.set_index("student")
        rungs.append(f"at {condition}, against {by['best other'].iloc[0]}: " + " vs ".join(
            f"{student} {by.loc[student, 'llkd_minus']:+.3f} [{by.loc[student, 'low']:+.3f}, "
            f"{by.loc[student, 'high']:+.3f}] ({by.loc[student, 'verdict']}; LLKD {by.loc[student, 'LLKD macro-F1']:.3f})"
            for student in ("paper's student", "map's student")))
    return f"LLKD's margin (Holm over these {len(regime)} rows) " + "; ".join(rungs) + "."


def conclusion(best: pd.DataFrame, teachers: pd.DataFrame) -> str:
    """The verdicts of the map in words, per kind of teacher, and how LLKD's margin over the best other
    method moves with the budget."""
    sentences = []
    for kind, title in KINDS.items():
        part = best[best["kind"] == kind]
        if part.empty:
            continue
        counts = part["verdict"].value_counts()
        sentences.append(
            f"With the {title}, LLKD is better than the best other method in {counts.get('better', 0)} of "
            f"{len(part)} teacher x budget cells, worse in {counts.get('worse', 0)}, and not distinguishable in "
            f"{counts.get('no detectable difference', 0)}; its margin averages "
            + ", ".join(f"{value:+.3f} at {budget} steps" for budget, value in part.groupby("budget")["llkd_minus"].mean().items())
            + ".")
    fitted = confirmatory(best)
    accuracy = teachers.loc[fitted["condition"], "accuracy"].to_numpy()
    rho = pd.Series(accuracy).corr(pd.Series(fitted["llkd_minus"].to_numpy()), method="spearman")
    if np.isfinite(rho):
        sentences.append(f"Over the cells of real and proxy teachers, the rank correlation between the teacher's accuracy "
                         f"and LLKD's margin is {rho:+.2f} (Spearman; descriptive, not a test).")
    families = best["kind"].map(family).value_counts()
    sentences.append(f"Intervals are Holm-corrected within each family: the {families.get('confirmatory', 0)} cells of "
                     "real and proxy teachers"
                     + (f", and apart from them the {families['exploratory']} cells of the simulations (exploratory: they "
                        "use gold, and their twin check says how far to read them)" if families.get("exploratory") else "")
                     + ".")
    return " ".join(sentences)

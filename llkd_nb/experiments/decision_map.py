"""The decision map's rule: LLKD's margin over the best other method as a function of the teacher and
the budget, fitted over the map's cells, and where a given teacher sits on it. A guide that predicts a
margin with its interval; the map's own cells, not the rule, carry the verdicts.

Each cell of notebook 05's map (a teacher x budget) gives LLKD − the best other method, with its
standard error over seeds and test texts. The rule is a meta-regression through the cells of the real
and proxy teachers (the calibrated simulations are exploratory, :data:`EXPLORATORY_KINDS`),

    margin ≈ b0 + b1·accuracy + b2·AUROC + b3·log2(budget) + u_teacher + e_cell,

with each cell's own variance se², a scatter of cells beyond it (τ²) and a scatter of teachers (ω²):
the cells of one teacher share its labels, so they move together, and the rule counts them as one
teacher's evidence, not as independent draws. τ² and ω² are the restricted-likelihood (REML) estimates;
the covariance is the generalised least squares one, scaled by the residual scatter when that exceeds
1 (Knapp-Hartung). Intervals use between-within degrees of freedom: teachers − the teacher-level terms
(intercept, accuracy, AUROC) for those, cells − teachers − the rest for the budget. A feature the map
does not vary (one budget, say) is left out of the fit. The cells still share seeds and test texts, so
the intervals are a guide, not a test. The rule is stated only over the accuracy x AUROC box that the
fitted teachers span.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .maps import map_folder, map_record, regime

FEATURES = ("accuracy", "auroc", "log2_budget")
SLOPE_UNITS = {"accuracy": (0.1, "per +0.1 teacher accuracy"), "auroc": (0.1, "per +0.1 confidence AUROC"),
               "log2_budget": (1.0, "per doubling of the budget")}
GRID_POINTS = 41  # per axis, when the rule's region is measured over the map's ranges
MIN_TEACHERS = 4  # real and proxy teachers the rule needs: more than its teacher-level terms (intercept, accuracy, AUROC)
EXPLORATORY_KINDS = ("simulated",)  # their own Holm family, out of the headline counts and the rule: the
# simulations use gold and fail their own twin check on the comparators (notebook 05)


def family(kind: str) -> str:
    """A cell's Holm family: ``exploratory`` for the calibrated simulations (they use gold, and must pass
    their twin check before they are read), ``confirmatory`` for the real and proxy teachers."""
    return "exploratory" if kind in EXPLORATORY_KINDS else "confirmatory"


def confirmatory(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` (cells or teachers, with a ``kind`` column) in the confirmatory family."""
    return frame[frame["kind"].map(family) == "confirmatory"]


def _design(accuracy, auroc, budget) -> np.ndarray:
    accuracy, auroc, budget = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (accuracy, auroc, budget)))
    return np.stack([np.ones_like(accuracy), accuracy, auroc, np.log2(budget)], axis=-1)


def _generalised_fit(x: np.ndarray, y: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Generalised least squares under covariance ``v``: coefficients, (X'V⁻¹X)⁻¹ and r'V⁻¹r."""
    v_inverse = np.linalg.inv(v)
    inverse = np.linalg.inv(x.T @ v_inverse @ x)
    coefficients = inverse @ (x.T @ v_inverse @ y)
    residual = y - x @ coefficients
    return coefficients, inverse, float(residual @ v_inverse @ residual)


def _restricted_likelihood(x: np.ndarray, y: np.ndarray, variance: np.ndarray, same_teacher: np.ndarray) -> tuple[float, float]:
    """REML estimates of the scatter of cells (τ²) and of teachers (ω²) beyond the cells' own variances."""

    def minus_log_likelihood(scatter: np.ndarray) -> float:
        v = np.diag(variance + scatter[0]) + scatter[1] * same_teacher
        _, inverse, quadratic = _generalised_fit(x, y, v)
        return 0.5 * (np.linalg.slogdet(v)[1] - np.linalg.slogdet(inverse)[1] + quadratic)

    scale = float(np.var(y) + variance.mean())
    starts = [(0.0, 0.0), (scale / 2, 0.0), (0.0, scale / 2), (scale / 4, scale / 4)]
    fits = [optimize.minimize(minus_log_likelihood, np.array(start), method="L-BFGS-B",
                              bounds=[(0.0, 10 * scale)] * 2) for start in starts]
    best = min(fits, key=lambda fit: fit.fun)
    return float(best.x[0]), float(best.x[1])


def interval_side(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Where each 95 % interval [low, high] lies against 0: above 0, below 0 or includes 0."""
    return np.where(low > 0, "above 0", np.where(high < 0, "below 0", "includes 0"))


@dataclass(frozen=True)
class MarginRule:
    """The fitted line (``coefficients``: intercept and :data:`FEATURES`, 0 for a feature left out), its
    ``covariance`` and each coefficient's degrees of freedom ``dfs``, the scatter of cells ``tau2`` and of
    teachers ``omega2``, and what it was fitted on."""

    coefficients: np.ndarray
    covariance: np.ndarray
    dfs: np.ndarray
    tau2: float
    omega2: float
    cells: int
    teachers: int
    left_out: int  # exploratory (simulated) cells the fit leaves out
    accuracy_range: tuple[float, float]
    auroc_range: tuple[float, float]
    budgets: tuple[int, ...]

    @classmethod
    def fit(cls, best: pd.DataFrame, teachers: pd.DataFrame) -> "MarginRule":
        """Fit on the map's cells of real and proxy teachers (``best``: condition, kind, budget, llkd_minus,
        se) and the teachers' pool scores (``teachers``: accuracy and auroc, indexed by condition)."""
        cells = confirmatory(best).dropna(subset=["llkd_minus", "se"])
        accuracy = teachers.loc[cells["condition"], "accuracy"].to_numpy(float)
        auroc = teachers.loc[cells["condition"], "auroc"].to_numpy(float)
        full = _design(accuracy, auroc, cells["budget"].to_numpy(float))
        varied = np.r_[True, np.ptp(full[:, 1:], axis=0) > 1e-9]  # the intercept, and every feature the map varies
        x = full[:, varied]
        if len(cells) <= x.shape[1]:
            raise ValueError(f"the rule needs more than {x.shape[1]} cells with a standard error, got {len(cells)}")
        teacher = cells["condition"].to_numpy()
        groups = len(set(teacher))
        per_teacher = np.array([all(np.ptp(x[teacher == t, j]) < 1e-9 for t in set(teacher)) for j in range(x.shape[1])])
        between_df, within_df = groups - per_teacher.sum(), len(cells) - groups - (~per_teacher).sum()
        if between_df < 1:
            raise ValueError(f"the rule has {per_teacher.sum()} teacher-level terms (intercept, accuracy, AUROC) and "
                             f"needs more teachers than that outside the simulations, got {groups}: add proxy_sizes")
        if np.linalg.matrix_rank(x) < x.shape[1]:
            raise ValueError("the teachers' accuracy and AUROC move together on this map (their columns are "
                             "collinear), so the rule cannot tell their effects apart: add teachers that differ")
        y, variance = cells["llkd_minus"].to_numpy(float), cells["se"].to_numpy(float) ** 2
        positive = variance[variance > 0]
        variance = np.maximum(variance, 0.01 * np.median(positive) if len(positive) else 1e-6)  # se 0: weighty, not infinite
        same_teacher = (teacher[:, None] == teacher[None, :]).astype(float)
        tau2, omega2 = _restricted_likelihood(x, y, variance, same_teacher)
        coefficients, inverse, quadratic = _generalised_fit(x, y, np.diag(variance + tau2) + omega2 * same_teacher)
        covariance = inverse * max(quadratic / (len(cells) - x.shape[1]), 1.0)  # Knapp-Hartung, never narrower
        beta, cov, dfs = np.zeros(full.shape[1]), np.zeros((full.shape[1], full.shape[1])), np.zeros(full.shape[1])
        beta[varied], cov[np.ix_(varied, varied)] = coefficients, covariance
        dfs[varied] = np.where(per_teacher, between_df, max(within_df, 1))
        return cls(beta, cov, dfs, tau2, omega2, len(cells), groups, len(best) - len(confirmatory(best)),
                   (float(accuracy.min()), float(accuracy.max())), (float(auroc.min()), float(auroc.max())),
                   tuple(sorted(int(b) for b in cells["budget"].unique())))

    @property
    def df(self) -> float:
        """The degrees of freedom of a predicted margin: the fewest of its terms' (the teacher-level ones)."""
        return float(self.dfs[self.dfs > 0].min())

    def predict(self, accuracy, auroc, budget, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The predicted margin and its ``level`` interval at the given teacher and budget (arrays broadcast)."""
        x = _design(accuracy, auroc, budget)
        mean = x @ self.coefficients
        se = np.sqrt(np.einsum("...i,ij,...j->...", x, self.covariance, x))
        half = stats.t.ppf(0.5 + level / 2, self.df) * se
        return mean, mean - half, mean + half

    def slopes(self) -> pd.DataFrame:
        """Each feature's effect on the margin in readable units, with its 95 % interval (NaN: the map
        does not vary it, so the fit leaves it out)."""
        rows = {}
        for i, feature in enumerate(FEATURES, start=1):
            unit, name = SLOPE_UNITS[feature]
            fitted = self.covariance[i, i] > 0
            half = stats.t.ppf(0.975, self.dfs[i]) * np.sqrt(self.covariance[i, i]) if fitted else np.nan
            rows[name] = {key: unit * value if fitted else np.nan for key, value in (
                ("effect", self.coefficients[i]), ("low", self.coefficients[i] - half),
                ("high", self.coefficients[i] + half))}
        return pd.DataFrame(rows).T

    def region(self) -> pd.DataFrame:
        """Per budget, the share of the accuracy x AUROC box the fitted teachers span where the predicted
        margin's 95 % interval lies above 0 (``above``) or below it (``below``), and where its lower bound is
        highest."""
        accuracy, auroc = np.meshgrid(np.linspace(*self.accuracy_range, GRID_POINTS), np.linspace(*self.auroc_range, GRID_POINTS))
        rows = []
        for budget in self.budgets:
            mean, low, high = self.predict(accuracy, auroc, budget)
            top = np.unravel_index(np.argmax(low), low.shape)
            rows.append({"budget": budget, "above": float((low > 0).mean()), "below": float((high < 0).mean()),
                         "best_accuracy": accuracy[top], "best_auroc": auroc[top], "best_margin": mean[top],
                         "best_low": low[top], "best_high": high[top]})
        return pd.DataFrame(rows)

    def statement(self) -> str:
        """The rule and its uncertainty in words, computed: predicted margins with their intervals."""
        slopes = self.slopes()
        effects = "; ".join(f"{row.effect:+.3f} [{row.low:+.3f}, {row.high:+.3f}] {name}"
                            for name, row in slopes.dropna().iterrows())
        fixed = [name.replace("per ", "").replace("+0.1 ", "").replace("doubling of the ", "")
                 for name, row in slopes.iterrows() if np.isnan(row.effect)]
        box = (f"teacher accuracy {self.accuracy_range[0]:.2f}-{self.accuracy_range[1]:.2f} x AUROC "
               f"{self.auroc_range[0]:.2f}-{self.auroc_range[1]:.2f}, at {', '.join(map(str, self.budgets))} steps")
        region = self.region()
        above = [r for r in region.itertuples() if r.above > 0]
        if not above:
            where = (f"Nowhere in the box the fitted teachers span ({box}) does the predicted margin's 95 % interval "
                     "lie above 0")
        else:
            top = max(above, key=lambda r: r.best_low)
            where = ("The predicted margin's 95 % interval lies above 0 in " + ", ".join(
                f"{r.above:.0%} of the box the fitted teachers span at {r.budget} steps" for r in above)
                + f", highest at accuracy {top.best_accuracy:.2f}, AUROC {top.best_auroc:.2f} and {top.budget} "
                f"steps ({top.best_margin:+.3f} [{top.best_low:+.3f}, {top.best_high:+.3f}]; box: {box}); the box's "
                "corners need not have been measured")
        below = [r for r in region.itertuples() if r.below > 0]
        if below:
            where += "; it lies below 0 in " + ", ".join(f"{r.below:.0%} of the box at {r.budget} steps" for r in below)
        return (f"A guide, not a test: fitted over the map's {self.cells} cells of {self.teachers} real and proxy "
                f"teachers (their cells counted as one teacher's evidence each"
                + (f"; the {self.left_out} simulated cells left out" if self.left_out else "") + "), LLKD's "
                f"predicted margin over the best other method moves by {effects} (95 % intervals)"
                + (f"; the map does not vary the {' or '.join(fixed)}, so the fit leaves it out" if fixed else "")
                + f". {where}.")

    def place(self, accuracy: float, auroc: float) -> pd.DataFrame:
        """The predicted margin at one teacher for every budget of the map, with its 95 % interval and where
        that lies against 0 (``interval``: above 0, below 0 or includes 0)."""
        mean, low, high = self.predict(accuracy, auroc, np.array(self.budgets))
        return pd.DataFrame({"budget": self.budgets, "margin": mean, "low": low, "high": high,
                             "interval": interval_side(low, high)})

    def inside(self, accuracy: float, auroc: float) -> bool:
        """Whether a teacher lies in the accuracy x AUROC box the fitted teachers span."""
        return (self.accuracy_range[0] <= accuracy <= self.accuracy_range[1]
                and self.auroc_range[0] <= auroc <= self.auroc_range[1])


def nearest_rung(teachers: pd.DataFrame, accuracy: float, auroc: float) -> str:
    """The map's teacher closest to (accuracy, AUROC), each axis scaled by its spread over the map."""
    spread = teachers[["accuracy", "auroc"]].std().replace(0, 1.0)
    distance = (((teachers[["accuracy", "auroc"]] - [accuracy, auroc]) / spread) ** 2).sum(axis=1)
    return str(distance.idxmin())


MEASURED_SIDE = {"better": "above 0", "worse": "below 0", "no detectable difference": "includes 0"}
MEASURED_WORDS = {"better": "better", "worse": "worse", "no detectable difference": "not distinguishable from it"}


def recommendation(rule: MarginRule, best: pd.DataFrame, teachers: pd.DataFrame, accuracy: float, auroc: float) -> tuple[pd.DataFrame, str]:
    """Where a teacher of ``accuracy`` and ``auroc`` sits on the map: the rule's predicted margin per budget,
    the nearest measured rung's cells, and which way the guide points, with why."""
    placed = rule.place(accuracy, auroc)
    fitted = confirmatory(teachers) if "kind" in teachers else teachers
    rung = nearest_rung(fitted, accuracy, auroc)  # a rung the rule was fitted on, never a simulation
    measured = best[best["condition"] == rung].set_index("budget")
    placed["nearest_rung"] = rung
    placed["best_other"] = placed["budget"].map(measured["method"])
    placed["measured_margin"] = placed["budget"].map(measured["llkd_minus"])
    placed["measured_verdict"] = placed["budget"].map(measured["verdict"])
    where = "inside" if rule.inside(accuracy, auroc) else "outside (the rule extrapolates there)"
    lines = [f"Your teacher (accuracy {accuracy:.3f}, AUROC {auroc:.3f}) sits {where} the box the rule's teachers "
             f"span; its nearest rung is **{rung}** (accuracy {teachers.loc[rung, 'accuracy']:.3f}, AUROC "
             f"{teachers.loc[rung, 'auroc']:.3f}). The rule is a guide: check its pick on your validation set."]
    for row in placed.itertuples():
        if row.interval == "above 0":
            advice = "the guide points to **LLKD**"
        elif row.interval == "below 0":
            advice = f"the guide points to **{row.best_other}** (the nearest rung's best other method)"
        else:
            advice = (f"the guide cannot choose, and **{row.best_other}** (best at the nearest rung) is simpler and "
                      "cheaper")
        if isinstance(row.measured_verdict, str) and MEASURED_SIDE[row.measured_verdict] != row.interval:
            advice += (f" (but the nearest rung's own measured cell, {row.measured_margin:+.3f}, finds LLKD "
                       f"{MEASURED_WORDS[row.measured_verdict]}: read it too)")
        lines.append(f"At {row.budget} steps the predicted margin is {row.margin:+.3f} [{row.low:+.3f}, {row.high:+.3f}], "
                     f"its interval {row.interval}: {advice}.")
    return placed, " ".join(lines)


def load_map(source: str | Path, model_selection: str = "pseudo") -> tuple[MarginRule, pd.DataFrame, pd.DataFrame]:
    """The rule, the map's cells and its teachers: a shipped map's (by name) or notebook 05's run folder's
    (:func:`llkd_nb.experiments.maps.map_folder`), with every choice made against the teacher's labels (``pseudo``) or
    against gold (``gold``)."""
    folder = map_folder(source)
    cells = folder / ("05_best_other.csv" if model_selection == "pseudo" else "05_best_other_gold_selection.csv")
    paths = [cells, folder / "05_teachers.csv"]
    if missing := [str(p) for p in paths if not p.exists()]:
        raise FileNotFoundError(f"{', '.join(missing)} not found: run notebook 05 in {source} again "
                                "(`llkd-nb run configs/when_llkd_helps.yaml`)")
    best, teachers = pd.read_csv(paths[0]), pd.read_csv(paths[1], index_col=0)
    return MarginRule.fit(best, teachers), best, teachers


@dataclass
class Placement:
    """A teacher placed on one map under one model selection: the map (its name or folder), what the map
    holds for (:func:`llkd_nb.experiments.maps.regime`), the selection, the per-budget table and the guide's words."""

    source: str
    regime: str
    model_selection: str
    placed: pd.DataFrame
    advice: str

    def describe(self) -> str:
        chosen = "the teacher's labels" if self.model_selection == "pseudo" else "gold"
        return f"On the map {self.source} ({self.regime}), every choice made against {chosen}: {self.advice}"


def place_on_maps(accuracy: float, auroc: float, sources: list[str | Path]) -> list[Placement]:
    """The teacher of ``accuracy`` and ``auroc`` on every map of ``sources`` (shipped names or run folders),
    under each model selection the map holds."""
    placements = []
    for source in sources:
        holds_for = regime(map_record(source))
        has_gold = (map_folder(source) / "05_best_other_gold_selection.csv").exists()
        for selection in ("pseudo", "gold") if has_gold else ("pseudo",):
            placed, advice = recommendation(*load_map(source, selection), accuracy, auroc)
            placements.append(Placement(str(source), holds_for, selection, placed, advice))
    return placements


def pooled(maps: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Several maps' cells and teachers as one map, each teacher named after its map (``map: teacher``)."""
    cells = [best.assign(condition=name + ": " + best["condition"]) for name, (best, _) in maps.items()]
    teachers = [table.rename(index=lambda t, name=name: f"{name}: {t}") for name, (_, table) in maps.items()]
    return pd.concat(cells, ignore_index=True), pd.concat(teachers)


def out_of_sample(fitted: dict[str, tuple[pd.DataFrame, pd.DataFrame]], held_out: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """The rule fitted on the maps of ``fitted`` (pooled, :func:`pooled`) predicting every cell of real and
    proxy teachers of the ``held_out`` map: per cell, the predicted margin and interval, the side the
    interval lies on, the measured verdict, and whether each predictor gets the cell right. The rule is right
    where its interval's side is the verdict's (above 0: better; below 0: worse; includes 0: no detectable
    difference); as a recommendation, it names LLKD where its interval lies above 0 and the simpler method
    elsewhere, like the naive predictor that always names the simpler method, and a recommendation is right
    unless the measured verdict goes against it."""
    rule = MarginRule.fit(*pooled(fitted))
    best, teachers = held_out
    cells = confirmatory(best).dropna(subset=["verdict"])
    mean, low, high = rule.predict(teachers.loc[cells["condition"], "accuracy"].to_numpy(float),
                                   teachers.loc[cells["condition"], "auroc"].to_numpy(float), cells["budget"].to_numpy(float))
    side = interval_side(low, high)
    verdict = cells["verdict"].to_numpy()
    rule_picks_llkd = side == "above 0"
    return pd.DataFrame({
        "condition": cells["condition"].to_numpy(), "budget": cells["budget"].to_numpy(), "predicted": mean,
        "low": low, "high": high, "interval": side, "verdict": verdict,
        "measured": cells["llkd_minus"].to_numpy(), "rule_side_right": side == pd.Series(verdict).map(MEASURED_SIDE).to_numpy(),
        "rule_pick_right": np.where(rule_picks_llkd, verdict != "worse", verdict != "better"),
        "naive_pick_right": verdict != "better",
        "inside": [rule.inside(a, u) for a, u in zip(teachers.loc[cells["condition"], "accuracy"], teachers.loc[cells["condition"], "auroc"])],
    })


def out_of_sample_sentence(table: pd.DataFrame, fitted: list[str], held_out: str) -> str:
    """What :func:`out_of_sample` found, in words."""
    n = len(table)
    return (f"Fitted on the maps of {' and '.join(fitted)} and asked about the {n} cells of real and proxy teachers of "
            f"{held_out} ({int(table['inside'].sum())} of them inside the box the fitted teachers span), the rule's interval "
            f"lies on the side of the measured verdict in {int(table['rule_side_right'].sum())} of {n}. As a recommendation "
            f"(LLKD where its interval lies above 0, else the simpler method) it is contradicted by the measured verdict in "
            f"{n - int(table['rule_pick_right'].sum())} of {n} cells; always recommending the simpler method is "
            f"contradicted in {n - int(table['naive_pick_right'].sum())} of {n}"
            + (". The rule " + ("predicts better than" if table["rule_pick_right"].sum() > table["naive_pick_right"].sum()
                                else "does no better than") + " the naive predictor here." if n else "."))

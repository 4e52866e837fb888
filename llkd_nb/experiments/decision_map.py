"""The decision map's rule: LLKD's margin over the best other method as a function of the teacher and
the budget, fitted over the map's cells, and where a given teacher sits on it.

Each cell of notebook 05's map (a teacher x budget) gives LLKD − the best other method, with its
standard error over seeds and test texts. The rule is a meta-regression through the cells,

    margin ≈ b0 + b1·accuracy + b2·AUROC + b3·log2(budget),

with random-effects weights 1 / (se² + τ²): τ² is the cells' scatter beyond their own errors (the
DerSimonian-Laird moment estimate), so that no cell whose se happens to be small dominates the fit.
The covariance is the weighted one scaled by the residual scatter when that exceeds 1 (Knapp-Hartung),
read with a t distribution of cells − parameters degrees of freedom. A feature the map does not vary
(one budget, say) is left out of the fit. The cells share test texts and seeds, so they are not
independent: the intervals are a guide, not a test. The rule is stated only over the accuracy x AUROC
box that the ladder spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

FEATURES = ("accuracy", "auroc", "log2_budget")
SLOPE_UNITS = {"accuracy": (0.1, "per +0.1 teacher accuracy"), "auroc": (0.1, "per +0.1 confidence AUROC"),
               "log2_budget": (1.0, "per doubling of the budget")}
GRID_POINTS = 41  # per axis, when the rule's region is measured over the map's ranges


def _design(accuracy, auroc, budget) -> np.ndarray:
    accuracy, auroc, budget = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (accuracy, auroc, budget)))
    return np.stack([np.ones_like(accuracy), accuracy, auroc, np.log2(budget)], axis=-1)


def _weighted_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares: coefficients, (X'WX)^-1, and the weighted residual sum of squares."""
    inverse = np.linalg.inv(x.T @ (w[:, None] * x))
    coefficients = inverse @ (x.T @ (w * y))
    return coefficients, inverse, float((w * (y - x @ coefficients) ** 2).sum())


@dataclass(frozen=True)
class MarginRule:
    """The fitted line (``coefficients``: intercept and :data:`FEATURES`, 0 for a feature left out),
    its ``covariance``, degrees of freedom, between-cell variance ``tau2``, and what it was fitted on."""

    coefficients: np.ndarray
    covariance: np.ndarray
    df: int
    tau2: float
    cells: int
    accuracy_range: tuple[float, float]
    auroc_range: tuple[float, float]
    budgets: tuple[int, ...]

    @classmethod
    def fit(cls, best: pd.DataFrame, teachers: pd.DataFrame) -> "MarginRule":
        """Fit on the map (``best``: condition, budget, llkd_minus, se) and the teachers' pool scores
        (``teachers``: accuracy and auroc, indexed by condition)."""
        cells = best.dropna(subset=["llkd_minus", "se"])
        accuracy = teachers.loc[cells["condition"], "accuracy"].to_numpy(float)
        auroc = teachers.loc[cells["condition"], "auroc"].to_numpy(float)
        full = _design(accuracy, auroc, cells["budget"].to_numpy(float))
        varied = np.r_[True, np.ptp(full[:, 1:], axis=0) > 1e-9]  # the intercept, and every feature the map varies
        x = full[:, varied]
        if len(cells) <= x.shape[1]:
            raise ValueError(f"the rule needs more than {x.shape[1]} cells with a standard error, got {len(cells)}")
        y, variance = cells["llkd_minus"].to_numpy(float), cells["se"].to_numpy(float) ** 2
        positive = variance[variance > 0]
        variance = np.maximum(variance, 0.01 * np.median(positive) if len(positive) else 1e-6)  # se 0: weighty, not infinite
        df = len(cells) - x.shape[1]
        _, inverse, q = _weighted_fit(x, y, 1 / variance)  # fixed effects, for the DerSimonian-Laird tau²
        trace = (1 / variance).sum() - np.trace(inverse @ (x.T @ ((1 / variance ** 2)[:, None] * x)))
        tau2 = max(0.0, (q - df) / trace) if trace > 0 else 0.0
        coefficients, inverse, q = _weighted_fit(x, y, 1 / (variance + tau2))
        covariance = inverse * max(q / df, 1.0)  # Knapp-Hartung, never narrower than the weights say
        beta, cov = np.zeros(full.shape[1]), np.zeros((full.shape[1], full.shape[1]))
        beta[varied], cov[np.ix_(varied, varied)] = coefficients, covariance
        return cls(beta, cov, df, tau2, len(cells), (float(accuracy.min()), float(accuracy.max())),
                   (float(auroc.min()), float(auroc.max())), tuple(sorted(int(b) for b in cells["budget"].unique())))

    def predict(self, accuracy, auroc, budget, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fitted margin and its ``level`` interval at the given teacher and budget (arrays broadcast)."""
        x = _design(accuracy, auroc, budget)
        mean = x @ self.coefficients
        se = np.sqrt(np.einsum("...i,ij,...j->...", x, self.covariance, x))
        half = stats.t.ppf(0.5 + level / 2, self.df) * se
        return mean, mean - half, mean + half

    def slopes(self) -> pd.DataFrame:
        """Each feature's effect on the margin in readable units, with its 95 % interval (NaN: the map
        does not vary it, so the fit leaves it out)."""
        half = stats.t.ppf(0.975, self.df) * np.sqrt(np.diag(self.covariance))
        rows = {}
        for i, feature in enumerate(FEATURES, start=1):
            unit, name = SLOPE_UNITS[feature]
            fitted = self.covariance[i, i] > 0
            rows[name] = {key: unit * value if fitted else np.nan for key, value in (
                ("effect", self.coefficients[i]), ("low", self.coefficients[i] - half[i]),
                ("high", self.coefficients[i] + half[i]))}
        return pd.DataFrame(rows).T

    def region(self) -> pd.DataFrame:
        """Per budget, the share of the accuracy x AUROC box the ladder spans where the fitted margin is
        detectably above 0 (``ahead``: its lower bound) or below it (``behind``), and where it is highest."""
        accuracy, auroc = np.meshgrid(np.linspace(*self.accuracy_range, GRID_POINTS), np.linspace(*self.auroc_range, GRID_POINTS))
        rows = []
        for budget in self.budgets:
            mean, low, high = self.predict(accuracy, auroc, budget)
            top = np.unravel_index(np.argmax(low), low.shape)
            rows.append({"budget": budget, "ahead": float((low > 0).mean()), "behind": float((high < 0).mean()),
                         "best_accuracy": accuracy[top], "best_auroc": auroc[top], "best_margin": mean[top],
                         "best_low": low[top], "best_high": high[top]})
        return pd.DataFrame(rows)

    def statement(self) -> str:
        """The rule and its uncertainty in words, computed."""
        slopes = self.slopes()
        effects = "; ".join(f"{row.effect:+.3f} [{row.low:+.3f}, {row.high:+.3f}] {name}"
                            for name, row in slopes.dropna().iterrows())
        fixed = [name.replace("per ", "").replace("+0.1 ", "").replace("doubling of the ", "")
                 for name, row in slopes.iterrows() if np.isnan(row.effect)]
        box = (f"teacher accuracy {self.accuracy_range[0]:.2f}-{self.accuracy_range[1]:.2f} x AUROC "
               f"{self.auroc_range[0]:.2f}-{self.auroc_range[1]:.2f}, at {', '.join(map(str, self.budgets))} steps")
        region = self.region()
        ahead = [r for r in region.itertuples() if r.ahead > 0]
        if not ahead:
            where = (f"Nowhere in the box the ladder spans ({box}) does the fit put LLKD detectably ahead of the best "
                     "other method (its 95 % lower bound stays below 0)")
        else:
            top = max(ahead, key=lambda r: r.best_low)
            where = ("The fit puts LLKD detectably ahead (its 95 % lower bound above 0) in " + ", ".join(
                f"{r.ahead:.0%} of the box the ladder spans at {r.budget} steps" for r in ahead)
                + f", most clearly at accuracy {top.best_accuracy:.2f}, AUROC {top.best_auroc:.2f} and {top.budget} "
                f"steps ({top.best_margin:+.3f} [{top.best_low:+.3f}, {top.best_high:+.3f}]; box: {box}); the box's "
                "corners need not have been measured")
        behind = [r for r in region.itertuples() if r.behind > 0]
        if behind:
            where += "; it puts LLKD detectably behind in " + ", ".join(
                f"{r.behind:.0%} of the box at {r.budget} steps" for r in behind)
        return (f"Fitted over the map's {self.cells} cells (every kind of teacher), LLKD's margin over the best other "
                f"method moves by {effects} (95 % intervals)"
                + (f"; the map does not vary the {' or '.join(fixed)}, so the fit leaves it out" if fixed else "")
                + f". {where}.")

    def place(self, accuracy: float, auroc: float) -> pd.DataFrame:
        """The fitted margin at one teacher for every budget of the map, and its verdict words."""
        mean, low, high = self.predict(accuracy, auroc, np.array(self.budgets))
        verdict = np.where(low > 0, "LLKD ahead", np.where(high < 0, "LLKD behind", "no detectable difference"))
        return pd.DataFrame({"budget": self.budgets, "margin": mean, "low": low, "high": high, "verdict": verdict})

    def inside(self, accuracy: float, auroc: float) -> bool:
        """Whether a teacher lies in the accuracy x AUROC box the ladder spans."""
        return (self.accuracy_range[0] <= accuracy <= self.accuracy_range[1]
                and self.auroc_range[0] <= auroc <= self.auroc_range[1])


def nearest_rung(teachers: pd.DataFrame, accuracy: float, auroc: float) -> str:
    """The map's teacher closest to (accuracy, AUROC), each axis scaled by its spread over the map."""
    spread = teachers[["accuracy", "auroc"]].std().replace(0, 1.0)
    distance = (((teachers[["accuracy", "auroc"]] - [accuracy, auroc]) / spread) ** 2).sum(axis=1)
    return str(distance.idxmin())


MEASURED_AGREES = {"LLKD ahead": "better", "LLKD behind": "worse", "no detectable difference": "no detectable difference"}


def recommendation(rule: MarginRule, best: pd.DataFrame, teachers: pd.DataFrame, accuracy: float, auroc: float) -> tuple[pd.DataFrame, str]:
    """Where a teacher of ``accuracy`` and ``auroc`` sits on the map: the fitted margin per budget, the
    nearest measured rung's cells, and the method the map recommends, with why."""
    placed = rule.place(accuracy, auroc)
    rung = nearest_rung(teachers, accuracy, auroc)
    measured = best[best["condition"] == rung].set_index("budget")
    placed["nearest_rung"] = rung
    placed["best_other"] = placed["budget"].map(measured["method"])
    placed["measured_margin"] = placed["budget"].map(measured["llkd_minus"])
    placed["measured_verdict"] = placed["budget"].map(measured["verdict"])
    where = "inside" if rule.inside(accuracy, auroc) else "outside (the rule extrapolates there)"
    lines = [f"Your teacher (accuracy {accuracy:.3f}, AUROC {auroc:.3f}) sits {where} the box the map's ladder spans; "
             f"its nearest rung is **{rung}** (accuracy {teachers.loc[rung, 'accuracy']:.3f}, AUROC "
             f"{teachers.loc[rung, 'auroc']:.3f})."]
    for row in placed.itertuples():
        if row.verdict == "LLKD ahead":
            advice = "use **LLKD**: the fit puts it detectably ahead"
        elif row.verdict == "LLKD behind":
            advice = f"use **{row.best_other}** (the nearest rung's best other method): the fit puts LLKD detectably behind"
        else:
            advice = (f"LLKD shows no detectable gain, and **{row.best_other}** (best at the nearest rung) is simpler "
                      "and cheaper")
        if isinstance(row.measured_verdict, str) and row.measured_verdict != MEASURED_AGREES[row.verdict]:
            advice += f" (but the nearest rung's own cell says LLKD is {row.measured_verdict}: read it too)"
        lines.append(f"At {row.budget} steps the fitted margin is {row.margin:+.3f} [{row.low:+.3f}, {row.high:+.3f}]: {advice}.")
    return placed, " ".join(lines)


def load_map(run_dir: str | Path) -> tuple[MarginRule, pd.DataFrame, pd.DataFrame]:
    """The rule, the map's cells and its teachers from notebook 05's tables in ``run_dir``."""
    tables = Path(run_dir) / "tables"
    paths = [tables / "05_best_other.csv", tables / "05_teachers.csv"]
    if missing := [str(p) for p in paths if not p.exists()]:
        raise FileNotFoundError(f"{', '.join(missing)} not found: run notebook 05 in {run_dir} first "
                                "(`llkd-nb run configs/when_llkd_helps.yaml`)")
    best, teachers = pd.read_csv(paths[0]), pd.read_csv(paths[1], index_col=0)
    return MarginRule.fit(best, teachers), best, teachers

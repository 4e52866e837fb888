"""The decision map's rule: LLKD's margin over the best other method as a function of the teacher and
the budget, fitted over the map's cells, and where a given teacher sits on it.

Each cell of notebook 05's map (a teacher x budget) gives LLKD − the best other method, with its
standard error over seeds and test texts. The rule is a weighted least-squares line through the cells,

    margin ≈ b0 + b1·accuracy + b2·AUROC + b3·log2(budget),

with weights 1 / se². Its covariance is the weighted one, inflated by the residual variance when the
cells scatter more than their own errors say (never deflated), and read with a t distribution of
cells − 4 degrees of freedom. The cells share test texts and seeds, so they are not independent: the
intervals are a guide, not a test. The rule is stated only inside the measured ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class MarginRule:
    """The fitted line (``coefficients``: intercept and :data:`FEATURES`), its ``covariance`` and
    degrees of freedom, and the ranges of the cells it was fitted on."""

    coefficients: np.ndarray
    covariance: np.ndarray
    df: int
    accuracy_range: tuple[float, float]
    auroc_range: tuple[float, float]
    budgets: tuple[int, ...]

    @classmethod
    def fit(cls, best: pd.DataFrame, teachers: pd.DataFrame) -> "MarginRule":
        """Fit on the map (``best``: condition, budget, llkd_minus, se) and the teachers' pool scores
        (``teachers``: accuracy and auroc, indexed by condition)."""
        cells = best.dropna(subset=["llkd_minus", "se"])
        cells = cells[cells["se"] > 0]
        if len(cells) <= len(FEATURES) + 1:
            raise ValueError(f"the rule needs more than {len(FEATURES) + 1} cells with a standard error, got {len(cells)}")
        accuracy = teachers.loc[cells["condition"], "accuracy"].to_numpy(float)
        auroc = teachers.loc[cells["condition"], "auroc"].to_numpy(float)
        x = _design(accuracy, auroc, cells["budget"].to_numpy(float))
        y, w = cells["llkd_minus"].to_numpy(float), 1 / cells["se"].to_numpy(float) ** 2
        information = x.T @ (w[:, None] * x)
        coefficients = np.linalg.solve(information, x.T @ (w * y))
        df = len(cells) - x.shape[1]
        scatter = float((w * (y - x @ coefficients) ** 2).sum() / df)
        covariance = np.linalg.inv(information) * max(scatter, 1.0)
        return cls(coefficients, covariance, df, (float(accuracy.min()), float(accuracy.max())),
                   (float(auroc.min()), float(auroc.max())), tuple(sorted(int(b) for b in cells["budget"].unique())))

    def predict(self, accuracy, auroc, budget, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fitted margin and its ``level`` interval at the given teacher and budget (arrays broadcast)."""
        x = _design(accuracy, auroc, budget)
        mean = x @ self.coefficients
        se = np.sqrt(np.einsum("...i,ij,...j->...", x, self.covariance, x))
        half = stats.t.ppf(0.5 + level / 2, self.df) * se
        return mean, mean - half, mean + half

    def slopes(self) -> pd.DataFrame:
        """Each feature's effect on the margin in readable units, with its 95 % interval."""
        half = stats.t.ppf(0.975, self.df) * np.sqrt(np.diag(self.covariance))
        rows = {}
        for i, feature in enumerate(FEATURES, start=1):
            unit, name = SLOPE_UNITS[feature]
            rows[name] = {"effect": unit * self.coefficients[i], "low": unit * (self.coefficients[i] - half[i]),
                          "high": unit * (self.coefficients[i] + half[i])}
        return pd.DataFrame(rows).T

    def region(self) -> pd.DataFrame:
        """Per budget, the share of the measured accuracy x AUROC box where the fitted margin is detectably
        above 0 (``ahead``: its lower bound) or below it (``behind``), and the point where it is highest."""
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
        effects = "; ".join(f"{row.effect:+.3f} [{row.low:+.3f}, {row.high:+.3f}] {name}" for name, row in slopes.iterrows())
        region = self.region()
        ahead = region[region["ahead"] > 0]
        ranges = (f"teacher accuracy {self.accuracy_range[0]:.2f}-{self.accuracy_range[1]:.2f}, AUROC "
                  f"{self.auroc_range[0]:.2f}-{self.auroc_range[1]:.2f}, budgets {', '.join(map(str, self.budgets))} steps")
        if ahead.empty:
            where = (f"Nowhere in the measured range ({ranges}) does the fit put LLKD detectably ahead of the best other "
                     f"method (its 95 % lower bound stays below 0)")
        else:
            top = ahead.loc[ahead["best_low"].idxmax()]
            where = ("LLKD is detectably ahead (the fit's 95 % lower bound above 0) in " + ", ".join(
                f"{r.ahead:.0%} of the measured teacher range at {r.budget} steps" for r in ahead.itertuples())
                + f", most clearly at accuracy {top.best_accuracy:.2f}, AUROC {top.best_auroc:.2f} and {top.budget} steps "
                f"({top.best_margin:+.3f} [{top.best_low:+.3f}, {top.best_high:+.3f}]); measured range: {ranges}")
        behind = region[region["behind"] > 0]
        if not behind.empty:
            where += "; it is detectably behind in " + ", ".join(
                f"{r.behind:.0%} of the range at {r.budget} steps" for r in behind.itertuples())
        return (f"Fitted over the map's cells, LLKD's margin over the best other method moves by {effects} (95 % "
                f"intervals). {where}.")

    def place(self, accuracy: float, auroc: float) -> pd.DataFrame:
        """The fitted margin at one teacher for every budget of the map, and its verdict words."""
        mean, low, high = self.predict(accuracy, auroc, np.array(self.budgets))
        verdict = np.where(low > 0, "LLKD ahead", np.where(high < 0, "LLKD behind", "no detectable difference"))
        return pd.DataFrame({"budget": self.budgets, "margin": mean, "low": low, "high": high, "verdict": verdict})

    def inside(self, accuracy: float, auroc: float) -> bool:
        return (self.accuracy_range[0] <= accuracy <= self.accuracy_range[1]
                and self.auroc_range[0] <= auroc <= self.auroc_range[1])


def nearest_rung(teachers: pd.DataFrame, accuracy: float, auroc: float) -> str:
    """The map's teacher closest to (accuracy, AUROC), each axis scaled by its spread over the map."""
    spread = teachers[["accuracy", "auroc"]].std().replace(0, 1.0)
    distance = (((teachers[["accuracy", "auroc"]] - [accuracy, auroc]) / spread) ** 2).sum(axis=1)
    return str(distance.idxmin())


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
    lines = [f"Your teacher (accuracy {accuracy:.3f}, AUROC {auroc:.3f}) sits {where} the map's measured range; its "
             f"nearest rung is **{rung}** (accuracy {teachers.loc[rung, 'accuracy']:.3f}, AUROC {teachers.loc[rung, 'auroc']:.3f})."]
    for row in placed.itertuples():
        if row.verdict == "LLKD ahead":
            advice = "use **LLKD**: the fit puts it detectably ahead"
        elif row.verdict == "LLKD behind":
            advice = f"use **{row.best_other}** (the nearest rung's best other method): the fit puts LLKD detectably behind"
        else:
            advice = f"no detectable difference, so the simpler **{row.best_other}** (best at the nearest rung) serves as well"
        lines.append(f"At {row.budget} steps the fitted margin is {row.margin:+.3f} [{row.low:+.3f}, {row.high:+.3f}]: {advice}.")
    return placed, " ".join(lines)


def load_map(run_dir) -> tuple[MarginRule, pd.DataFrame, pd.DataFrame]:
    """The rule, the map's cells and its teachers from notebook 05's tables in ``run_dir``."""
    from pathlib import Path

    tables = Path(run_dir) / "tables"
    paths = [tables / "05_best_other.csv", tables / "05_teachers.csv"]
    if missing := [str(p) for p in paths if not p.exists()]:
        raise FileNotFoundError(f"{', '.join(missing)} not found: run notebook 05 in {run_dir} first "
                                "(`llkd-nb run configs/when_llkd_helps.yaml`)")
    best, teachers = pd.read_csv(paths[0]), pd.read_csv(paths[1], index_col=0)
    return MarginRule.fit(best, teachers), best, teachers

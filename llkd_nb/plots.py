"""Figures shared by the notebooks: each has a title and labelled axes and is saved as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

sns.set_theme(style="whitegrid", context="notebook")


def save(fig: plt.Figure, run_dir: str | Path, name: str) -> Path:
    """Save ``fig`` as ``run_dir/figures/<name>.png`` and return the path."""
    path = Path(run_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def label_distribution(counts: pd.DataFrame, title: str) -> plt.Figure:
    """Grouped bars: one group per label, one bar per column of ``counts`` (index: labels)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    counts.plot.bar(ax=ax, rot=0)
    ax.set(title=title, xlabel="label", ylabel="number of texts")
    return fig


def accuracy_by_bin(tables: dict[str, pd.DataFrame], x: str, xlabel: str, title: str) -> plt.Figure:
    """Accuracy per equal-count bin (x = the bin's mean value), one line per table, counts annotated."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, table in tables.items():
        ax.plot(table[x], table["accuracy"], marker="o", label=name)
        for _, row in table.iterrows():
            ax.annotate(f"n={int(row['count'])}", (row[x], row["accuracy"]), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=7)
    ax.set(title=title, xlabel=xlabel, ylabel="accuracy of the labels", ylim=(0, 1.05))
    if len(tables) > 1:
        ax.legend()
    return fig


def reliability(tables: dict[str, pd.DataFrame], title: str) -> plt.Figure:
    """Reliability diagram: accuracy against mean confidence per bin, with the diagonal."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    for name, table in tables.items():
        ax.plot(table["confidence"], table["accuracy"], marker="o", label=name)
    ax.set(title=title, xlabel="mean confidence in bin", ylabel="accuracy in bin", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    return fig


def accuracy_coverage(tables: dict[str, pd.DataFrame], title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, table in tables.items():
        ax.plot(table["coverage"], table["accuracy"], marker="o", label=name)
    ax.set(title=title, xlabel="fraction kept (most confident first)", ylabel="accuracy of kept labels", ylim=(0, 1.05))
    ax.legend(fontsize=8)
    return fig


def heatmap(values: pd.DataFrame, counts: pd.DataFrame, title: str, xlabel: str, ylabel: str) -> plt.Figure:
    """Heatmap of ``values`` with each cell annotated ``value (n=count)``."""
    annotations = values.map(lambda v: "" if pd.isna(v) else f"{v:.2f}") + counts.map(lambda n: f"\n(n={int(n)})")
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    sns.heatmap(values, annot=annotations, fmt="", cmap="viridis", vmin=0, vmax=1, ax=ax,
                cbar_kws={"label": "accuracy of the teacher's labels"})
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


def lines(frame: pd.DataFrame, x: str, columns: list[str], title: str, xlabel: str, ylabel: str,
          labels: list[str] | None = None, smooth: int = 1, marker: str | None = None) -> plt.Figure:
    """One line per column of ``frame`` against ``x`` (optionally a rolling mean over ``smooth`` rows)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for column, label in zip(columns, labels or columns):
        ax.plot(frame[x], frame[column].rolling(smooth, min_periods=1).mean(), label=label, marker=marker)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize=8, ncol=2)
    return fig


def bars_with_errors(summary: pd.DataFrame, value: str, error: str, title: str, ylabel: str) -> plt.Figure:
    """Horizontal bars of ``summary[value]`` (index: method names) with ``summary[error]`` error bars."""
    ordered = summary.sort_values(value)
    fig, ax = plt.subplots(figsize=(7, 0.42 * len(ordered) + 1.2))
    ax.barh(ordered.index, ordered[value], xerr=ordered[error].fillna(0), capsize=3, color=sns.color_palette()[0])
    ax.set(title=title, xlabel=ylabel, ylabel="method")
    return fig


def scatter_labelled(summary: pd.DataFrame, x: str, y: str, title: str, xlabel: str, ylabel: str) -> plt.Figure:
    """Scatter of one point per row, each labelled by its index."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(summary[x], summary[y])
    for name, row in summary.iterrows():
        ax.annotate(name, (row[x], row[y]), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


def grouped_bars(frame: pd.DataFrame, title: str, xlabel: str, ylabel: str) -> plt.Figure:
    """Bars grouped by index (e.g. classes), one bar per column (e.g. methods)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    frame.plot.bar(ax=ax, rot=0)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.05))
    return fig


def value_counts_frame(series: dict[str, pd.Series], labels: list[str]) -> pd.DataFrame:
    """Counts per label for several label series, labels in a fixed order (absent labels count 0)."""
    return pd.DataFrame({name: s.value_counts().reindex(labels, fill_value=0) for name, s in series.items()})



def thresholds(steps: pd.DataFrame, labels: list[str], x: str = "step") -> plt.Figure:
    """LLKD's class-wise thresholds over training: teacher thresholds left, student thresholds right."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for ax, (prefix, title) in zip(axes, (("tau_T", "teacher-confidence threshold τ_T"),
                                          ("tau_S", "student-uncertainty threshold τ_S"))):
        for k, label in enumerate(labels):
            if f"{prefix}/{k}" in steps:
                ax.plot(steps[x], steps[f"{prefix}/{k}"], color=f"C{k}", label=label)
        ax.set(title=title, xlabel="optimizer step", ylabel="threshold")
    axes[1].legend(fontsize=8, title="pseudo-class", loc="best")
    return fig


def learning_curves(curves: pd.DataFrame, column: str, title: str, ylabel: str, highlight: str | None = None) -> plt.Figure:
    """Mean over seeds of ``column`` per method against the optimizer step, with markers and a band
    of one standard deviation; ``highlight`` is drawn thick."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    colours = sns.color_palette("tab20", curves["method"].nunique())
    for colour, (method, group) in zip(colours, curves.groupby("method", sort=False)):
        stats = group.groupby("step")[column].agg(["mean", "std"]).fillna(0)
        width = 2.6 if method == highlight else 1.2
        ax.plot(stats.index, stats["mean"], marker="o", markersize=3, linewidth=width, label=method, color=colour)
        ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"], alpha=0.08, color=colour)
    ax.set(title=title, xlabel="optimizer step", ylabel=ylabel)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    return fig


def per_seed_scores(runs: pd.DataFrame, column: str, title: str, xlabel: str, highlight: str | None = None,
                    reference: tuple[str, float] | None = None) -> plt.Figure:
    """One row per method: every seed's score as a dot and the mean as a bar; ``highlight`` in colour,
    ``reference`` (name, value) as a dashed vertical line."""
    order = runs.groupby("method", sort=False)[column].mean().sort_values().index
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(order) + 1.4))
    for row, method in enumerate(order):
        values = runs.loc[runs["method"] == method, column].dropna()
        colour = "C3" if method == highlight else "C0"
        ax.barh(row, values.mean(), color=colour, alpha=0.35)
        ax.scatter(values, np.full(len(values), row), color=colour, s=14, zorder=3)
    if reference is not None:
        ax.axvline(reference[1], color="grey", linestyle="--", label=reference[0])
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(range(len(order)), order)
    ax.set(title=title, xlabel=xlabel, ylabel="method")
    return fig


def paired_intervals(table: pd.DataFrame, title: str, xlabel: str) -> plt.Figure:
    """Forest plot: per method, the mean paired difference (dot) and its 95 % interval (line);
    ``table`` has columns mean, low, high, verdict, indexed by method."""
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(table) + 1.4))
    colours = {"better": "C2", "worse": "C3", "no detectable difference": "C7"}
    for row, (method, item) in enumerate(table.iterrows()):
        colour = colours[item["verdict"]]
        ax.plot([item["low"], item["high"]], [row, row], color=colour, linewidth=2.5)
        ax.scatter([item["mean"]], [row], color=colour, zorder=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(table)), table.index)
    ax.set(title=title, xlabel=xlabel, ylabel="compared method")
    return fig

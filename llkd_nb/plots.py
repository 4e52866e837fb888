"""Figures shared by the notebooks: each has a title and labelled axes and is saved as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
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
          labels: list[str] | None = None, smooth: int = 1) -> plt.Figure:
    """One line per column of ``frame`` against ``x`` (optionally a rolling mean over ``smooth`` rows)."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for column, label in zip(columns, labels or columns):
        ax.plot(frame[x], frame[column].rolling(smooth, min_periods=1).mean(), label=label)
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


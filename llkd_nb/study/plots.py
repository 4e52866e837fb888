"""Figures shared by the notebooks: each has a title and labelled axes and is saved as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..experiments.stats import PairedDifference

sns.set_theme(style="whitegrid", context="notebook")


def save(fig: plt.Figure, run_dir: str | Path, name: str) -> None:
    """Save ``fig`` as ``run_dir/figures/<name>.png`` (the notebook shows it inline as well)."""
    path = Path(run_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def label_distribution(counts: pd.DataFrame, title: str) -> plt.Figure:
    """Grouped bars: one group per label, one bar per column of ``counts`` (index: labels)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    counts.plot.bar(ax=ax, rot=0)
    ax.set(title=title, xlabel="label", ylabel="number of texts")
    return fig


def accuracy_by_bin(tables: dict[str, pd.DataFrame], x: str, xlabel: str, title: str, ylabel: str) -> plt.Figure:
    """Accuracy per equal-count bin (x = the bin's mean value) with a 95 % binomial (normal) interval,
    one line per table; each bin's count is written to the right of its point, clear of the interval."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, table in tables.items():
        accuracy, count = table["accuracy"], table["count"].clip(lower=1)
        half = 1.96 * np.sqrt(accuracy * (1 - accuracy) / count)
        ax.errorbar(table[x], accuracy, yerr=half, marker="o", capsize=3, label=name)
        for _, row in table.iterrows():
            ax.annotate(f"n={int(row['count'])}", (row[x], row["accuracy"]), textcoords="offset points",
                        xytext=(6, 3), ha="left", fontsize=7)
    ax.set(title=title + "\n(bars: 95 % interval of each bin's accuracy)", xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.05))
    if len(tables) > 1:
        ax.legend()
    return fig


def reliability(tables: dict[str, pd.DataFrame], title: str, annotate: str | None = None) -> plt.Figure:
    """Reliability diagram: accuracy against mean confidence per bin, with the diagonal; below it, the
    texts in each bin of the table named ``annotate`` (a panel of their own: counts written on the lines
    would cover them)."""
    fig, (ax, counts) = plt.subplots(2, 1, figsize=(5, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    for name, table in tables.items():
        line, = ax.plot(table["confidence"], table["accuracy"], marker="o", label=name)
        if name == annotate:
            counts.bar(table["confidence"], table["count"], width=0.02, color=line.get_color())
            counts.set(ylabel="texts", xlabel="mean confidence in bin")
    ax.set(title=title, ylabel="accuracy in bin", xlim=(0, 1), ylim=(0, 1.02))
    if annotate is None:
        counts.set_visible(False)
        ax.set_xlabel("mean confidence in bin")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def confidence_by_correctness(confidence: np.ndarray, right: np.ndarray, title: str) -> plt.Figure:
    """Histograms (as densities, on shared bins) of the confidence of right and of wrong labels: how
    far apart they lie is what the confidence AUROC measures."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    bins = np.linspace(float(confidence.min()), float(confidence.max()), 21)
    for mask, name, colour in ((right, "right labels", "C2"), (~right, "wrong labels", "C3")):
        ax.hist(confidence[mask], bins=bins, density=True, alpha=0.5, color=colour, label=f"{name} (n={int(mask.sum())})")
    ax.set(title=title, xlabel="teacher confidence", ylabel="density")
    ax.legend(fontsize=8)
    return fig


def accuracy_coverage(tables: dict[str, pd.DataFrame], title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, table in tables.items():
        ax.plot(table["coverage"], table["accuracy"], marker="o", label=name)
    ax.set(title=title, xlabel="fraction kept (most confident first)", ylabel="accuracy of kept labels", ylim=(0, 1.05))
    ax.legend(fontsize=8)
    return fig


def heatmap(values: pd.DataFrame, counts: pd.DataFrame, title: str, xlabel: str, ylabel: str,
            colour_label: str = "accuracy of the teacher's labels") -> plt.Figure:
    """Heatmap of ``values`` (0 to 1) with each cell annotated ``value (n=count)``."""
    annotations = values.map(lambda v: "" if pd.isna(v) else f"{v:.2f}") + counts.map(lambda n: f"\n(n={int(n)})")
    fig, ax = plt.subplots(figsize=(max(6.5, 0.8 * values.shape[1] + 2.5), max(4.8, 0.6 * values.shape[0] + 1.5)))
    sns.heatmap(values, annot=annotations, fmt="", cmap="viridis", vmin=0, vmax=1, ax=ax,
                cbar_kws={"label": colour_label})
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


def pipeline() -> plt.Figure:
    """The method at a glance: the teacher labels the pool once; at every step LLKD keeps the samples
    where the teacher is confident and the student uncertain, and weights them."""
    from matplotlib.patches import FancyBboxPatch

    width, height, centre = 0.16, 0.56, 0.55
    boxes = [  # (left edge, text, colour)
        (0.00, "unlabeled texts\n(the pool)", "C7"),
        (0.21, "LLM teacher, once\n(notebook 01):\npseudo-label ŷ,\nconfidence c", "C0"),
        (0.42, "each batch, LLKD\n(notebook 03): keep\nc ≥ τ_T(ŷ), u ≥ τ_S(ŷ);\nweight c·u", "C3"),
        (0.63, "student\n(small encoder)\ntrains on the\nkept samples", "C2"),
        (0.84, "test macro-F1\n(notebooks\n04, 05)", "C7"),
    ]
    fig, ax = plt.subplots(figsize=(11, 2.8))
    for left, text, colour in boxes:
        ax.add_patch(FancyBboxPatch((left, centre - height / 2), width, height, boxstyle="round,pad=0.01",
                                    facecolor=colour, alpha=0.25, edgecolor=colour))
        ax.text(left + width / 2, centre, text, ha="center", va="center", fontsize=9)
    for (left, _, _), (next_left, _, _) in zip(boxes, boxes[1:]):
        ax.annotate("", xy=(next_left - 0.01, centre), xytext=(left + width + 0.01, centre),
                    arrowprops={"arrowstyle": "->", "color": "black"})
    student, selection = boxes[3][0] + width / 2, boxes[2][0] + width / 2
    ax.annotate("", xy=(selection, centre - height / 2 - 0.02), xytext=(student, centre - height / 2 - 0.02),
                arrowprops={"arrowstyle": "->", "color": "C2", "connectionstyle": "arc3,rad=-0.4"})
    ax.text((student + selection) / 2, 0.0, "the student's uncertainty u, every step", ha="center", va="center",
            fontsize=8, color="C2")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.08, 1), title="LLKD: distil an LLM teacher into a small student")
    ax.axis("off")
    return fig


def class_differences(differences: dict[str, pd.DataFrame], title: str, xlabel: str) -> plt.Figure:
    """Per class (rows), each comparison's mean difference (dot) and interval (bar); ``differences``
    maps a comparison's name to a frame with columns mean, low, high indexed by class."""
    classes = list(next(iter(differences.values())).index)
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(classes) + 1.6))
    offsets = np.linspace(-0.15, 0.15, len(differences)) if len(differences) > 1 else [0.0]
    for (name, table), offset, colour in zip(differences.items(), offsets, ("C0", "C1", "C2", "C4")):
        rows = np.arange(len(classes)) + offset
        ax.errorbar(table["mean"], rows, xerr=[table["mean"] - table["low"], table["high"] - table["mean"]],
                    fmt="o", color=colour, capsize=3, label=name)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(classes)), classes)
    ax.invert_yaxis()
    ax.set(title=title, xlabel=xlabel, ylabel="class")
    ax.legend(fontsize=8, loc="best")
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


def value_counts_frame(series: dict[str, pd.Series], labels: list[str]) -> pd.DataFrame:
    """Counts per label for several label series, labels in a fixed order (absent labels count 0)."""
    return pd.DataFrame({name: s.value_counts().reindex(labels, fill_value=0) for name, s in series.items()})


def thresholds(steps: pd.DataFrame, labels: list[str], x: str = "step", smooth: int = 1) -> plt.Figure:
    """LLKD's class-wise thresholds over training: teacher thresholds left, student thresholds right.
    With ``smooth`` > 1 each line is a rolling mean over that many steps, each step's value faint behind."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for ax, (prefix, title) in zip(axes, (("tau_T", "teacher-confidence threshold τ_T"),
                                          ("tau_S", "student-uncertainty threshold τ_S"))):
        for k, label in enumerate(labels):
            if f"{prefix}/{k}" in steps:
                values = steps[f"{prefix}/{k}"]
                if smooth > 1:
                    ax.plot(steps[x], values, color=f"C{k}", alpha=0.2, linewidth=0.8)
                ax.plot(steps[x], values.rolling(smooth, min_periods=1).mean(), color=f"C{k}", label=label)
        ax.set(title=title, xlabel="optimizer step", ylabel="threshold", ylim=(0, 1))  # the signals' whole range
    axes[1].legend(fontsize=8, title="pseudo-class", loc="best")
    return fig


def one_step(step: pd.DataFrame, title: str) -> plt.Figure:
    """LLKD's rule on one batch: each sample's teacher confidence and student uncertainty, each minus
    its pseudo-class's threshold, so that one pair of lines at 0 serves every class; kept samples
    (upper right) are filled and sized by their weight. ``step`` has the columns ``c``, ``tau_T``,
    ``u``, ``tau_S``, ``keep``, ``weight``."""
    fig, ax = plt.subplots(figsize=(8.2, 4.6))
    x, y = step["c"] - step["tau_T"], step["u"] - step["tau_S"]
    kept = step["keep"].to_numpy(bool)
    ax.scatter(x[~kept], y[~kept], facecolors="none", edgecolors="grey", s=45, label="dropped")
    ax.scatter(x[kept], y[kept], color="C0", s=30 + 60 * step.loc[kept, "weight"],
               label="kept: teacher confident and\nstudent uncertain (size: weight)")
    ax.axvline(0, color="black", linewidth=1, linestyle="--")
    ax.axhline(0, color="black", linewidth=1, linestyle="--")
    ax.set(title=title, xlabel="teacher confidence c − its class threshold τ_T(ŷ)",
           ylabel="student uncertainty u − its class threshold τ_S(ŷ)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside the axes: it covers no point
    fig.tight_layout()
    return fig


def learning_curves(curves: pd.DataFrame, column: str, panels: dict[str, list[str]], title: str, ylabel: str,
                    highlight: str | None = None) -> plt.Figure:
    """Mean over seeds of ``column`` against the optimizer step with a band of one standard deviation,
    one panel per entry of ``panels`` (its title -> its methods, a few each so that lines stay apart);
    ``highlight`` is drawn thick and black in every panel it is in, and every other method keeps one colour
    across the panels."""
    others = dict.fromkeys(method for methods in panels.values() for method in methods if method != highlight)
    colours = {method: f"C{index % 10}" for index, method in enumerate(others)} | {highlight: "black"}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.0), sharey=True, squeeze=False)
    for ax, (panel, methods) in zip(axes[0], panels.items()):
        for method in methods:
            group = curves[curves["method"] == method]
            stats = group.groupby("step")[column].agg(["mean", "std"]).fillna(0)
            colour = colours[method]
            ax.plot(stats.index, stats["mean"], marker="o", markersize=3, color=colour, label=method,
                    linewidth=2.4 if method == highlight else 1.3)
            ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"], alpha=0.12, color=colour)
        ax.set(title=panel, xlabel="optimizer step")
        ax.legend(fontsize=8, loc="lower right")
    axes[0, 0].set_ylabel(ylabel)
    fig.suptitle(title)
    return fig


def per_seed_scores(runs: pd.DataFrame, column: str, title: str, xlabel: str, highlight: str | None = None,
                    reference: tuple[str, float] | None = None) -> plt.Figure:
    """One row per method: every seed's score as a dot and the mean as a bar; ``highlight`` in colour,
    ``reference`` (name, value) as a dashed vertical line."""
    order = runs.groupby("method", sort=False)[column].mean().sort_values().index
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(order) + 1.4))
    for row, method in enumerate(order):
        values = runs.loc[runs["method"] == method, column].dropna()
        colour = "black" if method == highlight else "C0"  # red and green mean a verdict elsewhere
        ax.barh(row, values.mean(), color=colour, alpha=0.35)
        ax.scatter(values, np.full(len(values), row), color=colour, s=14, zorder=3)
    if reference is not None:
        ax.axvline(reference[1], color="grey", linestyle="--", label=reference[0])
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(range(len(order)), order)
    ax.set(title=title, xlabel=xlabel, ylabel="method")
    return fig


def paired_intervals(differences: dict[str, PairedDifference], title: str, xlabel: str) -> plt.Figure:
    """Forest plot: per compared method, the mean paired difference (dot) and its Holm-corrected 95 % interval
    (line), coloured by its verdict."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    table = pd.DataFrame({"mean": {m: d.mean for m, d in differences.items()},
                          "low": {m: d.corrected[0] for m, d in differences.items()},
                          "high": {m: d.corrected[1] for m, d in differences.items()},
                          "verdict": {m: d.verdict for m, d in differences.items()}})

    fig, ax = plt.subplots(figsize=(12, 0.42 * len(table) + 1.6))  # a third of the width: the legend
    colours = {"better": "C2", "worse": "C3", "no detectable difference": "C7"}
    for row, (method, item) in enumerate(table.iterrows()):
        colour = colours[item["verdict"]]
        ax.plot([item["low"], item["high"]], [row, row], color=colour, linewidth=2.5)
        ax.scatter([item["mean"]], [row], color=colour, zorder=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.set_yticks(range(len(table)), table.index)
    ax.set(title=title, xlabel=xlabel, ylabel="compared method")
    shown = [verdict for verdict in colours if verdict in set(table["verdict"])]
    ax.legend([Line2D([], [], color=colours[v], linewidth=2.5) for v in shown], [f"LLKD is: {v}" for v in shown],
              loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")  # beside the axes, off the intervals
    return fig


def margin_map(best: pd.DataFrame, row_labels: dict[str, str], title: str, short_names: dict[str, str],
               panels: dict[str, str]) -> plt.Figure:
    """Heatmaps of LLKD − the best other method (``best``: condition, kind, budget, llkd_minus, low,
    high, method), one panel per kind of teacher (``panels``: kind -> panel title), rows in the order of
    ``row_labels`` (condition -> row label); ``short_names`` abbreviate the methods in the cells. A cell
    whose (Holm-corrected) interval excludes 0 is framed and starred; a cell is coloured by its interval's end
    nearest 0 (white where the interval includes 0), so a wide interval around a large estimate stays pale."""
    panels = {kind: name for kind, name in panels.items() if (best["kind"] == kind).any()}
    limit = max(float(np.nanmax(np.abs(best["llkd_minus"]))), 0.01)
    heights = [best.loc[best["kind"] == kind, "condition"].nunique() for kind in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.1 * sum(heights) + 1.6 * len(panels)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (kind, name) in zip(axes[:, 0], panels.items()):
        part = best[best["kind"] == kind].set_index(["condition", "budget"])
        order = [c for c in row_labels if c in part.index.get_level_values(0)]
        budgets = sorted(part.index.get_level_values(1).unique())
        # the colour is what the cell shows for sure: its interval's end nearest 0, white where it includes 0
        shade = part["low"].clip(lower=0) + part["high"].clip(upper=0)
        values = shade.unstack().loc[order, budgets]
        image = ax.imshow(values.to_numpy(float), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        for i, condition in enumerate(order):
            for j, budget in enumerate(budgets):
                cell = part.loc[(condition, budget)]
                clear = cell["low"] > 0 or cell["high"] < 0
                ax.text(j, i, f"{cell['llkd_minus']:+.3f}{' *' if clear else ''}\n[{cell['low']:+.3f}, {cell['high']:+.3f}]"
                        f"\nvs {short_names.get(cell['method'], cell['method'])}", ha="center", va="center", fontsize=7.5,
                        fontweight="bold" if clear else "normal",
                        color="white" if abs(values.loc[condition, budget]) > 0.6 * limit else "black")
                if clear:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5))
        ax.set_xticks(range(len(budgets)), [f"{b} steps" for b in budgets])
        ax.set_yticks(range(len(order)), [row_labels[c] for c in order])
        ax.set(title=f"{title}: {name}", xlabel="training budget (optimizer steps)", ylabel="teacher (pool accuracy, AUROC)")
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="LLKD − best other: the interval's\nend nearest 0 (white: includes 0)")
    return fig


MARKERS = {"real": "o", "proxy": "^", "simulated": "s"}


def _side_by_side(values: dict[str, float], step: float = 0.005) -> dict[str, float]:
    """Each key's value, spread by ``step`` around it where several keys share one (a simulation and its twin)."""
    groups: dict[float, list[str]] = {}
    for key, value in values.items():
        groups.setdefault(round(value, 3), []).append(key)
    return {key: values[key] + step * (i - (len(keys) - 1) / 2) for keys in groups.values() for i, key in enumerate(keys)}


def scores_by_teacher(cells: pd.DataFrame, accuracy: dict[str, float], highlight: str, title: str) -> plt.Figure:
    """Test macro-F1 (mean over seeds, bars: one std) of each method against the teacher's pool accuracy,
    one panel per budget; one marker per kind of teacher (:data:`MARKERS`); the proxy rungs, which differ
    in accuracy alone, are joined by a line; teachers of one accuracy stand side by side."""
    budgets = sorted(cells["budget"].unique())
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 4), sharey=True, squeeze=False)
    methods = list(dict.fromkeys(cells["method"]))
    positions = _side_by_side(accuracy)
    for ax, budget in zip(axes[0], budgets):
        for k, method in enumerate(methods):
            part = cells[(cells["budget"] == budget) & (cells["method"] == method)]
            part = part.assign(accuracy=part["condition"].map(accuracy)).sort_values("accuracy")
            colour, width = ("black", 2.4) if method == highlight else (f"C{k if k < 3 else k + 1}", 1.2)
            labelled = False
            for kind, marker in MARKERS.items():
                points = part[part["kind"] == kind]
                if points.empty:
                    continue
                ax.errorbar(points["condition"].map(positions), points["macro_f1_mean"], yerr=points["macro_f1_std"], marker=marker,
                            color=colour, linewidth=width if kind == "proxy" else 0.0, elinewidth=1.0, capsize=2,
                            label=None if labelled else method, markeredgecolor="black" if kind == "real" else colour)
                labelled = True
        ax.set(title=f"{budget} steps", xlabel="teacher accuracy on the pool")
    axes[0, 0].set_ylabel("student test macro-F1 (mean ± std over seeds)")
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(title)
    return fig


def decision_map(best: pd.DataFrame, teachers: pd.DataFrame, rule, title: str) -> plt.Figure:
    """One panel per budget over teacher accuracy x confidence AUROC: the fitted margin of ``rule``
    (:class:`llkd_nb.experiments.decision_map.MarginRule`) as background, the line where its 95 % lower bound crosses
    0, and each measured cell as a point coloured by its margin (framed: Holm verdict not neutral)."""
    budgets = sorted(best["budget"].unique())
    limit = max(float(np.nanmax(np.abs(best["llkd_minus"]))), 0.01)
    pad = 0.03
    accuracy = np.linspace(teachers["accuracy"].min() - pad, teachers["accuracy"].max() + pad, 60)
    auroc = np.linspace(teachers["auroc"].min() - pad, teachers["auroc"].max() + pad, 60)
    grid_accuracy, grid_auroc = np.meshgrid(accuracy, auroc)
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.4 * len(budgets) + 1, 4.2), sharey=True, squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        mean, low, _ = rule.predict(grid_accuracy, grid_auroc, budget)
        ax.imshow(mean, origin="lower", extent=(accuracy[0], accuracy[-1], auroc[0], auroc[-1]), cmap="RdBu",
                  vmin=-limit, vmax=limit, aspect="auto", alpha=0.45)
        if low.min() < 0 < low.max():
            ax.contour(grid_accuracy, grid_auroc, low, levels=[0], colors="black", linestyles="--", linewidths=1)
        cells = best[best["budget"] == budget]
        for kind in ("simulated", "proxy", "real"):  # simulations first and larger: a real teacher at the same spot stays visible
            marker, part = MARKERS[kind], cells[cells["kind"] == kind]
            clear = part["verdict"] != "no detectable difference"
            image = ax.scatter(teachers.loc[part["condition"], "accuracy"], teachers.loc[part["condition"], "auroc"],
                               c=part["llkd_minus"], cmap="RdBu", vmin=-limit, vmax=limit, marker=marker,
                               s=220 if kind == "simulated" else 80,
                               edgecolors=np.where(clear, "black", "grey"), linewidths=np.where(clear, 2.2, 0.6),
                               label=kind)
        ax.set(title=f"{budget} steps", xlabel="teacher accuracy on the pool")
    axes[0, 0].set_ylabel("teacher confidence AUROC on the pool")
    axes[0, -1].legend(fontsize=8, loc="lower right")
    fig.colorbar(image, ax=axes[0, -1], label="LLKD − best other\n(points: measured; background: fit)")
    fig.suptitle(title)
    return fig

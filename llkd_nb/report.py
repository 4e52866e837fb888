"""A run folder's results as Markdown (``papers/results.md`` is written by this, never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from .artifacts import TeacherArtifact


def _table(path: Path, **kwargs) -> str:
    frame = pd.read_csv(path, index_col=0)
    return frame.to_markdown(**kwargs)


def run_report(run_dir: str | Path, title: str) -> str:
    """Setting, timings, the comparison with its costs, the paired verdicts, the robustness check and
    the tuning choices of one run folder."""
    run = Path(run_dir)
    study = yaml.safe_load((run / "config" / "study.yaml").read_text())
    timings = yaml.safe_load((run / "config" / "timings.yaml").read_text())
    artifact = TeacherArtifact.load_from_run(run)
    record = json.loads((run / "config" / "04_baseline_comparison.json").read_text())
    duplicates = artifact.meta.get("duplicates_removed", {})
    sizes = {split: len(artifact.split(split)) for split in ("pool", "validation", "test")}
    minutes = ", ".join(f"{name[:2]} {seconds / 60:.1f}" for name, seconds in timings.items() if name != "total")
    lines = [
        f"## {title}",
        "",
        f"Run `{run.name}` at commit `{(record.get('git_commit') or 'unknown')[:10]}`, "
        f"{record['machine']['cpu_count']} CPU cores, torch {record['packages']['torch']}. "
        f"Dataset `{study['dataset']}` (pool {sizes['pool']} / validation {sizes['validation']} / test {sizes['test']}, "
        f"after removing {duplicates.get('exact', 0)} exact and {duplicates.get('near', 0)} near duplicates); "
        f"teacher `{study['teacher']}` ({study['calibration']}-calibrated, {study['num_examples']} examples); "
        f"student `{study['student']}` (trainable layers: {study['trainable_layers']}, {study['max_length']} tokens); "
        f"{study['max_steps']} optimizer steps of {study['batch_size']} samples, protocol `{study['protocol']}`; "
        f"seeds {study['seeds']}; tuning seeds {study['tuning_seeds']}.",
        "",
        f"Wall-clock from a cold cache: **{timings['total'] / 60:.1f} min** (notebooks, min: {minutes}).",
        "",
        "### Test scores and costs (mean ± std over seeds)",
        "",
        (run / "tables" / "04_summary.md").read_text().strip(),
        "",
        "### LLKD against each method, paired over seeds and test texts",
        "",
        "Difference in test macro-F1 (LLKD − method), 95 % paired bootstrap interval, verdict from the interval.",
        "",
        _table(run / "tables" / "04_verdicts.csv", floatfmt=".3f"),
    ]
    if (run / "tables" / "04_robustness.csv").exists():
        lines += ["", "### Robustness: both protocols", "", _table(run / "tables" / "04_robustness.csv", floatfmt=".3f")]
    if (run / "tables" / "04_tuning.csv").exists():
        lines += ["", "### Tuning (validation macro-F1 against the teacher's labels, tuning seeds only)", "",
                  _table(run / "tables" / "04_tuning.csv")]
    return "\n".join(lines) + "\n"

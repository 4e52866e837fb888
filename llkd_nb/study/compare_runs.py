"""Is a reproduction a reproduction? Two run folders' tables, compared (``llkd-nb compare-runs``).

What ``make reproduce`` promises, and what this checks:

- **the same kind of CPU and the same thread count** (the study's ``threads``, 2 unless it says otherwise):
  bit-identical tables, timings aside;
- **another machine** (another CPU kind, another thread count, another BLAS): the same verdicts, and every
  score within the tolerance below. The teacher's log-probabilities are rounded (0.01 nats) before they
  make its artifact, so its labels rarely move (a value lands across a rounding boundary about once in a
  thousand, and batch calibration then moves every confidence a little); the student's float32 arithmetic
  is not bit-identical across CPUs and thread counts (torch splits some sums by thread, and picks its
  kernels by CPU), so a selection that thresholds the student's uncertainty can flip a sample on the last
  bits, and that run of that method drifts from there.

Every ``tables/*.csv`` of either run is compared cell by cell (rows matched by their labels: the method,
seed, step, bin, ... columns, or the index), timings left out (a column named for seconds or minutes).
Each cell is:

- **exact**: the same number or text;
- a **score** (a column of accuracy, F1 or AUROC, its means, or LLKD's difference from a method; not a
  standard deviation) **within** or **out of tolerance**;
- a **verdict** (a column "LLKD is ..." or "verdict") that **changed**;
- **another difference**: any other number (costs, counts, p-values, bin edges, confidences) or text
  (intervals, per-seed lists, tuned choices). Reported, never failed on: what it changes reaches a
  score or a verdict, and is checked there.

**The tolerance** is one seed standard error of a method's mean test macro-F1 in the reference run (the
median over its methods of ``macro_f1_std / sqrt(seeds)``, from every reference table that has both
columns: notebook 04's summary and robustness, notebook 05's cells). A rerun on fresh seeds would move
a mean by about 1.4 of them, so a difference under one standard error is one that seed noise alone
makes; a broken install (another teacher, other data, another student) moves scores by several. A score of
one seed (a row named by its seed: runs, learning curves) gets one seed standard deviation (the median
``macro_f1_std``), since a run that drifts moves by that much alone; a difference of two scores (LLKD's
margin over a method) gets √2 times its kind's tolerance. A reference with no such table has no measured
seed noise, and every score must then match exactly.

The exit code is 1 when a verdict changed, a score lies out of tolerance, or the runs' tables do not
line up (a table or a row missing from one of them), else 0. The committed tables are a snapshot that
``llkd-nb report`` writes beside the notes (:data:`COMMITTED`, :func:`write_snapshot`): the exact CSV
tables of the run the committed notebooks show, and its record (commit, CPU, threads). The executed
notebooks' outputs are no substitute: they show tables rounded for reading, not all of them, as HTML.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .report import SNAPSHOT_RECORD, replace_block


COMMITTED = Path(__file__).resolve().parents[2] / "papers" / "runs"  # the committed runs' tables, by run name
SNAPSHOT_STUDY = ("dataset", "teacher", "calibration", "student", "trainable_layers", "max_length", "max_steps")  # its setting
README_BLOCK = "compare-runs"  # README's <!-- report:compare-runs --> block

TIMING = re.compile(r"second|minute", re.IGNORECASE)
VERDICT = re.compile(r"LLKD is|verdict", re.IGNORECASE)
SCORE = re.compile(r"accuracy|f1|auroc|LLKD − method|llkd_minus", re.IGNORECASE)
DIFFERENCE = re.compile(r"LLKD − method|llkd_minus", re.IGNORECASE)  # a difference of two scores
NOT_SCORE = re.compile(r"_std$|std\b", re.IGNORECASE)
LABELS = ("method", "condition", "teacher", "budget", "seed", "step", "bin")  # columns that name a row
SHOWN_ROWS = 8  # rows listed per table and kind of difference (every failure is listed)


class CompareError(ValueError):
    """A folder that is not a run (or a snapshot of one), or holds no tables."""


@dataclass
class Difference:
    """One cell that is not exact: ``kind`` is ``within``, ``out``, ``verdict`` or ``other``."""

    row: str
    column: str
    run: object
    reference: object
    kind: str

    def describe(self) -> str:
        a, b = _number(self.run), _number(self.reference)
        if a is not None and b is not None:
            return f"{self.column} {_short(b)} → {_short(a)} (Δ {a - b:+.2g})"
        return f"{self.column} {self.reference!r} → {self.run!r}"


@dataclass
class TableComparison:
    name: str
    cells: int = 0
    exact: int = 0
    problems: list[str] = field(default_factory=list)  # the table does not line up
    differences: list[Difference] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # timing columns

    def count(self, kind: str) -> int:
        return sum(d.kind == kind for d in self.differences)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or any(d.kind in ("out", "verdict") for d in self.differences)


@dataclass
class RunComparison:
    run: Path
    reference: Path
    tolerance: float  # on a mean over seeds
    per_seed_tolerance: float  # on one seed's score
    tolerance_source: str
    tables: list[TableComparison]
    records: tuple[dict, dict]  # the run's and the reference's commit, machine, threads

    @property
    def failed(self) -> bool:
        return any(table.failed for table in self.tables)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def verdict(self) -> str:
        """The comparison in one sentence."""
        identical = sum(t.exact == t.cells and not t.problems for t in self.tables)
        changed = sum(t.count("verdict") for t in self.tables)
        out = sum(t.count("out") for t in self.tables)
        within = sum(t.count("within") for t in self.tables)
        problems = sum(len(t.problems) for t in self.tables)
        parts = [f"{identical} of {len(self.tables)} tables identical",
                 f"{changed} verdict(s) changed" if changed else "no verdict changed",
                 f"{out} score(s) out of tolerance" if out else
                 (f"every score within tolerance ({within} not exact)" if within else "every score exact")]
        if problems:
            parts.append(f"{problems} table(s), row(s) or column(s) missing on one side")
        return "; ".join(parts) + (": **FAILED**" if self.failed else ".")

    def table(self) -> str:
        """Per table: cells compared, exact, scores within and out of tolerance, verdicts changed, other."""
        rows = ["| table | cells | exact | scores within tolerance | out of tolerance | verdicts changed | "
                "other differences |", "|---|---|---|---|---|---|---|"]
        for t in self.tables:
            name = t.name + (" (" + "; ".join(t.problems) + ")" if t.problems else "")
            rows.append(f"| `{name}` | {t.cells} | {t.exact} | {t.count('within')} | {t.count('out')} | "
                        f"{t.count('verdict')} | {t.count('other')} |")
        return "\n".join(rows)

    def header(self) -> str:
        run, reference = (_describe_record(r) for r in self.records)
        return (f"Run `{self.run.name}` ({run}) against `{self.reference.name}` ({reference}). "
                f"Tolerance on scores: ±{self.tolerance:.4f} on a mean over seeds, ±{self.per_seed_tolerance:.4f} on one "
                f"seed's, √2 times either on a difference of two; {self.tolerance_source}.")

    def markdown(self) -> str:
        """The summary: who against whom, the tolerance, the per-table counts, the sentence (README's block)."""
        return f"{self.header()}\n\n{self.table()}\n\n{self.verdict()}\n"

    def details(self) -> str:
        """Per table and row (method, seed, ...): every failure, and the first rows of the other differences."""
        lines = []
        for t in self.tables:
            if not t.differences and not t.problems:
                continue
            lines.append(f"{t.name}:")
            lines += [f"  ! {problem}" for problem in t.problems]
            for kinds, title, limit in ((("verdict",), "verdict changed", None), (("out",), "out of tolerance", None),
                                        (("within",), "within tolerance", SHOWN_ROWS),
                                        (("other",), "other difference", SHOWN_ROWS)):
                by_row: dict[str, list[Difference]] = {}
                for d in t.differences:
                    if d.kind in kinds:
                        by_row.setdefault(d.row, []).append(d)
                shown = list(by_row.items())[:limit]
                for row, differences in shown:
                    lines.append(f"  {title}: {row}: " + "; ".join(d.describe() for d in differences))
                if len(by_row) > len(shown):
                    lines.append(f"  {title}: ... and {len(by_row) - len(shown)} more row(s)")
            if t.skipped:
                lines.append(f"  not compared (timings): {', '.join(t.skipped)}")
        return "\n".join(lines)


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _short(value: float) -> str:
    return f"{value:.6g}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _describe_record(record: dict) -> str:
    if not record:
        return "no record"
    commit = (record.get("git_commit") or "unknown")[:10]
    machine = record.get("machine", {})
    threads = machine.get("torch_threads", "?")
    return (f"commit `{commit}`, {machine.get('cpu') or machine.get('processor') or 'CPU unknown'}, "
            f"{threads} thread{'' if threads == 1 else 's'}")


def tables_of(folder: Path) -> dict[str, Path]:
    """The CSV tables of a run folder or of a snapshot of one, by file name."""
    if not folder.is_dir():
        raise CompareError(f"{folder} is not a folder: give a run folder (e.g. runs/default) or a snapshot of one")
    tables = {path.name: path for path in sorted((folder / "tables").glob("*.csv"))}
    if not tables:
        raise CompareError(f"{folder} has no tables (tables/*.csv): run its study first (`llkd-nb run`)")
    return tables


def run_record(folder: Path) -> dict:
    """A run's commit, machine and packages: a snapshot's record, else the run's last notebook record."""
    snapshot = folder / SNAPSHOT_RECORD
    if snapshot.exists():
        return json.loads(snapshot.read_text())
    records = sorted((folder / "config").glob("0*.json"))
    return json.loads(records[-1].read_text()) if records else {}


def seed_tolerance(tables: dict[str, Path]) -> tuple[float, float, str]:
    """One seed standard error of a method's mean test macro-F1 and one seed standard deviation: medians over
    the rows of every table with ``macro_f1_std`` and ``seeds`` (the module docstring says why)."""
    errors, deviations, sources = [], [], []
    for name, path in tables.items():
        frame = pd.read_csv(path)
        if {"macro_f1_std", "seeds"} <= set(frame.columns):
            rows = frame[(frame["seeds"] > 1) & frame["macro_f1_std"].notna()]
            errors += list(rows["macro_f1_std"] / rows["seeds"] ** 0.5)
            deviations += list(rows["macro_f1_std"])
            sources.append(name)
    if not errors:
        return 0.0, 0.0, "no seed noise in the reference (no table with macro_f1_std and seeds): scores must match exactly"
    tolerance = float(pd.Series(errors).median())
    return tolerance, float(pd.Series(deviations).median()), (f"one seed standard error of a method's mean test macro-F1 in the reference, the median of "
                       f"macro_f1_std / √seeds over {len(errors)} rows of {', '.join(sources)}")


def _labels(frame: pd.DataFrame) -> list[str]:
    """The columns that name a row: any of :data:`LABELS`, and the first column when it is text (a written
    index) with as many text columns after it as make the names unique (a written index of two levels)."""
    named = [c for c in LABELS if c in frame.columns]
    leading = []
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]) or column in named or VERDICT.search(str(column)):
            break
        leading.append(column)
        if not frame.duplicated(subset=leading + named).any():
            break
    return leading + named


def _row_names(frame: pd.DataFrame, labels: list[str]) -> list[str]:
    """Each row's name: its label values, a number with its column's name ("seed 3")."""
    if not labels:
        return [f"row {i + 1}" for i in range(len(frame))]
    return [", ".join(str(value) if isinstance(value, str) else f"{column} {value}"
                      for column, value in zip(labels, values))
            for values in frame[labels].itertuples(index=False)]


def _kind(column: str, run, reference, tolerance: float) -> str | None:
    """None for an exact cell, else the kind of difference (:class:`Difference`)."""
    if (_missing(run) and _missing(reference)) or run == reference:
        return None
    a, b = _number(run), _number(reference)
    if a is not None and b is not None and a == b:
        return None
    if VERDICT.search(column):
        return "verdict"
    if SCORE.search(column) and not NOT_SCORE.search(column) and a is not None and b is not None:
        tolerance *= math.sqrt(2) if DIFFERENCE.search(column) else 1.0
        return "within" if abs(a - b) <= tolerance + 1e-12 else "out"
    if SCORE.search(column) and not NOT_SCORE.search(column) and (a is None) != (b is None):
        return "out"  # a score on one side, none on the other
    return "other"


def compare_table(name: str, run: Path, reference: Path, tolerance: float, per_seed_tolerance: float) -> TableComparison:
    result = TableComparison(name)
    a, b = pd.read_csv(run), pd.read_csv(reference)
    labels_a, labels_b = _labels(a), _labels(b)
    if labels_a != labels_b:
        result.problems.append(f"rows named by {labels_a} here and {labels_b} in the reference")
        return result
    if "seed" in labels_b:  # one seed's scores, not means over seeds
        tolerance = per_seed_tolerance
    names_a, names_b = _row_names(a, labels_a), _row_names(b, labels_b)
    if len(set(names_a)) == len(names_a) and len(set(names_b)) == len(names_b):
        only_a, only_b = [n for n in names_a if n not in names_b], [n for n in names_b if n not in names_a]
        if only_a:
            result.problems.append(f"row(s) not in the reference: {', '.join(only_a[:5])}")
        if only_b:
            result.problems.append(f"row(s) missing: {', '.join(only_b[:5])}")
        pairs = [(names_a.index(n), names_b.index(n), n) for n in names_b if n in names_a]
    elif len(a) == len(b):
        pairs = [(i, i, n) for i, n in enumerate(names_b)]
    else:
        result.problems.append(f"{len(a)} rows here, {len(b)} in the reference")
        return result
    missing_columns = [c for c in b.columns if c not in a.columns]
    if missing_columns:
        result.problems.append(f"column(s) missing: {', '.join(map(str, missing_columns))}")
    extra_columns = [c for c in a.columns if c not in b.columns]
    if extra_columns:
        result.problems.append(f"column(s) not in the reference: {', '.join(map(str, extra_columns))}")
    columns = [c for c in b.columns if c in a.columns and c not in labels_b]
    result.skipped = [str(c) for c in columns if TIMING.search(str(c))]
    columns = [c for c in columns if not TIMING.search(str(c))]
    for i, j, row in pairs:
        for column in columns:
            here, there = a.at[i, column], b.at[j, column]
            result.cells += 1
            kind = _kind(str(column), here, there, tolerance)
            if kind is None:
                result.exact += 1
            else:
                result.differences.append(Difference(row, str(column), here, there, kind))
    return result


def compare_runs(run: str | Path, reference: str | Path) -> RunComparison:
    """Every table of ``run`` against ``reference`` (a run folder, or a snapshot of one)."""
    run, reference = Path(run), Path(reference)
    ours, theirs = tables_of(run), tables_of(reference)
    tolerance, per_seed_tolerance, source = seed_tolerance(theirs)
    tables = []
    for name in sorted(set(ours) | set(theirs)):
        if name not in ours or name not in theirs:
            table = TableComparison(name)
            table.problems.append("missing here" if name not in ours else "not in the reference")
        else:
            table = compare_table(name, ours[name], theirs[name], tolerance, per_seed_tolerance)
        tables.append(table)
    return RunComparison(run, reference, tolerance, per_seed_tolerance, source, tables,
                         (run_record(run), run_record(reference)))


def write_snapshot(run_dir: str | Path, root: str | Path = COMMITTED) -> Path:
    """Copy a run's CSV tables into ``root/<run name>/tables/`` (the tables it held before are removed) and
    its record there (commit, machine, threads, package versions, the study's setting; no path of the
    machine): the committed reference that ``llkd-nb compare-runs`` checks a reproduction against."""
    run = Path(run_dir)
    tables = tables_of(run)
    target = Path(root) / run.name
    if (target / "tables").exists():
        shutil.rmtree(target / "tables")
    (target / "tables").mkdir(parents=True)
    for name, path in tables.items():
        shutil.copyfile(path, target / "tables" / name)
    record = run_record(run)
    study = yaml.safe_load((run / "config" / "study.yaml").read_text()) if (run / "config" / "study.yaml").exists() else {}
    kept = {"git_commit": record.get("git_commit"), "git_clean": record.get("git_clean"),
            "machine": {k: v for k, v in record.get("machine", {}).items()
                        if k in ("python", "processor", "cpu", "cpu_count", "torch_threads", "cuda")},
            "packages": record.get("packages", {}),
            "study": {k: study[k] for k in SNAPSHOT_STUDY if k in study}}
    (target / SNAPSHOT_RECORD).write_text(json.dumps(kept, indent=2) + "\n")
    return target


def resolve_run(run: Path, runs_dir: Path) -> Path:
    """A run folder as given, or the folder ``runs_dir/<name>`` of the study file given."""
    if run.suffix in (".yaml", ".yml") and run.is_file():
        from .config import load_study

        return runs_dir / load_study(run).run.name  # the name it sets, or the one of the study it extends
    return run


def command(run: Path, reference: Path | None, runs_dir: Path, readme: Path | None) -> int:
    """``llkd-nb compare-runs``: print the comparison; 1 on a changed verdict or a score out of tolerance,
    2 when a folder is not a run."""
    import sys


    run = resolve_run(run, runs_dir)
    reference = reference or COMMITTED / run.name
    try:
        if not reference.exists():
            raise CompareError(f"no committed tables for run {run.name!r} ({reference}): give a run folder to "
                               "compare with, or write them from a run with `llkd-nb report`")
        comparison = compare_runs(run, reference)
    except CompareError as error:
        print(f"llkd-nb: {error}", file=sys.stderr)
        return 2
    details = comparison.details()
    print(comparison.markdown() + ("\n" + details if details else ""))
    if readme is not None:
        readme.write_text(replace_block(readme.read_text(), README_BLOCK, comparison.markdown()))
        print(f"wrote the summary into {readme}")
    return comparison.exit_code

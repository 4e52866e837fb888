"""``llkd-nb``: run the whole study from one parameters file, or list what is available.

    llkd-nb run configs/default.yaml      # notebooks 01 -> 04 into runs/<name>/
    llkd-nb predict runs/default/student texts.csv   # label new texts with a run's student
    llkd-nb advise configs/default.yaml   # should I use LLKD on my data? (--check: a short head-to-head)
    llkd-nb teacher-profile runs/default  # how good is the teacher, and where it sits on the shipped maps
    llkd-nb compare-runs runs/default     # a reproduction against the committed tables (exit 1: it differs)
    llkd-nb keys                          # every study key, its default and meaning
    llkd-nb list-datasets
    llkd-nb list-methods
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING

import yaml

from ..core.params import default_of

if TYPE_CHECKING:  # the study imports torch: commands that do not need it stay fast
    from .config import Study

REPO_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"  # the repository beside llkd_nb/


def notebook_parameters(notebook: Path, run_dir: Path) -> dict:
    """What ``llkd-nb run`` passes a notebook: the run's study file and the run folder, relative to the
    notebook's folder (where papermill runs it), so an executed notebook names no path of its machine."""
    here = notebook.parent.resolve()
    return {"study_file": os.path.relpath(run_dir / "config" / "study.yaml", here),
            "run_dir": os.path.relpath(run_dir, here)}


PATH_KEYS = ("cache_path", "dataset", "eval_dataset", "teacher", "student", "prompt_template")  # keys that may name a file or folder


def resolved_study_values(study: Study) -> dict:
    """The study's flat values, with every file or folder they name (a cache, data files, a local teacher or
    student) resolved from where ``llkd-nb run`` runs: the notebooks run from their own folder."""
    values = study.flat()
    for key in PATH_KEYS:
        if isinstance(values[key], str) and (key == "cache_path" or Path(values[key]).exists()):
            values[key] = str(Path(values[key]).resolve())
    return values


REPORT_HEADER = """\
# Results of the committed runs

Written by `llkd-nb report` from the run folders' tables (nothing here is typed by hand); the committed
notebooks show the same runs. These are a 135 M-parameter teacher and a 22 M-parameter student on small
pools: they show the method's mechanics and how it compares under one protocol, not the paper's figures.
"""

PROGRESS_BAR = re.compile(r"\d+%\|")


DEFAULT_NOTES = [REPO_NOTEBOOKS.parent / "README.md",
                 *(REPO_NOTEBOOKS.parent / "papers" / name for name in ("method.md", "results.md", "workshop.md", "scale.md"))]

# The kernel's own log (e.g. ipykernel's notice that it talks over local TCP) is not the study's output.
QUIET_KERNEL = ["--log-level=ERROR"]


def without_machine_paths(nb) -> None:
    """Keep only the file names in papermill's record of a notebook's input and output paths: the folders
    are the executing machine's."""
    record = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key):
            record[key] = PureWindowsPath(record[key]).name  # splits on / and \ alike


def tidy_executed(path: Path) -> None:
    """An executed notebook as readers get it, in one rewrite: without the stored progress-bar output
    (stderr, and the blank lines a closed bar leaves; other stderr, a warning or a traceback, stays), and
    without papermill's injected-parameters cell (its metadata keeps the values, and the setup cell's
    output names the study and run folder), so that opened again by hand it opens the reader's own last
    run, not a run folder of the machine that executed it; papermill's record of the input and output
    paths keeps their file names only, not the executing machine's folders."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.cells = [cell for cell in nb.cells if "injected-parameters" not in cell.metadata.get("tags", [])]
    without_machine_paths(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (
                o.get("output_type") == "stream" and o.get("name") == "stderr"
                and (PROGRESS_BAR.search(o.get("text", "")) or not o.get("text", "").strip()))]
    nbformat.write(nb, path)


def run_study(study: Study, runs_dir: Path, notebooks_dir: Path = REPO_NOTEBOOKS) -> Path:
    """Execute the selected notebooks in order with papermill; returns the run folder."""
    import papermill

    from .config import NOTEBOOKS, record_last_run

    run_dir = (runs_dir / study.run.name).resolve()
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    (run_dir / "config").mkdir(exist_ok=True)
    (run_dir / "config" / "study.yaml").write_text(yaml.safe_dump(resolved_study_values(study), sort_keys=False))
    names = list(NOTEBOOKS)
    selected = [names[n - 1] for n in sorted(set(study.run.notebooks))]
    timings = {}
    caches = cache_state(study, run_dir)
    started = time.perf_counter()
    for position, name in enumerate(selected, 1):
        source = notebooks_dir / f"{name}.ipynb"
        if not source.exists():
            raise FileNotFoundError(f"notebook not found: {source}")
        print(f"[{position}/{len(selected)}] {name}", flush=True)
        begin = time.perf_counter()
        executed = run_dir / "notebooks" / f"{name}.ipynb"
        papermill.execute_notebook(
            str(source), str(executed),
            parameters=notebook_parameters(source, run_dir), cwd=str(notebooks_dir),
            progress_bar=study.run.progress, kernel_name="python3", extra_arguments=QUIET_KERNEL,
        )
        tidy_executed(executed)
        record_last_run(run_dir.parent, name, run_dir.name)  # what the notebook opens when opened by hand
        timings[name] = time.perf_counter() - begin
        print(f"    done in {timings[name] / 60:.1f} min", flush=True)
    total = time.perf_counter() - started
    timings["total"] = total
    (run_dir / "config" / "timings.yaml").write_text(yaml.safe_dump({k: round(v, 1) for k, v in timings.items()}))
    record_timing(run_dir, timings, caches)
    print(f"study finished in {total / 60:.1f} min: {run_dir}", flush=True)
    return run_dir


# The run each solutions notebook is committed executed on: the track its exercises belong to (the names
# of configs/workshop.yaml and configs/when_llkd_helps.yaml).
SOLUTION_RUNS = {"01": "workshop", "02": "workshop", "03": "workshop", "04": "workshop", "05": "when_llkd_helps"}


def run_solutions(runs_dir: Path, solutions_dir: Path = REPO_NOTEBOOKS / "solutions") -> list[str]:
    """Execute every solutions notebook in place on its track's run (:data:`SOLUTION_RUNS`) in ``runs_dir``,
    as the committed ones are; returns the numbers of those whose run is missing, left as they were."""
    import papermill

    missing = []
    for number, name in SOLUTION_RUNS.items():
        run_dir = runs_dir / name
        if not (run_dir / "config" / "study.yaml").exists():
            missing.append(number)
            continue
        path = solutions_dir / f"{number}_solutions.ipynb"
        relative = os.path.relpath(run_dir.resolve(), solutions_dir.resolve())
        papermill.execute_notebook(str(path), str(path), parameters={"run_dir": relative}, cwd=str(solutions_dir),
                                   progress_bar=False, kernel_name="python3", extra_arguments=QUIET_KERNEL)
        tidy_executed(path)
        print(f"executed {path.name} on {run_dir}", flush=True)
    return missing


def cache_state(study: "Study", run_dir: Path) -> dict[str, int]:
    """How full the caches a run reads are when it starts: texts the teacher cache holds, finished
    training runs the run cache holds (both 0: a cold run)."""
    import sqlite3

    teacher = study.teacher.resolved_cache_path(run_dir)
    texts = 0
    if teacher.exists():
        with sqlite3.connect(teacher) as connection:
            try:
                texts = connection.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
            except sqlite3.OperationalError:  # a file without the table: nothing cached
                pass
    runs = study.comparison.cache_for(run_dir)
    return {"teacher_cache_texts": texts, "run_cache_runs": len(list(runs.directory.glob("*.npz"))) if runs else 0}


def record_timing(run_dir: Path, timings: dict[str, float], caches: dict[str, int]) -> None:
    """Append this run's minutes, commit and starting cache state to ``config/timings_history.yaml``,
    so that a report can tell a cold run's time from a warm rerun's."""
    from datetime import datetime, timezone

    from ..core.runinfo import git_commit
    from .report import TIMINGS_HISTORY, timing_history

    history = timing_history(run_dir)
    history.append({"commit": (git_commit() or "unknown")[:10],
                    "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "minutes": {k: round(v / 60, 1) for k, v in timings.items()}, **caches})
    (run_dir / TIMINGS_HISTORY).write_text(yaml.safe_dump(history, sort_keys=False))


def list_datasets() -> None:
    from ..core.data import REGISTRY

    for spec in REGISTRY.values():
        forms = " + ".join(f for f, present in (("offline", spec.offline), ("hub", spec.hub_id)) if present)
        print(f"{spec.name:15s} {spec.num_labels:3d} labels  {forms:14s} {spec.description}")
    print("or a local .csv / .jsonl / .parquet file: set `labels` and `task` (and `verbalizers` for coded labels)")


def list_keys() -> None:
    from .config import CLI_KEYS, KEYS, NOTEBOOKS, notebook_keys

    for key, (section, f) in KEYS.items():
        where = "llkd-nb run" if key in CLI_KEYS else ", ".join(nb[:2] for nb in NOTEBOOKS if key in notebook_keys(nb))
        print(f"{key:22s} {default_of(f)!r:28s} [{section}; {where}] {f.metadata['help']}")


def list_methods() -> None:
    import pandas as pd

    from ..experiments.methods import comparison_methods, method_table

    print("notebook 04 methods, as their strategies declare them (tuned on the validation set over their grid):")
    with pd.option_context("display.width", 250, "display.max_colwidth", 90):
        print(method_table(comparison_methods()).drop(columns="past the first / last value").to_string())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llkd-nb", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the notebooks from a YAML study file")
    run.add_argument("config", type=Path)
    run.add_argument("--runs-dir", type=Path, default=Path("runs"), help="parent of the run folder (default: runs)")
    run.add_argument("--notebooks-dir", type=Path, default=REPO_NOTEBOOKS)
    predict = commands.add_parser("predict", help="label a file of texts with a run's saved student")
    predict.add_argument("model", type=Path, help="a saved student folder, e.g. runs/default/student")
    predict.add_argument("texts", type=Path, help=".csv / .jsonl / .parquet with a text column")
    predict.add_argument("--output", type=Path, help="predictions (.csv or .jsonl; default: <texts>.predictions.csv)")
    predict.add_argument("--text-column", default="text")
    predict.add_argument("--batch-size", type=int, default=64)
    report = commands.add_parser("report", help="write run folders' results as Markdown (papers/results.md); "
                                                "other runs' sections in the file are kept")
    report.add_argument("runs", type=Path, nargs="+", help="run folders, e.g. runs/default runs/yahoo_answers")
    report.add_argument("--output", type=Path, default=REPO_NOTEBOOKS.parent / "papers" / "results.md")
    report.add_argument("--readme", type=lambda v: Path(v) if v else None, default=REPO_NOTEBOOKS.parent / "README.md",
                        help="also rewrite this file's <!-- report:<run> --> blocks (--readme '' to skip)")
    report.add_argument("--tables", type=Path, help="also copy each run's tables and record to <this>/<run>/, the "
                        "committed tables that `llkd-nb compare-runs` checks a reproduction against (default: "
                        "papers/runs/ beside the notes)")
    report.add_argument("--no-tables", action="store_true", help="do not copy the tables (nor ship the maps)")
    report.add_argument("--maps", type=Path, help="ship each notebook 05 run's decision map into <this>/<run>/ "
                                                  "(default: the package's llkd_nb/maps/)")
    compare = commands.add_parser("compare-runs", help="compare a run's tables with the committed ones or another "
                                                       "run's: exit 1 on a changed verdict or a score out of tolerance")
    compare.add_argument("run", type=Path, help="a run folder (e.g. runs/default), or the study file that made it")
    compare.add_argument("reference", type=Path, nargs="?",
                         help="a run folder (default: the committed tables of the run's name, papers/runs/<name>)")
    compare.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where a study file's run folder is")
    compare.add_argument("--readme", type=Path, help="also write the summary into this file's "
                                                     "<!-- report:compare-runs --> block")
    site = commands.add_parser("site", help="render executed notebooks and the notes as static HTML pages")
    site.add_argument("folders", type=Path, nargs="*", default=[REPO_NOTEBOOKS],
                      help="folders of executed notebooks, e.g. runs/default/notebooks (default: notebooks/)")
    site.add_argument("--notes", type=Path, nargs="*", default=DEFAULT_NOTES, help="Markdown notes to include")
    site.add_argument("--output", type=Path, default=Path("site"))
    profile = commands.add_parser("teacher-profile", help="the teacher's accuracy, confidence AUROC, ECE and per-class "
                                                          "accuracy with bootstrap intervals, on a run's labelled texts")
    profile.add_argument("run", type=Path, help="a run folder with a teacher artifact (notebook 01), e.g. runs/default")
    profile.add_argument("--labelled", type=Path,
                         help="a labelled sample of the run's texts (.csv/.jsonl with columns id, label). An id is the "
                              "run's id of a text: your data file's id column, or its 0-based row number when it has "
                              "none (an eval file's ids get the prefix eval/ where they clash with the pool's); the "
                              "run's ids are in the teacher artifact's table. Default: the texts notebooks 01 and 02 "
                              "check the teacher on (the pool's gold, else the test texts')")
    profile.add_argument("--replicates", type=int, default=1000, help="bootstrap replicates")
    profile.add_argument("--map", nargs="+", help="decision maps to place the teacher on: a shipped map's name or "
                                                  "notebook 05's run folder (default: every map the package ships)")
    advise = commands.add_parser("advise", help="should I use LLKD on my data? Label what the answer needs, profile "
                                                "the teacher, place it on the shipped decision maps and name the "
                                                "method to try first")
    advise.add_argument("config", type=Path, help="a study file (YAML), e.g. one naming your dataset and eval_dataset")
    advise.add_argument("--check", action="store_true", help="then run that method against LLKD on your data (a few "
                                                             "seeds, choices against gold validation labels)")
    advise.add_argument("--map", nargs="+", help="maps to use: shipped names or notebook 05 run folders (default: "
                                                 "every shipped map)")
    advise.add_argument("--runs-dir", type=Path, default=Path("runs"), help="parent of the run folder whose teacher "
                                                                            "cache it uses and where it saves the answer")
    advise.add_argument("--readme", type=Path, help="also write how long it took into this file's "
                                                    "<!-- report:advise --> block")
    commands.add_parser("keys", help="every study key: default, owner, notebooks, meaning")
    check = commands.add_parser("check", help="is this machine ready for the workshop? a smoke test of about half a "
                                              "minute that says 'ready' or what is wrong")
    check.add_argument("--runs-dir", type=Path, default=Path("runs"))
    exercises = commands.add_parser("exercises", help="write the workshop track's and the exercises' measured times "
                                                       "into the instructor's guide")
    exercises.add_argument("--runs-dir", type=Path, default=Path("runs"))
    exercises.add_argument("--exercises-dir", type=Path, default=REPO_NOTEBOOKS.parent / "configs" / "exercises")
    exercises.add_argument("--guide", type=Path, default=REPO_NOTEBOOKS.parent / "papers" / "workshop.md")
    solutions = commands.add_parser("solutions", help="maintainers: execute the solutions notebooks in place on their "
                                                      "track's run (01-04: runs/workshop, 05: runs/when_llkd_helps)")
    solutions.add_argument("--runs-dir", type=Path, default=Path("runs"))
    params = commands.add_parser("params", help="maintainers: rewrite the notebooks' parameters cells and "
                                                "configs/default.yaml from the dataclasses, and the method tables of "
                                                "README.md and papers/method.md from the strategies")
    params.add_argument("--notebooks-dir", type=Path, default=REPO_NOTEBOOKS)
    params.add_argument("--study-file", type=Path, default=REPO_NOTEBOOKS.parent / "configs" / "default.yaml")
    commands.add_parser("list-datasets", help="registered datasets")
    commands.add_parser("list-methods", help="notebook 04's methods and their tuning grids")
    args = parser.parse_args(argv)
    if args.command == "list-datasets":
        list_datasets()
    elif args.command == "keys":
        list_keys()
    elif args.command == "report":
        from ..experiments.maps import MAP_TABLES, MAPS, write_map
        from .compare_runs import COMMITTED, write_snapshot
        from .report import (
            WHEN_TO_USE, merge_sections, readme_block, replace_block, run_report, time_block, when_to_use_block,
        )

        existing = args.output.read_text() if args.output.exists() else ""
        sections = {run.name: run_report(run, f"Run `{run.name}`") for run in args.runs}
        args.output.write_text(merge_sections(existing, REPORT_HEADER, sections))
        root = args.tables or COMMITTED
        if not args.no_tables:
            print("wrote the tables of " + ", ".join(str(write_snapshot(run, root)) for run in args.runs))
            mapped = [run for run in args.runs if all((run / "tables" / name).exists() for name in MAP_TABLES)]
            if mapped:
                print("shipped the maps " + ", ".join(str(write_map(run, args.maps or MAPS)) for run in mapped))
        if args.readme is not None:
            text = args.readme.read_text()
            for run in args.runs:
                if f"<!-- report:{run.name} -->" in text:
                    text = replace_block(text, run.name, readme_block(run))
                if f"<!-- report:{run.name}:time -->" in text:
                    text = replace_block(text, f"{run.name}:time", time_block(run))
            if f"<!-- report:{WHEN_TO_USE} -->" in text and root.is_dir():
                text = replace_block(text, WHEN_TO_USE, when_to_use_block(root))
            args.readme.write_text(text)
            print(f"wrote the README blocks of {', '.join(run.name for run in args.runs)} in {args.readme}")
        print(f"wrote {args.output}")
    elif args.command == "compare-runs":
        from .compare_runs import command

        return command(args.run, args.reference, args.runs_dir, args.readme)
    elif args.command == "exercises":
        from .report import exercises_block, replace_block, workshop_block

        text = replace_block(args.guide.read_text(), "workshop", workshop_block(args.runs_dir / "workshop"))
        args.guide.write_text(replace_block(text, "exercises", exercises_block(args.exercises_dir, args.runs_dir)))
        print(f"wrote the workshop and exercise times in {args.guide}")
    elif args.command == "solutions":
        missing = run_solutions(args.runs_dir)
        if missing:
            print(f"llkd-nb: no run for solutions {', '.join(missing)} in {args.runs_dir} "
                  f"({', '.join(sorted({SOLUTION_RUNS[n] for n in missing}))}): left as they were", file=sys.stderr)
            return 2
    elif args.command == "params":
        from .config import write_parameters
        from .report import write_method_tables

        root = REPO_NOTEBOOKS.parent
        changed = write_parameters(args.notebooks_dir, args.study_file)
        changed += write_method_tables([root / "README.md", root / "papers" / "method.md"])
        print("rewrote: " + (", ".join(str(p) for p in changed) if changed else "nothing (already in sync)"))
    elif args.command == "site":
        from .site import build_site

        notebooks = [path for folder in args.folders for path in sorted(folder.glob("0*.ipynb"))]
        if not notebooks:
            print(f"llkd-nb: no notebooks (0*.ipynb) in {', '.join(map(str, args.folders))}", file=sys.stderr)
            return 2
        index = build_site(notebooks, [n for n in args.notes if n.exists()], args.output, "llkd-notebooks")
        print(f"{len(notebooks)} notebooks rendered; open {index}")
    elif args.command == "teacher-profile":
        from ..core.data import DataError, read_table
        from ..teacher.artifacts import TeacherArtifact
        from .advise import profile_words

        try:
            sample = read_table(args.labelled) if args.labelled else None
            artifact = TeacherArtifact.load_from_run(args.run)
            print(profile_words(artifact, sample, args.replicates, str(args.labelled), args.map)[0])
        except (DataError, OSError, ValueError) as error:
            print(f"llkd-nb: {error}", file=sys.stderr)
            return 2
    elif args.command == "advise":
        from ..core.data import DataError
        from .advise import advice_time, advise
        from .config import load_study
        from .report import replace_block

        try:
            study = load_study(args.config)
            print(advise(study, args.check, args.map, args.runs_dir))
            if args.readme is not None:
                args.readme.write_text(replace_block(args.readme.read_text(), "advise",
                                                     advice_time(args.runs_dir / study.run.name) + "\n"))
        except (DataError, OSError, ValueError) as error:
            print(f"llkd-nb: {error}", file=sys.stderr)
            return 2
    elif args.command == "check":
        from .check import check

        ready, report = check(args.runs_dir)
        print(report)
        return 0 if ready else 1
    elif args.command == "list-methods":
        list_methods()
    elif args.command == "predict":
        from ..core.data import DataError
        from ..student.predict import predict_file

        output = args.output or args.texts.with_name(args.texts.stem + ".predictions.csv")
        try:
            predicted = predict_file(args.model, args.texts, output, args.text_column, args.batch_size)
        except (DataError, OSError) as error:
            print(f"llkd-nb: {error}", file=sys.stderr)
            return 2
        print(f"{len(predicted)} predictions written to {output}")
    else:
        from .config import load_study

        try:
            study = load_study(args.config)
        except (FileNotFoundError, ValueError, TypeError) as error:
            print(f"llkd-nb: {error}", file=sys.stderr)
            return 2
        run_study(study, args.runs_dir, args.notebooks_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

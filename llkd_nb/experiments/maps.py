"""Notebook 05's decision maps, shipped with the package so that a practitioner can place a teacher without
running notebook 05 first.

A map is one folder, named after the run that measured it, holding the map's cells under both model
selections (``05_best_other*.csv``), its teachers (``05_teachers.csv``) and :data:`MAP_RECORD`: the dataset,
the commit the run ran at, and the student regime, budgets and seeds the map holds for. ``llkd-nb report``
writes them from notebook 05's run folders (:func:`write_map`), next to the committed snapshot of the same
tables, which a test holds them to. :func:`map_folder` accepts a shipped map's name or a run folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

MAPS = Path(__file__).parents[1] / "maps"  # package data: one folder a map, no code
MAP_TABLES = ("05_best_other.csv", "05_best_other_gold_selection.csv", "05_teachers.csv")
MAP_RECORD = "map.json"
REGIME_KEYS = ("dataset", "student", "trainable_layers", "max_length", "budgets", "seeds", "validation_size")


def shipped_maps(root: str | Path = MAPS) -> list[str]:
    """The names of the maps shipped in ``root``."""
    root = Path(root)
    return sorted(folder.name for folder in root.iterdir() if (folder / MAP_RECORD).exists()) if root.is_dir() else []


def map_folder(source: str | Path, root: str | Path = MAPS) -> Path:
    """The folder holding a map's tables: a shipped map's (by name), or a run folder's ``tables/``."""
    if str(source) in shipped_maps(root):
        return Path(root) / str(source)
    tables = Path(source) / "tables"
    if (tables / MAP_TABLES[0]).exists():
        return tables
    raise FileNotFoundError(f"{source} is neither a shipped map ({', '.join(shipped_maps(root)) or 'none yet'}) nor a "
                            "run folder of notebook 05 (run it with `llkd-nb run configs/when_llkd_helps.yaml`)")


def map_record(source: str | Path, root: str | Path = MAPS) -> dict:
    """What a map holds for: a shipped map's :data:`MAP_RECORD`, or a run folder's study and commit."""
    folder = map_folder(source, root)
    if (folder / MAP_RECORD).exists():
        return json.loads((folder / MAP_RECORD).read_text())
    return _record(folder.parent)


def _record(run: Path) -> dict:
    path = run / "config" / "study.yaml"
    study = yaml.safe_load(path.read_text()) if path.exists() else {}
    notebooks = sorted((run / "config").glob("05*.json"))
    commit = json.loads(notebooks[-1].read_text()).get("git_commit") if notebooks else None
    return {"run": run.name, "git_commit": commit, **{key: study.get(key) for key in REGIME_KEYS}}


def regime(record: dict) -> str:
    """The student regime and data a map holds for, in words."""
    layers = "every layer" if record.get("trainable_layers") is None else f"the top {record['trainable_layers']} layer(s)"
    return (f"{record.get('dataset')}: {record.get('student')} with {layers} trained on {record.get('max_length')} tokens, "
            f"budgets {record.get('budgets')} steps, {len(record.get('seeds') or [])} seeds, choices made against "
            f"the teacher's labels or against {record.get('validation_size')} gold validation texts")


def write_map(run_dir: str | Path, root: str | Path = MAPS) -> Path:
    """Ship notebook 05's map of ``run_dir`` as ``root/<run name>/`` (what it held before is replaced)."""
    run = Path(run_dir)
    missing = [name for name in MAP_TABLES if not (run / "tables" / name).exists()]
    if missing:
        raise FileNotFoundError(f"{run} holds no complete map ({', '.join(missing)} missing): run notebook 05 there")
    target = Path(root) / run.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in MAP_TABLES:
        shutil.copyfile(run / "tables" / name, target / name)
    (target / MAP_RECORD).write_text(json.dumps(_record(run), indent=2) + "\n")
    return target

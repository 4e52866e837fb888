"""The package mirrors the pipeline: stages import only the stages before them, no module imports
itself back through others, and every module says in its first line what it is for."""

import ast
import graphlib
import importlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import llkd_nb

PACKAGE = Path(llkd_nb.__file__).parent
STAGES = ["core", "teacher", "student", "experiments", "study"]  # each may import only those before it


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The package's modules that ``name`` imports, at the top or inside a function."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {candidate for candidate in candidates if candidate in MODULES and candidate != name}
    return found


def stage_of(name: str) -> int | None:
    parts = name.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else None


GRAPH = {name: imports_of(name) for name in MODULES}


def test_every_module_is_in_a_stage():
    assert {name for name in MODULES if stage_of(name) is None} == {"llkd_nb"}


def test_the_import_graph_has_no_cycle():
    try:
        graphlib.TopologicalSorter(GRAPH).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"an import cycle: {' -> '.join(error.args[1])}")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_its_own_and_earlier_stages(name):
    later = {imported for imported in GRAPH[name] if stage_of(name) is not None
             and (stage_of(imported) is None or stage_of(imported) > stage_of(name))}  # None: the root package
    assert not later, f"{name} imports a later stage: {sorted(later)}"


def test_every_module_imports_alone():
    """Each module in a fresh interpreter: none relies on another having been imported first."""
    def error_of(name: str) -> str | None:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
        return None if done.returncode == 0 else f"{name}: {done.stderr.strip().splitlines()[-1]}"

    with ThreadPoolExecutor(2) as pool:
        errors = [error for error in pool.map(error_of, sorted(MODULES)) if error]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_says_in_its_first_line_what_it_is_for(name):
    docstring = ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8"))) or ""
    first_line = docstring.splitlines()[0] if docstring else ""
    assert len(first_line.split()) >= 4, f"{name}: its docstring's first line should say what it is for"

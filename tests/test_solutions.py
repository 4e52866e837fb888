"""The exercises' solution notebooks execute end to end on a small run of notebooks 01-05.

The small run is the one the nbval reference tests leave in ``tests/notebooks/_runs/small`` when they ran
first in this session; otherwise this module executes notebooks 01-05 on the same small parameters itself.
"""

from pathlib import Path

import nbformat
import papermill
import pytest
from make_references import HERE, NOTEBOOKS, RUN, SOURCE, STUDY_FILE

from llkd_nb.study.cli import QUIET_KERNEL, SOLUTION_RUNS

SOLUTIONS = SOURCE / "solutions"


def _execute(source: Path, output: Path, parameters: dict, cwd: Path) -> nbformat.NotebookNode:
    papermill.execute_notebook(str(source), str(output), parameters=parameters, cwd=str(cwd), kernel_name="python3",
                               progress_bar=False, extra_arguments=QUIET_KERNEL)
    return nbformat.read(output, as_version=4)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    run = HERE / RUN
    if all((run / "config" / f"{name}.json").exists() for name in NOTEBOOKS):
        return run
    folder = tmp_path_factory.mktemp("small")
    run = folder / "runs" / "small"
    for name in NOTEBOOKS:
        _execute(SOURCE / f"{name}.ipynb", folder / f"{name}.ipynb",
                 {"study_file": str(HERE / STUDY_FILE), "run_dir": str(run)}, SOURCE)
    return run


def test_every_notebook_has_a_solutions_notebook():
    numbers = sorted(p.name[:2] for p in SOURCE.glob("0*.ipynb"))
    assert sorted(p.name[:2] for p in SOLUTIONS.glob("*_solutions.ipynb")) == numbers


@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05"])
def test_solutions_run_on_a_small_run(number, small_run, tmp_path):
    executed = _execute(SOLUTIONS / f"{number}_solutions.ipynb", tmp_path / "out.ipynb",
                        {"run_dir": str(small_run.resolve())}, SOLUTIONS)
    streams = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.get("name") == "stderr"]
    assert not streams, f"stderr in the {number} solutions: {streams[0]['text'][:300]}"
    answers = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
               if "text/markdown" in o.get("data", {})]
    assert len(answers) >= 3, "every solutions notebook answers its exercises in computed sentences"


@pytest.mark.parametrize("number", list(SOLUTION_RUNS))
def test_the_committed_solutions_are_executed_on_their_tracks_run(number):
    """What an instructor opens: every answer computed, on the run the exercise's track produces."""
    notebook = nbformat.read(SOLUTIONS / f"{number}_solutions.ipynb", as_version=4)
    ran_on = notebook.metadata.get("papermill", {}).get("parameters", {}).get("run_dir", "")
    assert ran_on.endswith(f"runs/{SOLUTION_RUNS[number]}"), "run `make solutions`"
    assert not [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    code = [c for c in notebook.cells if c.cell_type == "code" and "parameters" not in str(c.metadata.get("tags"))]
    assert all(c.get("execution_count") for c in code), "a cell was not executed"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o["output_type"] == "error" or o.get("name") == "stderr"]

"""The committed notebooks are read by people: executed end to end, no errors, no stderr noise."""

from pathlib import Path

import nbformat
import pytest

from llkd_nb.study import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("notebook", list(NOTEBOOKS))
def test_committed_notebook_is_executed_and_clean(notebook):
    nb = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "committed notebooks are executed (make reproduce, then copy)"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    noise = [o.text[:120] for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not noise, f"stderr output in {notebook}: {noise}"

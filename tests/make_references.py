"""Regenerate the nbval reference notebooks: notebooks 01-05 executed by papermill on
the small study (``small.yaml``).

Run after a deliberate change of the notebooks' outputs (``make refs``, or ``make refs NB=04`` for one
notebook: the notebooks before it run too, into a scratch folder, since it reads their run), review the
diff, commit.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import papermill

import nbformat

from llkd_nb.study.cli import QUIET_KERNEL, without_machine_paths
from llkd_nb.study.config import NOTEBOOKS

HERE = Path(__file__).resolve().parent / "notebooks"
SOURCE = HERE.parents[1] / "notebooks"
RUN = "_runs/small"  # relative to tests/notebooks, where nbval runs the kernels
STUDY_FILE = "small.yaml"  # tests/notebooks/small.yaml: the small study
PARAMETERS = {"study_file": STUDY_FILE, "run_dir": RUN}


def main(wanted: list[str]) -> None:
    """Rewrite the references of ``wanted`` (notebook numbers such as ``04``; all when empty)."""
    names = [name for name in NOTEBOOKS if not wanted or name[:2] in wanted]
    unknown = sorted(set(wanted) - {name[:2] for name in NOTEBOOKS})
    if unknown:
        raise SystemExit(f"no notebook numbered {', '.join(unknown)}; notebooks: {', '.join(n[:2] for n in NOTEBOOKS)}")
    shutil.rmtree(HERE / "_runs", ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name in list(NOTEBOOKS)[: list(NOTEBOOKS).index(names[-1]) + 1]:
            output = HERE / f"{name}.ipynb" if name in names else Path(scratch) / f"{name}.ipynb"
            papermill.execute_notebook(str(SOURCE / f"{name}.ipynb"), str(output), parameters=PARAMETERS,
                                       cwd=str(HERE), kernel_name="python3", extra_arguments=QUIET_KERNEL)
            executed = nbformat.read(output, as_version=4)
            without_machine_paths(executed)
            nbformat.write(executed, output)
            print(f"wrote {output}")


if __name__ == "__main__":
    main(sys.argv[1:])

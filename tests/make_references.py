"""Regenerate the nbval reference notebooks: notebooks 01-05 executed by papermill on
the small study (``small.yaml``).

Run after a deliberate change of the notebooks' outputs (``make refs``), review the diff, commit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import papermill

from llkd_nb.study.cli import QUIET_KERNEL
from llkd_nb.study.config import NOTEBOOKS

HERE = Path(__file__).resolve().parent / "notebooks"
SOURCE = HERE.parents[1] / "notebooks"
RUN = "_runs/small"  # relative to tests/notebooks, where nbval runs the kernels
STUDY_FILE = "small.yaml"  # tests/notebooks/small.yaml: the small study
PARAMETERS = {"study_file": STUDY_FILE, "run_dir": RUN}


def main() -> None:
    shutil.rmtree(HERE / "_runs", ignore_errors=True)
    for name in NOTEBOOKS:
        papermill.execute_notebook(str(SOURCE / f"{name}.ipynb"), str(HERE / f"{name}.ipynb"),
                                   parameters=PARAMETERS, cwd=str(HERE), kernel_name="python3",
                                   extra_arguments=QUIET_KERNEL)
        print(f"wrote {HERE / name}.ipynb")


if __name__ == "__main__":
    main()

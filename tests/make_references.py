"""Regenerate the nbval reference notebooks: notebooks 01-05 executed by papermill on SMALL parameters.

Run after a deliberate change of the notebooks' outputs (``make refs``), review the diff, commit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import papermill

from llkd_nb.study.cli import QUIET_KERNEL

HERE = Path(__file__).resolve().parent / "notebooks"
SOURCE = HERE.parents[1] / "notebooks"
RUN = "_runs/small"  # relative to tests/notebooks, where nbval runs the kernels
STUDENT = {"max_steps": 8, "batch_size": 8, "max_length": 24, "num_evals": 4, "progress": False}
SMALL = {
    "01_teacher_labeling": {"pool_size": 40, "validation_size": 10, "test_size": 25, "max_words": 40, "progress": False},
    "02_confidence_analysis": {"num_bins": 3, **STUDENT},
    "03_llkd_training": STUDENT,
    "04_baseline_comparison": {**STUDENT, "seeds": [0, 1], "bootstrap_replicates": 200},
    "05_when_llkd_helps": {"pool_size": 40, "validation_size": 10, "test_size": 25, "max_words": 40, **STUDENT,
                           "seeds": [0, 1], "bootstrap_replicates": 200, "budgets": [4, 8], "proxy_sizes": [10, 30],
                           "simulated_aurocs": [None, 0.9], "paper_regime_seeds": 2, "paper_regime_max_length": 24,
                           "tuning_seeds": [100]},
}


def main() -> None:
    shutil.rmtree(HERE / "_runs", ignore_errors=True)
    for name, parameters in SMALL.items():
        papermill.execute_notebook(str(SOURCE / f"{name}.ipynb"), str(HERE / f"{name}.ipynb"),
                                   parameters={"run_dir": RUN, **parameters}, cwd=str(HERE), kernel_name="python3",
                                   extra_arguments=QUIET_KERNEL)
        print(f"wrote {HERE / name}.ipynb")


if __name__ == "__main__":
    main()

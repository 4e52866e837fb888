"""``llkd-nb check`` (``make check``): is this machine ready for the workshop? A smoke test of about half a
minute (once the first run has kept the teacher de-quantised) that runs the default study's pieces on a
handful of texts and says "ready", or for each thing that is wrong, what to do about it.

It checks, in order: the packages the notebooks import; the offline models and data inside their PyPI
packages; that the default teacher labels five texts of each split and the student encoder reads them;
that the Jupyter kernel the notebooks name (``python3``) starts this environment's Python; and whether the
workshop track has run (``runs/workshop``), which is a note, not a problem.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

PACKAGES = ("torch", "transformers", "datasets", "papermill", "jupyterlab", "ipykernel", "matplotlib", "seaborn",
            "pandas", "sklearn")
SETUP = "run the set-up again (make setup; on Windows, the set-up lines of papers/workshop.md)"
SMOKE_TEXTS = 5  # texts per split that the teacher labels and the student reads


class NotReady(Exception):
    """One thing that is wrong, said with what to do about it."""


def packages() -> str:
    missing = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise NotReady(f"not installed: {', '.join(missing)}: {SETUP}")
    import torch

    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    return f"the packages are installed (torch {torch.__version__}, {build}; Python {sys.version.split()[0]})"


def offline_assets() -> str:
    from ..core import assets

    try:
        found = {"teacher": assets.smollm2_gguf(), "student": assets.minilm_folder(), "data": assets.bbc_news_folder()}
    except ModuleNotFoundError as error:
        raise NotReady(str(error)) from error
    absent = [f"{what} ({path})" for what, path in found.items() if not path.exists()]
    if absent:
        raise NotReady(f"missing from their packages: {', '.join(absent)}: {SETUP}")
    return "the offline teacher, student and data are installed"


def label_and_encode() -> str:
    from ..core.devices import pick_device
    from ..student.encoder import encode
    from ..teacher.labeling import label_all, prepare
    from .config import Study

    study = Study()
    data = replace(study.data, pool_size=SMOKE_TEXTS, validation_size=SMOKE_TEXTS, test_size=SMOKE_TEXTS)
    spec, splits, teacher, prompt = prepare(data, study.teacher)
    with tempfile.TemporaryDirectory() as folder:
        artifact = label_all(data, study.teacher, spec, splits, teacher, prompt, Path(folder) / "teacher.sqlite",
                             progress=False).artifact
    texts = artifact.frame["text"].tolist()
    features = encode(study.train.student, texts, study.train.max_length, study.train.trainable_layers,
                      pick_device(study.train.device))
    return (f"the teacher ({teacher.name}) labelled {len(texts)} texts and the student encoder read them "
            f"({len(features)} feature rows)")


def jupyter_kernel() -> str:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel as error:
        raise NotReady(f"Jupyter finds no 'python3' kernel: {SETUP}") from error
    program = spec.argv[0]
    if program in ("python", "python3") or Path(program).resolve() == Path(sys.executable).resolve():
        return f"Jupyter's 'python3' kernel starts this environment's Python ({sys.executable})"
    raise NotReady(f"Jupyter's 'python3' kernel ({spec.resource_dir}) starts {program}, not this environment's "
                   f"{sys.executable}, so the notebooks would fail with an ImportError: start Jupyter with this "
                   f"environment's jupyter and JUPYTER_PATH set to {Path(sys.prefix) / 'share' / 'jupyter'}, or remove "
                   "that kernel (jupyter kernelspec remove python3)")


CHECKS: dict[str, Callable[[], str]] = {"packages": packages, "offline assets": offline_assets,
                                        "teacher and student": label_and_encode, "Jupyter kernel": jupyter_kernel}


def workshop_note(runs_dir: Path) -> str:
    executed = sorted((runs_dir / "workshop" / "notebooks").glob("0*.ipynb"))
    if executed:
        return f"the workshop track has run: {len(executed)} executed notebooks in {runs_dir / 'workshop'}"
    return f"the workshop track has not run yet in {runs_dir} (make workshop, about 10 minutes)"


def check(runs_dir: str | Path = "runs", checks: dict[str, Callable[[], str]] = CHECKS) -> tuple[bool, str]:
    """Run every check; whether all passed, and the report (a line a check, then the verdict)."""
    start, lines, problems = time.perf_counter(), [], 0
    for name, run in checks.items():
        began = time.perf_counter()
        try:
            lines.append(f"ok       {name}: {run()} ({time.perf_counter() - began:.0f} s)")
        except NotReady as error:
            problems += 1
            lines.append(f"PROBLEM  {name}: {error}")
        except Exception as error:  # a smoke test reports whatever breaks, and goes on
            problems += 1
            lines.append(f"PROBLEM  {name}: {type(error).__name__}: {error}: {SETUP}")
    lines.append(f"note     {workshop_note(Path(runs_dir))}")
    seconds = time.perf_counter() - start
    lines.append(f"ready ({seconds:.0f} s)" if not problems else
                 f"not ready: {problems} problem{'s' * (problems > 1)} above ({seconds:.0f} s)")
    return not problems, "\n".join(lines)

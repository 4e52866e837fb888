"""A benchmark's result table: printed, and written into its README block by the code that measured it."""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

from llkd_nb.study.report import replace_block


def readme_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readme", type=Path, help="also write the table into this file's <!-- report:bench_... --> block")


def report(lines: list[str], block: str, readme: Path | None) -> None:
    """Print ``lines``; with ``readme``, write them into its ``<!-- report:<block> -->`` block."""
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if readme is not None:
        readme.write_text(replace_block(readme.read_text(), block, text))
        print(f"wrote {readme}'s {block} block")


def cpu_description() -> str:
    """The CPU by name, and on Linux its family and model numbers and its bf16 units: the engines' ratios
    depend on them (llama.cpp's bf16 kernels gain more from a wider AVX-512 unit than torch's float32 ones)."""
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

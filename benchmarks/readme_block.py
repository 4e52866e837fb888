"""A benchmark's result table: printed, and written into its README block by the code that measured it."""

from __future__ import annotations

import argparse
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

"""Fail early, with a clear message, when the interpreter is older than pyproject's requires-python.

Run by `make setup` before it creates the virtual environment, and with the environment's Python after
(a `.venv` left by an older Python). Written for any Python 3, so that an old interpreter reads the message
instead of a syntax error.
"""
import re
import sys
from pathlib import Path

pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
floor_text = re.search(r'requires-python\s*=\s*">=([0-9.]+)"', pyproject.read_text()).group(1)
floor = tuple(int(part) for part in floor_text.split("."))
if sys.version_info[:len(floor)] < floor:
    sys.exit(
        "llkd-notebooks needs Python >= {} (pyproject.toml's requires-python; the lock's pins need it), "
        "but {} is Python {}.{}.{}. Install a newer Python and run make again with PYTHON=/path/to/python3.11 "
        "(or newer).{}".format(floor_text, sys.executable, *sys.version_info[:3],
                               " This virtual environment was made with it: delete {} first.".format(sys.prefix)
                               if sys.prefix != getattr(sys, "base_prefix", sys.prefix) else "")
    )

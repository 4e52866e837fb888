"""Sample selection and weighting strategies: LLKD and every baseline, behind one interface
(:mod:`.base`). Each strategy is one module of this package, found and registered on import, so a new
strategy is one new file (``CONTRIBUTING.md``)."""

import importlib
import pkgutil

from .base import STRATEGIES, BatchSignals, Strategy, make_strategy, normalised, register
from .rows import GRID_SIZE, PANELS, Method

for _module in sorted(info.name for info in pkgutil.iter_modules(__path__) if info.name not in ("base", "rows")):
    importlib.import_module(f".{_module}", __name__)

from .llkd import LLKD  # noqa: E402  (registered above; named here as the study's own section)

__all__ = ["GRID_SIZE", "LLKD", "PANELS", "STRATEGIES", "BatchSignals", "Method", "Strategy", "make_strategy",
           "normalised", "register"]

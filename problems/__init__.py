"""Problem families, one package per family.

Each family package (``offloading``, ``wpmec``, ``allocation``, ``caching``, ``incentives``, ...)
holds its data types (``data.py``: instance, spec and allocation types), one module per builder or
exact method, its heuristics and its evaluator (``evaluate.py``, the referee, which imports only
the family's data module and the core). Importing a family registers its builders, methods,
evaluator and benchmark case kinds. Families are imported on first attribute access
(``aigc_opt.problems.offloading``), so that ``import aigc_opt`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        raise AttributeError(f"no problem family {name!r} in {__name__}") from exc

"""Problem families, one module per family (spec dataclasses + vectorised ``build``).

Submodules are imported on first attribute access (``aigc_opt.problems.offloading``), so that
``import aigc_opt`` stays cheap.
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
        raise AttributeError(f"no problem module {name!r} in {__name__}") from exc

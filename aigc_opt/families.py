"""Discovery of problem families: the core imports none of them by name.

A family is a package that registers its builders, methods, evaluator and case kinds when
imported. Families are found through the ``aigc_opt.families`` entry-point group (the built-in
ones are declared in ``pyproject.toml``; a third-party package adds its own the same way)::

    [project.entry-points."aigc_opt.families"]
    myfamily = "mypackage.myfamily"
"""

from __future__ import annotations

import importlib
import logging
from importlib import metadata

logger = logging.getLogger(__name__)

GROUP = "aigc_opt.families"
_LOADED: dict[str, str | None] = {}


def family_modules() -> dict[str, str]:
    """Family name -> module path, from the entry points."""
    return {ep.name: ep.value for ep in metadata.entry_points(group=GROUP)}


def load_families(*, strict: bool = True) -> dict[str, str]:
    """Import every family (once); return ``name -> error`` for those that failed.

    With ``strict`` a failing family raises its ImportError; otherwise it is logged and
    reported, so that one broken family does not take the CLI or a batch run down.
    """
    errors: dict[str, str] = {}
    for name, module in family_modules().items():
        if name in _LOADED:
            if _LOADED[name] is not None:
                errors[module] = str(_LOADED[name])
            continue
        try:
            importlib.import_module(module)
            _LOADED[name] = None
        except Exception as exc:  # a broken plug-in must not hide the others
            if strict:
                raise
            _LOADED[name] = f"{type(exc).__name__}: {exc}"
            errors[module] = _LOADED[name]  # type: ignore[assignment]
            logger.warning("problem family %s (%s) failed to import: %s", name, module, exc)
    return errors

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
#: ``(entry-point name, module) -> None`` once imported, or the error text of its failure.
_LOADED: dict[tuple[str, str], str | None] = {}


def family_entries() -> list[tuple[str, str]]:
    """``(name, module)`` of every family entry point, each pair once, in discovery order.

    Keyed by both: a plug-in whose entry point is called like a built-in family
    (``offloading = "mypkg.knap"``) is a second family, not a replacement of the first (a
    mapping keyed on the name dropped one of them without a word).
    """
    eps = metadata.entry_points(group=GROUP)
    return list(dict.fromkeys((ep.name, ep.value) for ep in eps))


def _origin(name: str, module: str) -> str:
    """``entry point 'name = module' (distribution x 1.0)`` for messages."""
    where = ""
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        if (ep.name, ep.value) == (name, module) and dist is not None:
            where = f" of distribution {dist.name} {dist.version}"
            break
    return f"entry point {name!r} = {module!r} (group {GROUP}){where}"


def load_families(*, strict: bool = True) -> dict[str, str]:
    """Import every family (once); return ``module -> error`` for those that failed.

    With ``strict`` a failing family raises its ImportError; otherwise it is logged once
    (a warning naming the entry point, its module and distribution) and reported on every
    call, so that one broken plug-in does not take the CLI, a batch run or
    :func:`aigc_opt.cases.get_case` down.

    Parameters
    ----------
    strict : bool, default True
        Re-raise the exception (any type) of the first family that fails to import; it is
        tried again on the next call. A family that failed in an earlier non-strict call is
        not retried: it is reported in the returned dict.

    Returns
    -------
    dict of str to str
        Module -> ``"ExcType: message"`` of each family that failed; empty when all imported.
    """
    errors: dict[str, str] = {}
    for name, module in family_entries():
        key = (name, module)
        if key in _LOADED:
            if _LOADED[key] is not None:
                errors[module] = str(_LOADED[key])
            continue
        try:
            importlib.import_module(module)
            _LOADED[key] = None
        except Exception as exc:  # a broken plug-in must not hide the others
            if strict:
                raise
            text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            _LOADED[key] = errors[module] = text
            logger.warning("problem family %s failed to import, its problems are not "
                           "available: %s", _origin(name, module), text)
    return errors

"""Registry of benchmark case kinds: how to make an instance and a spec for a problem variant.

Each problem module registers its variants at import with :func:`register_case`::

    register_case(CaseKind(
        name="offloading.assignment",
        make_instance=lambda seed, n_users=20, n_servers=3, n_models=4: Scenario.generate(
            n_users, n_servers, n_models, seed=seed),
        make_spec=lambda **params: OffloadingSpec(**params),
        default_methods=("highs", "greedy_latency"),
    ))

The batch runner (``aigc_opt.batch``) builds a case from a suite row as
``instance = kind.make_instance(seed, **sizes)``, ``spec = kind.make_spec(**spec_params)`` and
then runs :func:`aigc_opt.solve.run_method` and :func:`aigc_opt.evaluate`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CaseKind:
    """How to instantiate one problem variant for benchmarks.

    Parameters
    ----------
    name : str
        ``"family.variant"``, unique.
    make_instance : callable
        ``(seed: int, **sizes) -> instance`` (a Scenario or the family's instance type).
    make_spec : callable
        ``(**params) -> spec``.
    default_methods : tuple of str
        Methods to run when a suite names none (algorithms, heuristics, backends).
    reference : str or None
        The exact method whose objective the others are compared with (ratio to optimum).
    description : str
        One line for ``aigc-opt list``.
    """

    name: str
    make_instance: Callable[..., Any]
    make_spec: Callable[..., Any]
    default_methods: tuple[str, ...] = ()
    reference: str | None = None
    description: str = ""


_CASES: dict[str, CaseKind] = {}


def register_case(kind: CaseKind) -> None:
    """Register (or replace) a case kind."""
    _CASES[kind.name] = kind


def case_kinds() -> dict[str, CaseKind]:
    """All case kinds, after importing every module of ``aigc_opt.problems``."""
    load_problem_modules()
    return dict(_CASES)


def get_case(name: str) -> CaseKind:
    """The case kind called ``name`` (KeyError listing the known names)."""
    kinds = case_kinds()
    if name not in kinds:
        raise KeyError(f"unknown problem {name!r}; known: {', '.join(sorted(kinds))}")
    return kinds[name]


def load_problem_modules() -> None:
    """Import every module in ``aigc_opt.problems`` so that they register their cases."""
    pkg = importlib.import_module("aigc_opt.problems")
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"aigc_opt.problems.{info.name}")

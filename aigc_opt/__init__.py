"""aigc_opt: exact, certified optimisation baselines for generative AI in mobile edge networks.

Data flows one way::

    Scenario --spec.build--> Program --Backend.solve--> Result --evaluate--> Metrics --> CSV row

Public API::

    import aigc_opt as ao
    scn = ao.Scenario.generate(n_users=20, n_servers=3, n_models=4, seed=0)
    spec = ao.problems.offloading.OffloadingSpec()
    res = ao.solve(scn, spec, backend="highs")
    met = ao.evaluate(scn, res.allocation, spec)

The core (this package) knows no problem family: families live in ``aigc_opt.problems.<name>``
and are discovered through the ``aigc_opt.families`` entry points (:mod:`aigc_opt.families`).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from .backend import SolveOptions, backends, get_backend, register_backend
from .cases import CaseKind, register_case
from .errors import (
    BackendUnavailableError,
    CapabilityError,
    NoSolutionError,
    UnknownNameError,
    ValidationError,
)
from .families import load_families
from .metrics import Metrics, evaluate, register_evaluator
from .program import Block, ConvexProgram, LinearProgram, ProgramKind, Sense
from .result import Result, SolveStats, Termination
from .scenario import Scenario
from .solve import (
    algorithms,
    heuristics,
    methods,
    register_algorithm,
    register_heuristic,
    run_heuristic,
    run_method,
    solve,
)
from .spec import ExtraConstraint, ProblemSpec, register_builder

logging.getLogger(__name__).addHandler(logging.NullHandler())


def _dist_version() -> str:
    """The installed distribution's version: ``version`` in pyproject.toml is the one source."""
    from importlib import metadata

    try:
        return metadata.version("aigc-opt")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


__version__ = _dist_version()

__all__ = [
    "BackendUnavailableError",
    "CaseKind",
    "Block",
    "CapabilityError",
    "ConvexProgram",
    "LinearProgram",
    "Metrics",
    "ExtraConstraint",
    "NoSolutionError",
    "ProblemSpec",
    "ProgramKind",
    "Result",
    "Scenario",
    "Sense",
    "SolveOptions",
    "SolveStats",
    "Termination",
    "UnknownNameError",
    "ValidationError",
    "algorithms",
    "backends",
    "evaluate",
    "get_backend",
    "heuristics",
    "load_families",
    "methods",
    "problems",
    "register_algorithm",
    "register_backend",
    "register_builder",
    "register_case",
    "register_evaluator",
    "register_heuristic",
    "run_heuristic",
    "run_method",
    "solve",
]


def __getattr__(name: str) -> Any:
    # ``ao.problems`` is imported on first use (it pulls in every family's module).
    if name == "problems":
        return importlib.import_module(".problems", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

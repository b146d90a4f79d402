"""aigc_opt: exact, certified optimisation baselines for generative AI in mobile edge networks.

Data flows one way::

    Scenario --spec.build--> Program --Backend.solve--> Result --evaluate--> Metrics --> CSV row

Public API::

    import aigc_opt as ao
    scn = ao.Scenario.generate(n_users=20, n_servers=3, n_models=4, seed=0)
    res = ao.solve(scn, ao.problems.offloading.OffloadingSpec(), backend="highs")
    met = ao.evaluate(scn, res.allocation, spec)
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from .allocation import CLOUD, LOCAL, OffloadAllocation, OffloadObjective
from .backend import SolveOptions, backends, get_backend, register_backend
from .cases import CaseKind, register_case
from .errors import BackendUnavailableError, CapabilityError, NoSolutionError, ValidationError
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

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "CLOUD",
    "LOCAL",
    "BackendUnavailableError",
    "CaseKind",
    "Block",
    "CapabilityError",
    "ConvexProgram",
    "LinearProgram",
    "Metrics",
    "NoSolutionError",
    "OffloadAllocation",
    "OffloadObjective",
    "ProgramKind",
    "Result",
    "Scenario",
    "Sense",
    "SolveOptions",
    "SolveStats",
    "Termination",
    "ValidationError",
    "algorithms",
    "backends",
    "evaluate",
    "get_backend",
    "heuristics",
    "methods",
    "problems",
    "register_algorithm",
    "register_backend",
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

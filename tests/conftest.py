"""Shared tolerances for the test-suite (named, as in cvxpy's StandardTestLPs)."""

from __future__ import annotations

import os
from typing import Any

#: Relative tolerance on objectives between backends / evaluator and solver.
OBJ_RTOL = 1e-6
#: Relative MIP gap asked of solvers in agreement tests.
MIP_GAP = 1e-9


def pytest_xdist_auto_num_workers(config: Any) -> int:
    """``-n auto`` (pyproject's addopts): one worker per core this process may use, at most
    4 (a worker holds up to about 1 GB; ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))

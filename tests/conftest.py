"""Shared tolerances for the test-suite (named, as in cvxpy's StandardTestLPs)."""

from __future__ import annotations

#: Relative tolerance on objectives between backends / evaluator and solver.
OBJ_RTOL = 1e-6
#: Relative MIP gap asked of solvers in agreement tests.
MIP_GAP = 1e-9

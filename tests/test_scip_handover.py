"""SCIP gets its program through an MPS file; when writing or reading it uses the whole time
limit, the result is ``limit`` at once (SCIP's presolve had run 5 s more on a 2 s limit after a
23 s hand-over, 36 s in all)."""

from __future__ import annotations

import time

import pytest

import aigc_opt as ao
from aigc_opt.problems.offloading import OffloadingSpec
from aigc_opt.result import Termination

pytest.importorskip("pyscipopt")


def test_handover_past_the_limit_is_a_limit_result() -> None:
    scn = ao.Scenario.generate(n_users=400, n_servers=10, n_models=4, seed=0)
    t = time.perf_counter()
    res = ao.solve(scn, OffloadingSpec(), backend="scip", time_limit=1e-3)
    assert time.perf_counter() - t < 10.0
    assert res.termination is Termination.LIMIT and not res.has_solution
    assert "MPS" in res.message and "did not start" in res.message
    full = ao.solve(scn, OffloadingSpec(), backend="scip", time_limit=60)
    assert full.verified and full.has_solution

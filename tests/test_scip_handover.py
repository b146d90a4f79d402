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


def test_mps_file_holds_every_number_exactly_and_solves_as_highs(tmp_path: object) -> None:
    """The MPS writer (Python f-strings since numpy.char took 1.5 s at 123k columns): every
    coefficient, bound and right-hand side reads back to the same double, row kinds (L, G, E,
    ranged, free) and column kinds (fixed, free, integer runs) survive, and SCIP's optimum
    from the file equals HiGHS's on the program itself."""
    import numpy as np
    import scipy.sparse as sp

    from aigc_opt.backend import SolveOptions, get_backend
    from aigc_opt.program import LinearProgram
    from aigc_opt.solvers.scip_backend import write_mps

    c = np.array([0.1, 1 / 3, -2.5e-3, 12345.678912345678, 1.0, -0.7])
    A = sp.csr_matrix(np.array([
        [1.0, 0.3, 0.0, 1e-3, 0.0, 1.0],
        [0.0, 1.0, 1 / 7, 0.0, 2.0, 0.0],
        [1.0, 1.0, 1.0, 0.0, 0.0, 1.0],
        [2 / 3, 0.0, 0.0, 0.0, 1.0, 1.0],
        [1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
    ]))
    lp = LinearProgram(
        c=c, A=A, row_lower=np.array([-np.inf, 0.25, 1.5, 0.1, -np.inf]),
        row_upper=np.array([3.3, np.inf, 1.5, 2.9, np.inf]),
        col_lower=np.array([0.0, -np.inf, -1.0, 1e-3, 0.0, 0.0]),
        col_upper=np.array([4.0, np.inf, 2.0, 1e-3, 3.0, 5.0]),
        integrality=np.array([0, 0, 1, 0, 1, 1]))
    path = tmp_path / "m.mps"  # type: ignore[operator]
    write_mps(lp, str(path))
    text = path.read_text()
    got: dict[tuple[str, str], float] = {}
    for line in text.split("COLUMNS\n")[1].split("RHS\n")[0].splitlines():
        tok = line.split()
        if "'MARKER'" not in tok:
            got[(tok[0], tok[1])] = float(tok[2])
    for j in range(6):
        assert got[(f"x{j}", "obj")] == c[j]
    coo = A.tocoo()
    for i, j, v in zip(coo.row, coo.col, coo.data, strict=True):
        assert got.get((f"x{j}", f"r{i}")) == (None if i == 4 else v)
    assert " r4" not in text.split("ROWS\n")[1].split("COLUMNS")[0]  # the free row is dropped
    rows = dict(line.split()[::-1] for line in text.split("ROWS\n")[1].split("COLUMNS")[0]
                .splitlines())
    assert rows == {"obj": "N", "r0": "L", "r1": "G", "r2": "E", "r3": "L"}  # r3 is ranged
    tail: dict[tuple[str, str], float | None] = {}  # (kind, row or column): value
    for line in text.split("RHS\n")[1].splitlines()[:-1]:
        tok = line.split()
        if tok[0] in ("rhs", "rng"):
            tail[(tok[0], tok[1])] = float(tok[2])
        elif tok[0] not in ("RANGES", "BOUNDS"):
            tail[(tok[0], tok[2])] = float(tok[3]) if len(tok) > 3 else None
    assert tail == {("rhs", "r0"): 3.3, ("rhs", "r1"): 0.25, ("rhs", "r2"): 1.5,
                    ("rhs", "r3"): 2.9, ("rng", "r3"): 2.9 - 0.1, ("FX", "x3"): 1e-3,
                    ("MI", "x1"): None, ("PL", "x1"): None, ("UP", "x0"): 4.0,
                    ("UP", "x2"): 2.0, ("UP", "x4"): 3.0, ("UP", "x5"): 5.0,
                    ("LO", "x0"): 0.0, ("LO", "x2"): -1.0, ("LO", "x4"): 0.0,
                    ("LO", "x5"): 0.0}
    assert text.count("'INTORG'") == 2  # columns 2 and 4-5: two integer runs
    opts = SolveOptions(time_limit=30)
    highs, scip = get_backend("highs").solve(lp, opts), get_backend("scip").solve(lp, opts)
    assert highs.optimal and scip.optimal
    assert scip.objective == pytest.approx(highs.objective, rel=1e-9, abs=1e-9)

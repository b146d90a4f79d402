"""Numerical hygiene shared by the LP/MILP/QP backends: a finiteness check and equilibration.

Every LinearProgram backend (HiGHS, SCIP, Pyomo, CVXPY's LP path) hands the solver
:func:`equilibrate`'s scaled copy of the program and maps the solution back, so the solver sees

* every constraint row with its largest ``|a_ij|`` in ``[1, 2)`` (rows scaled by powers of two:
  ``A' = R A D``, bounds ``R l``, ``R u``), after a few rounds of geometric-mean scaling of the
  continuous columns (``x = D x'``, ``D`` powers of two in ``[2^-20, 2^20]``; integer columns are
  never scaled, so integrality is untouched);
* the objective with the geometric mean of its nonzero ``|c_j|`` at 1 (``c' = D c / sigma``,
  ``sigma`` the nearest power of two; objective values and dual bounds are multiplied back by
  ``sigma``): the objective's log range is centred, so a cost range of ``1e-8..1e8`` becomes
  ``1e-8..1e8`` around 1 rather than ``1e-16..1``, which would put the small terms below the
  solvers' dual feasibility tolerance (1e-7). Terms below ``2^-60`` of the largest ``|c_j|``
  are dropped (their relative effect is below 1e-18 per unit of their column), so the solver's
  objective coefficients span at most a factor ``2^60`` around 1.

Powers of two make the scaling exact in binary floating point: unscaling returns the very
numbers the solver produced. Rows whose coefficients span more than ``1e8`` inside the row
cannot be brought into ``[1e-4, 1e4]`` by any diagonal scaling; the solver then sees them as
they are and the verification step (:mod:`aigc_opt.verify`) judges the result.

:func:`nonfinite_message` rejects programs with ``inf`` coefficients (``A``, ``c``, ``Q``) or
impossible bounds before any solver runs: such a program comes from an instance whose numbers
overflow the model (e.g. ``1e300`` bits over ``1e-20`` Hz), and the backends report it as a
``Termination.ERROR`` status with this message instead of a solver's guess.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from aigc_opt.program import LinearProgram
from aigc_opt.result import Result, SolveStats, Termination

logger = logging.getLogger(__name__)

#: Column scale factors are clipped to ``2**-MAX_EXP .. 2**MAX_EXP``.
MAX_EXP = 20
#: Rounds of geometric-mean column scaling.
ROUNDS = 4


@dataclasses.dataclass(frozen=True)
class Scaled:
    """A scaled program and the factors that map its solution back.

    ``x = col_scale * x_scaled``; objective (and bound) ``= obj_scale * scaled objective``.
    """

    program: LinearProgram
    col_scale: np.ndarray
    row_scale: np.ndarray
    obj_scale: float

    def unscale_x(self, x_scaled: np.ndarray) -> np.ndarray:
        """Solution in the original program's columns."""
        return np.asarray(x_scaled, dtype=np.float64) * self.col_scale


def unusable_result(backend: str, lp: LinearProgram, t0: float) -> Result | None:
    """An ``error`` Result when ``lp`` has non-finite data (no solver is run), else None."""
    bad = nonfinite_message(lp)
    if bad is None:
        return None
    return Result(Termination.ERROR, False, gap=math.inf, message=bad,
                  stats=SolveStats(backend, solve_seconds=time.perf_counter() - t0))


#: HiGHS's infinity: a finite bound at or beyond it on the impossible side (a row's upper
#: bound <= -1e20) is a model error in ``passModel``.
HIGHS_INF = 1e20


def unreachable_row(lp: LinearProgram) -> str | None:
    """Why ``lp`` is infeasible when a row asks for an activity beyond :data:`HIGHS_INF` on
    the side its columns' bounds cannot reach (``row_upper <= -1e20`` above the least possible
    activity, or ``row_lower >= 1e20`` above the largest), or None.

    HiGHS refuses such a model (allocation steps with power x 1e-300 asks rows for at most
    -1.6e297: every HiGHS path returned ``error`` where SCIP said infeasible); interval
    arithmetic over the column bounds proves the infeasibility instead."""
    up, lo = lp.row_upper, lp.row_lower
    rows = np.flatnonzero((np.isfinite(up) & (up <= -HIGHS_INF))
                          | (np.isfinite(lo) & (lo >= HIGHS_INF)))
    if not rows.size:
        return None
    A = sp.csr_matrix(lp.A)[rows]
    cl, cu = lp.col_lower[A.indices], lp.col_upper[A.indices]
    with np.errstate(invalid="ignore"):  # 0 * inf: a zero entry adds nothing
        a_lo, a_hi = np.where(A.data > 0, cl, cu) * A.data, np.where(A.data > 0, cu, cl) * A.data
    a_lo, a_hi = np.nan_to_num(a_lo, nan=0.0), np.nan_to_num(a_hi, nan=0.0)
    seg = np.repeat(np.arange(rows.size), np.diff(A.indptr))
    least = np.bincount(seg, weights=a_lo, minlength=rows.size)
    most = np.bincount(seg, weights=a_hi, minlength=rows.size)
    u, lw = up[rows], lo[rows]
    below = np.isfinite(u) & (u <= -HIGHS_INF) & (least > u)
    above = np.isfinite(lw) & (lw >= HIGHS_INF) & (most < lw)
    hit = np.flatnonzero(below | above)
    if not hit.size:
        return None
    k = int(hit[0])
    i = int(rows[k])
    if below[k]:
        return (f"row {i} of {lp.name!r} asks for an activity <= {u[k]:.3g}, below its least "
                f"possible activity {least[k]:.3g}: infeasible")
    return (f"row {i} of {lp.name!r} asks for an activity >= {lw[k]:.3g}, above its largest "
            f"possible activity {most[k]:.3g}: infeasible")


def nonfinite_message(lp: LinearProgram) -> str | None:
    """Why ``lp`` cannot be handed to a solver (non-finite data), or None when it can."""
    parts = []
    if not np.isfinite(lp.c).all():
        parts.append(f"{int((~np.isfinite(lp.c)).sum())} non-finite objective coefficients")
    if lp.A.nnz and not np.isfinite(lp.A.data).all():
        parts.append(f"{int((~np.isfinite(lp.A.data)).sum())} non-finite matrix coefficients")
    if lp.Q is not None and lp.Q.nnz and not np.isfinite(lp.Q.data).all():
        parts.append("non-finite quadratic coefficients")
    if not np.isfinite(lp.offset):
        parts.append("a non-finite objective constant")
    if (lp.row_lower == np.inf).any() or (lp.row_upper == -np.inf).any():
        parts.append("row bounds at +-inf on the wrong side")
    if (lp.col_lower == np.inf).any() or (lp.col_upper == -np.inf).any():
        parts.append("column bounds at +-inf on the wrong side")
    if not parts:
        return None
    return (f"program {lp.name!r} has " + ", ".join(parts)
            + ": the instance's numbers overflow the model (no solver was run)")


def _pow2(v: np.ndarray) -> np.ndarray:
    """Nearest power of two of positive ``v`` (1 where ``v`` is 0 or not finite)."""
    out = np.ones_like(v, dtype=np.float64)
    ok = np.isfinite(v) & (v > 0)
    out[ok] = np.exp2(np.round(np.log2(v[ok])))
    return out


def _row_max(A: sp.csr_matrix) -> np.ndarray:
    """Largest ``|a_ij|`` of every row of a CSR matrix (0 for empty rows), from its data."""
    out = np.zeros(A.shape[0])
    if A.nnz == 0:
        return out
    starts = A.indptr[:-1]
    nonempty = A.indptr[1:] > starts
    # segments between consecutive nonempty rows' starts are exactly those rows' entries
    out[nonempty] = np.maximum.reduceat(np.abs(A.data), starts[nonempty])
    return out


def equilibrate(lp: LinearProgram) -> Scaled:
    """The scaled copy of ``lp`` described in the module docstring (pure)."""
    n, m = lp.n_cols, lp.n_rows
    A = sp.csr_matrix(lp.A, copy=True)
    A.eliminate_zeros()
    cont = ~lp.integrality
    D = np.ones(n)
    if m and A.nnz and cont.any():
        absA = abs(A).tocsc()
        for _ in range(ROUNDS):
            # row geometric means of the currently scaled matrix
            S = absA @ sp.diags(D)
            S = S.tocsr()
            logs = S.copy()
            logs.data = np.log2(logs.data)
            cnt = np.diff(S.indptr)
            rmean = np.where(cnt > 0, np.asarray(logs.sum(axis=1)).reshape(-1)
                             / np.maximum(cnt, 1), 0.0)
            # column means of log|a_ij| - rowmean_i (what the column should be divided by)
            T = sp.diags(np.exp2(-rmean)) @ S
            T = T.tocsc()
            tl = T.copy()
            tl.data = np.log2(tl.data)
            ccnt = np.diff(T.indptr)
            cmean = np.where(ccnt > 0, np.asarray(tl.sum(axis=0)).reshape(-1)
                             / np.maximum(ccnt, 1), 0.0)
            step = np.where(cont & (ccnt > 0), -cmean, 0.0)
            D = D * np.exp2(np.round(step))
            D = np.clip(D, 2.0 ** -MAX_EXP, 2.0 ** MAX_EXP)
    # A' = R A D by scaling the CSR data in place (powers of two: exact, same entries as
    # the sparse products; no matrix products or format conversions)
    A.sort_indices()
    if (D != 1.0).any():
        A.data *= D[A.indices]
    rmax = _row_max(A)
    R = 1.0 / _pow2(np.where(rmax > 0, rmax, 1.0))
    R = np.where(np.isfinite(R) & (R > 0), R, 1.0)
    A.data *= np.repeat(R, np.diff(A.indptr))
    A2 = A
    c2 = lp.c * D
    Q2 = None
    qmax = 0.0
    if lp.Q is not None and lp.Q.nnz:
        Q2 = (sp.diags(D) @ lp.Q @ sp.diags(D)).tocsc()
        qmax = float(np.abs(Q2.data).max())
    cabs = np.abs(c2)
    # terms below 2^-60 of the largest change the objective by < 1e-18 relative per unit of
    # their column: dropped, so that the centred range below stays within 2^+-30
    c2 = np.where(cabs < cabs.max(initial=0.0) * 2.0**-60, 0.0, c2)
    nz = np.abs(c2[c2 != 0])
    if nz.size:
        # centre the objective's log range: tiny rewards next to huge costs keep their sign
        # above the solver's dual tolerance (scaling by the largest |c| pushed rewards of
        # 1e-8 relative below it and HiGHS stopped with them at 0)
        sigma = float(np.exp2(np.round(np.mean(np.log2(nz)))))
    elif qmax > 0:
        sigma = float(_pow2(np.array([qmax]))[0])
    else:
        sigma = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = dataclasses.replace(
            lp, c=c2 / sigma, A=A2, row_lower=lp.row_lower * R, row_upper=lp.row_upper * R,
            col_lower=lp.col_lower / D, col_upper=lp.col_upper / D,
            Q=None if Q2 is None else Q2 / sigma, offset=lp.offset / sigma)
    return Scaled(scaled, D, R, sigma)


#: Dual feasibility tolerance of HiGHS and SCIP (their default).
DUAL_TOL = 1e-7
#: Tightest dual feasibility tolerance :func:`dual_tolerance` asks for (HiGHS's minimum).
MIN_DUAL_TOL = 1e-10


def dual_tolerance(scaled: LinearProgram) -> float | None:
    """A dual feasibility tolerance that resolves every objective term of the equilibrated
    ``scaled`` program, or None when the default (:data:`DUAL_TOL`) does.

    After centring (:func:`equilibrate`) a cost range of ``1e13`` puts the smallest terms near
    ``3e-7``: the simplex then takes a reduced cost of that size for zero and may stop at a
    vertex that is not optimal in them. Lifecycle placement with an energy weight of 1e6 (costs
    0.05..1.5e12) came back 'optimal' at 63.30 from HiGHS against SCIP's 39.34 (both verified
    feasible). The tolerance is a thousandth of the smallest ``|c'|``, within
    ``[MIN_DUAL_TOL, DUAL_TOL]``."""
    nz = np.abs(scaled.c[scaled.c != 0])
    if not nz.size:
        return None
    tol = max(MIN_DUAL_TOL, min(DUAL_TOL, 1e-3 * float(nz.min())))
    return None if tol >= DUAL_TOL else tol


#: Relative accuracy in the objective that :func:`objective_dual_tolerance` asks of a solve.
OBJECTIVE_RTOL = 1e-6


def objective_dual_tolerance(sc: Scaled, objective: float, used: float) -> float | None:
    """A tighter dual feasibility tolerance when an optimum is small against the objective's
    terms, or None when the tolerance ``used`` already resolves it.

    A reduced cost up to the tolerance is taken for zero, so a solve stops up to about that
    much per unit of a column's move above the optimum, in the solver's (equilibrated) units,
    and a MILP prunes nodes by it. :func:`equilibrate` centres the terms at 1, so this is
    negligible unless the optimum ``|objective| / sc.obj_scale`` is itself small: lifecycle
    medical with demand x 1e-6 has terms up to 51 and an optimum of 4.25e-5 (3.4e-4 scaled);
    SCIP at 3e-8 claimed 'optimal' at 4.2509316e-5 with a gap of 1.6e-16 while a verified
    baseline reached 4.2507739e-5 (its bound was 3.7e-5 too high), and at 1e-9 found that.
    The tolerance asked for is ``OBJECTIVE_RTOL`` of the scaled optimum (at least
    :data:`MIN_DUAL_TOL`), when that is below a quarter of ``used``; an optimum of exactly 0
    has no relative accuracy to gain."""
    z = abs(float(objective)) / sc.obj_scale
    if not math.isfinite(z) or z == 0.0:
        return None
    want = max(MIN_DUAL_TOL, OBJECTIVE_RTOL * z)
    return want if want < 0.25 * used else None


#: HiGHS's MIP feasibility tolerance when :func:`dual_tolerance` tightens (default 1e-6): on
#: lifecycle placement with transfer costs x 1e9 (objective range 2.4e11) HiGHS pruned the
#: optimum 50.0965 and claimed a bound of 50.0980 at the default, at any dual tolerance.
WIDE_MIP_FEAS_TOL = 1e-9

#: HiGHS's MIP feasibility tolerance on every MILP (its default is 1e-6): SCIP's ``feastol``
#: (:data:`aigc_opt.solvers.scip_backend.FEASTOL`), so that the two answer to the same
#: tolerance. At the default, a migration budget set 2e-7..9e-7 below a trajectory's energy
#: let HiGHS keep that trajectory ('optimal' -34.64, over budget by 9e-7) where SCIP, exact,
#: found -29.99: on 88 such boundary budgets (12 seeds x 8 offsets in -2e-6..5e-7) the two
#: disagreed 25 times, at 1e-7 5 times (both within the referee's 1e-6, so both verified).
MIP_FEAS_TOL = 1e-7


#: Smallest entry of an equilibrated MILP's matrix that HiGHS's MIP presolve is trusted with
#: (rows and columns are scaled to a largest entry of about 1; generated instances of every
#: family stay above 2.4e-5).
TINY_ENTRY = 1e-5


def tiny_entries(scaled: LinearProgram) -> bool:
    """Whether the equilibrated MILP ``scaled`` has a nonzero matrix entry below
    :data:`TINY_ENTRY`; HiGHS then runs without presolve.

    HiGHS's MIP presolve mishandles such entries: on lifecycle placement with one model's LoRA
    matrices x 1e-4 or x 1e-5 (smallest ``|a|`` 3e-7 / 3e-8) every HiGHS path returned
    'optimal' at 77.815 with a 'proven' bound of 77.815 while SCIP's 75.437 is feasible.
    Without presolve all find 75.438. A tighter MIP feasibility tolerance was no cure: 1e-7
    fixed that case but not x 1e-6, and 3.9e-9 made CVXPY's HiGHS path prune another optimum
    (tokens x 1e-6: 71.585 against a feasible 70.692)."""
    if not scaled.integrality.any():
        return False
    v = np.abs(scaled.A.data)
    return bool(((v > 0) & (v < TINY_ENTRY)).any())


def highs_wide_options(scaled: LinearProgram) -> dict[str, Any]:
    """HiGHS options for the equilibrated ``scaled`` program: for a MILP the MIP feasibility
    tolerance :data:`MIP_FEAS_TOL`; when its objective still has tiny
    terms (:func:`dual_tolerance`): the dual feasibility tolerance at a thousandth of the
    smallest and the MIP feasibility tolerance at :data:`WIDE_MIP_FEAS_TOL`; and when its
    matrix does (:func:`tiny_entries`): presolve off; ``{}`` when HiGHS's defaults resolve
    every term. The HiGHS, CVXPY/HiGHS and Pyomo/HiGHS paths all apply these (each unless the
    caller's ``extra`` sets the option)."""
    out: dict[str, Any] = {}
    if scaled.integrality.any():
        out["mip_feasibility_tolerance"] = MIP_FEAS_TOL
    tol = dual_tolerance(scaled)
    if tol is not None:
        out.update(dual_feasibility_tolerance=tol, mip_feasibility_tolerance=WIDE_MIP_FEAS_TOL)
    if tiny_entries(scaled):
        out.update(presolve_off_options(bool(scaled.integrality.any())))
    return out


def presolve_off_options(mip: bool) -> dict[str, Any]:
    """HiGHS options that switch presolve off: for a MIP also the feasibility-jump heuristic,
    which in HiGHS 1.15-1.16 dereferences freed memory when presolve is off (a segmentation
    fault that killed the process: ERGO-Code/HiGHS#3262; here a 126-column outer-approximation
    master of ``offloading.joint``, certify seed 2511009732, crashed on every run with presolve
    off and solved with the heuristic off)."""
    out: dict[str, Any] = {"presolve": "off"}
    if mip:
        out["mip_heuristic_run_feasibility_jump"] = False
    return out


#: Widest objective range (largest / smallest nonzero ``|c'|`` of the equilibrated program)
#: whose optimum a double-precision solver is trusted to certify. The generated instances of
#: every family stay below 5e5; lifecycle with an energy weight of 1e7 (range 1.1e14) came back
#: 'optimal' from HiGHS at 51.40 with a 'proven' bound of 51.40 while 39.34 is feasible, at
#: any dual tolerance HiGHS accepts.
MAX_OBJECTIVE_RANGE = 1e12
#: The same for a program without integer columns: the simplex's reduced costs are resolved at
#: the tightened dual tolerance (:func:`dual_tolerance`), and branch and bound's pruning is not
#: involved; partial offloading with compute x 1e4 (range 3.8e12) is certified correctly by
#: HiGHS and SCIP (equal to the closed form).
MAX_LP_OBJECTIVE_RANGE = 1e15


def objective_range(scaled: LinearProgram) -> float:
    """Largest over smallest nonzero ``|c_j|`` of ``scaled`` (1 for a zero objective)."""
    nz = np.abs(scaled.c[scaled.c != 0])
    return float(nz.max() / nz.min()) if nz.size else 1.0


def range_checked(res: Result, sc: Scaled | None) -> Result:
    """``res`` with its optimality claim and bound withdrawn when the objective range exceeds
    :data:`MAX_OBJECTIVE_RANGE` (MILP) or :data:`MAX_LP_OBJECTIVE_RANGE` (LP, QP):
    ``optimal`` becomes ``feasible``, bound and gap NaN (not known), and the message says why.
    The solution itself is kept (the referee checks it).

    Not withdrawn: a MILP optimum small against its largest terms, where the solvers'
    feasibility slack (1e-7) decides pruning (lifecycle with demand x 1e-4..1e-7: bounds up to
    1.5e-5 above a verified objective, inside the ``optimal`` label's 1e-4). A test on that
    slack alone (``1e-7 max|c'| / |z'| > 1e-4``) also withdrew sound optima (``min x + 1e-6 y``
    over ``x + y >= 1``; a rejection penalty of 1e5 that no request pays), so it was dropped."""
    if sc is None or not res.has_solution:
        return res
    wide = objective_range(sc.program)
    limit = MAX_OBJECTIVE_RANGE if sc.program.integrality.any() else MAX_LP_OBJECTIVE_RANGE
    if wide <= limit:
        return res
    term = Termination.FEASIBLE if res.termination is Termination.OPTIMAL else res.termination
    note = (f"objective coefficients span {wide:.2g} (> {limit:g}): beyond what a "
            "double-precision solver certifies, so no optimality claim or bound")
    return dataclasses.replace(res, termination=term, bound=math.nan, gap=math.nan,
                               message=f"{res.message}; {note}" if res.message else note)


#: Largest relative row/bound violation a backend accepts in a solver's point (scaled program).
SELF_CHECK_TOL = 1e-5


def self_check(sc: Scaled, x: np.ndarray) -> str | None:
    """Why the solver's point ``x`` (original columns, integers rounded) is not a solution of
    the scaled program it was given, or None: a row or bound violated by more than
    :data:`SELF_CHECK_TOL` relative to ``max(1, |bound|)`` (the solver lost accuracy; the
    backend reports an ``error`` status instead of a point the evaluator would reject)."""
    lp = sc.program
    xs = np.asarray(x, dtype=np.float64) / sc.col_scale
    if not np.isfinite(xs).all():
        return "the solver returned non-finite values"
    ax = lp.A @ xs if lp.n_rows else np.zeros(0)
    with np.errstate(invalid="ignore", over="ignore"):
        parts = [
            np.maximum(lp.row_lower - ax, 0.0) / np.maximum(1.0, np.abs(lp.row_lower)),
            np.maximum(ax - lp.row_upper, 0.0) / np.maximum(1.0, np.abs(lp.row_upper)),
            np.maximum(lp.col_lower - xs, 0.0) / np.maximum(1.0, np.abs(lp.col_lower)),
            np.maximum(xs - lp.col_upper, 0.0) / np.maximum(1.0, np.abs(lp.col_upper)),
        ]
    worst = max((float(np.nan_to_num(p, nan=np.inf).max(initial=0.0)) for p in parts),
                default=0.0)
    if worst <= SELF_CHECK_TOL:
        return None
    return (f"the solver's point violates its (equilibrated) program by {worst:.3g} relative "
            f"(> {SELF_CHECK_TOL:g}): numerical trouble, no solution returned")


def solution_point(lp: LinearProgram, sc: Scaled | None, x: np.ndarray, label: str,
                   stats: SolveStats) -> tuple[dict[str, np.ndarray], Result | None]:
    """The solver's point ``x`` (scaled columns when ``sc`` is given) back in problem units,
    integer columns rounded, split by block (``values["x"]`` the whole vector); or, when
    :func:`self_check` finds that the point does not solve the program the solver was given,
    an ``error`` Result whose message starts with ``label`` (the native status)."""
    if sc is not None:
        x = sc.unscale_x(x)
    x = np.where(lp.integrality, np.round(x), x)
    trouble = self_check(sc, x) if sc is not None else None
    if trouble is not None:
        return {}, Result(Termination.ERROR, False, gap=math.inf, message=f"{label}: {trouble}",
                          stats=stats)
    values = {b.name: b.take(x).copy() for b in lp.blocks}
    values["x"] = x
    return values, None


def empty_program_result(name: str, program: LinearProgram, seconds: float) -> Result:
    """The result of a program without columns: optimal at its constant when every row admits
    0, else infeasible (HiGHS calls both ``kModelEmpty``; Pyomo's HiGHS interface says
    "unknown")."""
    x = np.zeros(0)
    if program.max_violation(x) > 0.0:
        return Result(Termination.INFEASIBLE, False, gap=math.inf,
                      message="no columns; a row excludes 0",
                      stats=SolveStats(name, solve_seconds=seconds))
    obj = program.objective_value(x)
    return Result(Termination.OPTIMAL, True, objective=obj, bound=obj, gap=0.0,
                  values={**{b.name: b.take(x).copy() for b in program.blocks}, "x": x},
                  message="no columns", stats=SolveStats(name, solve_seconds=seconds))


def sqrt_shares(wload: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Each item's share ``r_i / sum_{j in g(i)} r_j`` of its group's budget, ``r = sqrt(wload)``
    floored at 1e-6 of the group's mean (equal shares where every ``r`` is 0).

    The minimiser of ``sum_i wload_i / x_i`` subject to ``sum_{i in g} x_i <= 1`` (KKT:
    ``wload / x^2 = lambda_g``): the unit in which inverse-share programs (bandwidth and
    compute shares) put every variable at O(1) at their optimum, however uneven the weights;
    in equal-share units Clarabel stopped up to 1.6e-3 (bandwidth) and 11.9 % (ISCC shares)
    above the optimum with skewed weights, reporting success."""
    cnt = np.maximum(np.bincount(group, minlength=n_groups), 1).astype(np.float64)
    r = np.sqrt(np.maximum(wload, 0.0))
    r = np.maximum(r, 1e-6 * (np.bincount(group, r, n_groups) / cnt)[group])
    tot = np.bincount(group, r, n_groups)[group]
    return np.where(tot > 0, r / np.where(tot > 0, tot, 1.0), 1.0 / cnt[group])

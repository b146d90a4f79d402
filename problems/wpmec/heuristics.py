r"""Baselines for binary WP-MEC offloading (no optimality claim; scored by the evaluator).

* ``cd`` -- Bi & Zhang's coordinate descent (IEEE TWC 2018, Sec. IV; ``cd_method`` in the
  public DROO code): start from a random mode (seeded), repeatedly flip the single user whose
  flip most increases the optimum of the inner problem, stop when no flip improves. Given
  ``options.time_limit``, it also stops at that deadline with the modes reached so far (every
  pass keeps a feasible, optimally timed allocation) and says so.
* ``lr`` -- linear-relaxation rounding, the baseline DROO compares against: relax the modes
  to ``x_i in [0, 1]``, solve the convex relaxation, offload iff ``x_i >= 1/2``, then allocate
  ``a, tau`` optimally for the rounded modes. DROO describes the relaxation only briefly; we use
  the *energy-splitting* relaxation, which is jointly concave and equals the binary model at
  integral ``x``: device i sends energy ``s_i mu P h_i`` (``0 <= s_i <= a``, ``x_i = s_i / a``) to
  offloading and the rest to local computing::

      max  sum_i L_i (a - s_i)^{1/3} + W_i tau_i ln(1 + g_i s_i / tau_i)
      s.t. a + sum_i tau_i <= 1,  0 <= s_i <= a,  tau >= 0.

  It is solved by its Lagrangian dual (strong duality; for a price ``nu`` each device's best
  ``s_i`` is closed form, ``a - s_i = min(a, (L_i / (3 G_i(nu)))^{3/2})``), bisection on the
  time price, and checked against CVXPY (CLARABEL) in the tests.
* ``all_local`` / ``all_offload`` -- every device computes locally / offloads (optimal
  ``a, tau`` for that mode).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.solve import HeuristicNote, register_heuristic

from .data import WpmecAllocation, WpmecSpec
from .exact import BatchSolution
from .inner import snr_of_price, solve_inner

logger = logging.getLogger(__name__)


def _solution(L: np.ndarray, g: np.ndarray, W: np.ndarray, off: np.ndarray, t0: float,
              method: str) -> BatchSolution:
    val, a, tau, _ = solve_inner(L, g, W, off)
    F = L.shape[0]
    return BatchSolution(objective=val, offload=off, a=a, tau=tau, bound=np.full(F, np.nan),
                         gap=np.full(F, np.nan), nodes=np.zeros(F, dtype=np.int64),
                         seconds=time.perf_counter() - t0, method=method)


def fixed_mode_batch(L: np.ndarray, g: np.ndarray, W: np.ndarray, offload: bool
                     ) -> BatchSolution:
    """All devices local (``offload=False``) or all offloading, optimal ``a, tau``."""
    t0 = time.perf_counter()
    off = np.full(L.shape, bool(offload))
    return _solution(L, g, W, off, t0, "all_offload" if offload else "all_local")


def cd_batch(L: np.ndarray, g: np.ndarray, W: np.ndarray, *, seed: int = 0,
             initial: np.ndarray | None = None, max_passes: int = 1000,
             deadline: float = math.inf) -> BatchSolution:
    """Bi & Zhang's coordinate descent for every frame (flips evaluated in one batch).

    Parameters
    ----------
    L, g, W : ndarray, shape (F, N)
        Coefficients.
    seed : int
        Seed of the random initial modes (as in DROO's ``cd_method``).
    initial : ndarray of bool, shape (F, N), optional
        Initial modes instead of random ones.
    max_passes : int
        Cap on improvement passes.
    deadline : float
        ``time.perf_counter()`` value after which no further pass starts (the modes reached so
        far are returned).
    """
    return _cd(L, g, W, seed=seed, initial=initial, max_passes=max_passes,
               deadline=deadline)[0]


def _cd(L: np.ndarray, g: np.ndarray, W: np.ndarray, *, seed: int,
        initial: np.ndarray | None, max_passes: int, deadline: float
        ) -> tuple[BatchSolution, int, bool]:
    """:func:`cd_batch`, also returning the passes made and whether the deadline stopped it
    before convergence."""
    t0 = time.perf_counter()
    F, N = L.shape
    if initial is None:
        off = np.random.default_rng(seed).integers(0, 2, size=(F, N)).astype(bool)
    else:
        off = np.asarray(initial, dtype=bool).copy()
    val, a, tau, _ = solve_inner(L, g, W, off)
    eye = np.eye(N, dtype=bool)
    todo = np.arange(F)
    passes, stopped = 0, False
    for _ in range(max_passes):
        if not todo.size:
            break
        if time.perf_counter() >= deadline:
            stopped = True
            break
        passes += 1
        modes = (off[todo][:, None, :] ^ eye[None]).reshape(-1, N)
        rows = np.repeat(todo, N)
        v, aa, tt, _ = solve_inner(L[rows], g[rows], W[rows], modes)
        v = v.reshape(-1, N)
        j = np.argmax(v, axis=1)
        vb = v[np.arange(todo.size), j]
        imp = vb > val[todo] * (1.0 + 1e-12)
        sel = np.flatnonzero(imp)
        f = todo[sel]
        pick = sel * N + j[sel]
        off[f] = modes[pick]
        val[f] = vb[sel]
        a[f] = aa[pick]
        tau[f] = tt[pick]
        todo = f
    sol = BatchSolution(objective=val, offload=off, a=a, tau=tau, bound=np.full(F, np.nan),
                        gap=np.full(F, np.nan), nodes=np.zeros(F, dtype=np.int64),
                        seconds=time.perf_counter() - t0, method="cd")
    return sol, passes, stopped


def relaxation_inner(nu: np.ndarray, L: np.ndarray, g: np.ndarray, W: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lagrangian of the energy-splitting relaxation at prices ``nu`` (rows), maximised.

    Returns ``D(nu)``, ``a``, ``s`` (offloaded energy-time, ``0 <= s <= a``), ``tau`` and the
    slack ``1 - a - sum tau`` (the derivative of ``D``).
    """
    K, N = L.shape
    err = np.seterr(divide="ignore", over="ignore", invalid="ignore")
    z = np.maximum(snr_of_price(nu[:, None] / W), 1e-300)
    G = np.maximum(g * W / (1.0 + z), 1e-300)
    c = (L / (3.0 * G)) ** 1.5  # local energy-time kept by device i once a >= c_i
    order = np.argsort(c, axis=1)
    cs = np.take_along_axis(c, order, axis=1)
    Ls = np.take_along_axis(L, order, axis=1)
    Gs = np.take_along_axis(G, order, axis=1)
    zero = np.zeros((K, 1))
    cl = np.cumsum(Ls, axis=1)
    C = np.maximum(np.concatenate([cl[:, -1:], cl[:, -1:] - cl], axis=1), 0.0)
    H = np.concatenate([zero, np.cumsum(Gs, axis=1)], axis=1)
    K0 = np.concatenate([zero, np.cumsum(Ls * np.cbrt(cs) - Gs * cs, axis=1)], axis=1)
    left = np.concatenate([zero, np.minimum(cs, 1.0)], axis=1)
    right = np.concatenate([np.minimum(cs, 1.0), np.ones((K, 1))], axis=1)
    slope = nu[:, None] - H
    astar = np.where(slope > 0, (C / (3.0 * np.maximum(slope, 1e-300))) ** 1.5, np.inf)
    aseg = np.clip(astar, left, right)
    val = C * np.cbrt(aseg) - slope * aseg + K0
    valid = np.concatenate([np.ones((K, 1), dtype=bool), cs <= 1.0], axis=1)
    val = np.where(valid, val, -np.inf)
    sidx = np.argmax(val, axis=1)
    rows = np.arange(K)
    a = aseg[rows, sidx]
    s = np.maximum(a[:, None] - np.minimum(a[:, None], c), 0.0)
    tau = g * s / z
    np.seterr(**err)
    return nu + val[rows, sidx], a, s, tau, 1.0 - a - tau.sum(axis=1)


def relaxation_batch(L: np.ndarray, g: np.ndarray, W: np.ndarray, *, iters: int = 200
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve the energy-splitting relaxation per frame (bisection on the time price).

    Returns ``value`` (the dual value ``D(nu)``: an upper bound on the relaxation and hence on
    the binary optimum, equal to the relaxed optimum at convergence), ``x = s / a``, ``a``,
    ``s`` and ``tau``.
    """
    hi = L.sum(axis=1) + (W * np.log1p(g)).sum(axis=1)
    lo = hi * 1e-12  # slack(lo) < 0 < slack(hi): the root price lies in between
    for _ in range(iters):
        mid = np.sqrt(lo * hi)
        _, _, _, _, slack = relaxation_inner(mid, L, g, W)
        hi = np.where(slack >= 0.0, mid, hi)
        lo = np.where(slack < 0.0, mid, lo)
        if np.all(hi - lo <= 1e-15 * hi):
            break
    d, a, s, tau, _ = relaxation_inner(hi, L, g, W)
    # at `hi` the slack is >= 0: (a, s, tau) is feasible; d = D(hi) bounds the relaxation
    x = np.where(a[:, None] > 0, s / np.maximum(a[:, None], 1e-300), 0.0)
    return d, x, a, s, tau


def lr_batch(L: np.ndarray, g: np.ndarray, W: np.ndarray) -> BatchSolution:
    """Linear-relaxation rounding: offload iff the relaxed ``x_i >= 1/2``."""
    t0 = time.perf_counter()
    _, x, _, _, _ = relaxation_batch(L, g, W)
    return _solution(L, g, W, x >= 0.5, t0, "lr")


# ---- per-instance heuristics (registered; the evaluator scores their allocations) ----

def _alloc(instance: Any, sol: BatchSolution) -> Any:
    return WpmecAllocation.from_times(instance, sol.offload[0], float(sol.a[0]), sol.tau[0])


def _coef(instance: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    L, g, W = instance.coefficients()
    return L[None], g[None], W[None]


def cd(instance: Any, spec: Any, seed: int = 0, options: SolveOptions | None = None) -> Any:
    """Coordinate descent from a seeded random mode (Bi & Zhang); ``options.time_limit`` is a
    deadline after which no further flip pass starts (the result then carries a note)."""
    t0 = time.perf_counter()
    limit = options.time_limit if options is not None else None
    deadline = math.inf if limit is None else t0 + limit
    sol, passes, stopped = _cd(*_coef(instance), seed=seed, initial=None, max_passes=1000,
                               deadline=deadline)
    alloc = _alloc(instance, sol)
    if stopped:
        return HeuristicNote(alloc, f"stopped at the time limit after {passes} flip passes "
                                    "(not converged)")
    return alloc


def lr(instance: Any, spec: Any, seed: int = 0) -> Any:
    """Linear-relaxation rounding (DROO's LR baseline)."""
    return _alloc(instance, lr_batch(*_coef(instance)))


def all_local(instance: Any, spec: Any, seed: int = 0) -> Any:
    """Every device computes locally (a = 1)."""
    return _alloc(instance, fixed_mode_batch(*_coef(instance), offload=False))


def all_offload(instance: Any, spec: Any, seed: int = 0) -> Any:
    """Every device offloads, optimal a and tau."""
    return _alloc(instance, fixed_mode_batch(*_coef(instance), offload=True))


HEURISTICS = {"cd": cd, "lr": lr, "all_local": all_local, "all_offload": all_offload}


for _name, _fn in HEURISTICS.items():
    register_heuristic(WpmecSpec, _name, _fn)

"""CVXPY model of joint bandwidth-power allocation (``allocation.joint_bp``): the conic
program behind the ``cvxpy`` backend and the convex explanations, in scaled ``(x, t, E)``
(block area ``x = b t`` in Hz s, time ``t`` in s, energy ``E = p t`` in J); see
:func:`build_cvxpy`. The closed forms live in :mod:`.joint_bp`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from aigc_opt.explain_convex import convex_meta
from aigc_opt.program import ConvexProgram

from .data import LN2, JointBPAllocation, JointBPInstance, JointBPSpec, time_limit

#: CLARABEL settings for the CVXPY model: a shorter maximum step keeps the interior-point method
#: from stalling (``InsufficientProgress``) on the exponential cones of high-SNR users; with it,
#: 48/48 test instances solved to within 6e-7 of the closed form (2/36 failed without it).
CVXPY_SETTINGS: dict[str, float] = {"max_step_fraction": 0.95}


#: :func:`build_cvxpy` writes the rate row of users above this full-band SNR as
#: ``x ln(snr) - rel_entr(x, x/snr + E)``; below it (the generator's 10-40 dB) as
#: ``-rel_entr(x, x + snr E)``, which Clarabel decides more accurately at the feasibility edge.
HIGH_SNR = 1e6


def _embed(idx: np.ndarray, n: int) -> sp.csr_matrix:
    """The ``(n, idx.size)`` 0/1 matrix putting a vector over ``idx`` into ``n`` entries."""
    return sp.csr_matrix((np.ones(idx.size), (idx, np.arange(idx.size))), shape=(n, idx.size))


def build_cvxpy(inst: JointBPInstance, spec: JointBPSpec) -> ConvexProgram:
    """Vectorised CVXPY model in scaled ``(x, t, E)``.

    Per-user scales from the physics (not from the solution): ``x0 = D / u*`` (the area at full
    band and full power, ``u* = log2(1 + SNR_full)``), ``t0 = x0 / B``, ``e0 = pbar t0``; the
    rows read ``x~ <= t~``, ``E~ <= t~``, ``t~ <= T/t0``, ``sum (x0/A) x~ <= 1`` and the rate row
    ``-rel_entr(x~, x~ + SNR_full E~) >= u* ln2`` (divided through by its right-hand side).
    A global ``x0 = A/N`` failed (CLARABEL ``InsufficientProgress``) on 2/36 test instances and
    an energy unit taken at the equal area was ~5e-4 off on high-SNR users; the program
    carries :data:`CVXPY_SETTINGS` for CLARABEL in ``meta["solver_settings"]``. The constraint
    objects are named for :func:`aigc_opt.explain_convex.explain_convex`
    (``meta["constraint_names"]`` and ``["constraint_items"]``): ``upload`` (the rate row),
    ``bandwidth_limit`` (``b_n <= B``),
    ``max_power``, ``energy_nonneg`` and ``deadline`` (``t_n <= min(T_n, T_f)``) at each user,
    and the cell's ``area_budget``.
    """
    import cvxpy as cp

    n = inst.n_users
    snr = inst.full_band_snr
    u_star = np.log1p(snr) / LN2  # log1p: log2(1 + snr) is 0 below snr ~ 1e-16
    x0 = inst.data_bits / u_star  # area at full band and full power, Hz s
    t0 = x0 / inst.bandwidth_hz
    e0 = inst.max_power_w * t0
    rhs = u_star * LN2
    area = spec.area_scale * inst.bandwidth_hz * inst.frame_s
    xs, ts, es = (cp.Variable(n, name=k) for k in ("x", "t", "E"))
    T = time_limit(inst, spec)
    # rate row x ln(1 + snr E/x) >= rhs; where snr > HIGH_SNR written x ln(snr) -
    # rel_entr(x, x/snr + E) (the same function) so the cone sees O(1) coefficients: with
    # snr ~ 1e10 (gains x1e6) Clarabel failed on rel_entr(x, x + snr E)
    hi, lo = np.nonzero(snr > HIGH_SNR)[0], np.nonzero(~(snr > HIGH_SNR))[0]
    rate: Any = cp.Constant(np.zeros(n))
    if lo.size:
        rate = rate + _embed(lo, n) @ cp.multiply(
            1.0 / rhs[lo], -cp.rel_entr(xs[lo], xs[lo] + cp.multiply(snr[lo], es[lo])))
    if hi.size:
        rate = rate + _embed(hi, n) @ (
            cp.multiply(np.log(snr[hi]) / rhs[hi], xs[hi])
            - cp.multiply(1.0 / rhs[hi], cp.rel_entr(xs[hi], cp.multiply(1.0 / snr[hi], xs[hi])
                                                       + es[hi])))
    cons = [
        rate >= 1.0,
        xs <= ts, es <= ts, es >= 0, ts <= T / t0, (x0 / area) @ xs <= 1.0,
    ]
    names = ("upload", "bandwidth_limit", "max_power", "energy_nonneg", "deadline", "area_budget")
    items = ("user {i}",) * 5 + (None,)
    ct = inst.weight * spec.latency_weight * t0
    ce = inst.weight * spec.energy_weight * e0
    scale = float((ct + ce).sum())
    obj = cp.Minimize((ct / scale) @ ts + (ce / scale) @ es)
    variables = {"x": xs, "t": ts, "E": es}
    return ConvexProgram(cp.Problem(obj, cons), variables, name=f"joint_bp[N={n}]",
                         meta={"objective_scale": scale, "x0": x0, "t0": t0, "e0": e0,
                               "solver_settings": {"CLARABEL": dict(CVXPY_SETTINGS)},
                               **convex_meta(names, items, spec, inst, variables)})


def decode_cvxpy(inst: JointBPInstance, spec: JointBPSpec, program: ConvexProgram, values: Any
                 ) -> JointBPAllocation:
    """``b = x/t``, ``p = E/t`` from the scaled blocks."""
    x = np.asarray(values["x"]) * np.asarray(program.meta["x0"])
    t = np.asarray(values["t"]) * np.asarray(program.meta["t0"])
    E = np.asarray(values["E"]) * np.asarray(program.meta["e0"])
    t = np.maximum(t, 1e-300)
    return JointBPAllocation(bandwidth_hz=np.maximum(x, 0.0) / t,
                             power_w=np.maximum(E, 0.0) / t)

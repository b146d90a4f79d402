r"""A certified lower bound for instances the MILP cannot close: Lagrangian relaxation of the
node capacities.

Services are coupled only through the memory and compute rows of the nodes. Price them with
``lambda >= 0`` (per unit of *relative* usage, i.e. rows divided by their capacity) and drop
what is nonnegative and only makes the problem harder: the hosting memory ``lambda W_m x``, the
delivery cost ``d`` and the spec's optional budget / floor / limit rows. What is left splits by
service and, inside a service, by (slot, region):

.. math::

    L(\lambda) = \sum_s \min_{o, n'} \Big[ c^{train}_{s,o,n'} + \lambda\text{-cost of its
    training} + \sum_{t,u} \min\big(r_{t,s,u},\; \min_n c^{route}_{t,s,u,m(o),n} +
    \lambda_{t,n} \tfrac{W d_{t,s,u} f_{s,m}}{util F_n W}\big) \Big] - \sum \lambda,

a lower bound on the optimum for every ``lambda >= 0`` (weak duality), computed with numpy in
one pass. :func:`lagrangian_bound` maximises it by projected subgradient steps (Polyak step
towards an upper bound when one is given). Columns are the MILP's own candidates
(:func:`~.milp.candidates`), so the bound sees exactly the same choices.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .data import SPLIT, LifecycleInstance, LifecycleSpec
from .data_physics import (
    device_train_share,
    inference_flops,
    option_physics,
    privacy_bytes,
    request_latency,
    wire_bytes,
)
from .milp import candidates

logger = logging.getLogger(__name__)


def lagrangian_bound(inst: LifecycleInstance, spec: LifecycleSpec, *, iters: int = 200,
                     upper: float | None = None) -> tuple[float, np.ndarray]:
    """Best ``L(lambda)`` found and its multipliers ``(N + T N,)`` (memory rows, then compute
    rows per slot and node). ``upper``: an objective known to be attainable (e.g. a baseline's),
    used for the step length."""
    sh = inst.shape
    T, S, U, N, M = sh["T"], sh["S"], sh["U"], sh["N"], sh["M"]
    w = spec.weights
    slots = np.arange(T)
    cand = candidates(inst, spec, slots)
    phys = option_physics(inst)
    win, phi = inst.window_s, inst.split_fraction
    trained = cand.zn >= 0
    zn0 = np.maximum(cand.zn, 0)
    split = inst.option_mode[cand.zo] == SPLIT
    flops = phys.flops[cand.zs, cand.zo]
    server_f = np.where(split, (1 - phi) * flops, flops) * trained
    share = device_train_share(inst)
    dev = inst.device_of_region()
    dev_f = np.where(split, phi * flops, 0.0)[:, None] * share[cand.zs]  # (Z, U)
    price, epf = inst.node_cost_per_flop, inst.node_energy_per_flop
    dp = np.where(dev >= 0, price[np.maximum(dev, 0)], 0.0)
    de = np.where(dev >= 0, epf[np.maximum(dev, 0)], 0.0)
    wire = np.where(trained, wire_bytes(inst, phys)[cand.zs, cand.zo, zn0], 0.0)
    priv = np.where(trained, privacy_bytes(inst, phys)[cand.zs, cand.zo, zn0], 0.0)
    n_req = win * inst.demand_rps.mean(axis=0).sum(axis=1)
    c_z = (w.cost * (server_f * price[zn0] + dev_f @ dp + wire * inst.transfer_cost_per_byte)
           + w.energy * (server_f * epf[zn0] + dev_f @ de) + w.privacy * priv
           + w.quality * n_req[cand.zs] * (1 - phys.quality[cand.zs, cand.zo]))
    mem_cap = np.maximum(inst.node_memory_bytes, 1e-300)
    cpu_cap = inst.utilisation * inst.node_flops * win
    # training usage of the relative rows: memory (N), compute (N, same in every slot)
    has = inst.data_tokens[cand.zs] > 0  # (Z, U)
    u_mem = np.zeros((cand.zs.size, N))
    u_cpu = np.zeros((cand.zs.size, N))
    zi = np.nonzero(trained)[0]
    u_mem[zi, zn0[zi]] += phys.mem[cand.zs, cand.zo][zi] / mem_cap[zn0[zi]]
    u_cpu[zi, zn0[zi]] += server_f[zi] / cpu_cap[zn0[zi]]
    si, ui = np.nonzero(split[:, None] & has & (dev[None, :] >= 0))
    np.add.at(u_mem, (si, dev[ui]), phys.mem_device[cand.zs[si], cand.zo[si]] / mem_cap[dev[ui]])
    di, du = np.nonzero((dev_f > 0) & (dev[None, :] >= 0))
    np.add.at(u_cpu, (di, dev[du]), dev_f[di, du] / cpu_cap[dev[du]])
    # routing: every (t, s, u, m, n) the MILP may use (its host candidates' nodes)
    xm, xn = cand.xm, cand.xn
    at, as_, au, ax = cand.at, cand.as_, cand.au, cand.ax
    am, an = xm[ax], xn[ax]
    dem_a = inst.demand_rps[at, as_, au]
    f_a = inference_flops(inst)[as_, am]
    reqs = win / T * dem_a
    c_a = reqs * (f_a * (w.cost * price[an] + w.energy * epf[an])
                  + w.latency * request_latency(inst)[as_, au, am, an])
    u_a = win * dem_a * f_a / cpu_cap[an]  # usage of compute row (t, n)
    pen = math.inf if spec.reject_penalty is None else float(spec.reject_penalty)
    rej = pen * win / T * inst.demand_rps  # (T, S, U)
    need = inst.demand_rps > 0
    zm = inst.option_model[cand.zo]

    def value(lam: np.ndarray) -> tuple[float, np.ndarray]:
        lm, lc = lam[:N], lam[N:].reshape(T, N)
        tz = c_z + u_mem @ lm + u_cpu @ lc.sum(axis=0)
        ra = c_a + lc[at, an] * u_a
        best = np.full((T, S, U, M), np.inf)
        np.minimum.at(best, (at, as_, au, am), ra)
        best = np.minimum(best, rej[..., None])
        best = np.where(need[..., None], best, 0.0)
        route = best.sum(axis=(0, 2))  # (S, M), inf when a group cannot be served by m
        tot = tz + route[cand.zs, zm]
        pick = np.full(S, -1)
        val = np.full(S, np.inf)
        np.minimum.at(val, cand.zs, tot)
        hit = np.nonzero(tot <= val[cand.zs])[0]
        pick[cand.zs[hit]] = hit
        L = float(val.sum() - lam.sum())
        # subgradient: usage of the minimisers minus 1 per row
        g = np.full(N + T * N, -1.0)
        ok = pick >= 0
        g[:N] += u_mem[pick[ok]].sum(axis=0)
        g[N:] += np.tile(u_cpu[pick[ok]].sum(axis=0), T)
        chosen_m = np.full(S, -1)
        chosen_m[ok] = zm[pick[ok]]
        used = (chosen_m[as_] == am) & np.isclose(ra, best[at, as_, au, am]) & (
            ra <= rej[at, as_, au])
        ia = np.nonzero(used)[0]
        _, keep = np.unique((at[ia] * S + as_[ia]) * U + au[ia], return_index=True)
        ia = ia[keep]  # one minimiser per demand group
        np.add.at(g, N + at[ia] * N + an[ia], u_a[ia])
        return L, g

    lam = np.zeros(N + T * N)
    best_L, best_lam = -math.inf, lam
    theta, stall = 1.0, 0
    for k in range(int(iters)):  # subgradient ascent on N + T N multipliers
        L, g = value(lam)
        if L > best_L + 1e-12 * max(1.0, abs(L)):
            best_L, best_lam, stall = L, lam.copy(), 0
        else:
            stall += 1
            if stall >= 5:
                theta, stall = theta / 2, 0
        gg = float(g @ g)
        if gg <= 1e-18 or theta < 1e-6:
            break
        target = upper if upper is not None and upper > best_L else best_L + abs(best_L) * 0.01
        lam = np.maximum(lam + theta * (target - L) / gg * g, 0.0)
        logger.debug("lagrangian iter %d: L=%.6g", k, L)
    return best_L, best_lam

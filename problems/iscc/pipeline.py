r"""Z-shaped multi-slot ISCC orchestration: exact MILP and rolling horizon.

GainNet's GaiRom-ISCC arranges sensing, communication and computing in a "Z-shaped" temporal
structure (arXiv 2401.02662): the tasks that arrive in slot t (cohort t) sense in slot t,
transmit in slot t+1 and compute in slot t+2, so in every slot three consecutive cohorts are in
flight. Bundles use slotted timing (:func:`~.data.enumerate_bundles` with ``slotted=True``:
each phase fits one slot of ``slot_s``). With ``x_b`` as in :mod:`.matching` and ``t_b`` the
cohort of bundle b, for every slot ``t = 0..T+1`` and site s:

.. math::

    \text{shared radio (ISAC):}\quad
    \sum_{b: t_b = t, s_b = s} u_b x_b + \sum_{b: t_b = t-1, s_b = s} r_b x_b \le U_s + B_s,

    \text{or separate:}\quad \sum_{t_b = t} u_b x_b \le U_s,\;\; \sum_{t_b = t-1} r_b x_b \le B_s,

    \sum_{b: t_b = t-2, s_b = s, edge} g_b x_b \le G_s, \qquad
    \sum_{b: t_b = t-2, cloud} g_b x_b \le G_c .

The shared radio pool is the integrated-sensing-and-communication assumption (sensing waveforms
and data transmission draw on one time-frequency resource, as in Wen et al., arXiv 2207.00969,
where ISAC devices split their frame between radar sensing and offloading): it is what couples
the sensing of cohort t to the transmission of cohort t-1. With separate pools every constraint
involves one cohort only and the multi-slot problem decomposes.

The *rolling horizon* (:func:`rolling_horizon`, heuristic ``rolling_horizon``) solves cohorts
``tau .. tau+W-1`` (``W = spec.lookahead``) against the capacity left by committed cohorts,
commits cohort tau and moves on; its allocation is feasible for the exact MILP, so its utility
is at most the exact optimum.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions, get_backend
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.program import LinearProgram
from aigc_opt.solve import register_heuristic
from aigc_opt.spec import register_builder

from .data import Bundles, IsccAllocation, IsccInstance, IsccPipelineSpec, allocation_from_bundles
from .matching import PoolRows, assemble, bundles_for, decode

logger = logging.getLogger(__name__)


def capacities(inst: IsccInstance, spec: IsccPipelineSpec) -> dict[str, np.ndarray]:
    """Per-slot capacities, shape ``(T+2, S)`` (``(T+2,)`` for the cloud)."""
    T, S = inst.n_slots + 2, inst.n_sites
    tile = lambda a: np.broadcast_to(np.asarray(a, dtype=np.float64), (T, S)).copy()  # noqa: E731
    out = {"gpus": tile(inst.site_gpus), "cloud": np.full(T, float(inst.cloud_gpus))}
    if spec.radio == "shared":
        out["radio"] = tile(inst.site_sensing_units + inst.site_rbs)
    else:
        out["sensing"] = tile(inst.site_sensing_units)
        out["rbs"] = tile(inst.site_rbs)
    return out


def _terms(inst: IsccInstance, spec: IsccPipelineSpec, bun: Bundles
           ) -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Pool name -> list of (flat slot-site key, columns, coefficients)."""
    S = inst.n_sites
    t = inst.task_slot[bun.task]
    cols = np.arange(bun.size)
    edge, cl = ~bun.cloud, bun.cloud
    sense = (t * S + bun.site, cols, bun.units)
    tx = ((t + 1) * S + bun.site, cols, bun.rbs)
    out = {"gpus": [((t + 2)[edge] * S + bun.site[edge], cols[edge], bun.gpus[edge])],
           "cloud": [((t + 2)[cl], cols[cl], bun.gpus[cl])]}
    if spec.radio == "shared":
        out["radio"] = [sense, tx]
    else:
        out["sensing"], out["rbs"] = [sense], [tx]
    return out


def pool_rows(inst: IsccInstance, spec: IsccPipelineSpec, bun: Bundles,
              used: dict[str, np.ndarray] | None = None) -> list[PoolRows]:
    """Per-slot pool rows over ``bun`` with capacities reduced by ``used``."""
    caps = capacities(inst, spec)
    rows: list[PoolRows] = []
    for name, parts in _terms(inst, spec, bun).items():
        cap = caps[name] - (used[name] if used is not None else 0.0)
        key = np.concatenate([p[0] for p in parts])
        rows.append((name, key, cap.size, np.concatenate([p[1] for p in parts]),
                     np.concatenate([p[2] for p in parts]), cap.reshape(-1)))
    return rows


def usage(inst: IsccInstance, spec: IsccPipelineSpec, bun: Bundles) -> dict[str, np.ndarray]:
    """Capacity used by the bundles ``bun`` (all taken), in the shapes of :func:`capacities`."""
    caps = capacities(inst, spec)
    out = {}
    for name, parts in _terms(inst, spec, bun).items():
        key = np.concatenate([p[0] for p in parts])
        w = np.concatenate([p[2] for p in parts]).astype(np.float64)
        out[name] = np.bincount(key, weights=w, minlength=caps[name].size).reshape(
            caps[name].shape)
    return out


def build(inst: IsccInstance, spec: IsccPipelineSpec) -> LinearProgram:
    """The exact multi-slot MILP (module docstring)."""
    bun = bundles_for(inst, spec, slotted=True)
    return assemble(inst, bun, pool_rows(inst, spec, bun),
                    f"iscc-pipeline-{spec.radio}[N={inst.n_tasks},T={inst.n_slots},"
                    f"B={bun.size}]")


register_builder(IsccPipelineSpec, build, decode)


def rolling_horizon(inst: IsccInstance, spec: IsccPipelineSpec, seed: int = 0,
                    options: SolveOptions | None = None) -> IsccAllocation:
    """Commit one cohort at a time, each window solved exactly by HiGHS (module docstring).

    ``options.time_limit`` is a deadline for the whole call: each window gets an equal share
    of the time left (past it, a window gets 1 ms and keeps what HiGHS found, or commits
    nothing); ``options.mip_gap`` defaults to 0 (exact windows).
    """
    t0 = time.perf_counter()
    base = options or SolveOptions()
    opts = base if base.mip_gap is not None else dataclasses.replace(base, mip_gap=0.0)
    be = get_backend("highs")
    bun = bundles_for(inst, spec, slotted=True)
    slot_of = inst.task_slot[bun.task]
    used = {k: np.zeros_like(v) for k, v in capacities(inst, spec).items()}
    chosen: list[np.ndarray] = []
    for tau in range(inst.n_slots):
        window = np.nonzero((slot_of >= tau) & (slot_of < tau + spec.lookahead))[0]
        if window.size == 0:
            continue
        sub = bun.subset(window)
        lp = assemble(inst, sub, pool_rows(inst, spec, sub, used), f"iscc-rolling[{tau}]")
        left = base.left(t0, floor=0.0)
        if left is not None:
            opts = dataclasses.replace(opts, time_limit=max(left / (inst.n_slots - tau), 1e-3))
        res = be.solve(lp, opts)
        if not res.has_solution:
            logger.warning("rolling horizon: slot %d %s", tau, res.termination)
            continue
        x = np.asarray(res.values["x"]) > 0.5
        take = np.nonzero(x & (slot_of[window] == tau))[0]
        chosen.append(window[take])
        new = usage(inst, spec, sub.subset(take))
        used = {k: used[k] + new[k] for k in used}
    picked = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    return allocation_from_bundles(inst.n_tasks, bun, picked)


def pipeline_optimum(inst: IsccInstance, spec: IsccPipelineSpec,
                     options: SolveOptions | None = None) -> Any:
    """The exact multi-slot MILP solved by HiGHS (a :class:`aigc_opt.Result`)."""
    return get_backend("highs").solve(build(inst, spec), options or SolveOptions(mip_gap=0.0))


register_heuristic(IsccPipelineSpec, "rolling_horizon", rolling_horizon)


def _make_instance(seed: int, n_tasks: int = 40, n_sites: int = 3, n_classes: int = 3,
                   n_slots: int = 4, **kw: Any) -> IsccInstance:
    return IsccInstance.generate(n_tasks, n_sites, n_classes, seed=seed, n_slots=n_slots, **kw)


register_case(CaseKind(
    name="iscc.pipeline", sense="max", make_instance=_make_instance,
    make_spec=lambda **p: IsccPipelineSpec(**p),
    default_methods=("highs", "rolling_horizon"), reference="highs",
    description="Z-shaped sense/transmit/compute pipeline over slots (ISAC shared radio)"))

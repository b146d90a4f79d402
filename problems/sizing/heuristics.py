"""Greedy capacity add: the baseline of the sizing MILP.

Start with no GPU and the cheapest bandwidth option at every site. While some request of some
demand scenario cannot be served, try every single upgrade (one more GPU of the site's type, or
a first GPU of any type at a site without one, or a dearer bandwidth option) and take the one
with the most requests newly served per unit of extra cost (ties: the cheaper; when no upgrade
serves more, the one with the fewest unserved requests, then the cheapest). "Served" is the
optimum of the sizing program with the capacity fixed and the assignment rows relaxed to
``<= 1`` (maximise served requests). Finally drop GPUs one by one, most expensive first, while
every scenario stays feasible. The plan is what the evaluator scores; a plan that stays
infeasible after every upgrade is returned as is (the referee reports it).

Given ``options.time_limit`` the search stops when the time is up: each fixed-capacity solve
gets what is left, no upgrade is tried after the deadline and the GPU drop ends; the plan so
far is returned with a note (infeasible, and so reported by the referee, when requests were
still unserved). Without a limit it ran to the end: 106-159 s at ``time_limit=3`` on 8 sites
with 3 GPU and 3 radio options and 3 demand scenarios.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions, get_backend
from aigc_opt.errors import NoSolutionError
from aigc_opt.program import LinearProgram
from aigc_opt.solve import HeuristicNote, register_heuristic

from .data import SizingInstance, SizingPlan, SizingSpec
from .milp import build, decode

logger = logging.getLogger(__name__)


def _fixed(program: LinearProgram, inst: SizingInstance, gpu_type: np.ndarray,
           count: np.ndarray, radio: np.ndarray, soft: bool) -> LinearProgram:
    """``program`` with the capacity columns fixed; ``soft``: assignment rows ``<= 1`` and
    objective ``-sum x`` (maximise served)."""
    S, G, B = inst.n_sites, len(inst.gpus), len(inst.radios)
    t = np.zeros((S, G))
    k = np.zeros((S, G))
    has = gpu_type >= 0
    t[np.nonzero(has)[0], gpu_type[has]] = 1.0
    k[np.nonzero(has)[0], gpu_type[has]] = count[has]
    v = np.zeros((S, B))
    v[np.arange(S), radio] = 1.0
    fix = np.concatenate([t.ravel(), k.ravel(), v.ravel()])
    n_cap = fix.size
    lo, hi = np.array(program.col_lower), np.array(program.col_upper)
    lo[:n_cap] = hi[:n_cap] = fix
    c = np.zeros(program.n_cols)
    rl = np.array(program.row_lower)
    if soft:
        for nm in inst.names:
            b = program.block(f"assign[{nm}]")
            c[b.start:b.start + b.size] = -1.0
            first, stop, _ = program.meta["row_groups"][f"assignment[{nm}]"]
            rl[first:stop] = 0.0
    return dataclasses.replace(program, c=c, col_lower=lo, col_upper=hi, row_lower=rl)


def greedy_capacity(inst: SizingInstance, spec: SizingSpec, *, seed: int = 0,
                    options: SolveOptions | None = None) -> SizingPlan | HeuristicNote:
    """The greedy capacity-add plan of the module docstring (deterministic; ``seed`` unused).
    With ``options.time_limit`` (s) a :class:`HeuristicNote` when the limit stopped it."""
    t0 = time.perf_counter()
    limit = None if options is None else options.time_limit
    deadline = math.inf if limit is None else t0 + float(limit)
    program = build(inst, spec)
    highs = get_backend("highs")
    base = SolveOptions(verify=False, time_limit=limit)
    stopped: list[str] = []

    def opts(floor: float = 0.05) -> SolveOptions:  # what is left of the limit, >= floor s
        return dataclasses.replace(base, time_limit=base.left(t0, floor))

    def out_of_time(where: str) -> bool:
        if time.perf_counter() < deadline:
            return False
        if not stopped:
            stopped.append(where)
        return True
    S = inst.n_sites
    total = sum(d.n_users for d in inst.demands)
    gcost = np.array([g.cost for g in inst.gpus])
    rcost = np.array([r.cost for r in inst.radios])
    kmax = np.array([g.max_count for g in inst.gpus])

    def unserved(t: np.ndarray, k: np.ndarray, r: np.ndarray) -> float:
        res = highs.solve(_fixed(program, inst, t, k, r, soft=True), opts())
        return total + res.objective if res.has_solution else float(total)

    t = np.full(S, -1)
    k = np.zeros(S, dtype=np.int64)
    r = np.full(S, int(np.argmin(rcost)))
    now = unserved(t, k, r)
    for _ in range(int(kmax.sum()) * S + S * len(rcost) + 1):
        if now <= 0.5:
            break
        cands = []
        for s in range(S):
            if t[s] < 0:
                cands += [(s, g, 1, r[s], gcost[g]) for g in range(len(gcost)) if kmax[g] > 0]
            elif k[s] < kmax[t[s]]:
                cands.append((s, t[s], k[s] + 1, r[s], gcost[t[s]]))
            cands += [(s, t[s], k[s], b, rcost[b] - rcost[r[s]])
                      for b in range(len(rcost)) if rcost[b] > rcost[r[s]]
                      or (rcost[b] == rcost[r[s]] and b > r[s])]
        if not cands:
            break
        scored = []
        for s, g, c, b, dc in cands:
            if out_of_time("while upgrading"):
                break
            t2, k2, r2 = t.copy(), k.copy(), r.copy()
            t2[s], k2[s], r2[s] = g, c, b
            u = unserved(t2, k2, r2)
            gain = now - u
            ratio = gain / max(dc, 1e-9) if gain > 0.5 else -np.inf
            scored.append((-ratio, u, dc, (t2, k2, r2)))
        if stopped:  # the candidates scored so far are a partial view: keep the plan
            break
        scored.sort(key=lambda z: (z[0], z[1], z[2]))
        best = scored[0]
        t, k, r = best[3]
        now = best[1]
    if now <= 0.5:  # drop GPUs that are not needed, most expensive first
        for s in np.argsort(-np.where(t >= 0, gcost[np.clip(t, 0, None)], 0.0)):
            while k[s] > 0 and not out_of_time("while dropping unneeded GPUs"):
                k2, t2 = k.copy(), t.copy()
                k2[s] -= 1
                if k2[s] == 0:
                    t2[s] = -1
                if unserved(t2, k2, r) > 0.5:
                    break
                t, k = t2, k2
    # the final assignment solve runs even past the deadline: it is what makes the plan
    res = highs.solve(_fixed(program, inst, t, k, r, soft=now > 0.5), opts(floor=1.0))
    if not res.has_solution:
        raise NoSolutionError("greedy_capacity: the fixed-capacity program has no solution "
                              f"({res.termination.value})")
    plan = decode(inst, spec, program, res.values)
    plan = dataclasses.replace(plan, gpu_type=t, gpu_count=np.where(t >= 0, k, 0), radio=r)
    if stopped:
        return HeuristicNote(plan, f"stopped at the time limit {stopped[0]} "
                                   f"({now:.0f} requests unserved)")
    return plan


def _greedy(inst: Any, spec: Any, seed: int = 0, options: SolveOptions | None = None
            ) -> SizingPlan | HeuristicNote:
    return greedy_capacity(inst, spec, seed=seed, options=options)


register_heuristic(SizingSpec, "greedy_capacity", _greedy)

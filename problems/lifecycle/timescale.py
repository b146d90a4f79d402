r"""Two timescales: fine-tuning and placement per epoch (slow), routing per demand slot (fast).

An instance with T demand slots ``demand_rps[t]`` describes one epoch. Two exact methods:

* **single stage** (the registered builder, any MILP backend): choose the fine-tuning option,
  trainer and hosts together with every slot's routing, minimising

  .. math:: J = J_{place}(z, x, d) + \sum_t J_t(a_t, r_t),

  where slot t's routing terms are weighted ``window / T`` (slot t lasts ``window / T``);
* **rolling** (:func:`rolling`, registered as the algorithm ``"rolling"``): the slow decision
  is made on the epoch's mean demand ``bar d = (1/T) sum_t d_t`` (the single-slot MILP, solved
  exactly), then each slot's routing is an LP with the placement fixed (solved exactly), i.e. the
  placement cannot anticipate the peaks.

The rolling solution is feasible for the single-stage problem, so ``J_single <= J_rolling``
(tested). With a ``reject_penalty`` every slot LP is feasible whatever the placement; without it
a slot whose demand the mean-demand placement cannot carry makes the rolling method infeasible
(reported as a status).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions, get_backend
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm, solve

from .data import LifecycleAllocation, LifecycleInstance, LifecycleSpec
from .milp import Placement, assemble

logger = logging.getLogger(__name__)

_PLACE_BLOCKS = ("train", "model", "host", "deliver_size", "deliver")


def _routing_cost_row(lp: Any) -> tuple[int, np.ndarray, np.ndarray]:
    """The cost-budget row of a slot LP: its index, its coefficients (dense, problem units)
    and the mask of the routing columns (every block but the fixed placement's)."""
    routing = np.ones(lp.n_cols, dtype=bool)
    for b in lp.blocks:
        routing[b.start:b.start + b.size] &= b.name not in _PLACE_BLOCKS
    r0 = int(lp.meta["row_groups"]["cost_budget"][0])
    return r0, lp.A.getrow(r0).toarray()[0], routing


def _with_budget(lp: Any, r0: int, budget: float) -> Any:
    """``lp`` with the right-hand side of its cost-budget row ``r0`` set to ``budget``."""
    upper = lp.row_upper.copy()
    upper[r0] = budget
    return replace(lp, row_upper=upper)


def rolling(inst: LifecycleInstance, spec: LifecycleSpec, options: SolveOptions | None = None
            ) -> Result:
    """Placement on the epoch's mean demand (MILP), then one routing LP per slot.

    Returns a Result whose ``objective`` is ``J_place + sum_t J_t`` computed from the solved
    programs (the evaluator recomputes it from the allocation), ``bound`` NaN (rolling is not
    optimal for the epoch), and ``termination`` feasible; the placement stage's status when it
    fails (mean demand infeasible proves the epoch infeasible: average the slots' routings),
    ``error`` when a slot finds no routing under the fixed placement (that proves nothing).
    """
    opts = options or SolveOptions(mip_gap=1e-9)
    t0 = time.perf_counter()
    T = inst.shape["T"]
    mean = inst.replace(demand_rps=inst.demand_rps.mean(axis=0, keepdims=True))
    first = solve(mean, spec, "highs", options=opts)
    if not first.has_solution:
        # its explanation names rows of the one-slot mean-demand surrogate, not of this
        # instance's program: dropped, so run_method explains spec.build(inst) itself
        return replace(first, explanation=None, message=f"placement stage: {first.message}")
    alloc0: LifecycleAllocation = first.allocation
    fix = Placement(alloc0.option, alloc0.train_node, alloc0.host)
    be = get_backend("highs")
    route = np.zeros(inst.demand_rps.shape + (inst.shape["N"],))
    reject = np.zeros(inst.demand_rps.shape)
    place_obj = math.nan
    total = 0.0
    budgeted = math.isfinite(spec.cost_budget)
    lps = [assemble(inst, spec, slots=[t], fix=fix) for t in range(T)]
    # each slot LP holds the fixed placement's cost in its budget row; slot t may spend what
    # the earlier slots left minus the least routing cost of every later slot (each slot had
    # the whole budget, so T slots could spend T times it: 'unverified', violated by 2; and
    # a greedy early slot could leave a later one none: a false 'infeasible'). The least
    # cost is an LP with the row's routing part as objective and the row itself free.
    least = [0.0] * T
    rows = [_routing_cost_row(lp) for lp in lps] if budgeted else []
    if budgeted:
        for t, (lp, (r0, row, routing)) in enumerate(zip(lps, rows, strict=True)):
            res = be.solve(replace(_with_budget(lp, r0, math.inf),
                                   c=np.where(routing, row, 0.0), offset=0.0), opts)
            least[t] = max(float(res.objective), 0.0) if res.has_solution else 0.0
    spent = 0.0  # cost budget used by the earlier slots' routing
    for t in range(T):  # one routing LP per slot (the fast timescale)
        lp = lps[t]
        if budgeted:
            r0, row, routing = rows[t]
            lp = _with_budget(lp, r0, max(spec.cost_budget - spent - sum(least[t + 1:]), 0.0))
        res = be.solve(lp, opts)
        if not res.has_solution:
            # the placement stage proved nothing about this: the single-stage MILP decides
            term = Termination.ERROR if res.termination in (
                Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED) else res.termination
            return Result(term, False, message=f"slot {t} routing with the fixed placement: "
                          f"{res.message}",
                          stats=SolveStats(backend="rolling",
                                           solve_seconds=time.perf_counter() - t0))
        x = np.asarray(res.values["x"])
        place = sum(float(lp.c[b.start:b.start + b.size] @ x[b.start:b.start + b.size])
                    for b in lp.blocks if b.name in _PLACE_BLOCKS)
        if budgeted:
            spent += float(row[routing] @ x[routing])
        place_obj = place if t == 0 else place_obj
        total += res.objective - place
        a = spec.decode(inst, lp, res.values)
        route[t] = a.route[t]
        reject[t] = a.reject[t]
    alloc = LifecycleAllocation(option=fix.option, train_node=fix.train_node, host=fix.host,
                                route=route, reject=reject)
    obj = place_obj + total
    return Result(Termination.FEASIBLE, True, objective=obj, bound=math.nan, gap=math.nan,
                  allocation=alloc,
                  stats=SolveStats(backend="rolling", solve_seconds=time.perf_counter() - t0),
                  message="rolling: placement on mean demand, exact per-slot routing LPs")


def compare(inst: LifecycleInstance, spec: LifecycleSpec, options: SolveOptions | None = None
            ) -> dict[str, Any]:
    """Single-stage optimum vs rolling on one epoch: objectives, their ratio and times."""
    opts = options or SolveOptions(mip_gap=1e-9)
    single = solve(inst, spec, "highs", options=opts)
    roll = rolling(inst, spec, opts)
    return {
        "single_stage": single.objective,
        "rolling": roll.objective,
        "single_status": single.termination.value,
        "rolling_status": roll.termination.value,
        "regret": roll.objective - single.objective,
        "single_seconds": single.stats.build_seconds + single.stats.solve_seconds,
        "rolling_seconds": roll.stats.solve_seconds,
        "single": single,
        "rolling_result": roll,
    }


register_algorithm(LifecycleSpec, "rolling", rolling)

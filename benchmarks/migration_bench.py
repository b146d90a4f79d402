"""AIGC service migration with mobility, and AGOD provider selection: online vs offline.

Tables:

1. V sweep of the Lyapunov controller: time-average performance cost, migration energy per
   slot, final virtual queue Z_T / T, and time per slot (one exact per-slot MILP each; cold =
   ``aigc_opt.solve`` per slot, warm = one HiGHS model with changed costs).
2. Every online controller vs the perfect-foresight offline MILP (HiGHS, time-limited; its gap
   is printed; MIP start from the best budget-feasible controller). ``excess`` = controller
   cost - offline cost (costs can be negative, so no ratio); ``excess_own`` = controller cost -
   proven lower bound of the offline problem with the budget set to the controller's own
   realised migration energy (always >= 0: the controller is feasible there; round-off can
   leave ~1e-15 either side of 0, so ``excess`` and ``excess_own`` within :data:`ZERO_TOL`
   of 0 are printed as 0).
3. AGOD heuristics vs the offline crash-free MILP on full AGOD episodes (20 providers,
   ~1000 tasks): utility, crashes, ratio to the offline incumbent and to its proven bound.

Usage::

    python benchmarks/migration_bench.py                      # defaults, a few minutes
    python benchmarks/migration_bench.py --users 6 --slots 12 --agod-time 20000 --quick
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from typing import Any

import aigc_opt as ao
from aigc_opt.problems import migration as mg

#: Differences of costs printed as 0 when closer to 0 than this (round-off, not a sign).
ZERO_TOL = 1e-9
#: Cost differences whose round-off around 0 prints as 0 (``excess_own`` is >= 0 up to it).
NONNEGATIVE = ("excess", "excess_own")


def shown(key: str, v: Any) -> Any:
    """The value printed for column ``key``: round-off around 0 in :data:`NONNEGATIVE` columns
    (``|v| < ZERO_TOL``) shows as 0.0; anything else unchanged."""
    if key in NONNEGATIVE and isinstance(v, float) and abs(v) < ZERO_TOL:
        return 0.0
    return v


def _table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n== {title}")
    if not rows:
        return
    keys = list(rows[0])
    cells = [{k: _fmt(shown(k, r[k])) for k in keys} for r in rows]
    width = {k: max(len(k), *(len(c[k]) for c in cells)) for k in keys}
    print("  ".join(k.rjust(width[k]) for k in keys))
    for c in cells:
        print("  ".join(c[k].rjust(width[k]) for k in keys))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def v_sweep(inst: mg.MigrationInstance, budget: float, vs: list[float]) -> list[dict[str, Any]]:
    """Lyapunov controller for each V (cold: one :func:`aigc_opt.solve` per slot; warm: one
    HiGHS model whose costs change per slot)."""
    rows = []
    for v in vs:
        spec = mg.MigrationSpec(budget_j=budget, v=v, budget_hard=False)
        out: dict[str, Any] = {"V": v}
        for warm in (False, True):
            ctl = mg.Lyapunov(spec.slot_backend, warm=warm)
            t0 = time.perf_counter()
            alloc = mg.run_online(inst, spec, ctl)
            sec = time.perf_counter() - t0
            met = ao.evaluate(inst, alloc, spec)
            if not warm:
                out.update({"cost_avg": met.objective,
                            "migration_j": met.totals["migration_avg_j"], "budget_j": budget,
                            "Z_T/T": met.totals["queue_final_j"] / inst.n_slots,
                            "identity_ok": met.violations["budget_identity"] <= 1e-12,
                            "cold_ms_per_slot": 1e3 * sec / inst.n_slots})
            else:
                out["warm_ms_per_slot"] = 1e3 * sec / inst.n_slots
                out["warm_cost_avg"] = met.objective
        rows.append(out)
    return rows


def controllers_vs_offline(inst: mg.MigrationInstance, budget: float, v: float, *,
                           time_limit: float, seed: int) -> list[dict[str, Any]]:
    """Every controller and the offline MILP on one trajectory."""
    spec = mg.MigrationSpec(budget_j=budget, v=v, budget_hard=False)
    t0 = time.perf_counter()
    off = mg.solve_offline(inst, replace(spec, budget_hard=True), time_limit=time_limit,
                           start=True)
    off_s = time.perf_counter() - t0
    rows = [{"seed": seed, "method": "offline", "cost_avg": off.objective,
             "migration_j": ao.evaluate(inst, off.allocation, spec).totals["migration_avg_j"]
             if off.has_solution else math.nan,
             "excess": 0.0, "excess_own": 0.0, "offline_gap": off.gap,
             "ms_per_slot": 1e3 * off_s / inst.n_slots}]
    for name in mg.CONTROLLERS:
        t0 = time.perf_counter()
        res = ao.run_heuristic(inst, spec, name)
        sec = time.perf_counter() - t0
        met = ao.evaluate(inst, res.allocation, spec)
        e = met.totals["migration_avg_j"]
        own = mg.solve_offline(inst, replace(spec, budget_j=e * (1 + 1e-9) + 1e-9,
                                             budget_hard=True), time_limit=time_limit,
                               start=True)
        rows.append({"seed": seed, "method": name, "cost_avg": met.objective, "migration_j": e,
                     "excess": met.objective - off.objective,
                     "excess_own": met.objective - own.bound, "offline_gap": own.gap,
                     "ms_per_slot": 1e3 * sec / inst.n_slots})
    return rows


def agod(seeds: list[int], total_time: float, time_limit: float) -> list[dict[str, Any]]:
    """AGOD heuristics vs the offline MILP, per episode."""
    rows = []
    spec = mg.AgodSpec()
    for seed in seeds:
        inst = mg.AgodInstance.generate(seed, total_time=total_time)
        t0 = time.perf_counter()
        off = ao.run_method(inst, spec, "offline_milp",
                            options=ao.SolveOptions(time_limit=time_limit, mip_gap=1e-6))
        off_s = time.perf_counter() - t0
        opt = off.objective if off.has_solution else math.nan
        rows.append({"seed": seed, "tasks": inst.n_tasks, "method": "offline_milp",
                     "utility": opt, "crashes": 0, "ratio": 1.0,
                     "ratio_to_bound": opt / off.bound if off.has_solution else math.nan,
                     "seconds": off_s, "status": off.termination.value})
        for name in mg.AGOD_HEURISTICS:
            t0 = time.perf_counter()
            res = ao.run_heuristic(inst, spec, name, seed=seed)
            sec = time.perf_counter() - t0
            met = ao.evaluate(inst, res.allocation, spec)
            rows.append({"seed": seed, "tasks": inst.n_tasks, "method": name,
                         "utility": met.objective, "crashes": int(met.totals["crashes"]),
                         "ratio": met.objective / opt, "ratio_to_bound": met.objective / off.bound,
                         "seconds": sec, "status": res.termination.value})
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the three tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--servers", type=int, default=9)
    ap.add_argument("--slots", type=int, default=24)
    ap.add_argument("--sweep-slots", type=int, default=200, help="horizon of the V sweep")
    ap.add_argument("--budget", type=float, default=2.0, help="J per slot")
    ap.add_argument("--v", type=float, nargs="+", default=[0.1, 1.0, 10.0, 100.0, 1000.0])
    ap.add_argument("--v-compare", type=float, default=10.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--agod-time", type=float, default=1e6,
                    help="AGOD episode length (1e6 = AGOD's, ~1000 tasks)")
    ap.add_argument("--agod-limit", type=float, default=120.0)
    ap.add_argument("--quick", action="store_true", help="one seed everywhere")
    a = ap.parse_args(argv)
    seeds = a.seeds[:1] if a.quick else a.seeds
    inst = mg.generate(a.users, a.servers, a.sweep_slots, seed=seeds[0], load=0.7)
    _table(f"Lyapunov V sweep (U={a.users}, S={a.servers}, T={a.sweep_slots}, "
           f"budget {a.budget} J)",
           v_sweep(inst, a.budget, a.v))
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        inst = mg.generate(a.users, a.servers, a.slots, seed=seed, load=0.7)
        rows += controllers_vs_offline(inst, a.budget, a.v_compare, time_limit=a.time_limit,
                                       seed=seed)
    _table(f"controllers vs offline optimum (V={a.v_compare})", rows)
    _table(f"AGOD heuristics vs offline MILP (episode length {a.agod_time:g})",
           agod(seeds, a.agod_time, a.agod_limit))


if __name__ == "__main__":
    main()

"""Model caching over time: online policies vs the offline (clairvoyant) MILP.

For each size (servers x models x slots) it generates a seeded Zipf-with-drift trace, runs every
online policy (time per slot = policy wall time / slots), scores all of them with the same
evaluator, then solves the offline MILP with HiGHS under a time limit, started from the best
policy's allocation (a MIP start; the MILP then returns at least that good a solution and
HiGHS's proven bound). A second lower bound comes from :func:`slot_bound` (slots solved
apart with free loads and best-case context). Each policy's ``ratio`` is its cost / the offline
incumbent; when the MILP does not close, ``ratio_vs_bound`` (its cost / the best proven lower
bound) is an upper bound on the true ratio to the optimum, and ``ratio`` a lower one.

Usage::

    python -m aigc_opt.benchmarks.caching_bench --servers 10 --models 10 50 200 --slots 100
    python benchmarks/caching_bench.py --models 10 --slots 20 --time-limit 60 --csv out.csv
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from typing import Any

import aigc_opt as ao
from aigc_opt.problems.caching import (
    POLICIES,
    CachingInstance,
    CachingObjective,
    CachingSpec,
    RollingHorizon,
    slot_bound,
    solve_offline,
)


def run_size(S: int, M: int, T: int, *, seed: int, time_limit: float, window: int,
             slot_limit: float, slot_gap: float, dense_max: int,
             rate: float) -> list[dict[str, Any]]:
    """All rows (one per method) for one size."""
    inst = CachingInstance.generate(S, M, T, seed=seed, rate=rate)
    obj = CachingObjective()
    spec = CachingSpec(objective=obj)
    rows: list[dict[str, Any]] = []
    allocs: dict[str, Any] = {}
    dense = S * M * window <= dense_max
    runners: dict[str, Any] = {k: v for k, v in POLICIES.items()
                               if not k.startswith("rolling")}
    for name, forecast in (("rolling_horizon", "oracle"), ("rolling_forecast", "ewma")):
        runners[name] = (lambda f: lambda i, sp: RollingHorizon(
            window=window, forecast=f, warm=dense, sparse=not dense, mip_gap=slot_gap,
            time_limit=slot_limit).run(i, sp.objective))(forecast)
    if dense:  # the same policy rebuilt every slot, to measure what the warm object saves
        runners["rolling_horizon_cold"] = lambda i, sp: RollingHorizon(
            window=window, forecast="oracle", warm=False, mip_gap=slot_gap,
            time_limit=slot_limit).run(i, sp.objective)
    for name, fn in runners.items():
        t0 = time.perf_counter()
        alloc = fn(inst, spec)
        sec = time.perf_counter() - t0
        met = ao.evaluate(inst, alloc, spec)
        allocs[name] = alloc
        rows.append({"servers": S, "models": M, "slots": T, "method": name,
                     "cost": met.objective, "ms_per_slot": 1e3 * sec / T,
                     "hit_ratio": met.totals["hit_ratio"], "edge_ratio": met.totals["edge_ratio"],
                     "loads": met.totals["loads"], "accuracy": met.totals["accuracy_mean"],
                     "mem_viol": met.violations["gpu_memory"], "feasible": met.feasible})
    best = min(rows, key=lambda r: r["cost"])
    t0 = time.perf_counter()
    res = solve_offline(inst, spec, ao.SolveOptions(time_limit=time_limit, mip_gap=1e-4),
                        start=allocs[best["method"]])
    sec = time.perf_counter() - t0
    met = ao.evaluate(inst, res.allocation, spec)
    rows.append({"servers": S, "models": M, "slots": T, "method": "offline_milp",
                 "cost": met.objective, "ms_per_slot": math.nan, "hit_ratio":
                 met.totals["hit_ratio"], "edge_ratio": met.totals["edge_ratio"],
                 "loads": met.totals["loads"], "accuracy": met.totals["accuracy_mean"],
                 "mem_viol": met.violations["gpu_memory"], "feasible": met.feasible,
                 "solve_s": sec, "status": res.termination.value, "bound": res.bound,
                 "gap": res.gap, "start": best["method"],
                 "milp_vs_eval": abs(met.objective - res.objective) / max(1.0, abs(met.objective))})
    t0 = time.perf_counter()
    sb, closed = slot_bound(inst, spec, ao.SolveOptions(mip_gap=1e-4, time_limit=slot_limit))
    rows[-1].update({"slot_bound": sb, "slot_bound_closed": closed,
                     "slot_bound_s": time.perf_counter() - t0})
    ref, bound = met.objective, max(res.bound, sb)
    rows[-1]["best_bound"] = bound
    for r in rows:
        r["ratio"] = r["cost"] / ref
        r["ratio_vs_bound"] = r["cost"] / bound if bound > 0 else math.nan
    return rows


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, default=10)
    ap.add_argument("--models", type=int, nargs="+", default=[10, 50, 200])
    ap.add_argument("--slots", type=int, default=100)
    ap.add_argument("--rate", type=float, default=30.0, help="requests per server per slot")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=300.0, help="offline MILP limit, s")
    ap.add_argument("--window", type=int, default=3, help="rolling-horizon look-ahead, slots")
    ap.add_argument("--slot-limit", type=float, default=10.0, help="per-window MILP limit, s")
    ap.add_argument("--slot-gap", type=float, default=1e-2, help="per-window MILP gap")
    ap.add_argument("--dense-max", type=int, default=1000,
                    help="use the warm dense window model when S*M*window <= this")
    ap.add_argument("--csv", type=str, default=None)
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for M in args.models:
        rows += run_size(args.servers, M, args.slots, seed=args.seed,
                         time_limit=args.time_limit, window=args.window,
                         slot_limit=args.slot_limit, slot_gap=args.slot_gap,
                         dense_max=args.dense_max, rate=args.rate)
        _print(rows, M)
    if args.csv:
        keys = sorted({k for r in rows for k in r})
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)


def _print(rows: list[dict[str, Any]], M: int) -> None:
    rows = [r for r in rows if r["models"] == M]
    off = rows[-1]
    print(f"\n{off['servers']} servers x {M} models x {off['slots']} slots: offline MILP "
          f"{off['status']} in {off['solve_s']:.1f} s, cost {off['cost']:.1f}, bound "
          f"{off['bound']:.1f}, gap {off['gap']:.2%} (MIP start: {off['start']}; "
          f"|MILP - evaluator| rel {off['milp_vs_eval']:.1e})")
    print(f"lower bounds: MILP {off['bound']:.1f}, slot decomposition {off['slot_bound']:.1f} "
          f"({'closed' if off['slot_bound_closed'] else 'not closed'}, "
          f"{off['slot_bound_s']:.1f} s); offline optimum within "
          f"[{off['best_bound']:.1f}, {off['cost']:.1f}]")
    print(f"{'method':22s} {'cost':>11s} {'ratio':>7s} {'r/bound':>8s} {'ms/slot':>9s} "
          f"{'hit':>6s} {'edge':>6s} {'loads':>6s} {'acc':>6s} {'memviol':>7s}")
    for r in rows:
        print(f"{r['method']:22s} {r['cost']:11.1f} {r['ratio']:7.3f} "
              f"{r['ratio_vs_bound']:8.3f} {r['ms_per_slot']:9.2f} {r['hit_ratio']:6.3f} "
              f"{r['edge_ratio']:6.3f} {r['loads']:6.0f} {r['accuracy']:6.3f} "
              f"{r['mem_viol']:7.1g}")


if __name__ == "__main__":
    main()

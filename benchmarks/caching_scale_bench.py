"""Caching at scale: certified bounds from the decomposition methods vs the offline MILP.

For each size (servers x models x slots) it generates the seeded Zipf-with-drift trace of
:mod:`.caching_bench`, runs the registered decomposition methods (``relax_memory``: memory
rows dualised, exact per-model subproblems, repaired primal with pair moves and model LNS;
``colgen``: column generation + decomposition bound + price-and-branch; ``lagrangian``:
subgradient on the decomposition bound + repair) through :func:`aigc_opt.run_method` (so
every primal is checked by the evaluator), and optionally the offline MILP (HiGHS, started
from the best primal found) under the same time limit, whose allocation is then checked by
the same evaluator (:func:`aigc_opt.verify.verify`, HiGHS's 1e-6 tolerances), so that its
``verified`` is the referee's verdict too. Each row reports objective, bound,
gap = (UB - LB) / UB, wall and CPU time (the machine may be shared: CPU below wall means the
process waited) and, for ``colgen``, the restricted master's LP value (``inf`` when no
master LP finished). Printed gaps within 1e-12 of zero show as 0.00 % (round-off can make
UB - LB a tiny negative number); the CSV keeps the computed values.

Usage::

    python -m aigc_opt.benchmarks.caching_scale_bench --size 10 50 100 --time-limit 120
    python -m aigc_opt.benchmarks.caching_scale_bench --size 10 50 100 --methods relax_memory \
        --threads 2
    python benchmarks/caching_scale_bench.py --size 20 100 200 --time-limit 600 --milp
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from typing import Any

import aigc_opt as ao
from aigc_opt.problems.caching import CachingInstance, CachingSpec, solve_offline
from aigc_opt.verify import verify

#: Gaps closer to zero than this are printed as 0 (round-off, e.g. -1.4e-16, not a sign).
GAP_ZERO = 1e-12


def shown_gap(gap: float, tol: float = GAP_ZERO) -> float:
    """``gap`` for display: 0.0 when ``|gap| < tol`` (no "-0.00%"), else unchanged (NaN too)."""
    return 0.0 if abs(gap) < tol else gap


def run_size(S: int, M: int, T: int, *, seed: int, time_limit: float, methods: list[str],
             milp: bool, rate: float, threads: int | None = None) -> list[dict[str, Any]]:
    """One row per method for one size."""
    inst = CachingInstance.generate(S, M, T, seed=seed, rate=rate)
    spec = CachingSpec()
    rows: list[dict[str, Any]] = []
    best: Any = None
    for name in methods:
        t0, c0 = time.perf_counter(), time.process_time()
        res = ao.run_method(inst, spec, name,
                            options=ao.SolveOptions(time_limit=time_limit, mip_gap=1e-3,
                                                    threads=threads))
        sec = time.perf_counter() - t0
        rows.append({"servers": S, "models": M, "slots": T, "method": name,
                     "threads": threads or 1,
                     "objective": res.objective, "bound": res.bound, "gap": res.gap,
                     "seconds": sec, "cpu_seconds": time.process_time() - c0,
                     "status": res.termination.value,
                     "verified": res.verified, "eval_objective": res.eval_objective,
                     "iterations": res.stats.iterations,
                     "master_lp": res.stats.extra.get("master_lp", math.nan)})
        if res.has_solution and (best is None or res.objective < best.objective):
            best = res
    if milp:
        t0, c0 = time.perf_counter(), time.process_time()
        res = solve_offline(inst, spec, ao.SolveOptions(time_limit=time_limit, mip_gap=1e-3),
                            start=None if best is None else best.allocation)
        res = verify(inst, spec, res)  # the referee's check, as run_method does for the others
        sec = time.perf_counter() - t0
        rows.append({"servers": S, "models": M, "slots": T, "method": "offline_milp",
                     "threads": 1,
                     "objective": res.objective, "bound": res.bound, "gap": res.gap,
                     "seconds": sec, "cpu_seconds": time.process_time() - c0,
                     "status": res.termination.value, "verified": res.verified,
                     "eval_objective": res.eval_objective, "iterations": res.stats.iterations,
                     "master_lp": math.nan})
    lb = max(r["bound"] for r in rows if not math.isnan(r["bound"]))
    ub = min(r["objective"] for r in rows if not math.isnan(r["objective"]))
    for r in rows:
        r["best_bound"], r["best_objective"] = lb, ub
        r["combined_gap"] = (ub - lb) / max(1.0, abs(ub))
    return rows


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=3, action="append", metavar=("S", "M", "T"),
                    help="servers models slots (repeatable; default 10 50 100)")
    ap.add_argument("--methods", nargs="+", default=["relax_memory", "colgen"],
                    help="registered methods to run (relax_memory, colgen, lagrangian)")
    ap.add_argument("--time-limit", type=float, default=120.0, help="per method, s")
    ap.add_argument("--milp", action="store_true", help="also run the offline MILP")
    ap.add_argument("--rate", type=float, default=30.0, help="requests per server per slot")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="SolveOptions.threads for the methods (relax_memory: per-model "
                         "solves and window moves that many at a time; default 1)")
    ap.add_argument("--csv", type=str, default=None)
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for S, M, T in args.size or [[10, 50, 100]]:
        new = run_size(S, M, T, seed=args.seed, time_limit=args.time_limit,
                       methods=args.methods, milp=args.milp, rate=args.rate,
                       threads=args.threads)
        rows += new
        print(f"\n{S} servers x {M} models x {T} slots (seed {args.seed}, limit "
              f"{args.time_limit:g} s, {args.threads or 1} thread(s)): optimum within "
              f"[{new[0]['best_bound']:.1f}, {new[0]['best_objective']:.1f}], "
              f"gap {shown_gap(new[0]['combined_gap']):.2%}")
        print(f"{'method':14s} {'objective':>11s} {'bound':>11s} {'gap':>8s} {'s':>7s} "
              f"{'cpu s':>7s} {'status':>9s} {'verified':>8s} {'master LP':>11s}")
        for r in new:
            print(f"{r['method']:14s} {r['objective']:11.1f} {r['bound']:11.1f} "
                  f"{shown_gap(r['gap']):8.2%} {r['seconds']:7.1f} {r['cpu_seconds']:7.1f} "
                  f"{r['status']:>9s} {r['verified']!s:>8s} {r['master_lp']:11.1f}")
    if args.csv:
        keys = sorted({k for r in rows for k in r})
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()

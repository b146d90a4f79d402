"""AIGC life-cycle MILP: time to optimality (or gap at a time limit) and the baselines' ratios.

What scales: the number of demand flows, (service, region) pairs, = S x U with U = 10 regions
(10 aggregated device nodes), 4 edge servers and 1 cloud (15 nodes), 3 base models x 4
fine-tuning modes = 12 options: ``--flows 100 1000 10000`` gives S = 10, 100, 1000 services.
Each flow carries 0.05-0.5 requests/s over a 6 h window (the seeded ``generate`` profile), so the
largest size routes ~1.7e7 requests per window.

For each size it records the program's size and build time, then HiGHS on the MILP without
(``milp_highs``, sizes up to ``--cold-max``) and with a MIP start from the better baseline
(``milp_highs_warm``, :func:`~aigc_opt.problems.lifecycle.solve_warm`): time, status,
objective, proven bound and gap; and each baseline (``all_cloud``, ``edge_greedy``, and
``no_finetune`` = the MILP restricted to mode none, same time limit): time, feasibility and
``ratio`` = objective / best MILP incumbent (objectives are >= 0: quality enters as a loss);
``ratio_vs_bound`` = objective / best proven bound bounds the ratio to the optimum from above.
The best bound is the larger of HiGHS's dual bound and the Lagrangian bound of
:func:`~aigc_opt.problems.lifecycle.lagrangian_bound` (capacity rows priced, a few seconds even
at 10,000 flows, where HiGHS does not finish its root LP within the time limit).

Usage::

    python -m aigc_opt.benchmarks.lifecycle_bench --flows 100 1000 10000 --time-limit 120
    python benchmarks/lifecycle_bench.py --flows 100 --csv out.csv
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import replace
from typing import Any

import aigc_opt as ao
from aigc_opt.problems.lifecycle import (
    LifecycleInstance,
    LifecycleSpec,
    all_cloud,
    edge_greedy,
    lagrangian_bound,
    solve_warm,
)

REGIONS = 10
EDGES = 4


def _row(base: dict[str, Any], method: str, res: ao.Result | None, met: ao.Metrics | None,
         seconds: float, status: str) -> dict[str, Any]:
    row = {**base, "method": method, "status": status, "solve_s": seconds,
           "bound": res.bound if res is not None else math.nan,
           "gap": res.gap if res is not None else math.nan, "feasible": False,
           "objective": math.nan, "quality_mean": math.nan, "fine_tuned": math.nan,
           "cost": math.nan}
    if met is not None:
        row.update(objective=met.objective, feasible=met.feasible,
                   quality_mean=met.totals["quality_mean"], fine_tuned=met.totals["fine_tuned"],
                   cost=met.totals["cost"])
    return row


def run_size(flows: int, *, seed: int, time_limit: float, mip_gap: float,
             cold_max: int) -> list[dict[str, Any]]:
    """Rows (MILP runs first, then baselines) for one size; ``ratio`` is relative to the best
    MILP incumbent and ``ratio_vs_bound`` to the best proven bound."""
    S = max(1, flows // REGIONS)
    t0 = time.perf_counter()
    inst = LifecycleInstance.generate(S, REGIONS, EDGES, seed=seed)
    gen_s = time.perf_counter() - t0
    spec = LifecycleSpec()
    opts = ao.SolveOptions(time_limit=time_limit, mip_gap=mip_gap)
    t0 = time.perf_counter()
    lp = spec.build(inst)
    build_s = time.perf_counter() - t0
    base = {"flows": S * REGIONS, "services": S, "regions": REGIONS, "nodes": inst.shape["N"],
            "cols": lp.n_cols, "rows": lp.n_rows, "nnz": lp.A.nnz, "gen_s": gen_s,
            "build_s": build_s}
    rows: list[dict[str, Any]] = []
    runs: list[tuple[str, Any]] = []
    if S * REGIONS <= cold_max:
        runs.append(("milp_highs", lambda: ao.solve(inst, spec, "highs", options=opts)))
    runs.append(("milp_highs_warm", lambda: solve_warm(inst, spec, opts)))
    runs.append(("no_finetune", lambda: ao.solve(inst, replace(spec, modes=("none",)), "highs",
                                                 options=opts)))
    for name, fn in runs:
        t0 = time.perf_counter()
        res = fn()
        sec = time.perf_counter() - t0
        met = ao.evaluate(inst, res.allocation, spec) if res.has_solution else None
        rows.append(_row(base, name, res, met, sec, res.termination.value))
    for name, heur in (("all_cloud", all_cloud), ("edge_greedy", edge_greedy)):
        t0 = time.perf_counter()
        alloc = heur(inst, spec)
        sec = time.perf_counter() - t0
        met = ao.evaluate(inst, alloc, spec)
        rows.append(_row(base, name, None, met, sec,
                         "feasible" if met.feasible else "violated"))
    milp = [r for r in rows if r["method"].startswith("milp") and r["feasible"]]
    best = min((r["objective"] for r in milp), default=math.nan)
    t0 = time.perf_counter()
    upper = min(r["objective"] for r in rows if r["feasible"])
    lag, _ = lagrangian_bound(inst, spec, upper=upper)
    rows.append({**base, "method": "lagrangian_bound", "status": "bound",
                 "solve_s": time.perf_counter() - t0, "bound": lag, "objective": math.nan,
                 "feasible": False})
    bound = max([lag] + [r["bound"] for r in milp if math.isfinite(r["bound"])])
    for r in rows:
        r["best_bound"] = bound
        r["gap_vs_best_bound"] = (r["objective"] - bound) / r["objective"]
    for r in rows:
        r["ratio"] = r["objective"] / best
        r["ratio_vs_bound"] = r["objective"] / bound if bound > 0 else math.nan
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the sizes given on the command line; print a table, optionally write a CSV."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--mip-gap", type=float, default=1e-4)
    ap.add_argument("--cold-max", type=int, default=1000,
                    help="largest size also solved without a MIP start")
    ap.add_argument("--csv", default=None)
    args = ap.parse_args(argv)
    cols = ["flows", "method", "status", "cols", "nnz", "build_s", "solve_s", "objective",
            "bound", "gap", "ratio", "ratio_vs_bound", "quality_mean", "fine_tuned", "feasible"]
    print(" | ".join(cols), flush=True)  # noqa: T201 (a script)
    rows: list[dict[str, Any]] = []
    for flows in args.flows:
        new = run_size(flows, seed=args.seed, time_limit=args.time_limit,
                       mip_gap=args.mip_gap, cold_max=args.cold_max)
        for r in new:
            print(" | ".join(_fmt(r.get(c, "")) for c in cols), flush=True)  # noqa: T201
        rows += new
    if args.csv:
        keys = sorted({k for r in rows for k in r})
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


if __name__ == "__main__":
    main()

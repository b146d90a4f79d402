"""Build and solve time of the diffusion-step MILP (edge-only and hybrid) against N and K.

Run either way::

    python -m aigc_opt.benchmarks.allocation_steps_bench --sizes 100 1000 10000 --levels 10 50
    python benchmarks/allocation_steps_bench.py --csv steps.csv

Instances: :func:`aigc_opt.problems.allocation.steps_scenario` with ``N / users_per_server``
servers (``edge_aigc`` profile for ``steps``, ``hybrid_icc2025`` for ``hybrid``), candidate step
counts ``1..K``. Methods: ``highs`` (the monolithic MILP, built once and handed to HiGHS) and
``highs_per_server`` (the exact decomposition into one MILP per server). Each row records
build, solve (HiGHS) and evaluate seconds separately, the status, objective, proven gap, the
program size and how far the evaluator's objective is from the solver's.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import platform
import time
from typing import Any

import numpy as np

import aigc_opt as ao
from aigc_opt.problems.allocation import (
    DEFAULT_OBJECTIVE,
    HybridStepsSpec,
    StepsSpec,
    steps_scenario,
)


def run_one(n: int, k: int, variant: str, *, users_per_server: int, seed: int,
            time_limit: float, mip_gap: float | None, method: str = "highs",
            deadline: str = "hard") -> dict[str, Any]:
    """Generate, build, solve and evaluate one instance; return a flat row."""
    n_servers = max(1, math.ceil(n / users_per_server))
    profile = "hybrid_icc2025" if variant == "hybrid" else "edge_aigc"
    t0 = time.perf_counter()
    scn = steps_scenario(n, n_servers, 3, seed=seed, profile=profile)
    gen_s = time.perf_counter() - t0
    obj = dataclasses.replace(DEFAULT_OBJECTIVE, deadline=deadline)
    spec: StepsSpec = (HybridStepsSpec(max_steps=k, objective=obj) if variant == "hybrid"
                       else StepsSpec(max_steps=k, objective=obj))
    opts = ao.SolveOptions(time_limit=time_limit, mip_gap=mip_gap)
    t0 = time.perf_counter()
    program = spec.build(scn)
    build_s = time.perf_counter() - t0
    if method == "highs":
        t0 = time.perf_counter()
        res = ao.get_backend("highs").solve(program, opts)
        solve_s = time.perf_counter() - t0
    else:  # an algorithm (e.g. highs_per_server): it builds its own blocks
        t0 = time.perf_counter()
        res = ao.run_method(scn, spec, method, options=opts)
        build_s = res.stats.build_seconds
        solve_s = time.perf_counter() - t0 - build_s
    row: dict[str, Any] = {
        "variant": variant, "method": method, "deadline": deadline, "n_users": n,
        "n_servers": n_servers, "levels": k, "n_cols": program.n_cols, "n_rows": program.n_rows,
        "nnz": int(program.A.nnz),
        "generate_s": gen_s, "build_s": build_s, "solve_s": solve_s,
        "termination": res.termination.value, "objective": res.objective, "gap": res.gap,
        "nodes": res.stats.nodes, "evaluate_s": math.nan, "eval_rel_diff": math.nan,
        "python": platform.python_version(),
    }
    if res.has_solution:
        alloc = res.allocation if res.allocation is not None else spec.decode(
            scn, program, res.values)
        t0 = time.perf_counter()
        met = ao.evaluate(scn, alloc, spec)
        row["evaluate_s"] = time.perf_counter() - t0
        row["eval_rel_diff"] = abs(met.objective - res.objective) / max(1.0, abs(res.objective))
        row["feasible"] = met.feasible
        row["steps_mean"] = float(alloc.steps.mean())
        row["device_steps_mean"] = float(alloc.device_steps.mean())
    return row


COLUMNS = ("variant", "method", "deadline", "n_users", "levels", "n_cols", "nnz", "build_s",
           "solve_s", "evaluate_s", "termination", "gap", "objective", "eval_rel_diff",
           "steps_mean", "device_steps_mean")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Parse arguments, run the grid, print a table and optionally write a CSV."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--levels", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--variants", nargs="+", default=["steps", "hybrid"],
                    choices=["steps", "hybrid"])
    ap.add_argument("--methods", nargs="+", default=["highs", "highs_per_server"],
                    help="monolithic HiGHS and/or the exact per-server decomposition")
    ap.add_argument("--deadline", choices=["hard", "penalty"], default="hard",
                    help="hard deadlines (one hopeless request makes an instance infeasible) "
                         "or lateness penalised")
    ap.add_argument("--users-per-server", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--mip-gap", type=float, default=None,
                    help="relative MIP gap (default: HiGHS's 1e-4)")
    ap.add_argument("--csv", default=None, help="write the rows to this CSV file")
    args = ap.parse_args(argv)
    rows = []
    warm = steps_scenario(4, 1, 1)  # import the evaluators before timing anything
    ao.evaluate(warm, ao.solve(warm, StepsSpec(max_steps=3)).allocation)
    print(" | ".join(COLUMNS))
    for variant in args.variants:
        for k in args.levels:
            for n in args.sizes:
                for method in args.methods:
                    row = run_one(n, k, variant, users_per_server=args.users_per_server,
                                  seed=args.seed, time_limit=args.time_limit,
                                  mip_gap=args.mip_gap, method=method,
                                  deadline=args.deadline)
                    rows.append(row)
                    cells = []
                    for c in COLUMNS:
                        v = row.get(c, "")
                        cells.append(f"{v:.3g}" if isinstance(v, float | np.floating)
                                     else str(v))
                    print(" | ".join(cells), flush=True)
    if args.csv:
        names = sorted({k for r in rows for k in r})
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=names)
            w.writeheader()
            w.writerows(rows)
    return rows


if __name__ == "__main__":
    main()

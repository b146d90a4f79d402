"""Offloading assignment MILP: build and solve time per backend at 100, 1,000 and 10,000 users.

Run::

    python -m aigc_opt.benchmarks.offloading_scaling            # default sizes, all backends
    python benchmarks/offloading_scaling.py --sizes 100 1000 --backends highs cvxpy --csv out.csv

Servers scale with users (``--users-per-server``, default 20) and each request is offered its
``--candidates`` highest-gain servers plus local and cloud (the scalable formulation).
All backends solve the same program in one run, so ratios between them are comparable.
"""

from __future__ import annotations

import argparse
import csv
import time
from typing import Any

import numpy as np

import aigc_opt as ao
from aigc_opt.problems.offloading import OffloadingSpec


def run(sizes: list[int], backends: list[str], users_per_server: int, candidates: int,
        models: int, time_limit: float, mip_gap: float, seed: int) -> list[dict[str, Any]]:
    """Solve each size with each backend; one row per (size, backend)."""
    rows: list[dict[str, Any]] = []
    for n in sizes:
        s_count = max(2, n // users_per_server)
        t0 = time.perf_counter()
        scn = ao.Scenario.generate(n, s_count, models, seed=seed)
        gen_s = time.perf_counter() - t0
        spec = OffloadingSpec(candidate_servers=candidates, local_max_steps=15,
                              linking="aggregated" if n > 2000 else "disaggregated")
        prog = spec.build(scn)
        for b in backends:
            res = ao.solve(scn, spec, b, time_limit=time_limit, mip_gap=mip_gap)
            t1 = time.perf_counter()
            met = ao.evaluate(scn, res.allocation, spec) if res.has_solution else None
            eval_s = time.perf_counter() - t1
            rows.append({
                "users": n, "servers": s_count, "models": models, "backend": b,
                "cols": prog.n_cols, "rows": prog.n_rows, "nnz": prog.A.nnz,
                "gen_s": round(gen_s, 4), "build_s": round(res.stats.build_seconds, 4),
                "solve_s": round(res.stats.solve_seconds, 4), "eval_s": round(eval_s, 4),
                "termination": res.termination.value, "objective": res.objective,
                "gap": res.gap, "feasible": bool(met.feasible) if met else False,
                "eval_matches": bool(met is not None and np.isclose(
                    met.objective, res.objective, rtol=1e-6)),
            })
            print(_fmt(rows[-1]), flush=True)  # the table, row by row, on stdout
    return rows


def _fmt(r: dict[str, Any]) -> str:
    return (f"{r['users']:>6} {r['servers']:>4} {r['backend']:>6} {r['cols']:>8} {r['nnz']:>8} "
            f"{r['build_s']:>8} {r['solve_s']:>8} {r['eval_s']:>7} {r['termination']:>10} "
            f"{float(r['objective']):>14.6f} {float(r['gap']):>9.2e} {r['eval_matches']}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--backends", nargs="+", default=["highs", "cvxpy", "pyomo"])
    ap.add_argument("--users-per-server", type=int, default=20)
    ap.add_argument("--candidates", type=int, default=3)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--mip-gap", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    a = ap.parse_args(argv)
    print(" users    S backend     cols      nnz  build_s  solve_s  eval_s termination"
          "      objective       gap eval==solver")
    rows = run(a.sizes, a.backends, a.users_per_server, a.candidates, a.models, a.time_limit,
               a.mip_gap, a.seed)
    if a.csv:
        with open(a.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()

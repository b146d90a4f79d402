"""Incentive mechanisms: time and agreement of the solution paths at growing sizes.

Run::

    python -m aigc_opt.benchmarks.incentives_bench                 # default sizes
    python benchmarks/incentives_bench.py --contract 8 50 --stackelberg 100 --auction 20 --csv o.csv

* contract: full K^2 IR/IC convex program (CVXPY + Clarabel, tight tolerances) vs the exact
  reduction with ironing and the reduced convex program (K-1 monotonicity rows), K types;
  reports times, the objective difference and the largest level difference to the reduction;
* Stackelberg: exact breakpoint search, closed form (all followers active: no budgets, a in
  [10, 20]) and the 64-price grid baseline, N followers; plus the multi-leader best-response
  iteration (3 leaders) for N <= ``--multi-max``;
* auction: WDP on HiGHS (gap 0) + VCG re-solves, and the greedy uniform-price baseline, for N
  bidders (S = N/10 servers, 4 slots each, up to 3 slots per bundle).

Every result goes through :func:`aigc_opt.evaluate`; ``feasible`` is the evaluator's verdict.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
import warnings
from typing import Any

import numpy as np

import aigc_opt as ao
from aigc_opt.problems.incentives import (
    AuctionInstance,
    AuctionSpec,
    ContractInstance,
    ContractSpec,
    MultiLeaderInstance,
    MultiLeaderSpec,
    StackelbergInstance,
    StackelbergSpec,
)
from aigc_opt.problems.incentives.contract import FULL_IC_TYPES

TIGHT = {"solver": "CLARABEL", "tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}


def _row(family: str, size: int, method: str, res: ao.Result, inst: Any, spec: Any,
         **extra: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    met = ao.evaluate(inst, res.allocation, spec) if res.has_solution else None
    eval_s = time.perf_counter() - t0
    row = {"family": family, "size": size, "method": method,
           "build_s": round(res.stats.build_seconds, 4),
           "solve_s": round(res.stats.solve_seconds, 4), "eval_s": round(eval_s, 4),
           "termination": res.termination.value, "objective": res.objective,
           "feasible": bool(met.feasible) if met else False,
           "eval_matches": bool(met is not None and np.isclose(met.objective, res.objective,
                                                               rtol=1e-6))}
    row.update(extra)
    print(_fmt(row), file=sys.stderr, flush=True)
    return row


def bench_contract(sizes: list[int], seed: int) -> list[dict[str, Any]]:
    rows = []
    spec = ContractSpec()
    for K in sizes:
        inst = ContractInstance.teleoperation() if K == 8 else ContractInstance.generate(
            K, seed=seed)
        red = ao.run_method(inst, spec, "reduction")
        rows.append(_row("contract", K, "reduction", red, inst, spec))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rc = ao.run_method(inst, spec, "reduced_cvxpy", options=ao.SolveOptions(extra=TIGHT))
            full = ao.solve(inst, spec, backend="cvxpy", extra=TIGHT)
        dl = float(np.abs(rc.allocation.level - red.allocation.level).max())
        rows.append(_row("contract", K, "reduced_cvxpy", rc, inst, spec,
                         note=f"dobj={rc.objective - red.objective:.1e} dL={dl:.1e} "
                              f"rows={2 * K - 1}"))
        dl = float(np.abs(full.allocation.level - red.allocation.level).max())
        rows.append(_row("contract", K, "full_cvxpy", full, inst, spec,
                         note=f"dobj={full.objective - red.objective:.1e} dL={dl:.1e} "
                              f"rows={K * K if K <= FULL_IC_TYPES else 5 * K - 4}"))
    return rows


def bench_stackelberg(sizes: list[int], multi_max: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    spec = StackelbergSpec()
    for N in sizes:
        rng = np.random.default_rng(seed)
        open_inst = StackelbergInstance(valuation=rng.uniform(10.0, 20.0, N),
                                        budget=np.full(N, np.inf), unit_cost=1.0)
        bp = ao.run_method(open_inst, spec, "breakpoints")
        cf = ao.run_method(open_inst, spec, "closed_form")
        p_cf = math.sqrt(float(open_inst.valuation.sum()) / N)
        rows.append(_row("stackelberg", N, "breakpoints(no budgets)", bp, open_inst, spec,
                         note=f"p={bp.allocation.price[0]:.9f} sqrt(c*sum a/N)={p_cf:.9f}"))
        rows.append(_row("stackelberg", N, "closed_form(no budgets)", cf, open_inst, spec))
        inst = StackelbergInstance.generate(N, seed=seed, capacity=0.4 * N)
        for m in ("breakpoints", "price_grid"):
            res = ao.run_method(inst, spec, m)
            met = ao.evaluate(inst, res.allocation)
            rows.append(_row("stackelberg", N, f"{m}(budgets+cap)", res, inst, spec,
                             note=f"max follower gain={met.totals['max_follower_gain']:.1e}"))
        if N <= multi_max:
            mi = MultiLeaderInstance.generate(N, 3, seed=seed)
            res = ao.run_method(mi, MultiLeaderSpec(), "best_response")
            rows.append(_row("stackelberg_multi", N, "best_response(M=3)", res, mi,
                             MultiLeaderSpec(), note=res.message))
    return rows


def bench_auction(sizes: list[int], seed: int, time_limit: float) -> list[dict[str, Any]]:
    rows = []
    spec = AuctionSpec()
    for N in sizes:
        inst = AuctionInstance.generate(N, max(2, N // 10), 3, seed=seed, capacity=4)
        opts = ao.SolveOptions(time_limit=time_limit)
        wdp = ao.solve(inst, spec, backend="highs", mip_gap=0.0, time_limit=time_limit)
        rows.append(_row("auction", N, "wdp_highs", wdp, inst, spec,
                         note=f"bids={int((inst.values > 0).sum())}"))
        res = ao.run_method(inst, spec, "vcg", options=opts)
        met = ao.evaluate(inst, res.allocation)
        rows.append(_row("auction", N, "wdp+vcg", res, inst, spec,
                         note=f"solves={res.stats.extra.get('wdp_solves')} "
                              f"revenue={met.totals['revenue']:.3f}"))
        g = ao.run_method(inst, spec, "greedy_uniform")
        gm = ao.evaluate(inst, g.allocation)
        rows.append(_row("auction", N, "greedy_uniform", g, inst, spec,
                         note=f"welfare ratio={g.objective / res.objective:.4f} "
                              f"revenue={gm.totals['revenue']:.3f}"))
    return rows


def _fmt(r: dict[str, Any]) -> str:
    return (f"{r['family']:>17} {r['size']:>6} {r['method']:>25} {r['build_s']:>8} "
            f"{r['solve_s']:>9} {r['eval_s']:>7} {r['termination']:>9} {r['objective']:>14.8g} "
            f"{str(r['feasible']):>5} {str(r['eval_matches']):>5}  {r.get('note', '')}")


HEADER = (f"{'family':>17} {'size':>6} {'method':>25} {'build_s':>8} {'solve_s':>9} "
          f"{'eval_s':>7} {'status':>9} {'objective':>14} {'feas':>5} {'evalOK':>5}  note")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contract", type=int, nargs="*", default=[8, 50, 200])
    ap.add_argument("--stackelberg", type=int, nargs="*", default=[100, 10_000])
    ap.add_argument("--multi-max", type=int, default=100,
                    help="largest N for the multi-leader variant")
    ap.add_argument("--auction", type=int, nargs="*", default=[20, 50, 100])
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=str, default=None)
    args = ap.parse_args(argv)
    print(HEADER, file=sys.stderr)
    rows = (bench_contract(args.contract, args.seed)
            + bench_stackelberg(args.stackelberg, args.multi_max, args.seed)
            + bench_auction(args.auction, args.seed, args.time_limit))
    print("\n" + HEADER)
    for r in rows:
        print(_fmt(r))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            keys = sorted({k for r in rows for k in r})
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()

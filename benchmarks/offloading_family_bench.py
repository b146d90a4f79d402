"""Offloading family variants: exact method vs heuristics, time and objective, in one run.

Run::

    python -m aigc_opt.benchmarks.offloading_family_bench
    python benchmarks/offloading_family_bench.py --joint 20 100 500 --partial 1000 \\
        --multicell 20 100 500 --seeds 2 --csv out.csv

* ``joint``: outer approximation (exact within ``gap_tol``; OA iterations, cuts, final gap)
  vs the decomposition heuristic (fixed-share MILP placement + closed-form shares); the
  heuristic's gap is ``(heuristic - exact) / |exact|``.
* ``partial``: closed form vs the LP solved by HiGHS directly (``highs``) and through CVXPY
  (``cvxpy``; the CVXPY backend's default solver for LPs is HiGHS too, Clarabel only for QPs
  and conic programs, so this row checks the CVXPY model rebuild, not a second solver), and
  the balanced heuristic (profile ``hybrid_icc2025``, the device/edge split setting).
* ``multicell``: the MILP on HiGHS vs the no-forwarding MILP and the greedy heuristic.

Servers scale with users (``--users-per-server``, default 20); joint instances offer each
request its 3 highest-gain servers, multicell instances 2 radio servers, and both a 15-step
local fallback so that they stay feasible.
All methods run on the same instances in one run, so ratios between them are comparable.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from typing import Any

import aigc_opt as ao
from aigc_opt.problems.offloading import JointSpec, MulticellSpec, PartialSpec


def _row(variant: str, n: int, s: int, seed: int, method: str, res: ao.Result, seconds: float,
         exact: float, scn: Any, spec: Any) -> dict[str, Any]:
    met = ao.evaluate(scn, res.allocation, spec) if res.has_solution else None
    extra = dict(res.stats.extra)
    obj = res.objective
    return {
        "variant": variant, "users": n, "servers": s, "seed": seed, "method": method,
        "seconds": round(seconds, 4), "termination": res.termination.value,
        "objective": obj, "bound": res.bound, "gap": res.gap,
        "gap_to_exact": (obj - exact) / abs(exact) if math.isfinite(exact) and res.has_solution
        else math.nan,
        "oa_iterations": extra.get("oa_iterations", ""), "cuts": extra.get("cuts", ""),
        "feasible": bool(met.feasible) if met else False,
        "eval_matches": bool(met is not None and math.isclose(met.objective, obj,
                                                              rel_tol=1e-6, abs_tol=1e-9)),
    }


def _timed(scn: Any, spec: Any, method: str, options: ao.SolveOptions) -> tuple[ao.Result, float]:
    t0 = time.perf_counter()
    try:
        if method in ("highs", "cvxpy", "pyomo"):
            res = ao.solve(scn, spec, backend=method, options=options)
        else:
            res = ao.run_method(scn, spec, method, options=options)
    except ValueError as exc:  # a heuristic that finds nothing raises
        res = ao.Result(ao.Termination.ERROR, False, message=str(exc),
                        stats=ao.SolveStats(backend=method))
    return res, time.perf_counter() - t0


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (variant, size, seed, method); one row each."""
    rows: list[dict[str, Any]] = []
    opts = ao.SolveOptions(time_limit=args.time_limit)
    plan: list[tuple[str, int, list[str]]] = (
        [("joint", n, ["outer_approximation", "decomposition"]) for n in args.joint]
        + [("partial", n, ["closed_form", "highs", "cvxpy", "balanced"]) for n in args.partial]
        + [("multicell", n, ["highs", "no_forwarding", "greedy"]) for n in args.multicell])
    for variant, n, methods in plan:
        s = max(2, n // args.users_per_server)
        for seed in range(args.seeds):
            profile = "hybrid_icc2025" if variant == "partial" else "edge_aigc"
            scn = ao.Scenario.generate(n, s, 4, seed=seed, profile=profile)
            spec: Any
            if variant == "joint":
                spec = JointSpec(candidate_servers=3, local_max_steps=15)
            elif variant == "partial":
                spec = PartialSpec()
            else:
                spec = MulticellSpec(local_max_steps=15, candidate_radios=2)
            exact = math.nan
            for m in methods:
                res, sec = _timed(scn, spec, m, opts)
                if m == methods[0] and res.has_solution:
                    exact = res.objective
                rows.append(_row(variant, n, s, seed, m, res, sec, exact, scn, spec))
                print(_fmt(rows[-1]), file=sys.stderr, flush=True)
    return rows


HEADER = (f"{'variant':>9} {'N':>5} {'S':>3} {'seed':>4} {'method':>19} {'time_s':>8} "
          f"{'status':>9} {'objective':>14} {'gap':>9} {'vs_exact':>9} {'OA_it':>5} "
          f"{'cuts':>6} {'eval_ok':>7}")


def _fmt(r: dict[str, Any]) -> str:
    def num(v: Any, f: str) -> str:
        return format(v, f) if isinstance(v, float) and math.isfinite(v) else "-"

    return (f"{r['variant']:>9} {r['users']:>5} {r['servers']:>3} {r['seed']:>4} "
            f"{r['method']:>19} {r['seconds']:>8.3f} {r['termination']:>9} "
            f"{num(r['objective'], '14.6f'):>14} {num(r['gap'], '9.1e'):>9} "
            f"{num(r['gap_to_exact'], '9.2e'):>9} {r['oa_iterations']!s:>5} {r['cuts']!s:>6} "
            f"{r['feasible'] and r['eval_matches']!s:>7}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--joint", type=int, nargs="*", default=[20, 100, 500])
    p.add_argument("--partial", type=int, nargs="*", default=[1000, 10000])
    p.add_argument("--multicell", type=int, nargs="*", default=[20, 100, 500])
    p.add_argument("--users-per-server", type=int, default=20)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--time-limit", type=float, default=600.0)
    p.add_argument("--csv", type=str, default=None)
    args = p.parse_args(argv)
    print(HEADER, file=sys.stderr)
    rows = run(args)
    print(HEADER)
    for r in rows:
        print(_fmt(r))
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()

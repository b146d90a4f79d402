"""Deployment sizing MILP time vs sites and catalogue size; IIS time on infeasible offloading.

Part 1 (``--sites``, ``--gpus``, ``--radios``): for each size, a seeded offloading scenario with
``--users-per-site`` requests per site and 4 models, the cloud ``--cloud-latency`` s away (so
short deadlines need edge GPUs), and two demand scenarios: the peak, and 60 % of the users with
site 0 down. The catalogue has ``G`` GPU types (speed 1.5e13 .. 6e13 FLOP/s, memory 12 .. 48 GB,
price growing slightly faster than speed, up to 4 per site) and ``B`` bandwidth options
(2 .. 8 MHz, 4 .. 16 subchannels). Rows: program size, HiGHS time / status / ``gap`` of the
MILP (its optimality gap), the greedy capacity-add baseline's time and ``excess_vs_milp`` =
greedy cost / MILP cost - 1 (``--greedy-max`` sites at most; not an optimality gap: the greedy
has no bound, so its ``gap`` is empty), and the number of binding capacity rows.

Part 2 (``--iis-users``, ``--iis-kinds``): infeasible offloading assignment MILPs over 3
servers, 4 models: ``edge_only`` (edge execution only, 1 GPU slot and 2 subchannels per
server) and ``overload`` (default options, capacities not scaled to the load: ``load=None``;
sizes where it is feasible are skipped); the time of
:func:`aigc_opt.explain.explain_infeasible` and the conflicts it finds.

Usage::

    python -m aigc_opt.benchmarks.sizing_bench --sites 2 4 8 --gpus 2 3 --radios 2
    python benchmarks/sizing_bench.py --iis-users 30 100 300 --csv out.csv

Each part prints a table; ``--csv`` also writes every row (both parts, the union of their
columns) to a CSV file.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from typing import Any

import numpy as np

import aigc_opt as ao
from aigc_opt.explain import explain_infeasible
from aigc_opt.export import format_table
from aigc_opt.problems.offloading import OffloadingSpec
from aigc_opt.problems.sizing import (
    GpuOption,
    RadioOption,
    SizingInstance,
    SizingSpec,
    site_down,
)


def catalogue(n_gpus: int, n_radios: int) -> tuple[tuple[GpuOption, ...], tuple[RadioOption, ...]]:
    """The benchmark catalogue (see module docstring)."""
    f = np.geomspace(1.5e13, 6e13, n_gpus)
    gpus = tuple(GpuOption(f"gpu{i}", round(float(f[i] / 1.5e13) ** 1.1, 3), float(f[i]),
                           12e9 * (1 + i * 3 / max(n_gpus - 1, 1)), 4) for i in range(n_gpus))
    hz = np.geomspace(2e6, 8e6, n_radios)
    radios = tuple(RadioOption(f"band{i}", 0.5 * (i + 1), float(hz[i]), float(hz[i]),
                               int(4 * 2 ** (2 * i / max(n_radios - 1, 1))))
                   for i in range(n_radios))
    return gpus, radios


def instance(sites: int, n_gpus: int, n_radios: int, users_per_site: int, cloud_latency: float,
             seed: int) -> SizingInstance:
    """Peak and one-site-down demand scenarios over a seeded scenario."""
    n = users_per_site * sites
    scn = ao.Scenario.generate(n, sites, 4, seed=seed).replace(cloud_latency_s=cloud_latency)
    down = site_down(scn.subset(np.arange(int(0.6 * n))), 0)
    gpus, radios = catalogue(n_gpus, n_radios)
    return SizingInstance((scn, down), gpus, radios, ("peak", "down0"))


def sizing_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Part 1 rows."""
    rows = []
    spec = SizingSpec(allow_local=False)
    for sites in args.sites:
        for g in args.gpus:
            for b in args.radios:
                inst = instance(sites, g, b, args.users_per_site, args.cloud_latency, args.seed)
                t0 = time.perf_counter()
                prog = spec.build(inst)
                build_s = time.perf_counter() - t0
                res = ao.solve(inst, spec, time_limit=args.time_limit)
                base = {"part": "sizing", "sites": sites, "gpu_types": g, "radio_options": b,
                        "users": sum(d.n_users for d in inst.demands), "rows": prog.n_rows,
                        "cols": prog.n_cols, "build_s": build_s}
                plan = res.allocation
                rows.append({**base, "method": "milp_highs",
                             "solve_s": res.stats.solve_seconds,
                             "status": res.termination.value, "cost": res.objective,
                             "gap": res.gap, "excess_vs_milp": math.nan,
                             "verified": res.verified,
                             "binding": len(plan.binding) if plan is not None else math.nan})
                if sites <= args.greedy_max:
                    t0 = time.perf_counter()
                    h = ao.run_heuristic(inst, spec, "greedy_capacity")
                    rows.append({**base, "method": "greedy_capacity",
                                 "solve_s": time.perf_counter() - t0,
                                 "status": h.termination.value, "cost": h.objective,
                                 "gap": math.nan,
                                 "excess_vs_milp": h.objective / res.objective - 1.0
                                 if res.has_solution else math.nan,
                                 "verified": h.verified, "binding": math.nan})
    return rows


def iis_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Part 2 rows."""
    rows = []
    for kind in args.iis_kinds:
        for n in args.iis_users:
            if kind == "edge_only":
                spec = OffloadingSpec(allow_local=False, allow_cloud=False)
                s = ao.Scenario.generate(n, 3, 4, seed=args.seed).replace(
                    server_gpu_slots=np.array([1, 1, 1]),
                    server_subchannels=np.array([2, 2, 2]))
            else:  # "overload": default options, capacities not scaled to the load
                spec = OffloadingSpec()
                s = ao.Scenario.generate(n, 3, 4, seed=args.seed, load=None)
            prog = spec.build(s)
            t0 = time.perf_counter()
            res = ao.solve(s, spec, verify=False)
            solve_s = time.perf_counter() - t0
            if res.termination.value != "infeasible":
                continue
            t0 = time.perf_counter()
            exp = explain_infeasible(prog, time_limit=args.time_limit)
            rows.append({"part": "iis", "kind": kind, "users": n, "rows": prog.n_rows,
                         "cols": prog.n_cols, "status": res.termination.value,
                         "solve_s": solve_s, "iis_s": time.perf_counter() - t0,
                         "conflicts": len(exp.conflicts), "iis_rows": len(exp.rows),
                         "complete": exp.complete,
                         "irreducible": all(c.irreducible for c in exp.conflicts)})
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run both parts, print their tables and (``--csv``) write the rows."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, nargs="*", default=[2, 4])
    ap.add_argument("--gpus", type=int, nargs="*", default=[2])
    ap.add_argument("--radios", type=int, nargs="*", default=[2])
    ap.add_argument("--users-per-site", type=int, default=4)
    ap.add_argument("--cloud-latency", type=float, default=20.0)
    ap.add_argument("--greedy-max", type=int, default=4)
    ap.add_argument("--iis-users", type=int, nargs="*", default=[30])
    ap.add_argument("--iis-kinds", nargs="*", default=["edge_only", "overload"],
                    choices=["edge_only", "overload"])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", default=None)
    args = ap.parse_args(argv)
    rows = sizing_rows(args) + iis_rows(args)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    for part in ("sizing", "iis"):
        sub = [r for r in rows if r["part"] == part]
        if sub:
            cols = [k for k in dict.fromkeys(k for r in sub for k in r) if k != "part"]
            print(f"\n{part}:\n{format_table(sub, cols)}")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
        print(f"\nwrote {args.csv}")
    return rows


if __name__ == "__main__":
    main()

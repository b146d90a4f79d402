"""Scale benchmarks of the scenario generator and the offloading assignment build (issue 16).

Run::

    python -m aigc_opt.benchmarks.scale_bench feasibility --sizes 10 100 1000 100000 --seeds 20
    python -m aigc_opt.benchmarks.scale_bench build --sizes 1000 10000 50000 --repeats 3
    python -m aigc_opt.benchmarks.scale_bench generation --sizes 1000 10000 100000 1000000
    python -m aigc_opt.benchmarks.scale_bench solve --sizes 10000 100000 1000000 \
        --servers 50 100 500 --links 0 3 3 --models 50 --mip-gap 0.01 --time-limit 600

``feasibility``: for each N and seed, ``Scenario.generate(N, S, M, seed=seed)`` at the default
load (and, for comparison, ``load=None``, the fixed capacities), with ``S = clip(N // 20, 1,
S_max)`` servers. A scenario counts as feasible for the default
:class:`~aigc_opt.problems.offloading.OffloadingSpec` when a certificate passes the evaluator:
every request's cheapest option that fits in a greedy pass, falling back to the all-cloud
assignment (each request relayed by its highest-gain server); for ``N <= --milp-max`` the HiGHS
MILP is also solved and its status reported. ``build``: build + hand-over time of the assignment
MILP per nonzero against Pyomo's own build + hand-over, both in one run, on sparse scenarios.
``generation``: time and traced peak memory of sparse generation, with fitted exponents.
``solve``: the certified ``"lagrangian"`` method (``aigc_opt.run_method``, verified by the
evaluator) on one scenario per size, each in a fresh subprocess so that its peak RSS
(``resource.getrusage``) is its own; prints users, servers, models, columns, objective,
certified bound, gap (``aigc_opt.result.relative_gap``), seconds, peak RSS, status, verified.

The machine is shared: every time is the median of ``--repeats`` runs (``build``: after one
untimed warm-up, the HiGHS path and Pyomo alike). Progress lines go to stderr as each row
finishes; the table and the fitted exponents are printed on stdout at the end.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from typing import Any

import numpy as np

import aigc_opt as ao
from aigc_opt.problems.offloading import OffloadingSpec
from aigc_opt.problems.offloading.assignment import allocation_from_columns, option_table
from aigc_opt.problems.offloading.data import CLOUD


def _servers(n: int, users_per_server: int, s_max: int) -> int:
    return int(np.clip(n // users_per_server, 1, s_max))


def all_cloud_feasible(scn: ao.Scenario) -> bool:
    """Whether the all-cloud assignment (relay = highest-gain server) passes the evaluator for
    the default spec (a feasibility certificate of the assignment problem)."""
    spec = OffloadingSpec(candidate_servers=1)
    t = option_table(scn, spec)
    cols = np.nonzero(t.placement == CLOUD)[0]
    alloc = allocation_from_columns(t, cols, np.zeros((scn.n_servers, scn.n_models), bool))
    return bool(ao.evaluate(scn, alloc, OffloadingSpec()).feasible)


def feasibility(sizes: list[int], seeds: int, models: int, users_per_server: int, s_max: int,
                milp_max: int, links: int | None = None) -> list[dict[str, Any]]:
    """One row per (N, load mode): share of seeds with a feasibility certificate."""
    rows = []
    for n in sizes:
        s = _servers(n, users_per_server, s_max)
        for load in ("profile", None):
            ok = milp_ok = milp_n = 0
            gen = []
            for seed in range(seeds):
                t0 = time.perf_counter()
                scn = ao.Scenario.generate(n, s, models, seed=seed, load=load, links=links,
                                           max_entries=max(10_000_000, n * s))
                gen.append(time.perf_counter() - t0)
                ok += all_cloud_feasible(scn)
                if n <= milp_max:
                    res = ao.solve(scn, OffloadingSpec(), "highs", time_limit=60.0)
                    milp_n += 1
                    milp_ok += res.has_solution
            rows.append({
                "users": n, "servers": s, "models": models, "links": links or s,
                "load": "0.7 (default)" if load else "None (fixed)", "seeds": seeds,
                "feasible": ok / seeds,
                "milp_feasible": (milp_ok / milp_n) if milp_n else float("nan"),
                "gen_s_median": statistics.median(gen),
            })
            print(_row(rows[-1]), file=sys.stderr, flush=True)
    _report(rows, [])
    return rows


def build(sizes: list[int], users_per_server: int, models: int, links: int, repeats: int,
          pyomo_max: int) -> list[dict[str, Any]]:
    """Build + hand-over time of the HiGHS path (``spec.build`` + equilibrate + ``passModel``)
    and of the Pyomo backend's own model construction + hand-over, per nonzero, on sparse
    scenarios (``S = N / users_per_server`` servers, each user linked to its ``links``
    nearest). Times are process CPU seconds, the median of ``repeats`` builds after one
    untimed warm-up build, for both sides (the machine is shared; ``build_wall_s`` is the
    HiGHS path's wall-clock median)."""
    rows = []
    for n in sizes:
        servers = max(1, n // users_per_server)
        scn = ao.Scenario.generate(n, servers, models, seed=0, links=links)
        spec = OffloadingSpec(linking="aggregated")
        _highs_handover(spec.build(scn))  # warm-up: first-call imports and caches
        times, walls = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            prog = spec.build(scn)
            _highs_handover(prog)
            times.append(time.process_time() - c0)
            walls.append(time.perf_counter() - t0)
        py = float("nan")
        if n <= pyomo_max:  # the same protocol: one untimed warm-up, then the median
            _pyomo_build_seconds(prog)
            py = statistics.median(_pyomo_build_seconds(prog) for _ in range(repeats))
        med = statistics.median(times)
        rows.append({"users": n, "servers": servers, "models": models, "cols": prog.n_cols,
                     "rows": prog.n_rows, "nnz": prog.A.nnz, "build_s": med,
                     "build_wall_s": statistics.median(walls),
                     "us_per_nnz": 1e6 * med / prog.A.nnz, "pyomo_s": py,
                     "pyomo_ratio": py / med,
                     "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        print(_row(rows[-1]), file=sys.stderr, flush=True)
    notes = []
    if len({r["nnz"] for r in rows}) >= 2:
        x = np.log([r["nnz"] for r in rows])
        y = np.log([r["build_s"] for r in rows])
        notes.append(f"fitted exponent build_s ~ nnz^{np.polyfit(x, y, 1)[0]:.3f}")
    _report(rows, notes)
    return rows


def _highs_handover(prog: Any) -> Any:
    """What the HiGHS backend does before ``run()``: equilibrate and ``passModel``."""
    import highspy

    from aigc_opt.solvers.highs import HighsBackend, new_highs
    from aigc_opt.solvers.numerics import equilibrate

    h = new_highs()
    HighsBackend._pass(h, equilibrate(prog).program, highspy)
    return h


def _pyomo_build_seconds(prog: Any) -> float:
    """CPU seconds the Pyomo backend spends on its own work before the solver starts: equilibrate,
    build the Pyomo model (:func:`aigc_opt.solvers.pyomo_backend.build_model`) and hand it to
    HiGHS (``set_instance`` of Pyomo's persistent HiGHS interface)."""
    from aigc_opt.solvers.numerics import equilibrate
    from aigc_opt.solvers.pyomo_backend import _solver, build_model

    t0 = time.process_time()
    model, _ = build_model(equilibrate(prog).program)
    _solver("highs").set_instance(model)
    return time.process_time() - t0


def generation(sizes: list[int], users_per_server: int, models: int, links: int,
               repeats: int) -> list[dict[str, Any]]:
    """Generation time (median of ``repeats``, after one untimed warm-up at the smallest size) and
    traced peak memory of a sparse scenario with ``S = N / users_per_server`` servers and
    ``links`` links per user; fitted exponents."""
    import tracemalloc

    rows = []
    n0 = min(sizes)  # warm-up at the smallest size: first-call costs stay out of the times
    ao.Scenario.generate(n0, max(1, n0 // users_per_server), models, seed=0, links=links)
    for n in sizes:
        s = max(1, n // users_per_server)
        times = []
        for seed in range(repeats):
            t0 = time.perf_counter()
            scn = ao.Scenario.generate(n, s, models, seed=seed, links=links)
            times.append(time.perf_counter() - t0)
        del scn
        tracemalloc.start()
        ao.Scenario.generate(n, s, models, seed=0, links=links)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append({"users": n, "servers": s, "links": links, "gen_s": statistics.median(times),
                     "peak_mb": peak / 2**20})
        print(_row(rows[-1]), file=sys.stderr, flush=True)
    notes = []
    if len({r["users"] for r in rows}) >= 2:
        x = np.log([r["users"] for r in rows])
        for key in ("gen_s", "peak_mb"):
            k = np.polyfit(x, np.log([r[key] for r in rows]), 1)[0]
            notes.append(f"fitted exponent {key} ~ users^{k:.3f}")
    _report(rows, notes)
    return rows


def solve_one(users: int, servers: int, models: int, links: int, linking: str,
              mip_gap: float, time_limit: float, seed: int = 0) -> dict[str, Any]:
    """Generate one scenario (``links == 0``: dense) and run ``"lagrangian"`` on it."""
    t0 = time.perf_counter()
    scn = ao.Scenario.generate(users, servers, models, seed=seed, links=links or None,
                               max_entries=max(10_000_000, users * servers))
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = ao.run_method(scn, OffloadingSpec(linking=linking), "lagrangian",
                        options=ao.SolveOptions(mip_gap=mip_gap, time_limit=time_limit))
    dt = time.perf_counter() - t0
    ex = res.stats.extra
    return {"users": users, "servers": servers, "models": models, "links": links or servers,
            "columns": int(ex.get("columns", -1)), "objective": res.objective,
            "bound": res.bound, "gap": res.gap, "time_s": dt, "gen_s": gen_s,
            "sg_iter": int(ex.get("sg_iterations", 0)), "lp_phase": "lp_s" in ex,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "status": res.termination.value, "verified": bool(res.verified)}


def solve_sizes(sizes: list[int], servers: list[int], links: list[int], models: int,
                linking: str, mip_gap: float, time_limit: float) -> list[dict[str, Any]]:
    """:func:`solve_one` per size, each in a subprocess (its own peak RSS)."""
    import json
    import subprocess

    def per(v: list[int], i: int) -> int:
        return v[i] if len(v) > 1 else v[0]

    rows = []
    for i, n in enumerate(sizes):
        cmd = [sys.executable, "-m", "aigc_opt.benchmarks.scale_bench", "solve", "--one",
               "--sizes", str(n), "--servers", str(per(servers, i)), "--links",
               str(per(links, i)), "--models", str(models), "--linking", linking,
               "--mip-gap", repr(mip_gap), "--time-limit", repr(time_limit)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            print(f"users={n}: failed (rc={out.returncode}) {out.stderr[-2000:]}",
                  file=sys.stderr)
            continue
        rows.append(json.loads(lines[-1]))
        print(_row(rows[-1]), file=sys.stderr, flush=True)
    keys = ("users", "servers", "models", "columns", "objective", "bound", "gap", "time_s",
            "peak_rss_mb", "status", "verified")
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]) for k in keys))
    return rows


def _report(rows: list[dict[str, Any]], notes: list[str]) -> None:
    """The result table and its notes on stdout (the per-row progress lines go to stderr)."""
    from aigc_opt.export import format_table

    if rows:
        print(format_table(rows, list(rows[0])))
    for line in notes:
        print(line)
    sys.stdout.flush()


def _row(r: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("feasibility")
    f.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000, 100000])
    f.add_argument("--seeds", type=int, default=20)
    f.add_argument("--models", type=int, default=10)
    f.add_argument("--users-per-server", type=int, default=20)
    f.add_argument("--max-servers", type=int, default=100)
    f.add_argument("--milp-max", type=int, default=300)
    f.add_argument("--links", type=int, default=None, help="sparse scenarios: k links/user")
    b = sub.add_parser("build")
    b.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    b.add_argument("--users-per-server", type=int, default=20)
    b.add_argument("--models", type=int, default=10)
    b.add_argument("--links", type=int, default=3)
    b.add_argument("--repeats", type=_positive, default=3)
    b.add_argument("--pyomo-max", type=int, default=50000)
    g = sub.add_parser("generation")
    g.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000, 1000000])
    g.add_argument("--users-per-server", type=int, default=20)
    g.add_argument("--models", type=int, default=50)
    g.add_argument("--links", type=int, default=5)
    g.add_argument("--repeats", type=_positive, default=3)
    v = sub.add_parser("solve")
    v.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000, 1000000])
    v.add_argument("--servers", type=int, nargs="+", default=[50, 100, 500])
    v.add_argument("--links", type=int, nargs="+", default=[0, 3, 3], help="0: dense")
    v.add_argument("--models", type=int, default=50)
    v.add_argument("--linking", default="disaggregated")
    v.add_argument("--mip-gap", type=float, default=0.01)
    v.add_argument("--time-limit", type=float, default=600.0)
    v.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.cmd == "feasibility":
        feasibility(a.sizes, a.seeds, a.models, a.users_per_server, a.max_servers, a.milp_max,
                    a.links)
    elif a.cmd == "solve" and a.one:
        import json

        print(json.dumps(solve_one(a.sizes[0], a.servers[0], a.models, a.links[0], a.linking,
                                   a.mip_gap, a.time_limit)))
    elif a.cmd == "solve":
        solve_sizes(a.sizes, a.servers, a.links, a.models, a.linking, a.mip_gap, a.time_limit)
    elif a.cmd == "build":
        build(a.sizes, a.users_per_server, a.models, a.links, a.repeats, a.pyomo_max)
    else:
        generation(a.sizes, a.users_per_server, a.models, a.links, a.repeats)


if __name__ == "__main__":
    main()

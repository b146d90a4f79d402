"""Benchmark: wireless-powered MEC binary offloading, exact vs baselines.

For each N, random DROO-style frames are solved one call per frame (per-instance wall time:
median and p95) by the exact method and by each baseline; baselines are scored by the
evaluator and compared with the exact optimum (mean and min ratio). The last column times the
batch mode (all frames in one vectorised call, amortised CPU time per frame). Both wall time
and process CPU time are shown: on a shared machine the CPU time is the fairer "one core"
figure.

``--exact-only`` prints the exact method's table alone (single frames: median / p95 of wall
and process CPU time, certified max gap, nodes and dual evaluations per frame; batch mode:
CPU ms per frame). ``--compare-old REV`` (in either mode) loads the exact method of git
revision REV (default ``814abce``, the capped-search implementation; loaded from git into a
private module, not part of the package) and, after the table, compares it with the new exact
method on ``--compare-frames`` frames at N = 10 (a tenth of them at N = 30): frames certified
by both, largest objective difference, batch ms per frame of each and single-frame ms of the
new one. With ``--exact-only`` the old method also solves every frame of the table (columns
``old cpu med``, ``old p95``, ``|d obj| old``).

Run::

    python -m aigc_opt.benchmarks.wpmec_bench --sizes 10 20 30 --frames 200
    python benchmarks/wpmec_bench.py --csv wpmec.csv
    python benchmarks/wpmec_bench.py --exact-only --sizes 10 100 1000 2000 --compare-old 814abce
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

from aigc_opt.problems.wpmec import WpmecBatch, WpmecSpec
from aigc_opt.problems.wpmec import exact as exact_mod
from aigc_opt.problems.wpmec import inner as inner_mod
from aigc_opt.problems.wpmec.batch import solve_batch
from aigc_opt.problems.wpmec.evaluate import evaluate_wpmec
from aigc_opt.problems.wpmec.exact import exact_batch, solve_exact
from aigc_opt.problems.wpmec.heuristics import HEURISTICS

METHODS = ("exact", "cd", "lr", "all_local", "all_offload")


def run(sizes: list[int], frames: int, batch_frames: int, seed: int) -> list[dict[str, object]]:
    """Measure every method at every size; return one row per (N, method)."""
    rows: list[dict[str, object]] = []
    spec = WpmecSpec()
    for n in sizes:
        batch = WpmecBatch.generate(frames, n, seed=seed + n)
        times = {m: np.empty(frames) for m in METHODS}
        cpu = {m: np.empty(frames) for m in METHODS}
        obj = {m: np.empty(frames) for m in METHODS}
        gaps = np.empty(frames)
        nodes = np.empty(frames)
        for k in range(frames):
            inst = batch.frame(k)
            t0, c0 = time.perf_counter(), time.process_time()
            res = solve_exact(inst, spec)
            times["exact"][k] = time.perf_counter() - t0
            cpu["exact"][k] = time.process_time() - c0
            obj["exact"][k] = evaluate_wpmec(inst, res.allocation).objective
            gaps[k] = res.gap
            nodes[k] = res.stats.nodes
            for name in METHODS[1:]:
                t0, c0 = time.perf_counter(), time.process_time()
                alloc = HEURISTICS[name](inst, spec, seed=k)
                times[name][k] = time.perf_counter() - t0
                cpu[name][k] = time.process_time() - c0
                obj[name][k] = evaluate_wpmec(inst, alloc).objective
        bt = {}
        bbatch = WpmecBatch.generate(batch_frames, n, seed=seed + 1000 + n)
        for m in METHODS:
            c0 = time.process_time()
            sol = solve_batch(bbatch, m, seed=seed)
            bt[m] = (time.process_time() - c0) / batch_frames
            if m == "exact":
                bgap = float(np.max(sol.gap))
        for m in METHODS:
            ratio = obj[m] / obj["exact"]
            rows.append({
                "n_users": n, "method": m, "frames": frames,
                "median_ms": 1e3 * float(np.median(times[m])),
                "p95_ms": 1e3 * float(np.percentile(times[m], 95)),
                "cpu_median_ms": 1e3 * float(np.median(cpu[m])),
                "cpu_p95_ms": 1e3 * float(np.percentile(cpu[m], 95)),
                "max_ms": 1e3 * float(np.max(times[m])),
                "mean_ratio": float(ratio.mean()), "min_ratio": float(ratio.min()),
                "max_gap": float(gaps.max()) if m == "exact" else float("nan"),
                "mean_nodes": float(nodes.mean()) if m == "exact" else float("nan"),
                "batch_frames": batch_frames, "batch_ms_per_frame": 1e3 * bt[m],
                "batch_max_gap": bgap if m == "exact" else float("nan"),
            })
    return rows


def load_old_exact(rev: str) -> Any:
    """``exact.py``/``inner.py`` of git revision ``rev`` as private modules (no registration)."""
    root = Path(__file__).resolve().parents[1]

    def show(path: str) -> str:
        return subprocess.run(["git", "-C", str(root), "show", f"{rev}:{path}"], check=True,
                              capture_output=True, text=True).stdout

    inner = types.ModuleType("_old_wpmec_inner")
    sys.modules[inner.__name__] = inner
    exec(compile(show("problems/wpmec/inner.py"), "old_inner.py", "exec"), inner.__dict__)
    src = show("problems/wpmec/exact.py")
    src = src[:src.index("register_algorithm(WpmecSpec")]
    src = src.replace("from .data import", "from aigc_opt.problems.wpmec.data import")
    src = src.replace("from .inner import", "from _old_wpmec_inner import")
    old = types.ModuleType("_old_wpmec_exact")
    sys.modules[old.__name__] = old
    exec(compile(src, "old_exact.py", "exec"), old.__dict__)
    return old


class _Counter:
    """Counts dual evaluations (``dual_value``: one vectorised pass; ``dual_value_1``: one
    node of the scalar kernel)."""

    def __init__(self) -> None:
        self.calls = 0
        self.fn = exact_mod.dual_value
        self.fn1 = inner_mod.dual_value_1

    def __enter__(self) -> _Counter:
        def dv(*a: Any, **k: Any) -> Any:
            self.calls += 1
            return self.fn(*a, **k)

        def dv1(*a: Any, **k: Any) -> Any:
            self.calls += 1
            return self.fn1(*a, **k)

        exact_mod.dual_value = dv
        inner_mod.dual_value_1 = dv1
        return self

    def __exit__(self, *exc: object) -> None:
        exact_mod.dual_value = self.fn
        inner_mod.dual_value_1 = self.fn1


def run_exact(sizes: list[int], frames: int, batch_frames: int, seed: int,
              old: Any = None) -> list[dict[str, object]]:
    """Exact method only: single-frame times, certificate, work counts, batch mode, old code."""
    rows: list[dict[str, object]] = []
    for n in sizes:
        nf = frames if n <= 100 else max(5, min(frames, 20_000 // n))
        batch = WpmecBatch.generate(nf, n, seed=seed + n)
        L, g, W = batch.coefficients()
        wall, cpu, obj, gap, nodes, duals = (np.empty(nf) for _ in range(6))
        old_wall, old_obj = np.full(nf, np.nan), np.full(nf, np.nan)
        for k in range(nf):
            sl = slice(k, k + 1)
            with _Counter() as cnt:
                t0, c0 = time.perf_counter(), time.process_time()
                sol = exact_batch(L[sl], g[sl], W[sl])
                wall[k], cpu[k] = time.perf_counter() - t0, time.process_time() - c0
            obj[k], gap[k], nodes[k], duals[k] = (sol.objective[0], sol.gap[0], sol.nodes[0],
                                                  cnt.calls)
            if old is not None:
                c0 = time.process_time()
                ref = old.exact_batch(L[sl], g[sl], W[sl])
                old_wall[k], old_obj[k] = time.process_time() - c0, ref.objective[0]
        bcpu = float("nan")
        if n <= 100:
            bb = WpmecBatch.generate(batch_frames, n, seed=seed + 1000 + n)
            c0 = time.process_time()
            bsol = solve_batch(bb, "exact")
            bcpu = (time.process_time() - c0) / batch_frames
            assert float(bsol.gap.max()) <= 1e-6
        rows.append({
            "n_users": n, "frames": nf,
            "wall_median_ms": 1e3 * float(np.median(wall)),
            "wall_p95_ms": 1e3 * float(np.percentile(wall, 95)),
            "cpu_median_ms": 1e3 * float(np.median(cpu)),
            "cpu_p95_ms": 1e3 * float(np.percentile(cpu, 95)),
            "max_gap": float(gap.max()), "median_nodes": float(np.median(nodes)),
            "median_dual_calls": float(np.median(duals)),
            "batch_frames": batch_frames if n <= 100 else 0,
            "batch_cpu_ms_per_frame": 1e3 * bcpu,
            "old_cpu_median_ms": 1e3 * float(np.median(old_wall)),
            "old_cpu_p95_ms": 1e3 * float(np.percentile(old_wall, 95)),
            "max_rel_diff_vs_old": float(np.max(np.abs(obj - old_obj) / old_obj)),
        })
    return rows


def compare_old(old: Any, n: int, frames: int, seed: int) -> dict[str, float]:
    """Old batch method vs the new batch and single-frame kernels on ``frames`` frames."""
    batch = WpmecBatch.generate(frames, n, seed=seed + 77 * n)
    L, g, W = batch.coefficients()
    c0 = time.process_time()
    ref = old.exact_batch(L, g, W)
    t_old = time.process_time() - c0
    c0 = time.process_time()
    new = solve_batch(batch, "exact")
    t_new = time.process_time() - c0
    c0 = time.process_time()
    single = np.array([exact_batch(L[k:k + 1], g[k:k + 1], W[k:k + 1]).objective[0]
                       for k in range(frames)])
    t_single = time.process_time() - c0
    both = (ref.gap <= 1e-6) & (new.gap <= 1e-6)
    return {"n_users": n, "frames": frames, "both_certified": int(both.sum()),
            "max_rel_diff_batch": float(np.max(np.abs(new.objective - ref.objective)[both]
                                               / ref.objective[both])),
            "max_rel_diff_single": float(np.max(np.abs(single - ref.objective)[both]
                                                / ref.objective[both])),
            "old_batch_ms_per_frame": 1e3 * t_old / frames,
            "new_batch_ms_per_frame": 1e3 * t_new / frames,
            "new_single_ms_per_frame": 1e3 * t_single / frames}


def _print_exact(rows: list[dict[str, object]]) -> None:
    head = (f"{'N':>5} {'frames':>6} {'wall med':>8} {'wall p95':>8} {'cpu med':>8} "
            f"{'cpu p95':>8} {'max gap':>8} {'nodes':>5} {'duals':>5} {'batch ms/fr':>11} "
            f"{'old cpu med':>11} {'old p95':>8} {'|d obj| old':>11}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['n_users']:>5} {r['frames']:>6} {r['wall_median_ms']:>8.2f} "
              f"{r['wall_p95_ms']:>8.2f} {r['cpu_median_ms']:>8.2f} {r['cpu_p95_ms']:>8.2f} "
              f"{r['max_gap']:>8.1e} {r['median_nodes']:>5.0f} {r['median_dual_calls']:>5.0f} "
              f"{r['batch_cpu_ms_per_frame']:>11.3f} {r['old_cpu_median_ms']:>11.2f} "
              f"{r['old_cpu_p95_ms']:>8.2f} {r['max_rel_diff_vs_old']:>11.1e}")


def _print_compare(old: Any, rev: str | None, frames: int, seed: int) -> None:
    """The old-vs-new block of ``--compare-old`` (nothing without it or with 0 frames)."""
    if old is None or frames <= 0:
        return
    print(f"\nold ({rev}) vs new exact, frames certified by both:")
    for n, fr in ((10, frames), (30, max(1, frames // 10))):
        c = compare_old(old, n, fr, seed)
        print("  " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in c.items()))


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 30])
    ap.add_argument("--frames", type=int, default=200, help="frames per size (single calls)")
    ap.add_argument("--batch-frames", type=int, default=1000, help="frames in the batch run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument("--exact-only", action="store_true",
                    help="only the exact method (single frames, work counts, batch mode)")
    ap.add_argument("--compare-old", metavar="REV", nargs="?", const="814abce", default=None,
                    help="also run the exact method of git revision REV (default 814abce)")
    ap.add_argument("--compare-frames", type=int, default=10_000,
                    help="frames of the old-vs-new comparison at N = 10 (0: skip)")
    args = ap.parse_args(argv)
    old = load_old_exact(args.compare_old) if args.compare_old else None
    if args.exact_only:
        rows = run_exact(args.sizes, args.frames, args.batch_frames, args.seed, old)
        print("exact method, times in ms (machine shared with other jobs: compare CPU times)")
        _print_exact(rows)
        _print_compare(old, args.compare_old, args.compare_frames, args.seed)
        if args.csv:
            with args.csv.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
        return
    rows = run(args.sizes, args.frames, args.batch_frames, args.seed)
    head = (f"{'N':>3} {'method':<12} {'wall med ms':>11} {'wall p95':>9} {'cpu med ms':>10} "
            f"{'cpu p95':>8} {'mean ratio':>11} {'min ratio':>10} {'max gap':>9} {'nodes':>6} "
            f"{'batch cpu ms/frame':>19}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['n_users']:>3} {r['method']:<12} {r['median_ms']:>11.2f} {r['p95_ms']:>9.2f} "
              f"{r['cpu_median_ms']:>10.2f} {r['cpu_p95_ms']:>8.2f} {r['mean_ratio']:>11.6f} "
              f"{r['min_ratio']:>10.6f} {r['max_gap']:>9.1e} {r['mean_nodes']:>6.1f} "
              f"{r['batch_ms_per_frame']:>19.3f}")
    _print_compare(old, args.compare_old, args.compare_frames, args.seed)
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()

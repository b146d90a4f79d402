"""Benchmark: wireless-powered MEC binary offloading, exact vs baselines.

For each N, random DROO-style frames are solved one call per frame (per-instance wall time:
median and p95) by the exact method and by each baseline; baselines are scored by the
evaluator and compared with the exact optimum (mean and min ratio). A second table times the
batch mode (all frames in one vectorised call, amortised time per frame).

Run::

    python -m aigc_opt.benchmarks.wpmec_bench --sizes 10 20 30 --frames 200
    python benchmarks/wpmec_bench.py --csv wpmec.csv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from aigc_opt.metrics.wpmec import evaluate_wpmec
from aigc_opt.problems.wpmec import WpmecBatch, WpmecSpec
from aigc_opt.problems.wpmec_batch import solve_batch
from aigc_opt.problems.wpmec_exact import solve_exact
from aigc_opt.problems.wpmec_heuristics import HEURISTICS

METHODS = ("exact", "cd", "lr", "all_local", "all_offload")


def run(sizes: list[int], frames: int, batch_frames: int, seed: int) -> list[dict[str, object]]:
    """Measure every method at every size; return one row per (N, method)."""
    rows: list[dict[str, object]] = []
    spec = WpmecSpec()
    for n in sizes:
        batch = WpmecBatch.generate(frames, n, seed=seed + n)
        times = {m: np.empty(frames) for m in METHODS}
        obj = {m: np.empty(frames) for m in METHODS}
        gaps = np.empty(frames)
        nodes = np.empty(frames)
        for k in range(frames):
            inst = batch.frame(k)
            t0 = time.perf_counter()
            res = solve_exact(inst, spec)
            times["exact"][k] = time.perf_counter() - t0
            obj["exact"][k] = evaluate_wpmec(inst, res.allocation).objective
            gaps[k] = res.gap
            nodes[k] = res.stats.nodes
            for name in METHODS[1:]:
                t0 = time.perf_counter()
                alloc = HEURISTICS[name](inst, spec, seed=k)
                times[name][k] = time.perf_counter() - t0
                obj[name][k] = evaluate_wpmec(inst, alloc).objective
        bt = {}
        bbatch = WpmecBatch.generate(batch_frames, n, seed=seed + 1000 + n)
        for m in METHODS:
            sol = solve_batch(bbatch, m, seed=seed)
            bt[m] = sol.seconds / batch_frames
            if m == "exact":
                bgap = float(np.max(sol.gap))
        for m in METHODS:
            ratio = obj[m] / obj["exact"]
            rows.append({
                "n_users": n, "method": m, "frames": frames,
                "median_ms": 1e3 * float(np.median(times[m])),
                "p95_ms": 1e3 * float(np.percentile(times[m], 95)),
                "mean_ratio": float(ratio.mean()), "min_ratio": float(ratio.min()),
                "max_gap": float(gaps.max()) if m == "exact" else float("nan"),
                "mean_nodes": float(nodes.mean()) if m == "exact" else float("nan"),
                "batch_frames": batch_frames, "batch_ms_per_frame": 1e3 * bt[m],
                "batch_max_gap": bgap if m == "exact" else float("nan"),
            })
    return rows


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 30])
    ap.add_argument("--frames", type=int, default=200, help="frames per size (single calls)")
    ap.add_argument("--batch-frames", type=int, default=1000, help="frames in the batch run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = run(args.sizes, args.frames, args.batch_frames, args.seed)
    head = (f"{'N':>3} {'method':<12} {'median ms':>10} {'p95 ms':>8} {'mean ratio':>11} "
            f"{'min ratio':>10} {'max gap':>9} {'nodes':>6} {'batch ms/frame':>15}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['n_users']:>3} {r['method']:<12} {r['median_ms']:>10.2f} {r['p95_ms']:>8.2f} "
              f"{r['mean_ratio']:>11.6f} {r['min_ratio']:>10.6f} {r['max_gap']:>9.1e} "
              f"{r['mean_nodes']:>6.1f} {r['batch_ms_per_frame']:>15.3f}")
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()

"""Benchmark: wireless-powered MEC binary offloading, exact vs baselines.

For each N, random DROO-style frames are solved one call per frame (per-instance wall time:
median and p95) by the exact method and by each baseline; baselines are scored by the
evaluator and compared with the exact optimum (mean and min ratio). The last column times the
batch mode (all frames in one vectorised call, amortised CPU time per frame). Both wall time
and process CPU time are shown: on a shared machine the CPU time is the fairer "one core"
figure.

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

from aigc_opt.problems.wpmec import WpmecBatch, WpmecSpec
from aigc_opt.problems.wpmec.batch import solve_batch
from aigc_opt.problems.wpmec.evaluate import evaluate_wpmec
from aigc_opt.problems.wpmec.exact import solve_exact
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
    if args.csv:
        with args.csv.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()

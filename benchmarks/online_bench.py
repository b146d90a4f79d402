"""Benchmark: online LyDROO control (exact drift-plus-penalty vs baselines).

Sections (all on LyDROO's environment, :func:`aigc_opt.problems.online.lydroo_profile`):

1. time per frame of exact control inside a simulation at N = 10, 30, 100 (wall and CPU
   time, branch-and-bound nodes, worst certified gap);
2. optionally (``--long``) 10,000 slots at N = 30, total wall time;
3. a V sweep: time-average weighted rate, average backlog, average energy vs V, and the
   fitted log-log slopes of the backlog and of the gap to the offline bound
   (:func:`aigc_opt.problems.online.offline_bound`) against V;
4. exact vs quantised (order-preserving, K = N) vs myopic vs local-only vs offload-all.

Run::

    python -m aigc_opt.benchmarks.online_bench
    python benchmarks/online_bench.py --slots 200 --sweep-slots 500 --long
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from aigc_opt.problems.online import (
    FrameDecision,
    LyapunovSpec,
    SlotState,
    generate_trajectory,
    lydroo_profile,
    make_controller,
    offline_bound,
    simulate,
)
from aigc_opt.problems.online.evaluate import evaluate_simulation
from aigc_opt.problems.online.sim import CONTROLLERS, LyapunovExact


class _Recorder:
    """Wraps the exact controller to record nodes and gaps per frame."""

    def __init__(self, spec: LyapunovSpec) -> None:
        self.inner = LyapunovExact(spec=spec)
        self.name = "exact"
        self.nodes: list[int] = []
        self.gaps: list[float] = []

    def reset(self) -> None:
        self.inner.reset()

    def act(self, state: SlotState) -> FrameDecision:
        dec = self.inner.act(state)
        assert self.inner.last is not None
        self.nodes.append(self.inner.last.nodes)
        self.gaps.append(self.inner.last.gap)
        return dec


def timing(sizes: list[int], slots: int, seed: int) -> None:
    spec = LyapunovSpec()
    print(f"\n1. exact control, time per frame ({slots} slots per size)")
    print(f"{'N':>5} {'ms/frame':>9} {'p95 ms':>8} {'cpu ms':>8} {'nodes':>7} {'max nodes':>9} "
          f"{'max gap':>9} {'backlog Mbit':>12}")
    for n in sizes:
        tr = generate_trajectory(lydroo_profile(n, slots), seed)
        rec = _Recorder(spec)
        c0 = time.process_time()
        res = simulate(tr, spec, rec)
        cpu = (time.process_time() - c0) / slots * 1e3
        p95 = np.percentile(res.seconds, 95) * 1e3
        print(f"{n:>5} {res.seconds.mean() * 1e3:>9.2f} {p95:>8.2f} {cpu:>8.2f}"
              f" {np.mean(rec.nodes):>7.1f} {max(rec.nodes):>9d}"
              f" {max(rec.gaps):>9.1e} {res.average_backlog_bits() / 1e6:>12.2f}")


def long_run(n: int, slots: int, seed: int) -> None:
    spec = LyapunovSpec()
    tr = generate_trajectory(lydroo_profile(n, slots), seed)
    t0 = time.perf_counter()
    res = simulate(tr, spec, make_controller("exact", spec))
    wall = time.perf_counter() - t0
    print(f"\n2. {slots} slots at N = {n}: {wall:.1f} s wall "
          f"({res.seconds.mean() * 1e3:.2f} ms/frame in the controller)")


def v_sweep(values: list[float], n: int, slots: int, seed: int) -> None:
    tr = generate_trajectory(lydroo_profile(n, slots), seed)
    print(f"\n3. V sweep (N = {n}, T = {slots}); bound = offline bound at each run's own "
          "per-user average energy (>= gamma)")
    print(f"{'V':>8} {'rate Mbit/s':>12} {'bound':>10} {'gap':>9} {'backlog Mbit':>12} "
          f"{'avg e J':>8} {'max e J':>8} {'avg Y':>8}")
    rows = []
    for v in values:
        spec = LyapunovSpec(V=v)
        res = simulate(tr, spec, make_controller("exact", spec))
        m = evaluate_simulation(tr, res, spec)
        e = res.average_energy_j()
        ob = offline_bound(tr, spec, energy_budget_j=np.maximum(spec.energy_threshold_j, e),
                           iterations=10)
        rate = m.objective
        rows.append((v, rate, ob.bound_bps, m.totals["average_backlog_bits"]))
        print(f"{v:>8g} {rate / 1e6:>12.4f} {ob.bound_bps / 1e6:>10.4f} "
              f"{(ob.bound_bps - rate) / 1e6:>9.4f} {m.totals['average_backlog_bits'] / 1e6:>12.3f}"
              f" {e.mean():>8.4f} {e.max():>8.4f} {res.virtual_queues[:-1].mean():>8.2f}")
    arr = np.asarray(rows)
    pos = arr[:, 0] > 0
    lv = np.log(arr[pos, 0])
    slope_q = np.polyfit(lv, np.log(arr[pos, 3]), 1)[0]
    gap = arr[pos, 2] - arr[pos, 1]
    ok = gap > 0
    slope_g = np.polyfit(lv[ok], np.log(gap[ok]), 1)[0] if ok.sum() >= 2 else float("nan")
    print(f"   log-log slope: backlog vs V {slope_q:+.3f}, (bound - rate) vs V {slope_g:+.3f}")
    print("   (the O(V) / O(1/V) trade-off of drift-plus-penalty bounds the joint queue vector "
          "(Q, Y); in LyDROO's form V raises the service weight Q + V w against the energy "
          "price 10 Y, so the data backlog need not grow with V)")


def compare(n: int, slots: int, seed: int) -> None:
    spec = LyapunovSpec()
    tr = generate_trajectory(lydroo_profile(n, slots), seed)
    print(f"\n4. controllers on the LyDROO profile (N = {n}, T = {slots}, V = {spec.V:g})")
    print(f"{'controller':>10} {'rate Mbit/s':>12} {'backlog Mbit':>12} {'final Mbit':>10} "
          f"{'avg e J':>8} {'max e J':>8} {'ms/frame':>9} {'feasible':>8}")
    for name in CONTROLLERS:
        res = simulate(tr, spec, make_controller(name, spec))
        m = evaluate_simulation(tr, res, spec)
        e = res.average_energy_j()
        print(f"{name:>10} {m.objective / 1e6:>12.4f} "
              f"{m.totals['average_backlog_bits'] / 1e6:>12.3f} "
              f"{m.totals['final_backlog_bits'] / 1e6:>10.3f} {e.mean():>8.4f} {e.max():>8.4f} "
              f"{res.seconds.mean() * 1e3:>9.2f} {str(m.feasible):>8}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 30, 100])
    ap.add_argument("--slots", type=int, default=200, help="slots per size for the timing")
    ap.add_argument("--long", action="store_true", help="also run 10,000 slots at N = 30")
    ap.add_argument("--sweep", type=float, nargs="+", default=[1, 3, 10, 30, 100, 300])
    ap.add_argument("--sweep-slots", type=int, default=500)
    ap.add_argument("--compare-slots", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    timing(args.sizes, args.slots, args.seed)
    if args.long:
        long_run(30, 10_000, args.seed)
    v_sweep(args.sweep, 10, args.sweep_slots, args.seed)
    compare(10, args.compare_slots, args.seed)


if __name__ == "__main__":
    main()

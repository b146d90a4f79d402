"""Benchmark: online LyDROO control (exact drift-plus-penalty vs baselines).

Sections (all on LyDROO's environment, :func:`aigc_opt.problems.online.lydroo_profile`):

1. time per frame of exact control inside a simulation at N = 10, 30, 100 (wall and CPU
   time, branch-and-bound nodes, worst certified gap);
2. optionally (``--long``) 10,000 slots at N = 30, total wall time;
3. a V sweep (second-half averages): (a) LyDROO's model -- rate, data backlog Q, energy
   queue Y; (b) infinitely backlogged users -- certified gap to the per-user Lagrangian
   bound (:func:`aigc_opt.problems.online.lagrangian_bound`, :func:`lagrangian_gap`) and
   average Y, with log-log slopes fitted in the asymptotic regime (theory: -1 and +1);
4. exact vs quantised (order-preserving, K = N) vs myopic vs local-only vs offload-all.

Run::

    python -m aigc_opt.benchmarks.online_bench
    python benchmarks/online_bench.py --slots 200 --sweep-slots 500 --long
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from aigc_opt.problems.online import (
    BackloggedLyapunov,
    FrameDecision,
    LyapunovSpec,
    SlotState,
    generate_trajectory,
    lagrangian_bound,
    lagrangian_gap,
    lydroo_profile,
    make_controller,
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
    """Section 2: the whole pipeline of a long run, wall and CPU time per stage."""
    spec = LyapunovSpec()
    w0, c0 = time.perf_counter(), time.process_time()
    tr = generate_trajectory(lydroo_profile(n, slots), seed)
    c1 = time.process_time()
    res = simulate(tr, spec, make_controller("exact", spec))
    c2 = time.process_time()
    met = evaluate_simulation(tr, res, spec)
    w3, c3 = time.perf_counter(), time.process_time()
    print(f"\n2. {slots} slots at N = {n}: {w3 - w0:.1f} s wall, {c3 - c0:.1f} s CPU "
          f"(trajectory {c1 - c0:.2f} s, simulation {c2 - c1:.1f} s of which controller "
          f"{res.seconds.sum():.1f} s wall, referee {c3 - c2:.2f} s CPU; "
          f"{res.seconds.mean() * 1e3:.2f} ms/frame; feasible {met.feasible})")


def _slope(v: np.ndarray, y: np.ndarray) -> float:
    ok = (v > 0) & (y > 0)
    return float(np.polyfit(np.log(v[ok]), np.log(y[ok]), 1)[0]) if ok.sum() >= 2 else math.nan


def theory_regime(spec: LyapunovSpec, mu: np.ndarray) -> float:
    """Smallest V of the asymptotic regime: the equilibrium energy queue ``Y*_i = V mu_i /
    (y_scale b0)`` must exceed the per-slot increment scale ``nu gamma`` for every user
    whose budget binds (``mu_i > 0``)."""
    pos = mu[mu > 0]
    return float(spec.nu_per_j * spec.energy_threshold_j * spec.y_scale
                 * spec.queue_unit_bits / pos.min()) if pos.size else math.inf


def v_sweep(values: list[float], n: int, slots: int, seed: int, slots_b: int) -> None:
    """Section 3: the O(1/V) / O(V) trade-off of drift-plus-penalty, measured (3a on
    ``slots``, 3b on ``slots_b`` slots: its Y process mixes in O(V) slots)."""
    tr = generate_trajectory(lydroo_profile(n, slots), seed)
    half = slots // 2
    base = LyapunovSpec()
    w = base.weights_for(n)
    print(f"\n3. V sweep (N = {n}, T = {slots}; averages over the second half t >= {half})")
    print("3a. LyDROO's model (data queues, r <= Q): exact control, Y(0) = Q(0) = 0")
    print(f"{'V':>7} {'rate Mbit/s':>11} {'w.A Mbit/s':>10} {'Q Mbit':>8} {'Y':>9} "
          f"{'avg e J':>8}")
    rows_a = []
    arr_rate = float((tr.arrivals_bits[half:] @ w).mean())
    for v in values:
        spec = LyapunovSpec(V=v)
        res = simulate(tr, spec, make_controller("exact", spec))
        rate = float((res.bits[half:] @ w).mean())
        q = float(res.queues_bits[half:-1].mean())
        y = float(res.virtual_queues[half:-1].mean())
        rows_a.append((v, q, y))
        print(f"{v:>7g} {rate / 1e6:>11.4f} {arr_rate / 1e6:>10.4f} {q / 1e6:>8.3f} {y:>9.2f} "
              f"{res.energy_j[half:].mean():>8.4f}")
    ra = np.asarray(rows_a)
    big = ra[:, 0] >= 100
    lo = int(np.argmin(ra[:, 0]))  # the smallest V run (0 in the default sweep)
    print(f"   slopes on V >= 100: Y vs V {_slope(ra[big, 0], ra[big, 2]):+.3f}, "
          f"Q vs V {_slope(ra[big, 0], ra[big, 1]):+.3f}; V = {ra[lo, 0]:g} backlog "
          f"Q {ra[lo, 1] / 1e6:.2f} Mbit, Y {ra[lo, 2]:.1f}; min over V: Q "
          f"{ra[:, 1].min() / 1e6:.2f} Mbit at V = {ra[int(np.argmin(ra[:, 1])), 0]:g}")
    if ra[lo, 0] == 0 and (ra[:, 1].min() < ra[lo, 1] or ra[:, 2].min() < ra[lo, 2]):
        print("   V = 0 (greedy one-slot drift minimisation) does NOT minimise the time-average "
              "backlog here")
    print("   (stable queues pin the rate at the arrival rate w.A for every V, so the penalty gap"
          " is ~0 for all V and has no 1/V law; see 3b)")

    slots = slots_b
    half = slots // 2
    tr = generate_trajectory(lydroo_profile(n, slots), seed)
    t0 = time.process_time()
    lb = lagrangian_bound(tr, base)
    v0 = theory_regime(base, lb.mu)
    print(f"3b. infinitely backlogged users (energy queues only, BackloggedLyapunov), T = "
          f"{slots}, averages over t >= {half}, "
          f"Y(0) = V mu*/(y_scale b0); per-user Lagrangian bound {lb.bound_bps / 1e6:.5f} "
          f"Mbit/s ({lb.evaluations} evaluations, {time.process_time() - t0:.1f} s CPU, "
          f"max |grad| {np.abs(lb.energy_budget_j - lb.energy_j).max():.1e} J); "
          f"regime V >= {v0:.0f}")
    print(f"{'V':>7} {'rate Mbit/s':>11} {'gap bit/s':>11} {'V*gap':>10} {'avg Y':>9} "
          f"{'Y/V':>6} {'avg e J':>8} {'(Y(T)-Y(T/2))/(nu T/2)':>22}")
    rows = []
    for v in values:
        spec = LyapunovSpec(V=v)
        y0 = v * lb.mu / (spec.y_scale * spec.queue_unit_bits)
        res = simulate(tr, spec, BackloggedLyapunov(spec=spec),
                       initial_queues_bits=np.full(n, 1e15), initial_virtual_queues=y0)
        gap = lagrangian_gap(lb, tr, spec, res, start=half)
        rate = float((res.bits[half:] @ w).mean())
        y = float(res.virtual_queues[half:-1].mean())
        drift = float((res.virtual_queues[-1] - res.virtual_queues[half]).max()
                      / (spec.nu_per_j * (slots - half)))
        rows.append((v, gap, y))
        print(f"{v:>7g} {rate / 1e6:>11.5f} {gap:>11.4g} {v * gap:>10.4g} {y:>9.2f} "
              f"{y / v if v else math.nan:>6.3f} {res.energy_j[half:].mean():>8.5f} "
              f"{drift:>22.2e}")
    rb = np.asarray(rows)
    reg = rb[:, 0] >= v0
    print(f"   fitted on V >= {v0:.0f} ({int(reg.sum())} points): gap ~ V^"
          f"{_slope(rb[reg, 0], rb[reg, 1]):+.3f} (theory -1), avg Y ~ V^"
          f"{_slope(rb[reg, 0], rb[reg, 2]):+.3f} (theory +1); tested (tests/test_online_theory"
          ".py): Y slope 1 +- 0.1, gap slope -1 +- 0.25 at N = 10, T = 8000")


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
    ap.add_argument("--sweep", type=float, nargs="+",
                    default=[0, 10, 30, 100, 300, 1000, 3000, 10000])
    ap.add_argument("--sweep-slots", type=int, default=2000, help="T of the 3a sweep")
    ap.add_argument("--theory-slots", type=int, default=8000, help="T of the 3b sweep")
    ap.add_argument("--compare-slots", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    timing(args.sizes, args.slots, args.seed)
    if args.long:
        long_run(30, 10_000, args.seed)
    v_sweep(args.sweep, 10, args.sweep_slots, args.seed, args.theory_slots)
    compare(10, args.compare_slots, args.seed)


if __name__ == "__main__":
    main()

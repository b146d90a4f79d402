"""Online family, control: simulator, referee, LyDROO stability, offline yardstick, cases."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import aigc_opt
from aigc_opt.cases import get_case
from aigc_opt.problems.online import (
    EnvironmentProfile,
    FrameDecision,
    LyapunovExact,
    LyapunovSpec,
    SimulationResult,
    generate_trajectory,
    lydroo_profile,
    make_controller,
    offline_bound,
    simulate,
)
from aigc_opt.problems.online.data import Controller
from aigc_opt.problems.online.sim import CONTROLLERS

SPEC = LyapunovSpec()


@pytest.fixture(scope="module")
def lydroo_run() -> tuple:
    tr = generate_trajectory(lydroo_profile(10, 600), seed=7)
    return tr, simulate(tr, SPEC, LyapunovExact(spec=SPEC))


def test_controllers_follow_the_protocol() -> None:
    for name in CONTROLLERS:
        assert isinstance(make_controller(name, SPEC), Controller)


def test_simulation_is_pure_and_recomputed_by_the_referee() -> None:
    tr = generate_trajectory(lydroo_profile(5, 40), seed=1)
    before = tr.gains.copy()
    results = {name: simulate(tr, SPEC, make_controller(name, SPEC)) for name in CONTROLLERS}
    np.testing.assert_array_equal(tr.gains, before)
    for name, res in results.items():
        assert not res.queues_bits.flags.writeable
        m = aigc_opt.evaluate(tr, res, SPEC)
        assert m.feasible, (name, dict(m.violations))
        assert m.objective == pytest.approx(res.weighted_rate(SPEC, tr.tau_s), rel=1e-12)
        assert res.queues_bits.shape == (41, 5)
    again = simulate(tr, SPEC, make_controller("exact", SPEC))
    np.testing.assert_array_equal(again.bits, results["exact"].bits)


def test_referee_catches_tampered_records() -> None:
    tr = generate_trajectory(lydroo_profile(4, 20), seed=2)
    res = simulate(tr, SPEC, make_controller("exact", SPEC))
    q = np.array(res.queues_bits)
    q[5, 1] += 1e6
    bad = dataclasses.replace(res, queues_bits=q)
    assert aigc_opt.evaluate(tr, bad, SPEC).violations["queue_update"] > 1e-3
    tf = np.array(res.time_frac) * 1.5 + np.where(res.offload, 0.3, 0.0)
    m = aigc_opt.evaluate(tr, dataclasses.replace(res, time_frac=tf), SPEC)
    assert not m.feasible and m.violations["time_budget"] > 0
    pw = np.array(res.power_w) * 2.0 + np.where(res.offload, 0.2, 0.0)
    m = aigc_opt.evaluate(tr, dataclasses.replace(res, power_w=pw), SPEC)
    assert m.violations["power_max"] > 0 and m.violations["record_energy"] > 0
    cpu = np.array(res.cpu_hz) + np.where(res.offload, 0.0, 1e9)
    m = aigc_opt.evaluate(tr, dataclasses.replace(res, cpu_hz=cpu), SPEC)
    assert m.violations["cpu_max"] > 0 and m.violations["backlog_cap"] > 0


def test_lydroo_defaults_exact_control_is_stable_and_meets_energy(lydroo_run) -> None:
    tr, res = lydroo_run
    m = aigc_opt.evaluate(tr, res, SPEC)
    assert m.feasible
    t = tr.n_slots
    avg_e = res.average_energy_j()
    # virtual-queue identity: (1/T) sum (e - gamma) <= (Y(T) - Y(0)) / (nu T)
    bound = SPEC.energy_threshold_j + (res.virtual_queues[-1] - res.virtual_queues[0]) / (
        SPEC.nu_per_j * t)
    assert np.all(avg_e <= bound + 1e-12)
    assert np.all(avg_e <= 0.08 + 2.0 / t)
    # rate stability: Q(T)/T small against the 3 Mbit/frame arrivals; served ~ arrived
    assert np.all(res.queues_bits[-1] / t <= 0.05 * 3e6)
    served = res.bits.sum(axis=0)
    arrived = tr.arrivals_bits.sum(axis=0)
    # r <= Q, so the max(., 0) never clips: Q(T) = sum_t A(t) - sum_t r(t)
    np.testing.assert_allclose(served, arrived - res.queues_bits[-1], rtol=1e-9)
    assert served.sum() >= 0.95 * arrived.sum()
    assert res.seconds.mean() < 0.2      # generous: the machine may be shared


def test_exact_beats_every_baseline_on_each_frame_objective(lydroo_run) -> None:
    """Replaying the exact controller's states, every other controller's frame objective is
    at most the certified optimum."""
    tr, res = lydroo_run
    from aigc_opt.problems.online import FrameInstance

    ctrls = {n: make_controller(n, SPEC) for n in ("quantised", "myopic", "local", "offload")}
    for t in range(0, tr.n_slots, 60):
        inst = FrameInstance(tr.gains_to(0)[t], res.queues_bits[t], res.virtual_queues[t])
        exact = make_controller("exact", SPEC).solve(inst)
        assert exact.objective == pytest.approx(res.objective[t], rel=1e-12)
        for c in ctrls.values():
            sol = c.solve(inst)
            m = aigc_opt.evaluate(inst, sol.decision, SPEC)
            assert m.feasible and m.objective == pytest.approx(sol.objective, rel=1e-12)
            assert sol.objective <= exact.bound + 1e-9


def test_v_zero_ignores_the_weights_and_larger_v_serves_more() -> None:
    """V = 0 is pure drift minimisation: max sum Q r - y Y e, the rate weights w play no role
    (swapping them changes nothing). A larger V weights the penalty (weighted rate) more:
    on LyDROO's trajectory the weighted rate at V = 100 is at least the V = 0 one."""
    tr = generate_trajectory(lydroo_profile(6, 150), seed=4)
    a = simulate(tr, LyapunovSpec(V=0.0), make_controller("exact", LyapunovSpec(V=0.0)))
    swapped = LyapunovSpec(V=0.0, weights=(1.0, 1.5, 1.0, 1.5, 1.0, 1.5))
    b = simulate(tr, swapped, make_controller("exact", swapped))
    np.testing.assert_array_equal(a.offload, b.offload)
    np.testing.assert_allclose(a.bits, b.bits, rtol=1e-9, atol=1e-3)
    tr = generate_trajectory(lydroo_profile(10, 300), seed=5)
    rates = {}
    for v in (0.0, 100.0):
        spec = LyapunovSpec(V=v)
        rates[v] = simulate(tr, spec, make_controller("exact", spec)).weighted_rate(spec, 1.0)
    assert rates[100.0] >= rates[0.0]


@pytest.mark.parametrize("profile,seed", [
    (lydroo_profile(6, 50), 5),
    # saturated (30 Mbit/frame): the Lagrangian part of the bound is the binding one
    (EnvironmentProfile(n_users=6, n_slots=30, arrival_mean_bits=30e6), 2),
    (EnvironmentProfile(n_users=5, n_slots=40, mobility="random_waypoint", area_m=300.0,
                        doppler_hz=0.05, arrival_mean_bits=5e6), 3),
])
def test_offline_bound_dominates_every_controller(profile, seed) -> None:
    tr = generate_trajectory(profile, seed)
    runs: dict[str, SimulationResult] = {
        n: simulate(tr, SPEC, make_controller(n, SPEC)) for n in CONTROLLERS}
    base = offline_bound(tr, SPEC, iterations=6)
    for name, res in runs.items():
        budget = np.maximum(SPEC.energy_threshold_j, res.average_energy_j())
        ob = base if np.all(budget <= SPEC.energy_threshold_j) else offline_bound(
            tr, SPEC, energy_budget_j=budget, iterations=6)
        rate = res.weighted_rate(SPEC, tr.tau_s)
        # 1e-7: the frame bounds are certified to 1e-9 (myopic can sit on the bound)
        assert rate <= ob.bound_bps * (1 + 1e-7), (name, rate, ob.bound_bps)


def test_case_kinds_and_registered_methods_verify() -> None:
    frame = get_case("online.frame")
    inst = frame.make_instance(3, n_users=7)
    spec = frame.make_spec(V=10.0)
    exact = aigc_opt.run_method(inst, spec, "exact")
    assert exact.optimal and exact.verified and exact.gap <= 1e-8
    for name in frame.default_methods:
        r = aigc_opt.run_method(inst, spec, name)
        assert r.verified and r.objective <= exact.bound + 1e-9
    traj = get_case("online.lyapunov")
    tr = traj.make_instance(1, n_users=4, n_slots=30)
    r = aigc_opt.run_method(tr, traj.make_spec(V=5.0), "quantised")
    assert r.verified and isinstance(r.allocation, SimulationResult)


def test_quantised_adaptive_k_shrinks_when_the_first_candidate_wins() -> None:
    """With a relaxed score that points at the exact modes, candidate 0 always wins, so the
    code's adaptive rule sets K = min(max index + 2, N) = 2 after ``delta`` frames."""
    from aigc_opt.problems.online import FrameInstance, LyDROOQuantised, solve_frame

    def oracle(spec: LyapunovSpec, inst: FrameInstance) -> np.ndarray:
        return np.where(solve_frame(spec, inst).decision.offload, 0.9, 0.1)

    tr = generate_trajectory(lydroo_profile(6, 12), seed=3)
    ctrl = LyDROOQuantised(spec=SPEC, score_fn=oracle, adaptive=True, delta=4)
    res = simulate(tr, SPEC, ctrl)
    assert ctrl._k_now == 2
    exact = simulate(tr, SPEC, make_controller("exact", SPEC))
    np.testing.assert_allclose(res.objective, exact.objective, rtol=1e-12)


@pytest.mark.parametrize("bad", [np.zeros(5), np.full(3, np.nan), -np.ones(3),
                                 np.full(3, 1e300)])
def test_initial_queues_are_checked_by_name(bad: np.ndarray) -> None:
    """A wrong length had raised numpy's broadcast ValueError; NaN and negative queues had
    been taken as given; 1e300 was refused at slot 0 under FrameInstance's field names. The
    energy virtual queue is in units of nu x J ('-'), not J (an outside tester, tk)."""
    tr = generate_trajectory(lydroo_profile(3, 4), seed=0)
    for name, unit in (("initial_queues_bits", "[bit]"), ("initial_virtual_queues", "[-]")):
        with pytest.raises(aigc_opt.ValidationError, match=name) as err:
            simulate(tr, SPEC, make_controller("local", SPEC), **{name: bad})
        assert str(err.value).startswith(f"{name} {unit} = "), err.value


@pytest.mark.parametrize("method", ["exact", "quantised"])
def test_trajectory_methods_stop_at_the_time_limit_and_say_so(method: str) -> None:
    """run_method never read the options: time_limit=1 ran 10.7 s ('exact', N=10,
    T=12,000) and came back 'feasible' with an empty message."""
    import time

    tr = generate_trajectory(lydroo_profile(10, 2000), seed=0)  # 2-3 s unbounded
    t0 = time.perf_counter()
    r = aigc_opt.run_method(tr, SPEC, method, time_limit=0.05)
    assert time.perf_counter() - t0 < 1.5
    assert r.termination == aigc_opt.Termination.LIMIT and not r.has_solution
    assert r.allocation is None and not r.verified  # a partial run is no trajectory result
    done = int(r.message.split("simulated ")[1].split(" of 2000 slots")[0])
    assert 1 <= done < 2000 and "time limit 0.05 s" in r.message
    # within its limit the run is whole and goes through the referee
    short = aigc_opt.run_method(generate_trajectory(lydroo_profile(4, 20), seed=1), SPEC,
                                method, time_limit=60.0)
    assert short.termination == aigc_opt.Termination.FEASIBLE and short.verified
    assert short.allocation.bits.shape == (20, 4)


def test_simulate_deadline_raises_out_of_time_with_the_slots_run() -> None:
    import time

    from aigc_opt.errors import OutOfTime

    tr = generate_trajectory(lydroo_profile(3, 6), seed=0)
    with pytest.raises(OutOfTime, match="after slot 1 of 6") as info:
        simulate(tr, SPEC, make_controller("local", SPEC), deadline=time.perf_counter() - 1.0)
    assert (info.value.done, info.value.total) == (1, 6)


@pytest.mark.parametrize(("make", "field"), [
    (lambda: FrameDecision(np.zeros(4, bool), np.zeros(4), np.zeros(4), np.zeros(4)),
     "decision.offload"),
    (lambda: FrameDecision(np.zeros(2, bool), np.zeros(2), np.zeros(2), np.zeros(2)),
     "decision.offload"),
    (lambda: None, "decision"),
    (lambda: {"offload": np.zeros(3, bool)}, "decision"),
], ids=["4 users for 3", "2 users for 3", "None", "a dict"])
def test_controller_decision_is_checked_by_name(make: Any, field: str) -> None:
    """A decision for 4 users on a 3-user trajectory raised numpy's broadcast ValueError,
    None an AttributeError."""

    class Bad:
        name = "bad"

        def reset(self) -> None:
            pass

        def act(self, state: Any) -> Any:
            return make()

    tr = generate_trajectory(lydroo_profile(3, 4), seed=0)
    with pytest.raises(aigc_opt.ValidationError, match="controller 'bad', slot 0") as err:
        simulate(tr, SPEC, Bad())
    assert err.value.field == field

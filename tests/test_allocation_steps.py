"""Step allocation MILP (edge-only and hybrid): brute force, second backend, evaluator, errors."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems.allocation import (
    HYBRID_STEPS_CASE,
    STEPS_CASE,
    HybridStepsSpec,
    StepsSpec,
    allocation_from_steps,
    steps_scenario,
)
from aigc_opt.problems.offloading.data import OffloadObjective

OBJ_RTOL = 1e-6
EXACT = ao.SolveOptions(mip_gap=0.0)


def tiny(seed: int, **overrides: object) -> ao.Scenario:
    """3 requests, 2 servers; a device fast enough that hybrid splits pay off sometimes."""
    base: dict[str, object] = {"user_compute_flops": np.full(3, 6e9)}
    base.update(overrides)
    return steps_scenario(3, 2, 2, seed=seed, profile="hybrid_icc2025", **base)


def brute_force(scn: ao.Scenario, spec: StepsSpec) -> tuple[float, tuple[tuple[int, int], ...]]:
    """Best evaluator objective over every (edge, device) step choice; inf if none is feasible."""
    lev = spec.levels or tuple(range(1, spec.max_steps + 1))
    if spec.hybrid:
        pairs = [(e, k - e) for k in lev for e in range(spec.min_edge_steps, k + 1)]
    else:
        pairs = [(k, 0) for k in lev]
    best = np.inf
    arg: tuple[tuple[int, int], ...] = ()
    for combo in itertools.product(pairs, repeat=scn.n_users):
        ke = np.array([c[0] for c in combo], dtype=float)
        kd = np.array([c[1] for c in combo], dtype=float)
        met = ao.evaluate(scn, allocation_from_steps(scn, ke, kd), spec.objective)
        if met.feasible and met.objective < best:
            best, arg = met.objective, combo
    return best, arg


def check_consistent(scn: ao.Scenario, spec: StepsSpec, res: ao.Result) -> ao.Metrics:
    assert res.optimal, res.message
    met = ao.evaluate(scn, res.allocation, spec)
    assert met.feasible, {k: v for k, v in met.violations.items() if v > 1e-6}
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL, atol=1e-9)
    return met


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("deadline", ["hard", "penalty"])
def test_edge_steps_equal_brute_force(seed: int, deadline: str) -> None:
    # slow edge GPU (0.01 s per step per request): the shared batch time couples requests
    dl = np.array([0.5, 0.9, 1.4]) if deadline == "hard" else np.array([0.3, 0.4, 0.6])
    scn = tiny(seed, request_deadline_s=dl, server_compute_flops=np.full(2, 1.5e9))
    obj = OffloadObjective(latency=1.0, device_energy=0.5, server_energy=2.0, quality=1.0,
                           deadline=deadline, deadline_penalty=3.0)
    spec = StepsSpec(objective=obj, levels=(1, 3, 6, 10, 16, 25))
    best, _ = brute_force(scn, spec)
    res = ao.solve(scn, spec, "highs", options=EXACT)
    if not np.isfinite(best):
        assert res.termination is ao.Termination.INFEASIBLE
        return
    check_consistent(scn, spec, res)
    np.testing.assert_allclose(res.objective, best, rtol=OBJ_RTOL, atol=1e-9)


@pytest.mark.parametrize("max_steps", [4, pytest.param(6, marks=pytest.mark.slow)])
def test_hybrid_steps_equal_brute_force(max_steps: int) -> None:
    used_device = False
    for seed in range(3):
        # a slow edge GPU (0.005 s per step per request) makes device steps worth it
        scn = tiny(seed, request_deadline_s=np.array([0.4, 0.6, 2.0]),
                   server_compute_flops=np.full(2, 3e9))
        obj = OffloadObjective(latency=2.0, device_energy=0.01, quality=1.0)
        spec = HybridStepsSpec(objective=obj, max_steps=max_steps)
        best, arg = brute_force(scn, spec)
        res = ao.solve(scn, spec, "highs", options=EXACT)
        check_consistent(scn, spec, res)
        np.testing.assert_allclose(res.objective, best, rtol=OBJ_RTOL, atol=1e-9)
        used_device |= bool(res.allocation.device_steps.sum() > 0)
    assert used_device, "no instance exercised the device part of the split"


@pytest.mark.parametrize("kind", ["sigmoid", "piecewise_linear", "tabulated"])
def test_every_curve_kind_equals_brute_force(kind: str) -> None:
    """Levels straddle the breakpoints (1, 10, 20, 35, 50): flat tabulated runs get pruned."""
    for seed in range(2):
        scn = tiny(seed, request_deadline_s=np.array([0.4, 0.7, 1.2]),
                   server_compute_flops=np.full(2, 1.5e9),
                   model_quality_kind=np.array([kind, kind]))
        obj = OffloadObjective(latency=1.0, device_energy=0.2, quality=2.0)
        for spec in (StepsSpec(objective=obj, levels=(1, 5, 10, 15, 20, 35)),
                     HybridStepsSpec(objective=obj, levels=(1, 9, 10, 11), min_edge_steps=9)):
            best, _ = brute_force(scn, spec)
            res = ao.solve(scn, spec, "highs", options=EXACT)
            check_consistent(scn, spec, res)
            np.testing.assert_allclose(res.objective, best, rtol=OBJ_RTOL, atol=1e-9)


def test_dominated_levels_pruned_only_on_flat_runs() -> None:
    scn = tiny(0, model_quality_kind=np.array(["tabulated", "sigmoid"]))
    spec = StepsSpec(levels=(1, 5, 10, 15, 20))
    prog = spec.build(scn)
    zub = prog.col_upper[: 3 * 5].reshape(3, 5)
    tab = scn.model_quality_kind[scn.request_model] == "tabulated"
    # tabulated with breakpoints 1, 10, 20: levels 5 and 15 repeat the value of 1 and 10
    np.testing.assert_array_equal(zub[tab], np.tile([1, 0, 1, 0, 1], (int(tab.sum()), 1)))
    np.testing.assert_array_equal(zub[~tab], 1.0)


def test_infeasible_deadline_is_a_status() -> None:
    scn = tiny(0, request_deadline_s=np.array([1e-4, 1.0, 1.0]))
    res = ao.solve(scn, StepsSpec(max_steps=5), "highs")
    assert res.termination is ao.Termination.INFEASIBLE
    assert res.allocation is None


@pytest.mark.parametrize("spec", [StepsSpec(max_steps=30, cap_at_requested=True),
                                  HybridStepsSpec(max_steps=30, min_edge_steps=2)])
def test_highs_and_cvxpy_agree(spec: StepsSpec) -> None:
    scn = steps_scenario(16, 2, 3, seed=3, profile="hybrid_icc2025")
    a = ao.solve(scn, spec, "highs", options=EXACT)
    b = ao.solve(scn, spec, "cvxpy", options=EXACT)
    check_consistent(scn, spec, a)
    check_consistent(scn, spec, b)
    np.testing.assert_allclose(a.objective, b.objective, rtol=OBJ_RTOL)
    assert (a.allocation.remote_steps >= spec.min_edge_steps).all()
    if spec.cap_at_requested:
        assert (a.allocation.steps <= scn.request_steps).all()


def test_generated_case_and_epsilon_rows() -> None:
    kind = STEPS_CASE
    scn = kind.make_instance(0)
    spec = kind.make_spec(max_steps=40)
    res = ao.solve(scn, spec, "highs", options=EXACT)
    check_consistent(scn, spec, res)
    m0 = spec.pareto_metrics(scn, res.allocation)
    # bound latency below the unconstrained optimum: the row must bind and quality must drop
    tight = spec.with_epsilon("latency", 0.9 * m0["latency"])
    r1 = ao.solve(scn, tight, "highs", options=EXACT)
    check_consistent(scn, tight, r1)
    m1 = tight.pareto_metrics(scn, r1.allocation)
    assert m1["latency"] <= 0.9 * m0["latency"] * (1 + 1e-9)
    assert m1["quality"] < m0["quality"]
    assert r1.objective >= res.objective - 1e-9
    for metric, factor in (("energy", 0.8), ("quality", 1.0)):
        sp_ = spec.with_epsilon(metric, factor * m0[metric])
        r = ao.solve(scn, sp_, "highs", options=EXACT)
        check_consistent(scn, sp_, r)
        if metric == "quality":  # a non-binding row leaves the optimum unchanged
            np.testing.assert_allclose(r.objective, res.objective, rtol=1e-6)
        m = sp_.pareto_metrics(scn, r.allocation)
        if metric == "energy":
            assert m["energy"] <= 0.8 * m0["energy"] * (1 + 1e-9)
        else:
            assert m["quality"] >= m0["quality"] * (1 - 1e-9)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"levels": (3, 2)}, "levels"),
        ({"levels": (0, 2)}, "levels"),
        ({"min_edge_steps": 0}, "min_edge_steps"),
        ({"epsilon": (("speed", 1.0),)}, "epsilon"),
        ({"epsilon": (("latency", float("nan")),)}, "epsilon"),
    ],
)
def test_bad_spec_names_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        StepsSpec(**kwargs)
    assert err.value.field == field
    assert field in str(err.value)


def test_bad_scenario_names_field() -> None:
    scn = tiny(0)
    few_slots = scn.replace(server_gpu_slots=np.ones(2, dtype=int))
    with pytest.raises(ValidationError, match="server_gpu_slots"):
        StepsSpec().build(few_slots)
    small_mem = scn.replace(server_gpu_memory_bytes=np.full(2, 1e6))
    with pytest.raises(ValidationError, match="server_gpu_memory_bytes"):
        StepsSpec().build(small_mem)


def test_weights_change_objective() -> None:
    spec = StepsSpec()
    w = spec.with_weights(latency=2.0, energy=3.0, quality=4.0)
    assert (w.objective.latency, w.objective.device_energy, w.objective.server_energy,
            w.objective.quality) == (2.0, 3.0, 3.0, 4.0)
    assert dataclasses.replace(w, epsilon=()).epsilon == ()
    assert type(HybridStepsSpec().with_weights(latency=1, energy=1, quality=1)) is HybridStepsSpec


def test_hybrid_case_kind_solves() -> None:
    scn = HYBRID_STEPS_CASE.make_instance(1)
    spec = HYBRID_STEPS_CASE.make_spec(max_steps=25)
    assert isinstance(spec, HybridStepsSpec)
    check_consistent(scn, spec, ao.solve(scn, spec, "highs", options=EXACT))


@pytest.mark.parametrize("spec", [StepsSpec(max_steps=30),
                                  HybridStepsSpec(max_steps=20, min_edge_steps=2)])
def test_per_server_decomposition_equals_monolithic(spec: StepsSpec) -> None:
    scn = steps_scenario(30, 4, 3, seed=5, profile="hybrid_icc2025",
                         server_compute_flops=np.full(4, 3e9))
    mono = ao.solve(scn, spec, "highs", options=EXACT)
    dec = ao.run_method(scn, spec, "highs_per_server", options=EXACT)
    check_consistent(scn, spec, mono)
    check_consistent(scn, spec, dec)
    np.testing.assert_allclose(dec.objective, mono.objective, rtol=OBJ_RTOL)
    assert dec.stats.extra["blocks"] == len(np.unique(scn.channel_gain.argmax(axis=1)))
    assert dec.bound <= dec.objective + 1e-9


def test_per_server_block_out_of_time_is_retried_with_the_time_left(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A block that hit its share of the limit without a solution ended the method ('limit'
    after 0.13 s of a 1 s budget, 2,000 requests); it now gets the time the others leave."""
    from aigc_opt.problems.allocation import steps as mod

    scn = steps_scenario(30, 4, 3, seed=5, profile="hybrid_icc2025",
                         server_compute_flops=np.full(4, 3e9))
    spec = StepsSpec(max_steps=30)
    real, calls = mod.solve, []

    def first_block_times_out(inst, problem, backend, *, options):  # type: ignore[no-untyped-def]
        calls.append(inst.n_users)
        if len(calls) == 1:
            return ao.Result(ao.Termination.LIMIT, False, message="kTimeLimit")
        return real(inst, problem, backend, options=options)

    monkeypatch.setattr(mod, "solve", first_block_times_out)
    dec = ao.run_method(scn, spec, "highs_per_server", options=ao.SolveOptions(time_limit=60))
    assert dec.optimal and dec.verified
    assert len(calls) == dec.stats.extra["blocks"] + 1 and calls[-1] == calls[0]
    monkeypatch.setattr(mod, "solve", real)
    mono = ao.solve(scn, spec, "highs", options=EXACT)
    np.testing.assert_allclose(dec.objective, mono.objective, rtol=OBJ_RTOL)


@dataclasses.dataclass(frozen=True)
class _MinTotalSteps(StepsSpec):
    """A user constraint over every request: at least ``min_total`` denoising steps in all."""

    min_total: float = 0.0

    def extra_constraints(self, scn: ao.Scenario) -> tuple[ao.ExtraConstraint, ...]:
        import scipy.sparse as sp

        from aigc_opt.metrics import relative_excess

        n, k = scn.n_users, self.min_total

        def rows(program: object) -> tuple[dict[str, object], np.ndarray, np.ndarray]:
            one = sp.csr_matrix(np.ones((1, n)))
            return {"ke": one, "kd": one}, np.array([k]), np.array([np.inf])

        def check(alloc: object) -> np.ndarray:
            total = float((alloc.remote_steps + alloc.device_steps).sum())  # type: ignore[attr-defined]
            return relative_excess(np.array([k]), np.array([total]))

        return (ao.ExtraConstraint("min_total_steps", rows, check),)


@pytest.mark.parametrize("min_total", [10.0, 70.0])
def test_per_server_decomposition_keeps_a_user_constraint_over_all_servers(min_total: float
                                                                          ) -> None:
    """highs_per_server imposed a constraint over all requests once per server block: 17 %
    worse than the optimum (10 steps), or a false 'infeasible' (70 steps > one server's 60)."""
    from aigc_opt.problems.allocation.steps import steps_scenario

    scn = steps_scenario(n_users=6, n_servers=2, n_models=2, seed=0)
    spec = _MinTotalSteps(max_steps=20, min_total=min_total,
                          objective=OffloadObjective(latency=2.0, device_energy=0.01))
    ref = ao.run_method(scn, spec, "highs")
    got = ao.run_method(scn, spec, "highs_per_server")
    assert ref.termination == got.termination == "optimal" and ref.verified and got.verified
    assert got.objective == pytest.approx(ref.objective, rel=1e-9)


def test_per_server_blocks_share_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each server block gets the time left in proportion to its share of the pending
    requests. The first block used to get the whole limit: on 2,000 requests in 4 blocks it
    used all 25 s and the other blocks got 1 ms and no solution (``limit``, where the
    monolithic MILP had a verified answer)."""
    from aigc_opt.problems.allocation import steps as steps_mod

    scn = steps_scenario(30, 4, 3, seed=5, profile="hybrid_icc2025")
    seen: list[tuple[int, float]] = []
    real = steps_mod.solve

    def spy(sub: ao.Scenario, problem: object, backend: str, *, options: ao.SolveOptions
            ) -> ao.Result:
        seen.append((sub.n_users, float(options.time_limit)))
        return real(sub, problem, backend, options=options)

    monkeypatch.setattr(steps_mod, "solve", spy)
    res = ao.run_method(scn, StepsSpec(max_steps=30), "highs_per_server",
                        options=ao.SolveOptions(time_limit=100.0))
    assert res.verified and len(seen) == res.stats.extra["blocks"] > 1
    pending = scn.n_users
    for size, limit in seen:
        # the share of what is left, <= 100 s x size / pending; the solved blocks took < 50 s
        assert 0.5 * 100.0 * size / pending <= limit <= 100.0 * size / pending + 1e-9
        pending -= size


@pytest.mark.parametrize(("kw", "field"), [
    ({"n_servers": -1}, "n_servers"), ({"n_models": None}, "n_models"),
    ({"seed": 1.5}, "seed"), ({"n_users": "4"}, "n_users")])
def test_steps_scenario_arguments_are_named(kw: dict, field: str) -> None:
    """numpy's "negative dimensions are not allowed" and bare TypeErrors were what a bad
    size or seed gave (also through ``aigc-opt instance --problem allocation.steps``)."""
    with pytest.raises(ao.ValidationError, match=rf"^{field} \["):
        steps_scenario(**kw)

"""LLM token MILP: brute force over admissions and token counts, second backend, evaluator,
greedy baseline, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems.allocation import (
    LLM_CASE,
    LlmAllocation,
    LlmInstance,
    LlmObjective,
    LlmSpec,
    token_quality,
)

OBJ_RTOL = 1e-6
EXACT = ao.SolveOptions(mip_gap=0.0)


def tiny(seed: int) -> LlmInstance:
    """3 requests, 2 batch slots, room for about 12 tokens of KV cache and 14 of compute."""
    rng = np.random.default_rng(seed)
    tmax = rng.integers(4, 8, size=3).astype(float)
    x = np.stack([np.zeros(3), np.ones(3), np.full(3, 2.0), tmax], axis=1)
    slope1 = rng.uniform(0.2, 0.4, size=3)
    q = np.cumsum(np.diff(x, axis=1) * slope1[:, None] * np.array([1.0, 0.6, 0.25]), axis=1)
    kv = 1e6
    return LlmInstance.generate(
        3, seed=seed,
        prompt_tokens=rng.integers(1, 4, size=3).astype(float),
        max_tokens=tmax,
        weight=rng.uniform(0.5, 2.0, size=3),
        deadline_s=rng.uniform(0.3, 0.8, size=3),
        quality_tokens=x,
        quality_values=np.concatenate([np.zeros((3, 1)), q], axis=1),
        model_bytes=1e9,
        gpu_memory_bytes=1e9 + 12 * kv,
        kv_bytes_per_token=kv,
        compute_flops=1e3,
        flop_per_token=10.0,
        slot_s=0.14,
        batch_slots=2,
        decode_step_s=0.1,
        energy_per_flop_j=1e-3,
    )


def brute_force(inst: LlmInstance, spec: LlmSpec) -> float:
    options = [[(False, 0)] + [(True, t) for t in range(int(m) + 1)] for m in inst.max_tokens]
    best = np.inf
    for combo in itertools.product(*options):
        alloc = LlmAllocation(admitted=np.array([c[0] for c in combo]),
                              tokens=np.array([c[1] for c in combo], dtype=float))
        met = ao.evaluate(inst, alloc, spec)
        if met.feasible and met.objective < best:
            best = met.objective
    return best


def check_consistent(inst: LlmInstance, spec: LlmSpec, res: ao.Result) -> ao.Metrics:
    assert res.optimal, res.message
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible, {k: v for k, v in met.violations.items() if v > 1e-6}
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL, atol=1e-9)
    return met


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("per_request_kv", [False, True])
def test_milp_equals_brute_force(seed: int, per_request_kv: bool) -> None:
    inst = tiny(seed)
    if per_request_kv:  # requests of models with different KV footprints
        inst = inst.replace(kv_bytes_per_token=np.array([0.5e6, 1e6, 2e6]))
    spec = LlmSpec(objective=LlmObjective(latency=0.2, energy=0.05, quality=1.0))
    best = brute_force(inst, spec)
    res = ao.solve(inst, spec, "highs", options=EXACT)
    check_consistent(inst, spec, res)
    np.testing.assert_allclose(res.objective, best, rtol=OBJ_RTOL, atol=1e-9)


def test_constraints_bind_in_tiny_instances() -> None:
    """Guard against vacuous brute-force tests: capacities must matter somewhere."""
    bound = set()
    for seed in range(6):
        inst = tiny(seed)
        res = ao.solve(inst, LlmSpec(), "highs", options=EXACT)
        a, t = res.allocation.admitted, res.allocation.tokens
        ctx = float((a * inst.prompt_tokens + t).sum())
        if a.sum() == inst.batch_slots:
            bound.add("batch_slots")
        if ctx >= 12 - 1e-9:
            bound.add("kv_memory")
        if (t < inst.max_tokens * a).any():
            bound.add("tokens_cut")
    assert {"batch_slots", "tokens_cut"} <= bound, bound


@pytest.mark.parametrize("integer", [True, False])
def test_highs_and_cvxpy_agree(integer: bool) -> None:
    inst = LlmInstance.generate(30, seed=4)
    spec = LlmSpec(integer_tokens=integer)
    a = ao.solve(inst, spec, "highs", options=EXACT)
    b = ao.solve(inst, spec, "cvxpy", options=EXACT)
    check_consistent(inst, spec, a)
    check_consistent(inst, spec, b)
    np.testing.assert_allclose(a.objective, b.objective, rtol=OBJ_RTOL)


def test_continuous_tokens_bound_integer_optimum() -> None:
    inst = LlmInstance.generate(20, seed=2)
    ri = ao.solve(inst, LlmSpec(), "highs", options=EXACT)
    rc = ao.solve(inst, LlmSpec(integer_tokens=False), "highs", options=EXACT)
    assert rc.objective <= ri.objective + 1e-9
    assert np.allclose(ri.allocation.tokens, np.round(ri.allocation.tokens))


def test_greedy_is_feasible_and_not_better() -> None:
    inst = LlmInstance.generate(40, seed=5)
    spec = LlmSpec()
    h = ao.run_method(inst, spec, "greedy_weight")
    assert h.termination is ao.Termination.FEASIBLE, h.message
    opt = ao.solve(inst, spec, "highs", options=EXACT)
    assert opt.objective <= h.objective + 1e-9


def test_evaluator_flags_violations() -> None:
    inst = tiny(0)
    spec = LlmSpec()
    alloc = LlmAllocation(admitted=np.ones(3, dtype=bool), tokens=np.array([0.5, 50.0, -1.0]))
    met = ao.evaluate(inst, alloc, spec)
    for name in ("batch_slots", "kv_memory", "compute", "deadline", "max_tokens",
                 "nonnegative", "integer_tokens"):
        assert met.violations[name] > 1e-6, name
    assert not met.feasible


def test_token_quality_interpolates() -> None:
    x = np.array([[0.0, 2.0, 4.0]])
    q = np.array([[0.0, 0.6, 0.8]])
    got = token_quality(np.repeat(x, 4, 0), np.repeat(q, 4, 0), np.array([0.0, 1.0, 3.0, 9.0]))
    np.testing.assert_allclose(got, [0.0, 0.3, 0.7, 0.8])


def test_epsilon_quality_row() -> None:
    inst = LlmInstance.generate(20, seed=3)
    spec = LlmSpec(objective=LlmObjective(latency=0.05, energy=0.01, quality=1.0))
    r0 = ao.solve(inst, spec, "highs", options=EXACT)
    q0 = spec.pareto_metrics(inst, r0.allocation)["quality"]
    tight = spec.with_epsilon("quality", q0 * 1.05)
    r1 = ao.solve(inst, tight, "highs", options=EXACT)
    check_consistent(inst, tight, r1)
    assert tight.pareto_metrics(inst, r1.allocation)["quality"] >= q0 * 1.05 * (1 - 1e-9)
    assert r1.objective >= r0.objective - 1e-9


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"prompt_tokens": np.array([-1.0, 2, 3])}, "prompt_tokens"),
        ({"max_tokens": np.array([2.5, 4, 4])}, "max_tokens"),
        ({"weight": np.array([1.0, np.nan, 1.0])}, "weight"),
        ({"deadline_s": np.ones(4)}, "deadline_s"),
        ({"quality_values": np.array([[0, 1, 1.5, 1.6]] * 2 + [[0, 0.1, 0.5, 0.6]])},
         "quality_values"),
        ({"quality_tokens": np.array([[1.0, 2, 3, 4]] * 3)}, "quality_tokens"),
        ({"model_bytes": 1e12}, "model_bytes"),
        ({"batch_slots": 1.5}, "batch_slots"),
        ({"compute_flops": -1.0}, "compute_flops"),
        ({"kv_bytes_per_token": np.array([1.0, 0.0, 1.0])}, "kv_bytes_per_token"),
        ({"kv_bytes_per_token": np.ones(2)}, "kv_bytes_per_token"),
    ],
)
def test_bad_instance_names_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        tiny(0).replace(**change)
    assert err.value.field == field


def test_bad_spec_names_field() -> None:
    with pytest.raises(ValidationError, match="epsilon"):
        LlmSpec(epsilon=(("throughput", 1.0),))
    with pytest.raises(ValidationError, match="latency"):
        LlmObjective(latency=-1.0)


def test_case_kind_runs_default_methods() -> None:
    inst = LLM_CASE.make_instance(3, n_requests=12)
    spec = LLM_CASE.make_spec()
    results = {m: ao.run_method(inst, spec, m, options=EXACT) for m in LLM_CASE.default_methods}
    ref = results[str(LLM_CASE.reference)]
    check_consistent(inst, spec, ref)
    for res in results.values():
        assert res.objective >= ref.objective - 1e-9


def test_tiny_quality_breakpoints_every_backend_verified_and_equal() -> None:
    """Quality saturating within 1e-3 tokens (breakpoints x1e-6), continuous tokens: an
    admission of 1e-6 (inside HiGHS's integrality tolerance) bought full quality through the
    big-M row, the decoder rejected the request and HiGHS, CVXPY and Pyomo ended
    'unverified' (SCIP: -3.538). ``u <= q_last a`` closes that; all agree with SCIP."""
    from aigc_opt.cases import get_case

    kind = get_case("allocation.llm_tokens")
    inst = kind.make_instance(0, n_requests=3)
    inst = inst.replace(quality_tokens=inst.quality_tokens * 1e-6)
    spec = kind.make_spec(integer_tokens=False)
    objs = {}
    for m in ("highs", "scip", "cvxpy", "pyomo"):
        r = ao.run_method(inst, spec, m, options=ao.SolveOptions(time_limit=20, threads=1))
        assert r.termination is ao.Termination.OPTIMAL and r.verified, (m, r.message)
        objs[m] = r.objective
    assert max(objs.values()) == pytest.approx(min(objs.values()), rel=1e-6), objs


@pytest.mark.parametrize("method", ["highs", "greedy_weight"])
def test_latency_max_and_server_energy_totals(method: str) -> None:
    """latency_max_s (s, over admitted requests) and server_energy_total_j (J: the GPU's
    compute energy, all of this model's energy) were missing: their CSV columns stayed empty."""
    from aigc_opt.cases import get_case

    kind = get_case("allocation.llm_tokens")
    inst, spec = kind.make_instance(2), kind.make_spec()
    res = ao.run_method(inst, spec, method)
    assert res.verified, (method, res)
    m = ao.evaluate(inst, res.allocation, spec)
    adm = np.asarray(res.allocation.admitted, bool)
    assert adm.any()
    lat = [float(x) for x, a in zip(m.per_item["latency_s"], adm, strict=True) if a]
    assert m.totals["latency_max_s"] == pytest.approx(max(lat), rel=1e-12)
    assert m.totals["server_energy_total_j"] == pytest.approx(
        sum(float(e) for e in m.per_item["energy_j"]), rel=1e-12)
    assert m.totals["server_energy_total_j"] == m.totals["energy_total_j"] > 0.0

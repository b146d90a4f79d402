# mypy: disable-error-code="misc, arg-type, unused-ignore"
"""The error contract for the online, migration (with AGOD) and sizing families: junk in any
field of their instance, spec and weight types, or in their generators' arguments, raises a
:class:`~aigc_opt.errors.ValidationError` naming the field (never a bare TypeError /
ValueError / IndexError / AttributeError, never silent acceptance); the default case
instances still build, solve and verify."""

from __future__ import annotations

import dataclasses as dc
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
import aigc_opt.problems.migration as mg
from aigc_opt import SolveOptions, ValidationError
from aigc_opt.cases import get_case
from aigc_opt.problems.migration.controllers import Lyapunov
from aigc_opt.problems.online.data import FrameInstance, LyapunovSpec
from aigc_opt.problems.online.methods import random_frame
from aigc_opt.problems.sizing import GpuOption, RadioOption, SizingInstance, SizingSpec
from aigc_opt.problems.sizing.data import SizingPlan


class _Opaque:
    """An object no validator can read, with a repr stable across processes (test ids)."""

    def __repr__(self) -> str:
        return "<opaque>"


OPAQUE = _Opaque()


def _raises(fn: Callable[[], Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        fn()
    assert field in str(info.value), str(info.value)


# ------------------------------------------------------------------ junk
#: Never a number: types that must be rejected before any comparison.
NOT_NUMBER = [None, "abc", "1.5", [1.0, 2.0], {"a": 1}, OPAQUE, True, np.ones(2), 1 + 2j]
#: Never a finite number >= 0.
BAD_NONNEG = NOT_NUMBER + [math.nan, math.inf, -math.inf, -1.0, 1e300]
#: Never a finite number > 0.
BAD_POS = BAD_NONNEG + [0.0]
#: Never a flag.
BAD_FLAG = ["no", "yes", "", 1, 0, None, 1.0, np.array([True]), OPAQUE]
#: Never an array (of any shape).
NOT_ARRAY = [None, "abc", {"a": 1}, OPAQUE]


def _bad_arrays(value: np.ndarray, *, negative_ok: bool = False, optional: bool = False
                ) -> list[Any]:
    """Junk for an array field whose valid value is ``value``: not an array (None unless the
    field is optional), a scalar, a wrong shape, and same-shape arrays with NaN, inf (and -1
    unless negatives are allowed)."""
    v = np.asarray(value, dtype=np.float64)
    out: list[Any] = NOT_ARRAY[int(optional):] + [
        1.0, np.ones((2, 3, 5, 7)), np.full(v.shape, math.nan), np.full(v.shape, math.inf),
        np.full(v.shape, "x")]
    if not negative_ok:
        out.append(np.full(v.shape, -1.0))
    return out


def _cases(fields: dict[str, list[Any]]) -> list[tuple[str, Any]]:
    return [(name, bad) for name, bads in fields.items() for bad in bads]


def _ids(cases: list[tuple[str, Any]]) -> list[str]:
    return [f"{n}={type(b).__name__}:{str(b)[:12]}" for n, b in cases]


# ------------------------------------------------------------------ online
SPEC_POS = ("queue_unit_bits", "cycles_per_bit", "kappa", "f_max_hz", "bandwidth_hz", "vu",
            "noise_w", "p_max_w")
SPEC_NONNEG = ("V", "energy_threshold_j", "nu_per_j", "y_scale")
LYAPUNOV_CASES = _cases({**{n: BAD_POS for n in SPEC_POS}, **{n: BAD_NONNEG for n in SPEC_NONNEG},
                         "weights": ["abc", {"a": 1}, OPAQUE, 1.0, [1.0, math.nan],
                                     [1.0, -1.0], [1.0, math.inf], [[1.0, 2.0]], ["a", "b"],
                                     [True, False]]})


@pytest.mark.parametrize(("name", "bad"), LYAPUNOV_CASES, ids=_ids(LYAPUNOV_CASES))
def test_lyapunov_spec_rejects_junk(name: str, bad: Any) -> None:
    _raises(lambda: LyapunovSpec(**{name: bad}), name)


FRAME = random_frame(0, 4)
FRAME_CASES = _cases({"gains": _bad_arrays(FRAME.gains) + [np.zeros(4)],
                      "queues_bits": _bad_arrays(FRAME.queues_bits) + [np.ones(3)],
                      "virtual_queues": _bad_arrays(FRAME.virtual_queues) + [np.ones(5)],
                      "tau_s": BAD_POS})


@pytest.mark.parametrize(("name", "bad"), FRAME_CASES, ids=_ids(FRAME_CASES))
def test_frame_instance_rejects_junk(name: str, bad: Any) -> None:
    _raises(lambda: dc.replace(FRAME, **{name: bad}), name)


def test_lyapunov_spec_keeps_valid_values() -> None:
    spec = LyapunovSpec(V=20, weights=[1.5, 1.0], kappa=np.float32(1e-26))
    assert spec.V == 20.0 and spec.weights == (1.5, 1.0) and hash(spec)
    assert spec == LyapunovSpec(V=20.0, weights=(1.5, 1.0), kappa=float(np.float32(1e-26)))
    assert LyapunovSpec(V=0.0, y_scale=0, nu_per_j=0, energy_threshold_j=0).V == 0.0
    inst = FrameInstance([1e-10, 2e-10], [0.0, 1e6], [0, 3])
    assert inst.gains.dtype == np.float64 and not inst.queues_bits.flags.writeable


# ------------------------------------------------------------------ migration
MIG = get_case("migration.offline").make_instance(0)
MIG_SPEC = get_case("migration.offline").make_spec()
MIG_ARRAYS = {"server_hops": {}, "server_flops": {}, "server_gpu_memory_bytes": {},
              "user_cell": {}, "access_s": {}, "user_model": {}, "user_state_bytes": {},
              "model_memory_bytes": {}, "model_flop_per_step": {}, "steps": {},
              "quality": {"negative_ok": True}, "initial_server": {"negative_ok": True},
              "server_xy_m": {"negative_ok": True, "optional": True},
              "user_xy_m": {"negative_ok": True, "optional": True},
              "user_requests": {"optional": True}}
MIG_CASES = _cases({**{n: _bad_arrays(getattr(MIG, n), **kw) for n, kw in MIG_ARRAYS.items()},
                    "slot_s": BAD_POS, "hop_delay_s": BAD_NONNEG,
                    "migration_fixed_j": BAD_NONNEG, "migration_j_per_byte_hop": BAD_NONNEG})


@pytest.mark.parametrize(("name", "bad"), MIG_CASES, ids=_ids(MIG_CASES))
def test_migration_instance_rejects_junk(name: str, bad: Any) -> None:
    _raises(lambda: dc.replace(MIG, **{name: bad}), name)


def test_migration_instance_optional_fields_stay_optional() -> None:
    inst = dc.replace(MIG, server_xy_m=None, user_xy_m=None, user_requests=None)
    assert inst.server_xy_m is None and inst.user_xy_m is None
    np.testing.assert_array_equal(inst.user_requests, np.ones(MIG.n_users))


MIG_SPEC_CASES = _cases({"budget_j": BAD_NONNEG, "v": BAD_NONNEG, "budget_hard": BAD_FLAG,
                         "weights": [None, "abc", 1.0, {"latency_per_s": 1.0}, OPAQUE,
                                     (1.0, 1.0)],
                         "slot_backend": [None, "", 1, OPAQUE]})


@pytest.mark.parametrize(("name", "bad"), MIG_SPEC_CASES, ids=_ids(MIG_SPEC_CASES))
def test_migration_spec_rejects_junk(name: str, bad: Any) -> None:
    _raises(lambda: dc.replace(MIG_SPEC, **{name: bad}), name)


WEIGHT_CASES = _cases({"latency_per_s": BAD_NONNEG, "quality": BAD_NONNEG})


@pytest.mark.parametrize(("name", "bad"), WEIGHT_CASES, ids=_ids(WEIGHT_CASES))
def test_cost_weights_reject_junk(name: str, bad: Any) -> None:
    _raises(lambda: mg.CostWeights(**{name: bad}), name)


def test_unknown_slot_backend_is_named_when_the_controller_runs() -> None:
    spec = dc.replace(MIG_SPEC, slot_backend="no_such_backend", budget_hard=False)
    _raises(lambda: ao.run_method(MIG, spec, "lyapunov"), "no_such_backend")
    # by the spec's field name, with a suggestion, before the first slot is solved
    with pytest.raises(ValidationError, match=r"slot_backend .*did you mean 'highs'"):
        Lyapunov("HiGHS")


SLOT = mg.slot_problem(MIG, MIG_SPEC, 0, MIG.initial_server, 3.0)
SLOT_CASES = _cases({"perf": _bad_arrays(SLOT.perf, negative_ok=True),
                     **{n: _bad_arrays(getattr(SLOT, n))
                        for n in ("migration_j", "work_flop", "capacity_flop", "user_model",
                                  "model_memory_bytes", "server_gpu_memory_bytes")},
                     "v": BAD_NONNEG, "queue_j": BAD_NONNEG})


@pytest.mark.parametrize(("name", "bad"), SLOT_CASES, ids=_ids(SLOT_CASES))
def test_migration_slot_rejects_junk(name: str, bad: Any) -> None:
    _raises(lambda: dc.replace(SLOT, **{name: bad}), name)


SIZES = [None, "abc", 1.5, 0, -1, math.nan, math.inf, OPAQUE, True]
GEN_CASES = _cases({
    "n_users": SIZES, "n_servers": SIZES, "n_slots": SIZES, "n_models": SIZES,
    "seed": ["abc", -1, 1.5, [1, 2], OPAQUE],
    "steps": [None, "abc", (), (10.5, 20), (0, 10), ((10, 20),), 10, OPAQUE],
    "mobility": [None, 1, "teleport"], "source": [None, 1, "elsewhere"],
    "spacing_m": BAD_POS, "slot_s": BAD_POS, "load": BAD_NONNEG,
    "memory_models": ["abc", math.nan, -1.0, math.inf, OPAQUE],
    "speed_mps": [None, "abc", 1.0, (1.0,), (15.0, 1.0), (-1.0, 1.0), (math.nan, 1.0),
                  {"a": 1}],
    "positions_m": ["abc", np.ones((3, 2)), np.ones((3, 2, 3)), np.full((3, 2, 2), math.nan),
                    {"a": 1}],
    "max_entries": ["abc", 0, 1.5]})


@pytest.mark.parametrize(("name", "bad"), GEN_CASES, ids=_ids(GEN_CASES))
def test_migration_generator_rejects_junk(name: str, bad: Any) -> None:
    kw: dict[str, Any] = {"n_users": 3, "n_servers": 2, "n_slots": 3, "n_models": 2,
                          "steps": (10, 25)}
    _raises(lambda: mg.generate(**{**kw, name: bad}), name)


def test_migration_generator_refuses_huge_sizes_before_allocating() -> None:
    _raises(lambda: mg.generate(10_000, 1_000, 1_000), "n_slots*n_users*n_servers")
    _raises(lambda: mg.generate(3, 2, 3, no_such_field=1), "no_such_field")
    assert mg.generate(3, 2, 3, max_entries=18).n_users == 3


# ------------------------------------------------------------------ AGOD
AGOD_NUMBER = [None, "abc", "1.5", [1.0, 2.0], {"a": 1}, OPAQUE, True, math.nan, math.inf,
               -math.inf, -1.0]


@pytest.mark.parametrize("bad", AGOD_NUMBER + [1e300], ids=repr)
def test_agod_spec_rejects_junk_crash_penalty(bad: Any) -> None:
    _raises(lambda: mg.AgodSpec(crash_penalty=bad), "crash_penalty")


BAD_TUPLE = [None, "abc", (), (math.nan,), (math.inf,), (-1,), {"a": 1}, OPAQUE, 5.0,
             ((1, 2),), ("a", "b")]
PROFILE_CASES = _cases({"n_providers": AGOD_NUMBER + [0, 2.5], "crash_penalty": AGOD_NUMBER,
                        "rate": AGOD_NUMBER + [0.0], "total_time": AGOD_NUMBER + [0.0, 1e300],
                        **{n: BAD_TUPLE for n in ("capacity", "ax", "ay", "bx", "by", "steps")}})


@pytest.mark.parametrize(("name", "bad"), PROFILE_CASES, ids=_ids(PROFILE_CASES))
def test_agod_profile_rejects_junk(name: str, bad: Any) -> None:
    _raises(lambda: mg.AgodProfile(**{name: bad}), name)


AGOD_GEN_CASES = _cases({"seed": ["abc", -1, 1.5, [1, 2], OPAQUE],
                         "n_providers": ["abc", 0, -1, 2.5, math.nan, math.inf, OPAQUE],
                         "total_time": ["abc", 0.0, -1.0, math.nan, math.inf, OPAQUE],
                         "rate": ["abc", 0.0, -1.0, math.nan, math.inf, OPAQUE],
                         "profile": ["abc", {"rate": 1e-3}, OPAQUE, 1.0],
                         "no_such_field": [1]})


@pytest.mark.parametrize(("name", "bad"), AGOD_GEN_CASES, ids=_ids(AGOD_GEN_CASES))
def test_agod_generator_rejects_junk(name: str, bad: Any) -> None:
    _raises(lambda: mg.AgodInstance.generate(**{"total_time": 2e4, name: bad}), name)


def test_agod_profile_keeps_agod_values() -> None:
    assert mg.AgodProfile() == mg.AGOD_PROFILE
    p = mg.AgodProfile(capacity=np.arange(400, 1000, 100), n_providers=20.0, total_time=2e4)
    assert p.capacity == mg.AGOD_PROFILE.capacity and p.n_providers == 20
    a = mg.AgodInstance.generate(3, profile=p)
    b = mg.AgodInstance.generate(3, total_time=2e4)
    np.testing.assert_array_equal(a.arrival_s, b.arrival_s)
    np.testing.assert_array_equal(a.provider_capacity, b.provider_capacity)


# ------------------------------------------------------------------ sizing
GPUS = (GpuOption("small", 1.0, 2.2e13, 12e9, 2), GpuOption("big", 2.5, 5e13, 24e9, 1))
RADIOS = (RadioOption("narrow", 0.5, 1e6, 1e6, 4), RadioOption("wide", 1.5, 4e6, 4e6, 10))


def _sizing() -> tuple[SizingInstance, SizingSpec]:
    scn = ao.Scenario.generate(4, 2, 2, seed=1).replace(cloud_latency_s=20.0)
    return SizingInstance((scn,), GPUS, RADIOS, ("peak",)), SizingSpec()


SIZING_CASES = _cases({"names": [None, 1, math.nan, {"peak": 1}, OPAQUE, ("peak", "peak"),
                                 (1,)],
                       "gpus": [None, "abc", (), (1.0,), {"a": 1}],
                       "radios": [None, "abc", (), (1.0,), {"a": 1}],
                       "demands": [None, "abc", (), (1.0,)]})


@pytest.mark.parametrize(("name", "bad"), SIZING_CASES, ids=_ids(SIZING_CASES))
def test_sizing_instance_rejects_junk(name: str, bad: Any) -> None:
    inst, _ = _sizing()
    _raises(lambda: dc.replace(inst, **{name: bad}), name)


SIZING_SPEC_CASES = _cases({"allow_local": BAD_FLAG, "allow_cloud": BAD_FLAG,
                            "objective": [None, "abc", {"a": 1}, OPAQUE],
                            "min_quality": ["abc", math.nan, math.inf, OPAQUE, [1.0]]})


@pytest.mark.parametrize(("name", "bad"), SIZING_SPEC_CASES, ids=_ids(SIZING_SPEC_CASES))
def test_sizing_spec_rejects_junk(name: str, bad: Any) -> None:
    _raises(lambda: SizingSpec(**{name: bad}), name)


OPTION_CASES = _cases({"cost": BAD_NONNEG, "flops": BAD_POS, "memory_bytes": BAD_NONNEG,
                       "max_count": [None, "abc", 1.5, -1, OPAQUE, True]})


@pytest.mark.parametrize(("name", "bad"), OPTION_CASES, ids=_ids(OPTION_CASES))
def test_gpu_option_rejects_junk(name: str, bad: Any) -> None:
    _raises(lambda: dc.replace(GPUS[0], **{name: bad}), name)


@pytest.mark.parametrize("name", ["binding", "assignments"])
@pytest.mark.parametrize("bad", [None, 1, OPAQUE], ids=repr)
def test_sizing_plan_rejects_junk(name: str, bad: Any) -> None:
    good = {"gpu_type": [0, -1], "gpu_count": [1, 0], "radio": [0, 1], "assignments": ()}
    _raises(lambda: SizingPlan(**{**good, name: bad}), name)


# ------------------------------------------------------------------ valid input still works
def _check_run(inst: Any, spec: Any, method: str) -> None:
    res = ao.run_method(inst, spec, method, options=SolveOptions(time_limit=10))
    assert res.has_solution and res.verified, res
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.objective == pytest.approx(res.objective, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize(("kind", "method"), [
    ("online.frame", "exact"), ("online.frame", "quantised"), ("online.lyapunov", "exact"),
    ("migration.lyapunov", "highs"), ("migration.lyapunov", "lyapunov"),
    ("migration.offline", "highs"), ("agod.selection", "crash_avoid")])
def test_default_cases_still_build_and_solve(kind: str, method: str) -> None:
    k = get_case(kind)
    _check_run(k.make_instance(0), k.make_spec(), method)


def test_agod_offline_milp_still_solves() -> None:
    _check_run(mg.AgodInstance.generate(0, total_time=2e4), mg.AgodSpec(), "offline_milp")


def test_migration_slot_and_sizing_still_solve() -> None:
    _check_run(SLOT, mg.SlotSpec(), "highs")
    inst, spec = _sizing()
    _check_run(inst, spec, "highs")


def test_online_and_migration_allocations_are_validated() -> None:
    """The online decision types took anything: ``offload=[nan, 2.0, 'x', 0]`` became
    ``[True, True, True, False]``, and a malformed SimulationResult made ``ao.evaluate`` raise
    IndexError / TypeError instead of naming the field."""
    from aigc_opt.problems.online.data import FrameDecision, SimulationResult

    ok = {"offload": [True, False], "cpu_hz": [0.0, 1e8], "time_frac": [0.3, 0.0],
          "power_w": [0.05, 0.0]}
    assert FrameDecision(**ok).offload.tolist() == [True, False]
    for field, bad in (("offload", [np.nan, 2.0]), ("offload", [1, 0, 1]),
                       ("cpu_hz", [1j, 0.0]), ("time_frac", {"a": 1}), ("power_w", [np.nan, 0])):
        _raises(lambda f=field, b=bad: FrameDecision(**{**ok, f: b}), field)
    T, N = 3, 2
    sim = {"controller": "x", "offload": np.zeros((T, N), bool), "cpu_hz": np.zeros((T, N)),
           "time_frac": np.zeros((T, N)), "power_w": np.zeros((T, N)),
           "bits": np.zeros((T, N)), "energy_j": np.zeros((T, N)),
           "queues_bits": np.zeros((T + 1, N)), "virtual_queues": np.zeros((T + 1, N)),
           "objective": np.zeros(T), "seconds": np.zeros(T)}
    assert SimulationResult(**sim).n_slots == T
    for field, bad in (("objective", np.zeros(T + 1)), ("queues_bits", np.zeros((T, N))),
                       ("server", 0.5), ("cpu_hz", np.full((T, N), "a"))):
        _raises(lambda f=field, b=bad: SimulationResult(**{**sim, f: b}), field)
    _raises(lambda: mg.MigrationAllocation(np.zeros((2, 1)), np.zeros((2, 1)), queue_j="x"),
            "queue_j")

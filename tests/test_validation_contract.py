# mypy: disable-error-code="misc, arg-type, unused-ignore"
"""The error contract for bad input (issue 12, issue 11's bounds): one test per class of
defect the fuzzing found, each on the exact example from the issue."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt import Scenario, SolveOptions, UnknownNameError, ValidationError
from aigc_opt.problems.allocation import LlmInstance, PowerInstance
from aigc_opt.problems.caching import CachingInstance, CachingObjective
from aigc_opt.problems.caching.trace import load_trace_csv
from aigc_opt.problems.incentives import AuctionInstance, ContractInstance
from aigc_opt.problems.offloading import OffloadingSpec, OffloadObjective
from aigc_opt.problems.wpmec import WpmecBatch, WpmecInstance, WpmecSpec
from aigc_opt.schema import BOUNDS, SCHEMA
from aigc_opt.validate import (
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_scalar,
    load_json,
)


@pytest.fixture(scope="module")
def scn() -> Scenario:
    return Scenario.generate(3, 2, 2, seed=0)


def _raises(fn: Callable[[], Any], field: str, *, exc: type[Exception] = ValidationError
            ) -> Any:
    with pytest.raises(exc) as info:
        fn()
    assert field in str(info.value), str(info.value)
    return info.value


# ------------------------------------------------------------------ the helpers
def test_check_scalar_converts_types_before_comparing() -> None:
    assert check_scalar("x", np.float32(0.5), "s", 0, 1) == 0.5
    assert check_int("n", 3.0) == 3 and isinstance(check_int("n", np.int64(3)), int)
    for bad, why in (("10", "string"), ("1.5", "string"), (True, "bool"), (1 + 2j, "complex"),
                     (None, "None"), (object(), "object"), (math.nan, "NaN"),
                     (np.array([1.0, 2.0]), "single number")):
        err = _raises(lambda b=bad: check_scalar("x", b, "s", 0, 1), "x")
        assert err.field == "x" and err.unit == "s", why
    _raises(lambda: check_int("n", 1.5), "integer")
    _raises(lambda: check_int("n", math.inf), "finite integer")
    _raises(lambda: check_int("n", 10**30), "out of range")
    assert check_scalar("t", None, "s", optional=True) is None
    assert check_scalar("d", math.inf, "s", 0, 10, allow_inf=True) == math.inf
    _raises(lambda: check_scalar("d", math.inf, "s", 0, 10), "finite")
    _raises(lambda: check_scalar("d", 11.0, "s", 0, 10), "<= 10")


def test_check_array_rejects_complex_object_ragged_and_strings() -> None:
    for bad in (np.array([1 + 1j]), [[1.0, 2.0], [3.0]], np.array(["1"]),
                np.array([None, 1.0], dtype=object), "abc", {"a": 1}, (x for x in [1]),
                np.array([True, False])):
        _raises(lambda b=bad: check_array("g", "-", b), "g")
    out = check_array("g", "-", [1, 2], dtype=np.int64)
    assert out.dtype == np.int64 and not out.flags.writeable
    _raises(lambda: check_array("g", "-", [1.5], dtype=np.int64), "integer")
    _raises(lambda: check_array("g", "-", [1e300], dtype=np.int64), "integer range")
    _raises(lambda: check_array("g", "-", [1.0, 2.0], (3,), like="gains"), "to match gains")
    assert check_array("m", "-", [0, 1], dtype=bool).tolist() == [False, True]


def test_bool_and_choice_helpers() -> None:
    assert check_bool("f", np.bool_(True)) is True
    for bad in ("yes", 1, None):
        _raises(lambda b=bad: check_bool("f", b), "f")
    err = _raises(lambda: check_choice("linking", "aggregate", ("aggregated", "x")), "linking",
                  exc=UnknownNameError)
    assert isinstance(err, KeyError) and "did you mean 'aggregated'" in str(err)
    _raises(lambda: check_choice("linking", 3, ("aggregated",)), "linking")


def test_errors_pickle_and_copy() -> None:
    for err in (ValidationError("f", "s", 1.0, "bad"), UnknownNameError("method", "x", ["y"])):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err) and back.field == err.field
    assert "(in a.json)" in str(ValidationError("f", "-", 1, "bad").located("a.json"))


# ------------------------------------------------------------------ the examples
def test_unknown_names_are_unknown_name_errors(scn: Scenario) -> None:
    wpi = WpmecInstance.generate(3)
    for call, field in (
        (lambda: ao.run_method(wpi, WpmecSpec(), "exct"), "exact"),
        (lambda: ao.run_heuristic(wpi, WpmecSpec(), "cdd"), "cd"),
        (lambda: ao.solve(scn, OffloadingSpec(), backend="higs"), "highs"),
        (lambda: ao.run_method(wpi, WpmecSpec(), None), "method"),
        (lambda: ao.run_method(wpi, WpmecSpec(), ["exact"]), "method"),
        (lambda: Scenario.generate(3, 2, 2, profile="edge"), "edge_aigc"),
        (lambda: scn.replace(user_speed=1.0), "user_speed"),
        (lambda: ao.solve(scn, OffloadingSpec(), timelimit=1), "time_limit"),
    ):
        err = _raises(call, field, exc=UnknownNameError)
        assert isinstance(err, KeyError)


def test_values_are_converted_before_comparison() -> None:
    _raises(lambda: OffloadObjective(latency="abc"), "latency")
    _raises(lambda: SolveOptions(time_limit="10"), "time_limit")
    _raises(lambda: CachingObjective(latency="1.5"), "latency")
    assert isinstance(CachingObjective(latency=np.int64(2)).latency, float)
    assert SolveOptions(threads=2.0).threads == 2


def test_complex_input_is_rejected_not_truncated(scn: Scenario) -> None:
    _raises(lambda: scn.replace(channel_gain=scn.channel_gain + 0j), "complex")
    _raises(lambda: WpmecInstance(np.array([1e-6, 2e-6]) + 1j), "gains")
    _raises(lambda: PowerInstance.generate(3).__class__(
        **{**PowerInstance.generate(3).__dict__, "gain": np.ones(3) + 1j}), "gain")


def test_integers_must_be_integral_and_finite() -> None:
    _raises(lambda: Scenario.generate(n_users=1.5), "n_users")
    for bad in (1.5, math.inf, math.nan):
        _raises(lambda b=bad: SolveOptions(threads=b), "threads")
    _raises(lambda: WpmecSpec(max_nodes=math.nan), "max_nodes")
    _raises(lambda: OffloadingSpec(candidate_servers=2.5), "candidate_servers")
    _raises(lambda: AuctionInstance(values=np.ones((2, 1, 1)), capacity=[1.5]), "capacity")


def test_spec_rejects_instance_of_another_family(scn: Scenario) -> None:
    wpi = WpmecInstance.generate(3)
    err = _raises(lambda: ao.run_method(wpi, OffloadingSpec(), "highs"), "instance")
    assert "Scenario" in str(err) and "WpmecInstance" in str(err)
    _raises(lambda: ao.solve(scn, WpmecSpec()), "instance")
    _raises(lambda: ao.run_heuristic(scn, WpmecSpec(), "cd"), "instance")
    _raises(lambda: ao.methods(WpmecSpec(), scn), "instance")
    _raises(lambda: OffloadingSpec().build(wpi), "instance")
    alloc = ao.run_heuristic(wpi, WpmecSpec(), "all_local").allocation
    _raises(lambda: ao.evaluate(scn, alloc), "instance")
    _raises(lambda: ao.evaluate(wpi, None), "allocation")
    _raises(lambda: ao.run_method(wpi, "WpmecSpec", "exact"), "spec")
    _raises(lambda: ao.run_method(wpi, WpmecSpec(), "exact", options={}), "options")
    _raises(lambda: ao.run_heuristic(wpi, WpmecSpec(), "cd", seed=-1), "seed")


def test_generators_refuse_huge_sizes_before_allocating() -> None:
    for kw in ({"n_users": 10**12}, {"n_models": 10**12}, {"n_users": 10**5, "n_servers": 10**3}):
        err = _raises(lambda k=kw: Scenario.generate(**{"n_users": 3, "n_servers": 2,
                                                        "n_models": 2, **k}), "max_entries")
        assert "n_" in str(err)
    assert Scenario.generate(4, 2, 2, max_entries=10).n_users == 4
    _raises(lambda: WpmecBatch.generate(10**6, 100), "max_entries")
    _raises(lambda: CachingInstance.generate(100, 100, 10**4), "max_entries")
    _raises(lambda: LlmInstance.generate(10**9), "n_requests")
    _raises(lambda: ContractInstance.generate(10**9), "n_types")


def test_request_steps_1e300_is_rejected_not_wrapped(scn: Scenario) -> None:
    err = _raises(lambda: scn.replace(request_steps=[1e300, 20, 20]), "request_steps")
    assert "<= 1e+07" in str(err)


@pytest.mark.parametrize("spec", [s for s in SCHEMA if s.dtype != "str"],
                         ids=[s.name for s in SCHEMA if s.dtype != "str"])
def test_every_numeric_schema_field_has_a_physical_bound(scn: Scenario, spec: Any) -> None:
    assert spec.bound in BOUNDS and BOUNDS[spec.bound][1]  # value and a documented reason
    base = np.array(getattr(scn, spec.name), dtype=float)
    bad = base.copy()
    bad.flat[0] = 2 * spec.high
    _raises(lambda: scn.replace(**{spec.name: bad if base.ndim else float(bad)}), spec.name)
    if spec.dtype == "int" and base.ndim:
        frac = base.copy()
        frac.flat[0] += 0.5
        _raises(lambda: scn.replace(**{spec.name: frac}), spec.name)


def test_zero_breakpoint_quality_curves_are_rejected(scn: Scenario) -> None:
    err = _raises(lambda: scn.replace(model_quality_steps=np.zeros((2, 0)),
                                      model_quality_values=np.zeros((2, 0))),
                  "model_quality_steps")
    assert "no breakpoints" in str(err)


# ------------------------------------------------------------------ files
def test_scenario_load_names_the_path(scn: Scenario, tmp_path: Path) -> None:
    text = (tmp_path / "ok.json")
    scn.save(text)
    good = text.read_bytes()
    cases = {
        "nonutf8.json": good[:40] + b"\xff" + good[40:],
        "truncated.json": good[: len(good) // 2],
        "deep.json": b"[" * 100_000 + b"]",
        "deep2.json": b"[" * 40 + b"]" * 40,
        "list.json": b"[1, 2]",
        "empty.json": b"",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        _raises(lambda q=p: Scenario.load(q), name)
    err = _raises(lambda: Scenario.load(tmp_path / "truncated.json"), "line")
    assert "not valid JSON" in str(err)
    _raises(lambda: Scenario.load(tmp_path), "cannot read")
    _raises(lambda: Scenario.load(None), "path")
    d = scn.to_dict()
    d["request_steps"] = [1e300, 20, 20]
    p = tmp_path / "field.json"
    p.write_text(__import__("json").dumps(d))
    err = _raises(lambda: Scenario.load(p), "request_steps")
    assert "field.json" in str(err)
    assert load_json(text)["schema_version"] == 1


def test_family_loaders_name_the_path(tmp_path: Path) -> None:
    for name, data in (("a.csv", b"\xff\xfe1,2\n"), ("b.csv", b"1e-6,abc\n"), ("c.mat", b"junk"),
                       ("d.npy", b"junk"), ("e.xlsx", b"1,2")):
        p = tmp_path / name
        p.write_bytes(data)
        _raises(lambda q=p: WpmecBatch.from_file(q), "path" if name != "b.csv" else "b.csv")
    p = tmp_path / "c.npy"
    np.save(p, np.array([1 + 1j, 2.0]))
    err = _raises(lambda: WpmecBatch.from_file(p), "gains")
    assert "c.npy" in str(err)
    t = tmp_path / "t.csv"
    t.write_bytes(b"slot,server,model,count\n0,0,0,\xff\n")
    _raises(lambda: load_trace_csv(t), "UTF-8")
    t.write_text("# shape,100000,100000,100000\nslot,server,model,count\n0,0,0,1\n")
    _raises(lambda: load_trace_csv(t), "max_entries")
    t.write_text("slot,server,model,count\n0,0,0,1.5\n")
    err = _raises(lambda: load_trace_csv(t), "count")
    assert "line 2" in str(err) and "t.csv" in str(err)


def test_a_bool_inside_a_list_of_numbers_is_refused() -> None:
    """numpy turns ``[1, True, 3]`` into int64, so an all-bool check missed one true/false in
    a numeric list (a scenario JSON with server_gpu_slots [1, true] loaded as [1, 1])."""
    from aigc_opt.validate import check_array

    for value in ([1, True, 3], [[1.0, 2.0], [False, 3.0]], (2, np.True_)):
        _raises(lambda v=value: check_array("x", "-", v), "not a bool")
    assert check_array("x", "-", [1, 2]).tolist() == [1.0, 2.0]


def test_minus_inf_among_allowed_plus_inf_is_the_value_named() -> None:
    """With +inf allowed, the error for a -inf named the first infinite entry (+inf)."""
    with pytest.raises(ValidationError) as info:
        check_array("deadline_s", "s", [np.inf, -np.inf, 1.0], allow_inf=True)
    assert info.value.value == -np.inf


def test_a_long_path_keeps_its_file_name(scn: Scenario, tmp_path: Path) -> None:
    """Under a deep directory (pytest-xdist's temporary folders reach 90 characters) the first
    77 characters of a path held no file name: the error named only '/tmp/.../bad...'."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    bad = deep / "truncated_scenario.json"
    bad.write_bytes(b"{")
    with pytest.raises(ValidationError) as info:
        Scenario.load(bad)
    assert str(bad) in str(info.value)
    huge = Path("/" + "x" * 500) / "name_at_the_end.json"
    with pytest.raises(ValidationError) as info:
        Scenario.load(huge)
    assert "name_at_the_end.json" in str(info.value).split(":", 1)[0]

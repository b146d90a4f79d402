# mypy: disable-error-code="misc, arg-type, unused-ignore"
"""The error contract for the life-cycle and ISCC families: junk in any field of an instance,
spec, weights or allocation, or in a generator argument, raises a ValidationError that names
the field and its unit (never a bare TypeError / ValueError / IndexError / AttributeError /
OverflowError, never silent acceptance); valid input still builds and solves as before."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt import SolveOptions, UnknownNameError, ValidationError
from aigc_opt.cases import get_case
from aigc_opt.problems.iscc import (
    IsccAllocation,
    IsccInstance,
    IsccPipelineSpec,
    IsccSpec,
    ShareAllocation,
    ShareInstance,
)
from aigc_opt.problems.iscc.vehicular import vehicular_instance
from aigc_opt.problems.lifecycle import LifecycleInstance, LifecycleSpec, LifecycleWeights
from aigc_opt.problems.lifecycle.data import spec_of
from aigc_opt.problems.lifecycle.medical import medical_instance, medical_spec

from conftest import OBJ_RTOL

KINDS = ("lifecycle.placement", "lifecycle.two_timescale", "lifecycle.medical",
         "iscc.matching", "iscc.pipeline", "iscc.vehicular")

#: Junk for a field that holds a number.
NUMBER_JUNK: list[Any] = [None, "abc", "1.5", math.nan, -math.inf, [1, 2], {"a": 1}, object(),
                          np.ones((2, 2)), True]
#: Junk for a field that holds an array (scalars, wrong ndim, strings, mappings ...).
ARRAY_JUNK: list[Any] = [None, "abc", math.nan, math.inf, -1, 3.0, {"a": 1}, object(),
                         np.ones((2, 2, 2)), ["abc"]]
#: Junk for a flag.
FLAG_JUNK: list[Any] = ["abc", "yes", "False", 1, 0, None, math.nan, [True], object()]


def _raises(field: str, unit: str | None, fn: Any, *args: Any, **kw: Any) -> None:
    """``fn(*args, **kw)`` raises a ValidationError naming ``field`` (and ``unit``)."""
    with pytest.raises(ValidationError) as err:
        fn(*args, **kw)
    msg = str(err.value)
    assert field in msg, msg
    if unit is not None:
        assert f"[{unit}]" in msg, msg


@cache
def _life() -> tuple[LifecycleInstance, LifecycleSpec]:
    kind = get_case("lifecycle.placement")
    return kind.make_instance(0, n_services=2, n_regions=2, n_edge=1), kind.make_spec()


@cache
def _iscc() -> tuple[IsccInstance, IsccSpec, IsccAllocation, ShareInstance]:
    inst = IsccInstance.generate(8, 2, 2, seed=0)
    spec = IsccSpec()
    alloc = ao.run_method(inst, spec, "highs", options=SolveOptions(time_limit=10)).allocation
    return inst, spec, alloc, ShareInstance.from_allocation(inst, alloc)


# ----------------------------------------------------------------------------- lifecycle spec
@pytest.mark.parametrize("bad", [None, "abc", 1.0, {"cost": 1.0}, [1.0], object()])
def test_lifecycle_spec_weights_must_be_weights(bad: Any) -> None:
    _raises("weights", "-", LifecycleSpec, weights=bad)


@pytest.mark.parametrize(("field", "unit", "junk"), [
    ("cost_budget", "cost", NUMBER_JUNK + [-1.0]),
    ("privacy_limit_bytes", "byte", NUMBER_JUNK + [-1.0]),
    ("quality_floor", "request", [b for b in NUMBER_JUNK if b is not None and not (
        isinstance(b, float) and b == -math.inf)] + [math.inf, None]),
    ("reject_penalty", "cost/request", NUMBER_JUNK[1:] + [-1.0, math.inf, 1e300]),
])
def test_lifecycle_spec_limits(field: str, unit: str, junk: list[Any]) -> None:
    for bad in junk:  # (quality_floor = -inf means "no floor")
        _raises(field, unit, LifecycleSpec, **{field: bad})


@pytest.mark.parametrize("field", ["modes", "train_kinds", "host_kinds"])
@pytest.mark.parametrize("bad", [1, math.nan, "lora", ("bogus",), (1,), [None], object(),
                                 {"a": 1}, np.ones(2)])
def test_lifecycle_spec_name_tuples(field: str, bad: Any) -> None:
    _raises(field, None, LifecycleSpec, **{field: bad})


def test_lifecycle_spec_valid_forms_still_work() -> None:
    spec = LifecycleSpec(modes=["none", "lora"], train_kinds=["edge"], cost_budget=np.float64(5),
                         quality_floor=-math.inf, reject_penalty=np.int64(2))
    assert spec.modes == ("none", "lora") and spec.train_kinds == ("edge",)
    assert spec.cost_budget == 5.0 and spec.reject_penalty == 2.0
    assert LifecycleSpec(modes=None).modes is None
    assert LifecycleSpec().cost_budget == math.inf
    with pytest.raises(UnknownNameError, match="modes"):
        LifecycleSpec(modes=("lorra",))


@pytest.mark.parametrize("field", ["cost", "latency", "energy", "privacy", "quality",
                                   "delivery_time"])
def test_lifecycle_weights(field: str) -> None:
    for bad in NUMBER_JUNK + [math.inf, -1.0, 1e300]:
        _raises(field, None, LifecycleWeights, **{field: bad})


def test_lifecycle_weights_from_dicts_and_spec_of() -> None:
    kind = get_case("lifecycle.placement")
    assert kind.make_spec(weights={"cost": 2.0}).weights == LifecycleWeights(cost=2.0)
    _raises("bogus", None, kind.make_spec, weights={"bogus": 1.0})
    _raises("cost", None, kind.make_spec, weights={"cost": "abc"})
    assert medical_spec(weights={"cost": 2.0}).weights == LifecycleWeights(cost=2.0,
                                                                           privacy=1e-5)
    assert medical_spec().weights == LifecycleWeights(privacy=1e-5)
    _raises("privacy", None, medical_spec, weights={"privacy": math.nan})
    _raises("weights", None, medical_spec, weights="abc")
    _raises("objective", None, spec_of, "abc")


# ----------------------------------------------------------------------------- lifecycle inst
LIFE_ARRAYS = [("model_params", "-"), ("model_hidden", "-"), ("option_model", "-"),
               ("option_mode", "-"), ("node_kind", "-"), ("node_region", "-"),
               ("node_flops", "FLOP/s"), ("node_memory_bytes", "byte"),
               ("demand_rps", "request/s"), ("data_tokens", "token"),
               ("service_allowed", "-"), ("quality_data_tokens", "token"),
               ("link_latency_s", "s")]


@pytest.mark.parametrize(("field", "unit"), LIFE_ARRAYS)
def test_lifecycle_instance_arrays(field: str, unit: str) -> None:
    inst, _ = _life()
    for bad in ARRAY_JUNK:
        if field == "demand_rps" and np.ndim(bad) == 3:
            bad = np.ones((2, 2))  # any 3-D array is a demand (it fixes T, S and U)
        _raises(field, unit, replace, inst, **{field: bad})


LIFE_SCALARS = [("window_s", "s"), ("epochs", "-"), ("token_bytes", "byte/token"),
                ("batch_tokens", "token"), ("utilisation", "-"), ("split_fraction", "-"),
                ("transfer_cost_per_byte", "cost/byte"), ("bytes_per_param", "byte/param"),
                ("optimizer_bytes_per_param", "byte/param")]


@pytest.mark.parametrize(("field", "unit"), LIFE_SCALARS)
def test_lifecycle_instance_scalars(field: str, unit: str) -> None:
    inst, _ = _life()
    for bad in NUMBER_JUNK + [math.inf, -1.0, 1e300]:
        _raises(field, unit, replace, inst, **{field: bad})


@pytest.mark.parametrize(("arg", "bad"), [
    ("n_services", "abc"), ("n_services", None), ("n_services", 2.5), ("n_services", 0),
    ("n_regions", math.nan), ("n_edge", -1), ("n_slots", {"a": 1}), ("seed", "abc"),
    ("seed", -1), ("n_services", 10**9), ("bogus_field", 1),
])
def test_lifecycle_generators(arg: str, bad: Any) -> None:
    _raises(arg, None, LifecycleInstance.generate, **{arg: bad})


@pytest.mark.parametrize(("arg", "bad"), [
    ("n_hospitals", "abc"), ("n_hospitals", 0), ("n_hospitals", math.inf), ("seed", "abc"),
    ("bogus", 1),
])
def test_medical_instance_arguments(arg: str, bad: Any) -> None:
    _raises(arg, None, medical_instance, **{arg: bad})


def test_lifecycle_huge_sizes_refused_before_allocating() -> None:
    _raises("n_slots*n_services*n_regions", None, LifecycleInstance.generate, 1000, 1000,
            n_slots=1000)


# ----------------------------------------------------------------------------- ISCC spec
@pytest.mark.parametrize("field", ["rb_options", "gpu_options"])
@pytest.mark.parametrize("bad", [None, "abc", math.nan, 4, (0, 1), (1.5,), (1, 1), (), {"a": 1},
                                 object(), np.ones((2, 2)), (True,), ("1",)])
def test_iscc_spec_options(field: str, bad: Any) -> None:
    for cls in (IsccSpec, IsccPipelineSpec):
        _raises(field, None, cls, **{field: bad})


@pytest.mark.parametrize("bad", FLAG_JUNK)
def test_iscc_spec_prune_is_a_flag(bad: Any) -> None:
    _raises("prune", "-", IsccSpec, prune=bad)
    _raises("prune", "-", IsccPipelineSpec, prune=bad)


@pytest.mark.parametrize("bad", [None, 1, math.nan, "sliced", ["decoupled"], np.array(["a"])])
def test_iscc_spec_choices(bad: Any) -> None:
    _raises("partition", None, IsccSpec, partition=bad)
    _raises("radio", None, IsccPipelineSpec, radio=bad)


@pytest.mark.parametrize("bad", [None, "abc", math.nan, math.inf, 0, -1, 1.5, [2], object()])
def test_iscc_pipeline_lookahead(bad: Any) -> None:
    _raises("lookahead", "slot", IsccPipelineSpec, lookahead=bad)


def test_iscc_spec_valid_forms_still_work() -> None:
    spec = IsccSpec(rb_options=[4, 1, 2.0], gpu_options=np.array([2, 1]), prune=np.bool_(False))
    assert spec.rb_options == (1, 2, 4) and spec.gpu_options == (1, 2) and spec.prune is False
    assert IsccPipelineSpec(lookahead=np.int64(3), radio="separate").lookahead == 3


# ----------------------------------------------------------------------------- ISCC instance
ISCC_ARRAYS = [("site_rbs", "unit"), ("site_gpus", "unit"), ("level_units", "unit"),
               ("model_class", "-"), ("task_class", "-"), ("link_site", "-"), ("hosted", "-"),
               ("gpu_flops", "FLOP/s"), ("accuracy", "-"), ("task_deadline_s", "s"),
               ("link_dwell_s", "s"), ("task_slot", "slot")]


@pytest.mark.parametrize(("field", "unit"), ISCC_ARRAYS)
def test_iscc_instance_arrays(field: str, unit: str) -> None:
    inst = _iscc()[0]
    for bad in ARRAY_JUNK:
        _raises(field, unit, replace, inst, **{field: bad})


def test_iscc_a_site_named_by_two_links_of_one_task_is_refused() -> None:
    """Two rates and dwells for one (task, site) are ambiguous: the referee read the first,
    the MILP chose either, so 'optimal' answers failed verification (deadline violated)."""
    inst = _iscc()[0]
    links = np.array(inst.link_site)
    links[2, :] = links[2, 0] if links[2, 0] >= 0 else 0
    with pytest.raises(ValidationError, match=r"link_site.*task 2 names site \d+ in two links"):
        replace(inst, link_site=links)
    links[2, 1:] = -1  # one link and unused slots (-1) are fine
    assert replace(inst, link_site=links).link_site[2, 1] == -1


@pytest.mark.parametrize(("field", "unit", "junk"), [
    ("cloud_gpus", "unit", NUMBER_JUNK + [math.inf, -1, 1.5, 1e300, (1,)]),
    ("cloud_latency_s", "s", NUMBER_JUNK + [math.inf, -1.0, 1e300]),
    ("slot_s", "s", NUMBER_JUNK + [math.inf, 0.0, -1.0, 1e300]),
])
def test_iscc_instance_scalars(field: str, unit: str, junk: list[Any]) -> None:
    inst = _iscc()[0]
    for bad in junk:
        _raises(field, unit, replace, inst, **{field: bad})


@pytest.mark.parametrize(("field", "unit"), [("site", "-"), ("level", "-"), ("rbs", "RB"),
                                             ("gpus", "unit"), ("model", "-"), ("cloud", "-")])
def test_iscc_allocation(field: str, unit: str) -> None:
    alloc = _iscc()[2]
    for bad in [None, "abc", math.nan, 3, np.ones((2, 2)), {"a": 1}, object(), np.ones(3)]:
        _raises(field, unit, replace, alloc, **{field: bad})
    if field != "cloud":
        _raises(field, unit, replace, alloc, **{field: np.full(alloc.site.shape, 0.5)})


@pytest.mark.parametrize(("field", "unit"), [("site", "-"), ("weight", "-"),
                                             ("site_bandwidth_hz", "Hz"),
                                             ("site_compute_flops", "FLOP/s"),
                                             ("data_bits", "bit")])
def test_iscc_share_instance(field: str, unit: str) -> None:
    sh = _iscc()[3]
    for bad in ARRAY_JUNK:
        _raises(field, unit, replace, sh, **{field: bad})


@pytest.mark.parametrize("field", ["bandwidth_hz", "compute_flops"])
def test_iscc_share_allocation(field: str) -> None:
    ok = {"bandwidth_hz": np.ones(3), "compute_flops": np.ones(3)}
    for bad in [None, "abc", math.nan, np.array([1.0, math.nan, 1.0]), {"a": 1}, object(),
                np.ones((3, 1)), np.ones(2)]:
        _raises(field, None, ShareAllocation, **{**ok, field: bad})


@pytest.mark.parametrize(("arg", "bad"), [
    ("n_tasks", "abc"), ("n_tasks", None), ("n_sites", math.nan), ("n_classes", 0),
    ("n_slots", 1.5), ("seed", "abc"), ("links_per_task", 0), ("links_per_task", "abc"),
    ("pool_factor", math.nan), ("pool_factor", -1.0), ("pool_factor", "abc"),
    ("class_skew", -1.0), ("class_skew", math.inf), ("n_tasks", 10**9),
])
def test_iscc_generator(arg: str, bad: Any) -> None:
    _raises(arg, None, IsccInstance.generate, **{arg: bad})


def test_iscc_unknown_override_is_refused() -> None:
    with pytest.raises(UnknownNameError, match="bogus"):
        IsccInstance.generate(bogus=1)


@pytest.mark.parametrize(("method", "bad"), [("scaled", "abc"), ("scaled", math.nan),
                                             ("scaled", -1.0), ("without_site", None),
                                             ("without_site", "abc"), ("without_site", 99)])
def test_iscc_instance_methods(method: str, bad: Any) -> None:
    inst = _iscc()[0]
    _raises("factor" if method == "scaled" else "site", None, getattr(inst, method), bad)


@pytest.mark.parametrize(("arg", "bad"), [
    ("n_vehicles", "abc"), ("n_rsus", 0), ("seed", "abc"), ("seed", -1),
    ("links_per_task", None), ("spacing_m", "abc"), ("spacing_m", 0.0), ("radius_m", math.nan),
    ("offset_m", -1.0), ("pool_scale", math.nan), ("pool_scale", "abc"), ("lost_site", 7),
    ("lost_site", "abc"), ("lost_site", -2), ("n_classes", "abc"),
])
def test_vehicular_instance_arguments(arg: str, bad: Any) -> None:
    _raises(arg, None, vehicular_instance, **{arg: bad})


@pytest.mark.parametrize(("size", "own"), [("n_tasks", "n_vehicles"), ("n_sites", "n_rsus")])
def test_vehicular_refuses_the_generator_sizes_it_sets(size: str, own: str) -> None:
    # vehicular_instance maps n_vehicles/n_rsus onto IsccInstance.generate(n_tasks, n_sites):
    # those names passed through **kw used to be a raw "got multiple values" TypeError
    with pytest.raises(UnknownNameError) as err:
        get_case("iscc.vehicular").instance(0, **{size: 5})
    assert err.value.field == "size of iscc.vehicular" and err.value.value == size
    assert {"n_vehicles", "n_rsus"} <= set(err.value.known) and size not in err.value.known
    assert own in str(err.value)
    with pytest.raises(UnknownNameError, match=f"{size} is set by {own}"):
        vehicular_instance(0, **{size: 5})


def test_no_case_takes_another_cases_size_as_a_raw_type_error() -> None:
    """Every registered case given each size name of every other case either builds an
    instance or raises a ValidationError (never a TypeError from the generator it calls)."""
    from aigc_opt.cases import case_kinds

    kinds = case_kinds()
    sizes = {name: kind.size_names() for name, kind in kinds.items()}
    assert "n_tasks" in sizes["iscc.matching"] and "iscc.vehicular" in kinds
    for name, kind in kinds.items():
        others = set().union(*(s for k, s in sizes.items() if k != name)) - sizes[name]
        for size in sorted(others | {"seed"}):  # seed= as a size: a raw TypeError before
            try:
                kind.instance(0, **{size: 3})
            except ValidationError:
                pass


# ----------------------------------------------------------------------------- valid input
@pytest.mark.parametrize("name", KINDS)
def test_default_cases_still_build_and_solve(name: str) -> None:
    kind = get_case(name)
    inst = kind.make_instance(0)
    spec = kind.make_spec()
    res = ao.run_method(inst, spec, "highs", options=SolveOptions(time_limit=10))
    assert res.termination.value == "optimal", res
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible
    assert met.objective == pytest.approx(res.objective, rel=OBJ_RTOL, abs=1e-9)


def test_valid_generator_arguments_still_work() -> None:
    a = LifecycleInstance.generate(2, 2, 0, n_slots=np.int64(2), seed=np.int64(3))
    b = LifecycleInstance.generate(2, 2, 0, n_slots=2, seed=3)
    assert np.array_equal(a.demand_rps, b.demand_rps) and a.shape["N"] == 3
    assert medical_instance(1, n_hospitals=2).shape["U"] == 2
    c = IsccInstance.generate(6, 2, 2, seed=1, links_per_task=5, pool_factor=1, class_skew=1)
    assert c.link_site.shape == (6, 2)
    v = vehicular_instance(0, 10, 3, pool_scale=0.5, lost_site=2)
    assert v.site_rbs[2] == 0
    assert c.scaled(2).site_rbs.tolist() == (2 * c.site_rbs).tolist()


def test_two_timescale_names_its_real_sizes() -> None:
    """Its lambda passed every size through **kw: an unknown size listed only n_slots and
    the instance's fields (cut at 25), not n_services, n_regions, n_edge."""
    kind = get_case("lifecycle.two_timescale")
    assert kind.size_names() == {"n_services", "n_regions", "n_edge", "n_slots"}
    with pytest.raises(ValidationError, match="n_services"):
        kind.instance(0, n_servics=3)
    import pickle

    same = get_case("lifecycle.placement").instance(0, n_slots=4)
    assert pickle.dumps(kind.instance(0)) == pickle.dumps(same)  # the instance it made before

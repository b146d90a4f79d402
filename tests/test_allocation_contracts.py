"""Allocation field contracts: index arrays are whole numbers, documented shapes and codes only,
and what a decision leaves unused has its documented value (or the referee flags it as a hard
violation).

Each test below failed before the contract was enforced: the allocation was truncated, reshaped
or accepted and scored feasible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.cases import get_case
from aigc_opt.errors import ValidationError
from aigc_opt.problems import migration as mg
from aigc_opt.problems.incentives.data import (
    AuctionAllocation,
    AuctionInstance,
    ContractAllocation,
    StackelbergAllocation,
)
from aigc_opt.problems.iscc import IsccAllocation, IsccInstance, IsccSpec
from aigc_opt.problems.offloading import MulticellSpec, OffloadingSpec
from aigc_opt.problems.offloading.data import LOCAL, OffloadObjective
from aigc_opt.problems.offloading.multicell import multicell_columns, select
from aigc_opt.problems.wpmec import WpmecAllocation, WpmecInstance

#: Values an integer index field must refuse (never truncate or wrap around).
NOT_INDICES = [0.999999999, 1.999, 2.5, np.nan, np.inf, -np.inf, 2.0**70]


def _refused(field: str, make: Callable[[], Any]) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        make()
    assert info.value.field == field, info.value
    return info.value


# ----------------------------------------------------------------------- F3: migration indices
@pytest.mark.parametrize("bad", NOT_INDICES)
def test_agod_provider_refuses_non_integral_non_finite_and_huge(bad: float) -> None:
    _refused("provider", lambda: mg.AgodAllocation(provider=np.array([1.0, bad, 0.0])))


def test_agod_provider_accepts_integral_floats() -> None:
    a = mg.AgodAllocation(provider=np.array([2.0, 0.0, 1.0]))
    assert a.provider.dtype == np.int64 and a.provider.tolist() == [2, 0, 1]
    assert not a.provider.flags.writeable
    _refused("provider", lambda: mg.AgodAllocation(provider=np.zeros((2, 2))))


@pytest.mark.parametrize("bad", NOT_INDICES)
@pytest.mark.parametrize("field", ["server", "level"])
def test_migration_allocation_refuses_non_integral_indices(field: str, bad: float) -> None:
    good = np.array([[0.0, 1.0], [1.0, 0.0]])
    arrays = {"server": good, "level": good, field: np.where(good == 1.0, bad, good)}
    _refused(field, lambda: mg.MigrationAllocation(**arrays))
    one = {"server": good[0], "level": good[0], field: np.where(good[0] == 1.0, bad, good[0])}
    _refused(field, lambda: mg.SlotAllocation(**one))


def test_migration_allocations_accept_integral_floats_and_check_ndim() -> None:
    a = mg.MigrationAllocation(server=[[2.0, 0.0]], level=[[1, 0]])
    assert a.server.dtype == np.int64 and a.server.tolist() == [[2, 0]]
    assert "(T, U)" in str(_refused("level", lambda: mg.MigrationAllocation(
        server=[[0, 1]], level=[0, 1])))
    s = mg.SlotAllocation(server=[1.0, 0.0], level=[0, 0])
    assert s.server.dtype == np.int64 and s.server.tolist() == [1, 0]


def test_agod_off_by_epsilon_provider_is_not_a_different_feasible_allocation() -> None:
    inst = mg.AgodInstance.generate(0, n_providers=3, total_time=500.0, rate=4e-3)
    seq = np.arange(inst.n_tasks) % inst.n_providers
    assert ao.evaluate(inst, mg.AgodAllocation(provider=seq.astype(float)),
                       mg.AgodSpec()).objective == ao.evaluate(
        inst, mg.AgodAllocation(provider=seq), mg.AgodSpec()).objective
    _refused("provider", lambda: mg.AgodAllocation(provider=np.where(seq > 0, seq - 1e-9, 0)))


# ---------------------------------------------------------------------------- F4: auction
def test_auction_refuses_undocumented_server_codes_and_negative_slots() -> None:
    z = np.zeros(3)
    _refused("server", lambda: AuctionAllocation(np.array([0, -2, -1]), z, z))
    _refused("slots", lambda: AuctionAllocation(np.array([0, -1, -1]), np.array([1, -1, 0]), z))
    _refused("server", lambda: AuctionAllocation(np.array([0.5, -1, -1]), z, z))
    ok = AuctionAllocation(np.array([1.0, -1, -1]), np.array([2, 0, 0]), z)
    assert ok.server.tolist() == [1, -1, -1] and ok.slots.dtype == np.int64


@pytest.mark.parametrize("field", ["server", "slots", "payment"])
def test_auction_refuses_columns_and_other_shapes(field: str) -> None:
    arrays = {"server": np.array([0, -1, -1]), "slots": np.array([1, 0, 0]),
              "payment": np.zeros(3)}
    col = dict(arrays, **{field: arrays[field][:, None]})
    _refused(field, lambda: AuctionAllocation(**col))
    short = dict(arrays, **{field: arrays[field][:2]})
    # a length mismatch is reported on the field that differs from ``server``
    _refused("payment" if field == "payment" else "slots", lambda: AuctionAllocation(**short))


def test_auction_loser_holding_slots_is_a_hard_violation() -> None:
    inst = AuctionInstance.generate(5, 2, 3, seed=0)
    none = AuctionAllocation(np.full(5, -1), np.zeros(5), np.zeros(5))
    met = ao.evaluate(inst, none)
    assert met.feasible and met.violations["loser_slots"] == 0.0
    hoard = AuctionAllocation(np.full(5, -1), np.array([0, 10**6, 0, 0, 0]), np.zeros(5))
    met = ao.evaluate(inst, hoard)
    assert not met.feasible and "loser_slots" in met.hard
    assert met.violation_counts["loser_slots"] == 1


def test_auction_methods_keep_losers_empty() -> None:
    inst = AuctionInstance.generate(6, 2, 3, seed=1)
    spec = get_case("incentives.auction").make_spec()
    for method in ("vcg", "greedy_uniform"):
        met = ao.evaluate(inst, ao.run_method(inst, spec, method).allocation)
        assert met.feasible, (method, met.violated())
        assert met.violations["loser_slots"] == 0.0


# ------------------------------------------------------------------ F4: contract, Stackelberg
@pytest.mark.parametrize("field", ["level", "reward"])
def test_contract_menu_refuses_reshaped_arrays(field: str) -> None:
    L, R = np.array([0.0, 1.0, 2.0]), np.array([0.0, 0.5, 1.0])
    arrays = {"level": L, "reward": R}
    for bad in (arrays[field][:, None], arrays[field][None, :], np.float64(1.0)):
        _refused(field, lambda bad=bad: ContractAllocation(**dict(arrays, **{field: bad})))
    ok = ContractAllocation(level=L, reward=R)
    assert ok.level.shape == (3,) and not ok.reward.flags.writeable


def test_stackelberg_allocation_refuses_undocumented_shapes() -> None:
    x = np.array([[1.0], [2.0]])
    _refused("price", lambda: StackelbergAllocation(price=np.array([[2.0]]), demand=x))
    _refused("price", lambda: StackelbergAllocation(price=2.0, demand=x))
    _refused("demand", lambda: StackelbergAllocation(price=np.array([2.0]), demand=x[:, 0]))
    _refused("demand", lambda: StackelbergAllocation(price=np.array([2.0]),
                                                     demand=x[None, :, :]))
    ok = StackelbergAllocation(price=np.array([2.0]), demand=x)
    assert ok.demand.shape == (2, 1) and ok.price.shape == (1,)


# ------------------------------------------------------------------------------- F4: wpmec
def _wpmec() -> tuple[WpmecInstance, WpmecAllocation]:
    inst = WpmecInstance(np.array([2e-6, 5e-6, 1e-6]))
    return inst, WpmecAllocation.from_times(inst, [0, 1, 1], 0.5, [0.0, 0.2, 0.3])


@pytest.mark.parametrize(("field", "device", "value"), [
    ("tau", 0, np.inf), ("tx_power_w", 0, np.inf), ("tau", 0, 0.01), ("tx_power_w", 0, 1.0),
    ("cpu_hz", 1, np.inf), ("cpu_hz", 2, 1e6)])
def test_wpmec_unused_fields_must_be_zero(field: str, device: int, value: float) -> None:
    inst, good = _wpmec()
    met = ao.evaluate(inst, good)
    assert met.feasible and met.violations["unused_zero"] == 0.0
    arr = getattr(good, field).copy()
    arr[device] = value
    met = ao.evaluate(inst, dataclasses.replace(good, **{field: arr}))
    assert not met.feasible and "unused_zero" in met.hard
    assert met.violations["unused_zero"] == pytest.approx(value)
    assert met.violation_counts["unused_zero"] == 1


def test_wpmec_exact_allocation_leaves_unused_fields_zero() -> None:
    inst = WpmecInstance(np.array([6e-6, 1.1e-5, 1e-7, 1.2e-6, 2e-6]))
    res = ao.run_method(inst, get_case("wpmec.binary").make_spec(), "exact")
    met = ao.evaluate(inst, res.allocation)
    assert met.feasible and met.violations["unused_zero"] == 0.0


# --------------------------------------------------------------------------- F4: multicell
def test_multicell_local_request_radio_server_must_be_minus_one() -> None:
    scn = ao.Scenario.generate(4, 2, 3, seed=0, server_gpu_slots=np.array([1, 2]),
                               server_subchannels=np.array([3, 3]))
    scn = scn.replace(user_energy_budget_j=np.full(4, 1e6))  # running locally is affordable
    spec = MulticellSpec(objective=OffloadObjective(deadline="penalty"), forward_bps=2e8,
                         candidate_radios=2)
    col = multicell_columns(scn, spec)
    local = np.array([np.nonzero((col.user == i) & (col.alloc.placement == LOCAL))[0][0]
                      for i in range(scn.n_users)])
    cache = np.zeros((scn.n_servers, scn.n_models), dtype=bool)
    a = select(col, local, cache)
    met = ao.evaluate(scn, a, spec)
    assert met.feasible, met.violated()
    for radio in (10**6, 0, -5):
        rs = a.radio_server.copy()
        rs[1] = radio
        met = ao.evaluate(scn, dataclasses.replace(a, radio_server=rs), spec)
        assert not met.feasible and met.violation_counts["radio_server"] == 1, radio
    res = ao.solve(scn, spec)  # the library's own allocation keeps the documented codes
    met = ao.evaluate(scn, res.allocation, spec)
    assert met.feasible and met.violations["radio_server"] == 0.0


def test_assignment_local_request_radio_server_must_be_minus_one() -> None:
    """The same rule for the single-cell specs (the shared ``valid_masks``)."""
    scn = ao.Scenario.generate(6, 2, 3, seed=0)
    scn = scn.replace(user_energy_budget_j=np.full(6, 1e6))  # running locally is affordable
    spec = OffloadingSpec(objective=OffloadObjective(deadline="penalty"))
    a = ao.run_heuristic(scn, spec, "all_local").allocation
    assert ao.evaluate(scn, a, spec).feasible
    for radio in (10**6, 0):
        rs = a.radio_server.copy()
        rs[2] = radio
        met = ao.evaluate(scn, dataclasses.replace(a, radio_server=rs), spec)
        assert not met.feasible and met.violation_counts["radio_server"] == 1, radio


# -------------------------------------------------------------------------------- F4: iscc
@pytest.mark.parametrize(("field", "value"), [
    ("site", -2), ("level", 10**6), ("model", 10**6), ("rbs", 10**6), ("gpus", 10**6),
    ("level", 0), ("rbs", 1), ("cloud", True)])
def test_iscc_unserved_task_has_the_documented_encoding(field: str, value: Any) -> None:
    inst = IsccInstance.generate(6, 2, 2, seed=0)
    spec = IsccSpec()
    empty = IsccAllocation.empty(inst.n_tasks)
    met = ao.evaluate(inst, empty, spec)
    assert met.feasible and met.violations["unserved"] == 0.0
    arr = getattr(empty, field).copy()
    arr[2] = value
    met = ao.evaluate(inst, dataclasses.replace(empty, **{field: arr}), spec)
    assert not met.feasible and "unserved" in met.hard
    assert met.violation_counts["unserved"] == 1 and met.objective == 0.0


def test_iscc_methods_encode_unserved_tasks_as_documented() -> None:
    inst = IsccInstance.generate(8, 2, 2, seed=1, pool_factor=0.2)
    spec = IsccSpec()
    res = ao.solve(inst, spec)
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible and met.violations["unserved"] == 0.0

"""Scenario-based families on sparse scenarios (channel stored as links): every case kind's
methods run (or refuse with a ValidationError, never an AttributeError/TypeError), a sparse
scenario that keeps every link gives the dense optimum, and the dense-only helpers guard."""

from __future__ import annotations

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.cases import CaseKind, case_kinds, instance_type
from aigc_opt.errors import ValidationError
from aigc_opt.problems.offloading.data import dense_channel
from aigc_opt.problems.sizing.data import DOWN_GAIN, site_down
from aigc_opt.scenario import Scenario

_KINDS = sorted(name for name, k in case_kinds().items() if instance_type(k) is Scenario)
_BACKENDS = {"highs", "cvxpy", "pyomo", "scip"}


def _run(inst: Scenario, kind: CaseKind, method: str) -> ao.Result:
    spec = kind.make_spec()
    if method in _BACKENDS:
        return ao.solve(inst, spec, method)
    return ao.run_method(inst, spec, method)


def test_scenario_kinds_found() -> None:
    assert {"offloading.assignment", "offloading.multicell", "offloading.partial",
            "allocation.steps"} <= set(_KINDS)


@pytest.mark.parametrize("name", _KINDS)
def test_reference_on_sparse_scenario(name: str) -> None:
    kind = case_kinds()[name]
    sparse = Scenario.generate(20, 3, 3, seed=0, links=2)
    assert sparse.is_sparse and sparse.channel_gain is None
    assert kind.reference is not None
    try:
        r = _run(sparse, kind, kind.reference)
    except ValidationError as err:
        if err.field != "channel_gain":  # a limit of the model, not of the sparse storage
            with pytest.raises(ValidationError) as dense_err:
                _run(Scenario.generate(20, 3, 3, seed=0), kind, kind.reference)
            assert dense_err.value.field == err.field
        return
    assert r.has_solution and r.verified, r.termination
    m = ao.evaluate(sparse, r.allocation, kind.make_spec())
    assert m.objective == pytest.approx(r.objective, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", _KINDS)
def test_all_links_kept_gives_dense_optimum(name: str) -> None:
    kind = case_kinds()[name]
    inst = kind.make_instance(0)
    assert kind.reference is not None
    dense = _run(inst, kind, kind.reference)
    sparse = _run(inst.sparse(), kind, kind.reference)
    assert dense.verified and sparse.verified
    assert sparse.objective == pytest.approx(dense.objective, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", _KINDS)
def test_default_methods_on_two_links(name: str) -> None:
    kind = case_kinds()[name]
    inst = kind.make_instance(0).sparse(2)
    for method in kind.default_methods:
        r = _run(inst, kind, method)  # no exception; heuristics may be infeasible
        assert r.metrics is not None or not r.has_solution, method
        if r.has_solution:
            assert r.verified, method


def test_dense_channel_guard() -> None:
    scn = Scenario.generate(6, 3, 2, seed=1)
    assert dense_channel(scn) is scn
    full = dense_channel(scn.sparse())
    assert not full.is_sparse and np.array_equal(full.channel_gain, scn.channel_gain)
    with pytest.raises(ValidationError) as err:
        dense_channel(scn.sparse(2), "test")
    assert err.value.field == "channel_gain"


def test_site_down_sparse_matches_dense() -> None:
    scn = Scenario.generate(6, 3, 2, seed=1)
    down = site_down(scn.sparse(), 1)
    assert down.is_sparse
    assert np.array_equal(down.dense().channel_gain, site_down(scn, 1).channel_gain)
    two = site_down(scn.sparse(2), 2)
    assert two.link_gain is not None and two.link_server is not None
    assert np.all(two.link_gain[two.link_server == 2] == DOWN_GAIN)

"""Multi-cell assignment with forwarding: MILP vs brute force, backends agree, evaluator checks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import BackendUnavailableError, ValidationError
from aigc_opt.problems.offloading import MulticellSpec
from aigc_opt.problems.offloading.data import OffloadObjective
from aigc_opt.problems.offloading.multicell import multicell_columns, select

OBJ_RTOL = 1e-6
MIP_GAP = 1e-9


def _tiny(seed: int, n: int = 4) -> ao.Scenario:
    """2 servers, 1-2 GPU slots, 3 subchannels: forwarding and capacities matter."""
    return ao.Scenario.generate(n, 2, 3, seed=seed, server_gpu_slots=np.array([1, 2]),
                                server_subchannels=np.array([3, 3]))


def _brute_force(scn: ao.Scenario, spec: MulticellSpec) -> float:
    """Best evaluator objective over every column combination, with the minimal cache."""
    col = multicell_columns(scn, spec)
    per_user = [np.nonzero(col.user == i)[0] for i in range(scn.n_users)]
    best = np.inf
    pl_all, model = col.alloc.placement, scn.request_model
    for combo in itertools.product(*per_user):
        chosen = np.array(combo)
        cache = np.zeros((scn.n_servers, scn.n_models), dtype=bool)
        pl = pl_all[chosen]
        cache[pl[pl >= 0], model[pl >= 0]] = True
        met = ao.evaluate(scn, select(col, chosen, cache), spec)
        if met.feasible:
            best = min(best, met.objective)
    return best


@pytest.mark.parametrize(("seed", "deadline", "local_steps"),
                         [(0, "hard", None), (1, "hard", 5), (2, "penalty", None)])
def test_milp_equals_brute_force(seed: int, deadline: str, local_steps: int | None) -> None:
    scn = _tiny(seed)
    if deadline == "penalty":
        scn = scn.replace(request_deadline_s=np.full(4, 3.0))
    spec = MulticellSpec(objective=OffloadObjective(deadline=deadline, load=0.05),
                         forward_bps=2e8, forward_channels=1, candidate_radios=2,
                         local_max_steps=local_steps)
    res = ao.solve(scn, spec, mip_gap=MIP_GAP)
    assert res.optimal
    met = ao.evaluate(scn, res.allocation, spec)
    assert met.feasible, met.violations
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
    np.testing.assert_allclose(res.objective, _brute_force(scn, spec), rtol=OBJ_RTOL)


def _backends() -> list[str]:
    names = ["highs", "cvxpy"]
    try:
        ao.get_backend("pyomo")
        names.append("pyomo")
    except (BackendUnavailableError, KeyError, ImportError):
        pass
    return names


@pytest.mark.parametrize("linking", ["disaggregated", "aggregated"])
@pytest.mark.parametrize("deadline", ["hard", "penalty"])
def test_backends_agree(linking: str, deadline: str) -> None:
    scn = ao.Scenario.generate(30, 4, 4, seed=3)
    cap = np.full((4, 4), 5e8)
    cap[0, 1] = 0.0  # a missing link
    spec = MulticellSpec(objective=OffloadObjective(deadline=deadline), forward_bps=cap,
                         linking=linking)
    objs = []
    for backend in _backends():
        res = ao.solve(scn, spec, backend=backend, mip_gap=MIP_GAP)
        assert res.optimal, backend
        met = ao.evaluate(scn, res.allocation, spec)
        assert met.feasible, (backend, met.violations)
        np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL)
        assert not (res.allocation.forwarded & (res.allocation.radio_server == 0)
                    & (res.allocation.placement == 1)).any()
        objs.append(res.objective)
    np.testing.assert_allclose(objs, objs[0], rtol=OBJ_RTOL)


def test_pyomo_backend_when_available() -> None:
    try:
        ao.get_backend("pyomo")
    except (BackendUnavailableError, KeyError, ImportError) as exc:
        pytest.skip(f"pyomo backend unavailable: {exc}")
    scn = _tiny(0)
    spec = MulticellSpec(forward_channels=1, candidate_radios=2)
    a = ao.solve(scn, spec, backend="pyomo", mip_gap=MIP_GAP)
    b = ao.solve(scn, spec, backend="highs", mip_gap=MIP_GAP)
    np.testing.assert_allclose(a.objective, b.objective, rtol=OBJ_RTOL)


def test_forwarding_never_hurts_and_heuristics_are_bounded() -> None:
    scn = ao.Scenario.generate(40, 4, 4, seed=0)
    spec = MulticellSpec()
    opt = ao.solve(scn, spec, mip_gap=MIP_GAP)
    for name in ("no_forwarding", "greedy"):
        h = ao.run_method(scn, spec, name)
        assert h.termination is ao.Termination.FEASIBLE, h.message
        assert h.objective >= opt.objective - 1e-9 * abs(opt.objective)


def test_evaluator_forward_time_and_link_capacity_by_hand() -> None:
    scn = _tiny(0, n=2)
    spec = MulticellSpec(forward_bps=1e8, forward_channels=1, candidate_radios=2)
    col = multicell_columns(scn, spec)
    a = col.alloc
    # both requests: radio 0, processed at server 1 (forwarded), 1e8 bit/s each
    js = np.array([np.nonzero((col.user == i) & (a.radio_server == 0) & (a.placement == 1))[0][0]
                   for i in range(2)])
    cache = np.zeros((2, 3), dtype=bool)
    cache[1, scn.request_model] = True
    alloc = select(col, js, cache)
    met = ao.evaluate(scn, alloc, spec)
    expect = (scn.request_input_bits + scn.request_output_bits) / 1e8
    np.testing.assert_allclose(met.per_item["t_forward_s"], expect)
    np.testing.assert_allclose(met.violations["link_capacity"], 1.0)  # 2e8 on a 1e8 link
    assert not met.feasible
    # without the spec the link capacity cannot be checked, and says so
    met2 = ao.evaluate(scn, alloc, OffloadObjective())
    assert met2.totals["link_capacity_checked"] == 0.0 and "link_capacity" not in met2.violations


def test_hard_deadline_infeasible_is_a_status() -> None:
    scn = _tiny(0).replace(request_deadline_s=np.full(4, 1e-3))
    res = ao.solve(scn, MulticellSpec())
    assert not res.has_solution
    assert res.termination in (ao.Termination.INFEASIBLE, ao.Termination.INFEASIBLE_OR_UNBOUNDED)


def test_bad_spec_names_field() -> None:
    with pytest.raises(ValidationError, match="forward_bps"):
        MulticellSpec(forward_bps=np.ones((2, 3)))
    with pytest.raises(ValidationError, match="forward_bps"):
        MulticellSpec(forward_bps=-1.0)
    with pytest.raises(ValidationError, match="forward_channels"):
        MulticellSpec(forward_channels=0)
    with pytest.raises(ValidationError, match="forward_bps"):
        ao.solve(_tiny(0), MulticellSpec(forward_bps=np.ones((3, 3))))


def test_case_kind_registered() -> None:
    from aigc_opt.cases import _CASES

    kind = _CASES["offloading.multicell"]
    res = ao.run_method(kind.make_instance(0), kind.make_spec(objective={"deadline": "penalty"}),
                        "highs")
    assert res.optimal

"""Elastic offloading assignment (``OffloadingSpec(admission=True)``): always a solution, the
rejected requests listed, checked against a second solver, brute force and the plain MILP."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems.offloading import OffloadingSpec, option_table
from aigc_opt.problems.offloading.data import REJECT, OffloadAllocation
from aigc_opt.result import Termination
from aigc_opt.scenario import Scenario

_FIELDS = ("placement", "radio_server", "uplink_hz", "downlink_hz", "tx_power_w",
           "compute_flops", "backhaul_bps", "remote_steps", "device_steps")


@pytest.fixture(scope="module")
def crowded() -> Scenario:
    return Scenario.generate(40, 2, 3, seed=0, load=None)


def test_infeasible_without_admission_optimal_with_it(crowded: Scenario) -> None:
    plain = OffloadingSpec(allow_local=False, allow_cloud=False)
    assert ao.solve(crowded, plain, "highs").termination == Termination.INFEASIBLE
    spec = dataclasses.replace(plain, admission=True)
    objs = []
    for backend in ("highs", "scip"):
        r = ao.solve(crowded, spec, backend)
        assert r.termination == Termination.OPTIMAL and r.verified
        m = ao.evaluate(crowded, r.allocation, spec)
        assert m.feasible
        assert m.objective == pytest.approx(r.objective, rel=1e-6, abs=1e-6)
        rejected = m.per_item["rejected"]
        assert rejected.dtype == bool and rejected.shape == (crowded.n_users,)
        assert 0 < m.totals["n_rejected"] == rejected.sum() < crowded.n_users
        assert np.array_equal(rejected, r.allocation.placement == REJECT)
        # rejected requests are served by nobody
        for key in ("latency_s", "device_energy_j", "server_energy_j", "quality"):
            assert np.all(m.per_item[key][rejected] == 0.0)
        assert np.all(r.allocation.radio_server[rejected] == -1)
        assert m.per_item["cost"][rejected] == pytest.approx(
            crowded.request_weight[rejected] * spec.rejection_penalty)
        objs.append(r.objective)
    assert objs[0] == pytest.approx(objs[1], rel=1e-6)


def test_rejected_allocation_is_a_violation_without_admission(crowded: Scenario) -> None:
    spec = OffloadingSpec(allow_local=False, allow_cloud=False, admission=True)
    alloc = ao.solve(crowded, spec, "highs").allocation
    m = ao.evaluate(crowded, alloc, dataclasses.replace(spec, admission=False))
    assert not m.feasible and m.violation_counts["admission"] == int((alloc.placement
                                                                      == REJECT).sum())


_HEURISTICS = ("greedy_latency", "random", "all_edge_nearest", "all_local")


def test_heuristics_handle_reject(crowded: Scenario) -> None:
    spec = OffloadingSpec(allow_local=False, allow_cloud=False, admission=True)
    opt = ao.solve(crowded, spec, "highs").objective
    for name in _HEURISTICS:
        r = ao.run_heuristic(crowded, spec, name)
        assert r.has_solution and r.verified, name
        assert r.objective >= opt - 1e-6
        assert r.metrics.totals["n_rejected"] > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heuristics_reject_requests_no_option_can_serve(seed: int) -> None:
    # requests 1 and 4 get a 1 ms deadline that no option meets: every heuristic must
    # reject them (random used to serve them anyway, the naive policies ignored admission)
    scn = Scenario.generate(10, 2, 3, seed=seed)
    deadline = scn.request_deadline_s.copy()
    deadline[[1, 4]] = 1e-3
    scn = scn.replace(request_deadline_s=deadline)
    spec = OffloadingSpec(admission=True)
    t = option_table(scn, spec)
    assert not t.feasible[np.isin(t.user, [1, 4]) & (t.placement != REJECT)].any()
    opt = ao.solve(scn, spec, "highs")
    assert opt.verified and np.all(opt.allocation.placement[[1, 4]] == REJECT)
    for name in _HEURISTICS:
        r = ao.run_heuristic(scn, spec, name, seed=seed)
        assert r.has_solution and r.verified, (name, r.message)
        assert np.all(r.allocation.placement[[1, 4]] == REJECT), name
        assert r.objective >= opt.objective - 1e-6, name


def _brute_force(scn: Scenario, spec: OffloadingSpec) -> tuple[float, set[int]]:
    """Every combination of the equal-share options (incl. reject), each scored by the
    evaluator with the models its edge requests need cached: best objective and the
    rejection counts of all optimal combinations."""
    t = option_table(scn, spec)
    cols = [np.nonzero(t.user == n)[0] for n in range(scn.n_users)]
    best, counts = np.inf, set()
    for combo in itertools.product(*cols):
        c = np.array(combo)
        pl = t.placement[c]
        cache = np.zeros((scn.n_servers, scn.n_models), dtype=bool)
        cache[pl[pl >= 0], scn.request_model[pl >= 0]] = True
        alloc = OffloadAllocation(cache=cache, **{f: getattr(t, f)[c] for f in _FIELDS})
        m = ao.evaluate(scn, alloc, spec)
        if not m.feasible:
            continue
        if m.objective < best - 1e-9:
            best, counts = m.objective, {int((pl == REJECT).sum())}
        elif m.objective <= best + 1e-9:
            counts.add(int((pl == REJECT).sum()))
    return best, counts


def test_rejections_match_brute_force() -> None:
    scn = Scenario.generate(5, 2, 2, seed=1, load=None, server_gpu_slots=np.array([1, 2]))
    spec = OffloadingSpec(admission=True, rejection_penalty=5.0)
    r = ao.solve(scn, spec, "highs")
    assert r.termination == Termination.OPTIMAL and r.verified
    best, counts = _brute_force(scn, spec)
    assert r.objective == pytest.approx(best, rel=1e-7)
    n_rej = int(r.metrics.totals["n_rejected"])
    assert n_rej > 0 and n_rej in counts


def test_huge_penalty_rejects_nothing() -> None:
    scn = Scenario.generate(20, 3, 4, seed=0)
    plain = OffloadingSpec()
    r0 = ao.solve(scn, plain, "highs")
    assert r0.termination == Termination.OPTIMAL
    spec = OffloadingSpec(admission=True, rejection_penalty=1e6)
    r = ao.solve(scn, spec, "highs")
    assert r.termination == Termination.OPTIMAL and r.verified
    assert r.metrics.totals["n_rejected"] == 0
    assert not (r.allocation.placement == REJECT).any()
    assert r.objective == pytest.approx(r0.objective, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("kw", [{"admission": "yes"}, {"rejection_penalty": -1.0},
                                {"rejection_penalty": float("nan")}])
def test_spec_validation(kw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OffloadingSpec(**kw)

"""Migration instances: mobility sources, traces, physics formulas, the Lyapunov trade-off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.problems import migration as mg


@pytest.mark.parametrize("source", ["online", "own"])
@pytest.mark.parametrize("mobility", ["random_waypoint", "gauss_markov"])
def test_generated_trajectories_are_consistent(source: str, mobility: str) -> None:
    inst = mg.generate(8, 4, 12, seed=2, mobility=mobility, source=source)
    xy = inst.user_xy_m
    assert xy is not None and inst.server_xy_m is not None
    side = 500.0 * 2
    assert (xy >= -1e-9).all() and (xy <= side + 1e-9).all()
    d = np.sqrt(((xy[:, :, None, :] - inst.server_xy_m[None, None]) ** 2).sum(axis=3))
    np.testing.assert_array_equal(inst.user_cell, d.argmin(axis=2))
    assert (np.diff(inst.user_cell, axis=0) != 0).any()  # users do change cells
    # grid hops: Manhattan distance of the 2 x 2 grid
    np.testing.assert_array_equal(inst.server_hops, [[0, 1, 1, 2], [1, 0, 2, 1],
                                                     [1, 2, 0, 1], [2, 1, 1, 0]])


def test_position_trace_csv(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    rows = ["slot,user,x,y"]
    pos = np.zeros((3, 2, 2))
    for t in range(3):
        for u in range(2):
            pos[t, u] = (100.0 + 400.0 * t, 100.0 + 700.0 * u)
            rows.append(f"{t},{u},{pos[t, u, 0]},{pos[t, u, 1]}")
    path.write_text("\n".join(rows) + "\n")
    xy = mg.mobility.positions_from_csv(str(path))
    np.testing.assert_allclose(xy, pos)
    inst = mg.generate(seed=0, n_servers=4, positions_m=xy)
    assert inst.n_slots == 3 and inst.n_users == 2
    np.testing.assert_array_equal(inst.user_cell, [[0, 1], [0, 1], [2, 3]])
    online = pytest.importorskip("aigc_opt.problems.online.data")
    if hasattr(online, "load_position_trace"):  # same format as the online family's reader
        np.testing.assert_allclose(online.load_position_trace(path), xy)
    path.write_text("slot,user,x,y\n0,0,1,1\n0,0,2,2\n")
    with pytest.raises(ao.ValidationError):
        mg.mobility.positions_from_csv(str(path))


def test_physics_by_hand() -> None:
    """Latency, quality, migration energy of a 2-server instance computed by hand."""
    inst = mg.MigrationInstance(
        server_hops=np.array([[0, 2], [2, 0]]), server_flops=np.array([1e12, 2e12]),
        server_gpu_memory_bytes=np.array([1e10, 1e10]), user_cell=np.array([[0], [1]]),
        access_s=np.array([[0.1], [0.2]]), user_model=np.array([0]),
        user_state_bytes=np.array([1e9]), model_memory_bytes=np.array([4e9]),
        model_flop_per_step=np.array([1e11]), steps=np.array([10, 20]),
        quality=np.array([[0.5, 0.8]]), initial_server=np.array([0]), slot_s=10.0,
        hop_delay_s=0.05, migration_fixed_j=1.0, migration_j_per_byte_hop=1e-9)
    L = mg.latency_s(inst)
    # slot 1, at server 0 (2 hops from cell 1), 20 steps at 1e12 FLOP/s
    np.testing.assert_allclose(L[1, 0, 0, 1], 0.2 + 0.1 + 20 * 1e11 / 1e12)
    np.testing.assert_allclose(mg.migration_matrix_j(inst)[0], [[0.0, 3.0], [3.0, 0.0]])
    alloc = mg.MigrationAllocation(server=np.array([[1], [1]]), level=np.array([[0], [1]]))
    spec = mg.MigrationSpec(budget_j=1.0, budget_hard=False)
    met = ao.evaluate(inst, alloc, spec)
    lat = np.array([0.1 + 0.1 + 10 * 1e11 / 2e12, 0.2 + 0.0 + 20 * 1e11 / 2e12])
    np.testing.assert_allclose(met.per_item["latency_s"][:, 0], lat)
    np.testing.assert_allclose(met.objective, ((lat - [0.5, 0.8]).sum()) / 2)
    np.testing.assert_allclose(met.totals["migration_avg_j"], 3.0 / 2)  # one move in slot 0
    np.testing.assert_allclose(met.violations["migration_budget"], 0.5)
    assert met.feasible  # budget soft
    assert not ao.evaluate(inst, alloc, mg.MigrationSpec(budget_j=1.0)).feasible


def test_queue_trace_by_hand() -> None:
    np.testing.assert_allclose(mg.queue_trace(np.array([3.0, 0.0, 0.0, 5.0]), 1.0),
                               [0.0, 2.0, 1.0, 0.0, 4.0])


def test_agod_profile_is_agods() -> None:
    p = mg.AGOD_PROFILE
    assert p.n_providers == 20 and p.capacity == (400, 500, 600, 700, 800, 900)
    assert p.rate == 0.001 and p.total_time == 1_000_000 and p.crash_penalty == 2.0
    inst = mg.AgodInstance.generate(0)
    assert 900 < inst.n_tasks < 1100  # Poisson(1000) + 1
    assert set(inst.provider_capacity) <= set(p.capacity)
    assert set(inst.task_steps) <= set(p.steps)


@pytest.mark.slow
def test_lyapunov_trade_off_over_a_long_horizon() -> None:
    """Larger V: lower performance cost, more migration, larger queue (Lyapunov O(1/V), O(V))."""
    inst = mg.generate(8, 4, 120, seed=0, load=0.7)
    out = {}
    for v in (0.1, 1000.0):
        spec = mg.MigrationSpec(budget_j=1.0, v=v, budget_hard=False)
        met = ao.evaluate(inst, ao.run_heuristic(inst, spec, "lyapunov").allocation, spec)
        assert met.violations["budget_identity"] <= 1e-12
        out[v] = met
    assert out[1000.0].objective < out[0.1].objective
    assert out[1000.0].totals["migration_avg_j"] > out[0.1].totals["migration_avg_j"]
    assert out[1000.0].totals["queue_final_j"] > out[0.1].totals["queue_final_j"]
    # small V keeps the long-run migration close to the budget
    assert out[0.1].totals["migration_avg_j"] <= 1.0 + out[0.1].totals["queue_final_j"] / 120


def test_instance_json_round_trip(tmp_path: Path) -> None:
    from aigc_opt import cases

    for name, kw in (("migration.lyapunov", {}), ("agod.selection", {"total_time": 2e4})):
        kind = cases.get_case(name)
        inst = kind.make_instance(0, **kw)
        path = cases.save_instance_json(inst, tmp_path / f"{name}.json")
        back = cases.load_instance_file(kind, path)
        assert type(back) is type(inst)
        spec = kind.make_spec()
        for method in kind.default_methods[1:3]:  # two heuristics, same result on both
            a = ao.run_method(inst, spec, method).objective
            b = ao.run_method(back, spec, method).objective
            np.testing.assert_allclose(a, b)


def test_evaluator_migration_matches_a_loop() -> None:
    """Random trajectories: the referee's migration energy and queue equal a plain loop."""
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")
    inst = mg.generate(3, 4, 5, seed=7)
    spec = mg.MigrationSpec(budget_j=2.0, budget_hard=False)
    E = mg.migration_matrix_j(inst)

    @hyp.settings(max_examples=40, deadline=None)
    @hyp.given(st.lists(st.integers(0, 3), min_size=15, max_size=15),
               st.lists(st.integers(0, 2), min_size=15, max_size=15))
    def check(servers: list[int], levels: list[int]) -> None:
        s = np.array(servers).reshape(5, 3)
        k = np.array(levels).reshape(5, 3)
        prev = inst.initial_server.copy()
        z, total = 0.0, 0.0
        for t in range(5):
            e = sum(E[u, prev[u], s[t, u]] for u in range(3) if prev[u] >= 0)
            total += e
            z = max(z + e - spec.budget_j, 0.0)
            prev = s[t]
        alloc = mg.MigrationAllocation(server=s, level=k,
                                       queue_j=mg.queue_trace(np.zeros(5), spec.budget_j))
        met = ao.evaluate(inst, alloc, spec)
        np.testing.assert_allclose(met.totals["migration_avg_j"], total / 5)
        np.testing.assert_allclose(met.totals["queue_final_j"], z)
        assert met.violations["budget_identity"] <= 1e-12
        assert total / 5 <= spec.budget_j + z / 5 + 1e-12

    check()

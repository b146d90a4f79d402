"""Every LinearProgram builder names its rows: ``meta["row_groups"]`` covers each row exactly once
with one label per row naming the instance's entities, so that an infeasible program's
explanation reads "deadline at request 3", never "row at 4087" (:mod:`aigc_opt.explain`)."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from explain_checks import check

import aigc_opt as ao
from aigc_opt.cases import get_case, load_families
from aigc_opt.explain import _locate, row_label
from aigc_opt.program import LinearProgram
from aigc_opt.result import Termination

load_families()



def _case(name: str, seed: int = 0, inst: dict[str, Any] | None = None,
          **spec: Any) -> Callable[[], LinearProgram]:
    def make() -> LinearProgram:
        kind = get_case(name)
        return kind.make_spec(**spec).build(kind.make_instance(seed, **(inst or {})))
    return make


def _joint_master(deadline: str) -> Callable[[], LinearProgram]:
    def make() -> LinearProgram:
        from aigc_opt.problems.offloading.joint import columns
        from aigc_opt.problems.offloading.joint_oa import build_master

        kind = get_case("offloading.joint")
        scn, spec = kind.make_instance(0), kind.make_spec()
        spec = dataclasses.replace(spec, objective=dataclasses.replace(spec.objective,
                                                                       deadline=deadline))
        return build_master(scn, spec, columns(scn, spec)).program
    return make


def _migration_slot() -> LinearProgram:
    from aigc_opt.problems import migration as mg

    inst = mg.generate(4, 3, 3, seed=2)
    spec = mg.MigrationSpec()
    return mg.SlotSpec().build(mg.slot_problem(inst, spec, 1, inst.initial_server, 3.0))


def _lifecycle_slot() -> LinearProgram:
    from aigc_opt.problems.lifecycle.milp import assemble

    kind = get_case("lifecycle.placement")
    inst = kind.make_instance(1, n_services=3, n_regions=3, n_edge=2, n_slots=3)
    return assemble(inst, kind.make_spec(reject_penalty=2.0), slots=[2])


def _caching_window() -> LinearProgram:
    from aigc_opt.problems.caching.data import context_table
    from aigc_opt.problems.caching.formulation import assemble, layout, window_data

    kind = get_case("caching.compute")
    inst, spec = kind.make_instance(1), kind.make_spec()
    _, G = context_table(inst)
    R = inst.requests[:3]
    lay = layout(inst, spec.objective, R, G[:3], sparse=False)
    S, M = inst.n_servers, inst.n_models
    data = window_data(inst, spec.objective, lay, R, G[:3], inst.initial_cache,
                       np.full((S, M), 1))
    return assemble(lay, data, "window")


BUILDERS: dict[str, Callable[[], LinearProgram]] = {
    "steps": _case("allocation.steps"),
    "steps_epsilon": _case("allocation.steps", epsilon=(("latency", 9.0), ("energy", 50.0),
                                                         ("quality", 1.0))),
    "hybrid_steps": _case("allocation.hybrid_steps", seed=1),
    "llm": _case("allocation.llm_tokens"),
    "llm_epsilon": _case("allocation.llm_tokens", epsilon=(("latency", 9.0),
                                                           ("quality", 1.0))),
    "partial": _case("offloading.partial"),
    "multicell": _case("offloading.multicell"),
    "multicell_aggregated": _case("offloading.multicell", seed=1, linking="aggregated"),
    "joint_master_penalty": _joint_master("penalty"),
    "joint_master_hard": _joint_master("hard"),
    "auction": _case("incentives.auction"),
    "iscc": _case("iscc.matching"),
    "iscc_static": _case("iscc.matching", partition="static"),
    "migration_offline": _case("migration.offline"),
    "migration_soft": _case("migration.lyapunov", seed=1),
    "migration_slot": _migration_slot,
    "agod": _case("agod.selection"),
    "lifecycle": _case("lifecycle.placement"),
    "lifecycle_options": _case("lifecycle.placement", seed=2, cost_budget=1e9,
                               quality_floor=0.0, privacy_limit_bytes=1e12, reject_penalty=5.0),
    "lifecycle_slot": _lifecycle_slot,
    "lifecycle_medical": _case("lifecycle.medical"),
    "caching": _case("caching.offline"),
    "caching_compute": _case("caching.compute"),
    "caching_window": _caching_window,
}


def check_groups(program: LinearProgram) -> dict[str, tuple[int, int, Any]]:
    """The row groups are disjoint, lie in the program and cover every row; each group gives
    one distinct label per row, of the form ``"<group> at <item>"``."""
    groups = program.meta["row_groups"]
    cover = np.zeros(program.n_rows, dtype=np.int64)
    for name, g in groups.items():
        first, stop, items = g
        assert 0 <= first <= stop <= program.n_rows, (name, g)
        cover[first:stop] += 1
        if not isinstance(items, str):
            assert len(items) == stop - first, name
            with pytest.raises(IndexError):
                items[stop - first]
        labels = [row_label(name, g, r) for r in range(first, stop)]
        assert all(lab.startswith(f"{name} at ") and len(lab) > len(name) + 4
                   for lab in labels), labels[:3]
        assert len(set(labels)) == len(labels), name
    missing = np.flatnonzero(cover == 0)
    assert missing.size == 0, f"unnamed rows {missing[:10]}"
    assert (cover == 1).all(), f"rows in several groups: {np.flatnonzero(cover > 1)[:10]}"
    return dict(groups)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_every_row_is_named(builder: str) -> None:
    program = BUILDERS[builder]()
    groups = check_groups(program)
    assert program.n_rows > 0 and groups
    rows = np.unique(np.linspace(0, program.n_rows - 1, 25).astype(int))
    labels, names = _locate(program, rows.tolist())
    assert not [lab for lab in labels if lab.startswith("row at")]
    assert set(names) <= set(groups)


def test_labels_name_the_entities() -> None:
    steps = BUILDERS["steps"]()
    g = steps.meta["row_groups"]["deadline"]
    assert _locate(steps, [g[0] + 3])[0] == ["deadline at request 3"]
    mig = BUILDERS["migration_offline"]()
    g = mig.meta["row_groups"]["hosting"]
    U, S = 6, 4  # the case's users and servers
    assert row_label("hosting", g, g[0] + (2 * U + 5) * S + 1) \
        == "hosting at slot 2, user 5, server 1"
    cache = BUILDERS["caching_compute"]()
    g = cache.meta["row_groups"]["link"]
    assert _locate(cache, [g[0]])[0][0].startswith("link at slot 0, server ")
    # the lazy labels of large groups survive pickling (programs cross process pools)
    back = pickle.loads(pickle.dumps(cache))
    r = (g[0] + g[1]) // 2
    assert _locate(back, [r]) == _locate(cache, [r])


# ------------------------------------------------------------------ infeasible programs
def _steps_too_short() -> tuple[Any, Any]:
    from aigc_opt.problems.allocation.data_steps import StepsSpec
    from aigc_opt.problems.allocation.steps import steps_scenario

    scn = steps_scenario(8, 2, 2, seed=0)
    return scn.replace(request_deadline_s=np.full(8, 1e-3)), StepsSpec()


def _multicell_no_capacity() -> tuple[Any, Any]:
    from aigc_opt.problems.offloading.data import MulticellSpec

    scn = ao.Scenario.generate(30, 3, 4, seed=0).replace(
        server_gpu_slots=np.array([1, 1, 1]), server_subchannels=np.array([2, 2, 2]))
    return scn, MulticellSpec(allow_local=False, allow_cloud=False)


def _migration_no_budget() -> tuple[Any, Any]:
    kind = get_case("migration.offline")
    inst = kind.make_instance(0, n_users=3, n_servers=3, n_slots=2)
    mem = inst.server_gpu_memory_bytes.copy()
    mem[inst.initial_server[0]] = 1.0  # user 0's initial server holds no model: it must move
    return (dataclasses.replace(inst, server_gpu_memory_bytes=mem),
            kind.make_spec(budget_j=0.0))


def _lifecycle_quality() -> tuple[Any, Any]:
    kind = get_case("lifecycle.placement")
    return kind.make_instance(0), kind.make_spec(quality_floor=1e12)


INFEASIBLE = {"steps": (_steps_too_short, {"deadline"}),
              "multicell": (_multicell_no_capacity, {"assignment", "gpu_slots", "subchannels"}),
              "migration": (_migration_no_budget, {"budget", "gpu_memory", "flow_out"}),
              "lifecycle": (_lifecycle_quality, {"quality_floor"})}


@pytest.mark.parametrize("family", sorted(INFEASIBLE))
def test_infeasible_programs_are_explained_by_name(family: str) -> None:
    make, expected = INFEASIBLE[family]
    inst, spec = make()
    res = ao.solve(inst, spec)
    assert res.termination is Termination.INFEASIBLE
    program = spec.build(inst)
    check_groups(program)
    check(program, res.explanation, named=True)
    assert expected <= set(res.explanation.groups), res.explanation.groups

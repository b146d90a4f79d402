"""Pareto sweeps: fronts are monotone (no point dominated), points are Pareto optimal against
brute force, statuses recorded, CSV written, adapters and bad input."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems.allocation import (
    METRICS,
    FrontStatus,
    HybridStepsSpec,
    LlmInstance,
    LlmSpec,
    ParetoFront,
    ParetoPoint,
    StepsSpec,
    allocation_from_steps,
    epsilon_sweep,
    mark_front,
    register_pareto,
    simplex_weights,
    steps_scenario,
    weight_sweep,
)
from aigc_opt.problems.offloading.data import OffloadObjective


def assert_monotone(front: ParetoFront) -> None:
    """No returned point is dominated by another (exact comparisons, no tolerance)."""
    pts = front.front
    assert len(pts) >= 2, "a front with fewer than two points proves nothing"
    V = np.array([p.vector() for p in pts])
    assert np.isfinite(V).all()
    for i, j in itertools.permutations(range(len(pts)), 2):
        assert not ((V[j] <= V[i]).all() and (V[j] < V[i]).any()), (pts[i], pts[j])


def assert_exact(front: ParetoFront) -> None:
    for p in front.points:
        assert p.termination in ("optimal", "infeasible"), p
        if p.termination == "optimal":
            assert p.gap <= 1e-9


def _dataset() -> list[tuple[str, Any, Any]]:
    return [
        ("steps", steps_scenario(10, 2, 3, seed=1), StepsSpec(max_steps=30)),
        ("hybrid", steps_scenario(10, 2, 3, seed=2, profile="hybrid_icc2025",
                                  server_compute_flops=np.full(2, 3e9)),
         HybridStepsSpec(max_steps=20)),
        ("llm", LlmInstance.generate(14, seed=0), LlmSpec()),
    ]


@pytest.mark.parametrize(("name", "instance", "spec"), _dataset(), ids=lambda x: str(x)[:6])
def test_weight_sweep_front_is_monotone(name: str, instance: Any, spec: Any) -> None:
    front = weight_sweep(instance, spec, n=3)
    assert_exact(front)
    assert_monotone(front)
    assert len(front.points) == 3 + len(simplex_weights(3))
    assert front.n_removed == sum(p.front_status in (FrontStatus.DOMINATED,
                                                     FrontStatus.DUPLICATE) for p in front.points)


@pytest.mark.parametrize(("name", "instance", "spec"), _dataset(), ids=lambda x: str(x)[:6])
@pytest.mark.parametrize(("optimise", "constrained"),
                         [("quality", "latency"), ("energy", "quality")])
def test_epsilon_sweep_front_is_monotone(name: str, instance: Any, spec: Any, optimise: str,
                                         constrained: str) -> None:
    front = epsilon_sweep(instance, spec, optimise=optimise, constrained=constrained,
                          n_points=5)
    assert_exact(front)
    assert_monotone(front)
    for p in front.points:
        if p.sweep == "epsilon" and p.termination == "optimal":
            got = getattr(p, constrained)
            if constrained == "quality":
                assert got >= p.epsilon_bound - 1e-6 * max(1.0, abs(p.epsilon_bound))
            else:
                assert got <= p.epsilon_bound + 1e-6 * max(1.0, abs(p.epsilon_bound))


def test_front_points_are_pareto_optimal_against_brute_force() -> None:
    """Every front point of a tiny instance is undominated by all 6^3 feasible allocations."""
    scn = steps_scenario(3, 2, 2, seed=3, profile="hybrid_icc2025",
                         server_compute_flops=np.full(2, 1.5e9))
    lev = (1, 3, 6, 10, 16, 25)
    spec = StepsSpec(levels=lev)
    V = []
    for combo in itertools.product(lev, repeat=3):
        alloc = allocation_from_steps(scn, np.array(combo, float), np.zeros(3))
        if ao.evaluate(scn, alloc, spec).feasible:
            m = spec.pareto_metrics(scn, alloc)
            V.append([m["latency"], m["energy"], -m["quality"]])
    all_v = np.array(V)
    for front in (weight_sweep(scn, spec, n=4),
                  epsilon_sweep(scn, spec, optimise="quality", constrained="energy",
                                n_points=6)):
        assert_monotone(front)
        for p in front.front:
            v = p.vector()
            tol = 1e-9 * np.maximum(np.abs(v), 1.0)
            dominated = ((all_v <= v + tol).all(axis=1) & (all_v < v - tol).any(axis=1))
            assert not dominated.any(), (p, all_v[dominated][:3])


def test_infeasible_bound_is_a_recorded_status(tmp_path: Path) -> None:
    scn = steps_scenario(8, 2, 2, seed=0)
    spec = StepsSpec(max_steps=20)
    front = epsilon_sweep(scn, spec, optimise="quality", constrained="latency",
                          bounds=[1e-3, 1e6])
    eps = [p for p in front.points if p.sweep == "epsilon"]
    assert eps[0].termination == "infeasible"
    assert eps[0].front_status is FrontStatus.NO_SOLUTION
    assert eps[1].termination == "optimal"
    path = tmp_path / "front.csv"
    front.to_csv(path)
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(front.points)
    assert rows[3]["termination"] == "infeasible"
    assert {"latency", "energy", "quality", "front_status"} <= set(rows[0])
    front.to_csv(path, front_only=True)
    with path.open() as fh:
        assert len(list(csv.DictReader(fh))) == len(front.front)


def _pt(i: int, lat: float, en: float, q: float) -> ParetoPoint:
    nan = float("nan")
    return ParetoPoint("weights", i, 1, 1, 1, "", nan, "optimal", 0.0, 0.0, lat, en, q, 0.0)


def test_mark_front_by_hand() -> None:
    pts = mark_front([
        _pt(0, 1.0, 5.0, 0.5),   # front
        _pt(1, 2.0, 5.0, 0.5),   # dominated by 0
        _pt(2, 1.0, 5.0, 0.5),   # duplicate of 0
        _pt(3, 3.0, 1.0, 0.9),   # front (trade-off)
        _pt(4, float("nan"), float("nan"), float("nan")),
        _pt(5, 3.0, 1.0, 0.8),   # dominated by 3 (less quality)
    ])
    assert [p.front_status.value for p in pts] == [
        "front", "dominated", "duplicate", "front", "no_solution", "dominated"]
    assert ParetoFront(pts).n_removed == 3


def test_register_pareto_adapts_a_weights_only_spec() -> None:
    @dataclasses.dataclass(frozen=True)
    class Plain:  # a spec type we "cannot edit": no Pareto methods, epsilon unsupported
        inner: StepsSpec = dataclasses.field(default_factory=lambda: StepsSpec(max_steps=15))
        problem: str = "allocation"
        variant: str = "plain"

        def build(self, scenario: ao.Scenario) -> ao.LinearProgram:
            return self.inner.build(scenario)

        def decode(self, scenario: ao.Scenario, program: Any, values: Any) -> Any:
            return self.inner.decode(scenario, program, values)

    register_pareto(
        Plain,
        with_weights=lambda s, **w: dataclasses.replace(s, inner=s.inner.with_weights(**w)),
        pareto_metrics=lambda s, inst, alloc: s.inner.pareto_metrics(inst, alloc),
    )
    scn = steps_scenario(8, 2, 2, seed=4)
    front = weight_sweep(scn, Plain(), n=3)
    assert_monotone(front)
    with pytest.raises(ValidationError, match="spec"):
        epsilon_sweep(scn, Plain())


def test_bad_input_names_field() -> None:
    scn = steps_scenario(4, 1, 1, seed=0)
    with pytest.raises(ValidationError, match="optimise"):
        epsilon_sweep(scn, StepsSpec(), optimise="speed")
    with pytest.raises(ValidationError, match="constrained"):
        epsilon_sweep(scn, StepsSpec(), optimise="quality", constrained="quality")
    with pytest.raises(ValidationError, match="n_points"):
        epsilon_sweep(scn, StepsSpec(), n_points=1)
    with pytest.raises(ValidationError, match="weights"):
        weight_sweep(scn, StepsSpec(), weights=[(1.0, -1.0, 1.0)])
    with pytest.raises(ValidationError, match="spec"):
        weight_sweep(scn, object())
    assert set(METRICS) == {"latency", "energy", "quality"}
    assert OffloadObjective().deadline == "hard"


def test_cvxpy_method_with_default_options() -> None:
    """Non-HiGHS methods get mip_gap=0 without HiGHS-only option names."""
    inst = LlmInstance.generate(8, seed=1)
    a = weight_sweep(inst, LlmSpec(), n=2, method="cvxpy")
    b = weight_sweep(inst, LlmSpec(), n=2)
    assert_exact(a)
    for p, q in zip(a.points, b.points, strict=True):
        np.testing.assert_allclose([p.latency, p.energy, p.quality],
                                   [q.latency, q.energy, q.quality], rtol=1e-6, atol=1e-9)


def test_joint_bp_weights_only_adapter() -> None:
    """The joint bandwidth-power spec (another family, not edited) sweeps latency vs energy."""
    jbp = pytest.importorskip("aigc_opt.problems.allocation")
    inst = jbp.JointBPInstance.generate(30, seed=0)
    front = weight_sweep(inst, jbp.JointBPSpec(), n=4, method="closed_form")
    assert all(p.termination == "optimal" for p in front.points)
    assert_monotone(front)
    pts = front.front
    lat = np.array([p.latency for p in pts])
    en = np.array([p.energy for p in pts])
    assert (np.diff(lat) > 0).all() and (np.diff(en) < 0).all()  # a strict 2-D trade-off
    with pytest.raises(ValidationError, match="spec"):
        epsilon_sweep(inst, jbp.JointBPSpec(), method="closed_form")


def test_plotted_sweep_front_is_the_csv_front_status(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The figure of a weight sweep's CSV draws the points marked ``front`` (over latency,
    energy and quality), not only the 2-D latency-energy minimum, with totals on the axes."""
    from test_plots import drawn_pareto_axes

    front = weight_sweep(steps_scenario(12, 2, 3, seed=0), StepsSpec(), n=4)
    path = tmp_path / "w.csv"
    front.to_csv(path)
    ax = drawn_pareto_axes(path, tmp_path, monkeypatch)
    line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("Pareto front over 3"))
    drawn = sorted(map(tuple, np.round(line.get_xydata(), 9)))
    assert drawn == sorted((round(p.latency, 9), round(p.energy, 9)) for p in front.front)
    assert len(drawn) >= 3  # more than the one 2-D (latency, energy) minimum
    assert ax.get_xlabel() == "weighted total latency [s]"
    assert ax.get_ylabel() == "weighted total energy [J]"


def test_steps_model_on_a_default_scenario_names_steps_scenario() -> None:
    """The error on a scenario the step model cannot take names the helper that makes one it
    can, by its importable name."""
    import importlib

    with pytest.raises(ValidationError, match="server_gpu_slots") as err:
        ao.solve(ao.Scenario.generate(12, 2, 3), StepsSpec(), "highs")
    hint = re.search(r"(aigc_opt\.[\w.]+)\.(\w+)\(", str(err.value))
    assert hint is not None, str(err.value)
    helper = getattr(importlib.import_module(hint.group(1)), hint.group(2))
    assert helper is steps_scenario
    assert ao.solve(helper(12, 2, 3, seed=0), StepsSpec(), "highs").termination == "optimal"

"""Z-shaped ISCC pipeline: brute force, rolling horizon <= exact, decoupling without ISAC."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.problems.iscc import IsccInstance, IsccPipelineSpec
from aigc_opt.problems.iscc.pipeline import rolling_horizon

from conftest import MIP_GAP, OBJ_RTOL

EXACT = ao.SolveOptions(mip_gap=MIP_GAP)


def tiny(seed: int) -> IsccInstance:
    """5 tasks over 3 cohorts, 2 sites, small pools, slot 0.2 s, generous deadlines."""
    base = IsccInstance.generate(5, 2, 2, seed=seed, n_slots=3)
    rng = np.random.default_rng(seed + 7)
    return replace(base, site_sensing_units=rng.integers(1, 3, 2), site_rbs=rng.integers(1, 4, 2),
                   site_gpus=rng.integers(1, 3, 2), cloud_gpus=int(rng.integers(0, 2)),
                   task_deadline_s=rng.uniform(0.6, 1.0, 5),
                   task_data_bits=rng.uniform(0.05e6, 0.2e6, 5))


def brute_force(inst: IsccInstance, spec: IsccPipelineSpec) -> float:
    """Options per task from the model's definition; pools per (slot, site): sensing at the
    cohort's slot, RBs one slot later (one radio pool when shared), GPUs two slots later."""
    S, T = inst.n_sites, inst.n_slots + 2
    shared = spec.radio == "shared"
    P = T * S * (2 if shared else 3) + T
    slot = inst.slot_s

    def idx(kind: str, t: int, s: int) -> int:
        order = ["radio", "gpu"] if shared else ["sense", "rb", "gpu"]
        return (order.index(kind) * T + t) * S + s if s >= 0 else len(order) * T * S + t

    per_task = []
    for i in range(inst.n_tasks):
        opts = [(0.0, np.zeros(P))]
        c, t0 = inst.task_class[i], inst.task_slot[i]
        for k, lv, r, g, cl, m in itertools.product(
                range(inst.link_site.shape[1]), range(inst.n_levels), spec.rb_options,
                spec.gpu_options, (False, True), range(inst.model_class.size)):
            s = inst.link_site[i, k]
            if s < 0 or inst.model_class[m] != c or not inst.hosted[S if cl else s, m]:
                continue
            if inst.accuracy[c, lv] < inst.task_min_accuracy[i]:
                continue
            t_tx = inst.task_data_bits[i] * inst.level_data_factor[lv] / (
                r * inst.link_rate_per_rb_bps[i, k])
            t_cmp = inst.task_workload_flop[i] * inst.model_flop_factor[m] / (
                g * inst.gpu_flops[S if cl else s]) + (inst.cloud_latency_s if cl else 0.0)
            if max(inst.level_time_s[lv], t_tx, t_cmp) > slot or 3 * slot > \
                    inst.task_deadline_s[i]:
                continue
            use = np.zeros(P)
            use[idx("radio" if shared else "sense", t0, s)] += inst.level_units[lv]
            use[idx("radio" if shared else "rb", t0 + 1, s)] += r
            use[idx("gpu", t0 + 2, -1 if cl else s)] += g
            opts.append((inst.task_weight[i] * inst.accuracy[c, lv] * inst.model_quality[m],
                         use))
        best: dict[bytes, tuple[float, np.ndarray]] = {}  # same pool use: keep the best
        for u, use in opts:
            key = use.tobytes()
            if key not in best or u > best[key][0]:
                best[key] = (u, use)
        per_task.append(list(best.values()))
    radio = inst.site_sensing_units + inst.site_rbs
    caps = ([np.tile(radio, T)] if shared else
            [np.tile(inst.site_sensing_units, T), np.tile(inst.site_rbs, T)])
    cap = np.concatenate(caps + [np.tile(inst.site_gpus, T), np.full(T, inst.cloud_gpus)])
    tot_u, tot_use = np.zeros(1), np.zeros((1, P))
    for opts in per_task:
        uu = np.array([o[0] for o in opts])
        uses = np.array([o[1] for o in opts])
        tot_u = (tot_u[:, None] + uu[None, :]).ravel()
        tot_use = (tot_use[:, None, :] + uses[None, :, :]).reshape(-1, P)
        ok = (tot_use <= cap + 1e-9).all(axis=1)
        tot_u, tot_use = tot_u[ok], tot_use[ok]
    return float(tot_u.max())


@pytest.mark.parametrize("radio", ["shared", "separate"])
@pytest.mark.parametrize("seed", range(4))
def test_pipeline_milp_equals_brute_force(seed: int, radio: str) -> None:
    inst = tiny(seed)
    spec = IsccPipelineSpec(radio=radio, rb_options=(1, 2), gpu_options=(1, 2))
    want = brute_force(inst, spec)
    res = ao.solve(inst, spec, "highs", options=EXACT)
    assert res.optimal and res.verified
    np.testing.assert_allclose(res.objective, want, rtol=OBJ_RTOL, atol=1e-9)
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible
    np.testing.assert_allclose(met.objective, res.objective, rtol=OBJ_RTOL, atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_rolling_horizon_at_most_exact(seed: int) -> None:
    inst = IsccInstance.generate(40, 3, 3, seed=seed, n_slots=4)
    for radio in ("shared", "separate"):
        spec = IsccPipelineSpec(radio=radio)
        exact = ao.solve(inst, spec, "highs", options=EXACT)
        assert exact.optimal and exact.verified
        for w in (1, 2):
            roll = ao.run_method(inst, replace(spec, lookahead=w), "rolling_horizon")
            assert roll.verified, roll
            assert roll.objective <= exact.objective + 1e-9
        if radio == "separate":  # every pool row holds one cohort: the problem decomposes
            roll = ao.run_method(inst, spec, "rolling_horizon")
            np.testing.assert_allclose(roll.objective, exact.objective, rtol=OBJ_RTOL)


def test_full_lookahead_recovers_the_optimum() -> None:
    inst = IsccInstance.generate(30, 3, 3, seed=11, n_slots=3)
    spec = IsccPipelineSpec(lookahead=3)
    exact = ao.solve(inst, spec, "highs", options=EXACT)
    alloc = rolling_horizon(inst, spec, options=EXACT)
    met = ao.evaluate(inst, alloc, spec)
    assert met.feasible
    np.testing.assert_allclose(met.objective, exact.objective, rtol=OBJ_RTOL)


def test_pipeline_backends_agree_and_referee_checks_slots() -> None:
    inst = IsccInstance.generate(20, 2, 2, seed=4, n_slots=3)
    spec = IsccPipelineSpec()
    ref = ao.solve(inst, spec, "highs", options=EXACT)
    for be in ("cvxpy", "scip"):
        if not ao.backends().get(be, {}).get("available"):
            continue
        res = ao.solve(inst, spec, be, options=EXACT)
        assert res.verified
        np.testing.assert_allclose(res.objective, ref.objective, rtol=OBJ_RTOL)
    # per-slot radio use recomputed by hand: sensing of cohort t + RBs of cohort t-1
    a = ref.allocation
    S, T = inst.n_sites, inst.n_slots + 2

    def radio_use(slots: np.ndarray) -> np.ndarray:
        use = np.zeros((T, S))
        for i in np.nonzero(a.served)[0]:
            use[slots[i], a.site[i]] += inst.level_units[a.level[i]]
            use[slots[i] + 1, a.site[i]] += a.rbs[i]
        return use

    met = ao.evaluate(inst, a, spec)
    np.testing.assert_allclose(met.per_item["radio_used"], radio_use(inst.task_slot))
    # every cohort squeezed into slot 0: feasible exactly when the hand count fits
    crowded = replace(inst, task_slot=np.zeros(inst.n_tasks, dtype=int))
    squeezed = ao.evaluate(crowded, a, spec)
    use = radio_use(np.zeros(inst.n_tasks, dtype=int))[: crowded.n_slots + 2]
    fits = bool((use <= inst.site_sensing_units + inst.site_rbs).all())
    gpu = np.zeros(S)
    for i in np.nonzero(a.served & ~a.cloud)[0]:
        gpu[a.site[i]] += a.gpus[i]
    fits = fits and bool((gpu <= inst.site_gpus).all()) and bool(
        a.gpus[a.served & a.cloud].sum() <= inst.cloud_gpus)
    assert squeezed.feasible == fits
    assert not fits  # this instance's optimum does need the pipeline's slots


def test_highs_warm_hands_highs_only_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """ISCC ``highs_warm`` solves and rounds the LP before HiGHS, which was given the whole
    ``time_limit`` again. An LP rounding made 0.3 s slow must leave HiGHS at most 0.7 s of 1 s."""
    import time

    from aigc_opt.problems.iscc import IsccSpec, rounding
    from aigc_opt.solvers.highs import HighsBackend

    seen: list[float | None] = []
    solve_from, lp_round = HighsBackend.solve_from, rounding.lp_round

    def slow_round(*a: object, **k: object) -> ao.Result:
        time.sleep(0.3)
        return lp_round(*a, **k)  # type: ignore[arg-type]

    def spy(self: HighsBackend, lp: object, options: ao.SolveOptions,
            x0: object = None) -> ao.Result:
        if x0 is not None:  # the MILP from the rounded point (the LP solve passes none)
            seen.append(options.time_limit)
        return solve_from(self, lp, options, x0)  # type: ignore[arg-type]

    monkeypatch.setattr(rounding, "lp_round", slow_round)
    monkeypatch.setattr(HighsBackend, "solve_from", spy)
    inst = IsccInstance.generate(30, 3, 3, seed=7)
    res = ao.run_method(inst, IsccSpec(), "highs_warm", time_limit=1.0)
    assert seen and seen[0] is not None and seen[0] <= 0.7, seen
    assert res.has_solution and res.verified

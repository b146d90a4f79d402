"""Compiled (numba) kernels of the allocation closed forms against their numpy reference paths.

For joint bandwidth-power (``joint_bp.closed_form``) and bandwidth/compute
(``bandwidth.closed_form``): over >= 200 seeded instances each (the generators and the edge
cases of tests/test_allocation_joint_bp.py, tests/test_allocation_bandwidth.py and
tests/test_perf_kernels.py: deadlines binding or not, budgets binding or not, one user, tiny and
huge bandwidths / weights, infeasible instances, deadlines no split can meet) the kernel and
the numpy path return the same status, objectives to 1e-10, bounds, prices and allocations
to 1e-9 relative (or an absolute ~1e-12 of the vector's scale), and the evaluator scores every
kernel answer at its reported objective. The switch ``AIGC_OPT_JIT=0`` / the flag
``jit.JIT_ENABLED`` really selects the numpy path.

The kernel tests are skipped only when numba is not importable (then the numpy paths run
everywhere, and the skip reason says so).
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.errors import ValidationError
from aigc_opt.problems.allocation import (
    BandwidthComputeInstance,
    BandwidthComputeSpec,
    JointBPInstance,
    JointBPSpec,
    PowerInstance,
    PowerSpec,
    jit,
)
from aigc_opt.problems.allocation import bandwidth as bw
from aigc_opt.problems.allocation import bandwidth_kernel as bwk
from aigc_opt.problems.allocation import joint_bp as jb
from aigc_opt.problems.allocation import joint_bp_kernel as jbk
from aigc_opt.problems.allocation import power as pw
from aigc_opt.problems.allocation import power_kernel as pwk

needs_numba = pytest.mark.skipif(not jit.NUMBA_AVAILABLE,
                                 reason="numba not importable: the numpy paths run")


def _jbp_kernel(inst: JointBPInstance, spec: JointBPSpec) -> ao.Result | None:
    """The joint_bp kernel path with joint_bp's tables (None: the kernel reported a failure)."""
    return jbk.solve(inst, spec, jb._LC_GRID, jb._LU_TABLE, jb._LK_GRID, jb._UK_TABLE,
                     jb._EXTRAP_F, jb._EXTRAP_STEP)


OBJ_RTOL = 1e-10
ARR_RTOL = 1e-9
#: absolute floor for array entries, relative to the largest entry of the vector
ARR_ATOL_REL = 1e-12


def _close(a: np.ndarray, b: np.ndarray) -> float:
    """Largest ``|a - b| / max(|b|, ARR_ATOL_REL max|b| / ARR_RTOL)`` (0 for equal vectors)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    if a.size == 0 or np.array_equal(a, b):
        return 0.0
    floor = ARR_ATOL_REL * float(np.max(np.abs(b))) / ARR_RTOL
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def _rel(a: float, b: float) -> float:
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


def _compare(kernel: ao.Result, ref: ao.Result, inst: Any, spec: Any,
             arrays: tuple[str, ...], values: tuple[str, ...]) -> tuple[float, float]:
    """Assert agreement; return ``(objective rel diff, worst array rel diff)``."""
    assert kernel.termination == ref.termination, (kernel.message, ref.message)
    assert kernel.has_solution == ref.has_solution
    if not ref.has_solution:
        return 0.0, 0.0
    d_obj = _rel(kernel.objective, ref.objective)
    assert d_obj <= OBJ_RTOL, (kernel.objective, ref.objective)
    assert _rel(kernel.bound, ref.bound) <= OBJ_RTOL or abs(kernel.bound - ref.bound) <= \
        OBJ_RTOL * abs(ref.objective), (kernel.bound, ref.bound)
    assert kernel.gap <= max(ref.gap, 1e-12) * 10 + 1e-14
    worst = 0.0
    for name in arrays:
        worst = max(worst, _close(getattr(kernel.allocation, name),
                                  getattr(ref.allocation, name)))
    for name in values:
        worst = max(worst, _close(kernel.values[name], ref.values[name]))
    assert worst <= ARR_RTOL, worst
    m = ao.evaluate(inst, kernel.allocation, spec)
    assert m.max_violation < 1e-9, m.violations
    assert m.objective == pytest.approx(kernel.objective, rel=1e-9)
    return d_obj, worst


# ---------------------------------------------------------------- joint bandwidth-power
JBP_SPECS = [
    JointBPSpec(), JointBPSpec(use_deadline=False), JointBPSpec(energy_weight=100.0),
    JointBPSpec(latency_weight=0.05, energy_weight=1.0), JointBPSpec(area_scale=0.6),
    JointBPSpec(area_scale=3.0), JointBPSpec(area_scale=0.8),
    JointBPSpec(latency_weight=0.2, energy_weight=3.0, area_scale=0.9),
    JointBPSpec(latency_weight=0.0, area_scale=0.7), JointBPSpec(energy_weight=30.0),
    JointBPSpec(area_scale=0.5),
]


def _jbp_cases() -> list[tuple[JointBPInstance, JointBPSpec]]:
    """>= 300 (instance, spec) pairs (>= 200 of them feasible): sizes 1..300, deadlines on
    0 / 30 / 100 % of users, areas per user 2e4..2e5 Hz s, bandwidths 1e3..1e12 Hz, every spec
    above; plus the single-user brute-force instances of tests/test_allocation_joint_bp.py."""
    rng = np.random.default_rng(2026)
    cases = []
    sizes = (1, 2, 3, 7, 20, 50, 100, 300)
    for j in range(380):
        n = sizes[j % len(sizes)]
        seed, area = int(rng.integers(1 << 30)), float(rng.choice([2e4, 5e4, 8e4, 2e5]))
        try:
            inst = JointBPInstance.generate(n, seed=seed, deadline_frac=(0.0, 0.3, 1.0)[j % 3],
                                            area_per_user_hz_s=area)
        except ValidationError:  # generated deadline out of range (tiny area, tight budget)
            inst = JointBPInstance.generate(n, seed=seed, deadline_frac=(0.0, 0.3, 1.0)[j % 3])
        if j % 11 == 5:  # tiny and huge bandwidths (issue 11's scales)
            inst = dataclasses.replace(inst, bandwidth_hz=float(rng.choice([1e3, 1e10, 1e12])))
        cases.append((inst, JBP_SPECS[j % len(JBP_SPECS)]))
    for snr, scale in ((300.0, 1.0), (3.0, 0.5), (3000.0, 0.1), (3.0, 0.15)):
        one = np.ones(1)
        inst = JointBPInstance(data_bits=4e5 * one, gain=snr * 4e-21 * 20e6 / 0.2 * one,
                               max_power_w=0.2 * one, weight=one, deadline_s=np.inf * one,
                               bandwidth_hz=20e6, frame_s=0.05, noise_psd_w_per_hz=4e-21)
        cases.append((inst, JointBPSpec(energy_weight=20.0, area_scale=scale)))
    return cases


@needs_numba
def test_joint_bp_kernel_matches_numpy_path() -> None:
    statuses: Counter[str] = Counter()
    cases = _jbp_cases()
    assert len(cases) >= 200
    for inst, spec in cases:
        k = _jbp_kernel(inst, spec)
        assert k is not None  # the kernel never reported a failure on these
        ref = jb.closed_form_numpy(inst, spec)
        _compare(k, ref, inst, spec, ("bandwidth_hz", "power_w"), ("x", "t", "E", "u", "lambda"))
        if ref.has_solution:
            assert (k.values["lambda"][0] == 0.0) == (ref.values["lambda"][0] == 0.0)
        statuses[k.termination.value] += 1
    assert statuses["optimal"] >= 200 and statuses["infeasible"] > 0, statuses


@needs_numba
def test_joint_bp_dispatch_uses_kernel_within_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    inst, spec = JointBPInstance.generate(40, seed=3), JointBPSpec(area_scale=0.8)
    monkeypatch.setattr(jit, "JIT_ENABLED", True)

    def boom(*args: Any, **kw: Any) -> Any:
        raise AssertionError("numpy path ran")

    monkeypatch.setattr(jb, "closed_form_numpy", boom)
    assert ao.run_method(inst, spec, "closed_form").optimal
    monkeypatch.setattr(jit, "JOINT_BP_MAX_USERS", 39)  # above a size limit the numpy path runs
    with pytest.raises(AssertionError, match="numpy path ran"):
        jb.closed_form(inst, spec)


# ---------------------------------------------------------------- bandwidth / compute
BW_SPECS = [
    BandwidthComputeSpec(use_min_rate=False, use_deadline=False),
    BandwidthComputeSpec(use_min_rate=True, use_deadline=False),
    BandwidthComputeSpec(use_min_rate=False, use_deadline=True),
    BandwidthComputeSpec(),
    BandwidthComputeSpec(bandwidth_scale=0.7, compute_scale=0.8),
]


def _bw_cases() -> list[tuple[BandwidthComputeInstance, BandwidthComputeSpec]]:
    """>= 200 pairs: sizes 1..400 on 1..12 servers, min-rate and deadline fractions 0..1,
    weights scaled by 1e-300 .. 1e8 (issue 11; instances allow <= 1e9), every spec above (the
    scaled budgets cannot meet some generated deadlines: ``limit``); plus minimum rates that
    exceed the budget (infeasible)."""
    rng = np.random.default_rng(2027)
    cases = []
    sizes = (1, 2, 5, 10, 30, 100, 120, 400)
    for j in range(240):
        n = sizes[j % len(sizes)]
        s = int(rng.integers(1, min(n, 12) + 1))
        inst = BandwidthComputeInstance.generate(
            n, s, seed=int(rng.integers(1 << 30)), min_rate_frac=float(rng.choice([0, 0.3, 1])),
            deadline_frac=float(rng.choice([0.0, 0.3, 1.0])))
        if j % 13 == 6:
            inst = dataclasses.replace(inst, weight=inst.weight
                                       * float(rng.choice([1e-300, 1e-30, 1e-9, 1e8])))
        cases.append((inst, BW_SPECS[j % len(BW_SPECS)]))
    inst = BandwidthComputeInstance.generate(30, 1, seed=2, min_rate_frac=1.0)
    cases.append((inst, BandwidthComputeSpec(bandwidth_scale=0.2)))
    return cases


@needs_numba
def test_bandwidth_kernel_matches_numpy_path() -> None:
    statuses: Counter[str] = Counter()
    cases = _bw_cases()
    assert len(cases) >= 200
    for inst, spec in cases:
        k = bwk.solve(inst, spec, 1e-12, 200)
        ref = bw.closed_form_numpy(inst, spec)
        if k is None:  # no convergence (deadlines the scaled budgets cannot meet): so for numpy
            assert ref.termination is ao.Termination.LIMIT, ref.message
            # closed_form then certifies the infeasibility (deadline_certificate)
            assert bw.closed_form(inst, spec).termination is ao.Termination.INFEASIBLE
            statuses["limit"] += 1
            continue
        _compare(k, ref, inst, spec, ("bandwidth_hz", "compute_flops"),
                 ("b", "f", "lambda", "nu"))
        statuses[k.termination.value] += 1
    assert statuses["optimal"] >= 200 and statuses["infeasible"] and statuses["limit"], statuses


@needs_numba
def test_bandwidth_kernel_failure_falls_back_to_numpy() -> None:
    """Deadlines that no split can meet: the kernel reports no convergence, ``closed_form``
    then runs the numpy path (``limit``, same message) and certifies the infeasibility."""
    inst = BandwidthComputeInstance.generate(30, 1, seed=2, deadline_frac=1.0)
    inst = dataclasses.replace(inst, deadline_s=inst.deadline_s * 1e-4)
    assert bwk.solve(inst, BandwidthComputeSpec(), 1e-12, 60) is None
    res = bw.closed_form(inst, BandwidthComputeSpec(), max_iter=60)
    ref = bw.closed_form_numpy(inst, BandwidthComputeSpec(), max_iter=60)
    assert ref.termination is ao.Termination.LIMIT
    assert ref.message == "dual prices did not converge (infeasible deadlines?)"
    assert res.termination is ao.Termination.INFEASIBLE and "dual certificate" in res.message


@needs_numba
def test_bandwidth_dispatch_uses_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jit, "JIT_ENABLED", True)

    def boom(*args: Any, **kw: Any) -> Any:
        raise AssertionError("numpy path ran")

    monkeypatch.setattr(bw, "closed_form_numpy", boom)
    inst = BandwidthComputeInstance.generate(60, 2, seed=1)
    assert ao.run_method(inst, BandwidthComputeSpec(), "closed_form").optimal


# ---------------------------------------------------------------- the switch
def test_flag_off_runs_numpy_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``JIT_ENABLED`` False neither kernel is called (they would raise here)."""
    monkeypatch.setattr(jit, "JIT_ENABLED", False)

    def boom(*args: Any, **kw: Any) -> Any:
        raise AssertionError("kernel ran")

    monkeypatch.setattr(jbk, "solve", boom)
    monkeypatch.setattr(bwk, "solve", boom)
    inst = JointBPInstance.generate(30, seed=0)
    r = ao.run_method(inst, JointBPSpec(area_scale=0.8), "closed_form")
    assert r.optimal and r.verified
    ref = jb.closed_form_numpy(inst, JointBPSpec(area_scale=0.8))
    assert r.objective == ref.objective
    inst2 = BandwidthComputeInstance.generate(30, 2, seed=0)
    r2 = ao.run_method(inst2, BandwidthComputeSpec(), "closed_form")
    assert r2.optimal and r2.objective == bw.closed_form_numpy(inst2,
                                                               BandwidthComputeSpec()).objective


@pytest.mark.parametrize("value, enabled", [("0", False), ("1", jit.NUMBA_AVAILABLE)])
def test_environment_variable_switch(value: str, enabled: bool) -> None:
    """``AIGC_OPT_JIT=0`` turns the kernels off in a fresh interpreter (a solve then does not
    even import numba); the default is on whenever numba is importable."""
    code = ("import sys; import aigc_opt as ao;"
            "from aigc_opt.problems.allocation import jit, JointBPInstance, JointBPSpec;"
            "r = ao.run_method(JointBPInstance.generate(10, seed=0), JointBPSpec(), 'closed_form');"
            "assert r.optimal;"
            "print(jit.JIT_ENABLED, jit.use_kernel(10, jit.JOINT_BP_MAX_USERS),"
            " jit.use_kernel(10, jit.BANDWIDTH_MAX_USERS), 'numba' in sys.modules)")
    env = {**os.environ, "AIGC_OPT_JIT": value}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    assert out.stdout.split() == [str(enabled)] * 4


def test_numba_importable_means_kernels_tested() -> None:
    """The kernel tests above may skip only if numba really is missing."""
    try:
        import numba  # noqa: F401
    except ImportError:
        assert not jit.NUMBA_AVAILABLE
    else:
        assert jit.NUMBA_AVAILABLE
        if os.environ.get("AIGC_OPT_JIT", "1").strip().lower() not in ("0", "false", "no",
                                                                        "off"):
            assert jit.JIT_ENABLED


@pytest.mark.parametrize("which", ["joint_bp", "bandwidth"])
def test_kernel_that_raises_costs_speed_not_the_answer(which: str, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A kernel that raises (numba unable to compile here, an unusable cache directory) is
    logged once, not retried, and the numpy path answers: the same Result as the reference."""
    monkeypatch.setattr(jit, "JIT_ENABLED", True)
    monkeypatch.setattr(jit, "_BROKEN", set())
    calls = []

    def broken(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        raise RuntimeError("LLVM ERROR: simulated")

    if which == "joint_bp":
        inst, spec = JointBPInstance.generate(25, seed=4), JointBPSpec(area_scale=0.8)
        monkeypatch.setattr(jbk, "solve", broken)
        ref = jb.closed_form_numpy(inst, spec)
    else:
        inst, spec = BandwidthComputeInstance.generate(25, 2, seed=4), BandwidthComputeSpec()
        monkeypatch.setattr(bwk, "solve", broken)
        ref = bw.closed_form_numpy(inst, spec)
    with caplog.at_level("WARNING", logger=jit.__name__):
        for _ in range(2):
            r = ao.run_method(inst, spec, "closed_form")
            assert r.optimal and r.verified and r.objective == ref.objective
    assert calls == [1]
    assert any("simulated" in rec.getMessage() for rec in caplog.records)


# ---------------------------------------------------------------- power (sum rate)
def _power_cases() -> list[tuple[PowerInstance, PowerSpec]]:
    """>= 200 sum-rate instances: sizes 1..500, SNR spans, caps none / binding / all capped
    (slack budget), weights spread over 1e-6..1e6, budgets scaled 1e-3..10, ties in gains."""
    rng = np.random.default_rng(2028)
    cases = []
    sizes = (1, 2, 3, 10, 37, 100, 250, 500)
    for j in range(240):
        n = sizes[j % len(sizes)]
        snr = (float(rng.uniform(-30, 0)), float(rng.uniform(0, 40)))
        inst = PowerInstance.generate(n, seed=int(rng.integers(1 << 30)), snr_db=snr)
        kind = j % 5
        if kind == 1:  # some caps bind
            inst = dataclasses.replace(inst, max_power_w=inst.total_power_w / n
                                       * rng.uniform(0.2, 3.0, n))
        elif kind == 2:  # every cap fits the budget (slack)
            inst = dataclasses.replace(inst, max_power_w=np.full(n, inst.total_power_w / (2 * n)))
        elif kind == 3:  # spread weights
            inst = dataclasses.replace(inst, weight=10.0 ** rng.uniform(-6, 6, n))
        elif kind == 4 and n > 1:  # ties: equal gains
            inst = dataclasses.replace(inst, gain=np.full(n, float(inst.gain[0])))
        scale = float(rng.choice([1e-3, 0.5, 1.0, 10.0]))
        cases.append((inst, PowerSpec(power_budget_scale=scale)))
    return cases


@needs_numba
def test_power_kernel_matches_numpy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    worst = {"obj": 0.0, "bound": 0.0, "p": 0.0}
    for inst, spec in _power_cases():
        k = pwk.solve(inst, spec.power_budget_scale * inst.total_power_w)
        monkeypatch.setattr(jit, "JIT_ENABLED", False)
        ref = pw.closed_form(inst, spec)
        monkeypatch.setattr(jit, "JIT_ENABLED", True)
        assert k.termination == ref.termination and k.optimal
        worst["obj"] = max(worst["obj"], abs(k.objective - ref.objective) / abs(ref.objective))
        if math.isfinite(ref.bound):
            worst["bound"] = max(worst["bound"], abs(k.bound - ref.bound) / abs(ref.bound))
        else:
            assert k.bound == ref.bound
        scale = float(np.abs(ref.values["p"]).max())
        worst["p"] = max(worst["p"], float(np.abs(k.values["p"] - ref.values["p"]).max()) / scale)
        m = ao.evaluate(inst, k.allocation, spec)
        assert m.feasible
        assert abs(m.objective - k.objective) <= 1e-9 * abs(k.objective)
    assert worst["obj"] <= 1e-10 and worst["bound"] <= 1e-10 and worst["p"] <= 1e-9, worst


@needs_numba
def test_power_dispatch_uses_kernel_for_sum_rate_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jit, "JIT_ENABLED", True)
    calls = []
    real = pwk.solve

    def spy(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(pwk, "solve", spy)
    monkeypatch.setattr(jit, "_WARM", {"power"})
    inst = PowerInstance.generate(40, seed=5)
    assert ao.run_method(inst, PowerSpec(), "closed_form").verified
    assert calls == [1]
    assert ao.run_method(inst, PowerSpec(mode="min_power"), "closed_form").verified
    assert calls == [1]  # min power has no kernel (one expm1 per user)


@needs_numba
def test_first_use_compiles_outside_the_timed_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first kernel call of a process runs once untimed (numba compiles or loads its cache
    there): the Result's solve time is a warm solve's, the one-time cost is in
    ``stats.extra["jit_first_call_s"]``, and later calls run once."""
    monkeypatch.setattr(jit, "JIT_ENABLED", True)
    monkeypatch.setattr(jit, "_WARM", set())
    calls = []
    real = pwk.solve

    def slow_first(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            import time
            time.sleep(0.2)  # stands for the compilation
        return real(*args, **kw)

    monkeypatch.setattr(pwk, "solve", slow_first)
    inst = PowerInstance.generate(40, seed=6)
    r = ao.run_method(inst, PowerSpec(), "closed_form")
    assert r.verified and calls == [1, 1]
    assert r.stats.extra["jit_first_call_s"] >= 0.2 > r.stats.solve_seconds
    r2 = ao.run_method(inst, PowerSpec(), "closed_form")
    assert calls == [1, 1, 1] and "jit_first_call_s" not in r2.stats.extra
    assert r2.objective == r.objective

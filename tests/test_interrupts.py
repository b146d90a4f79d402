"""Ctrl-C (SIGINT) during a native solve ends in ``KeyboardInterrupt`` within seconds.

HiGHS ran a 30 s solve to its end before Python saw the signal; SCIP lost it in an LP and
returned ``timelimit``. The SIGINT comes from a timer thread of this process (pytest-xdist
runs each worker in its own process, so signalling ``os.getpid()`` reaches no other test).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import aigc_opt as ao
from aigc_opt import Block, LinearProgram, SolveOptions
from aigc_opt.backend import get_backend, is_available
from aigc_opt.solvers import highs as highs_mod

from conftest import OBJ_RTOL

#: Seconds after the solve starts at which the SIGINT is sent.
SIGNAL_AFTER = 1.0
#: Seconds from the SIGINT within which KeyboardInterrupt must arrive (time limit: 30 s).
PROMPT = 4.0


def market_split(m: int = 4, n: int = 30, seed: int = 0) -> LinearProgram:
    """A Cornuejols-Dawande market-split MILP, ``min sum s`` s.t. ``A x + s+ - s- = d``,
    ``x`` binary: 4 x 30 keeps HiGHS and SCIP busy for over 60 s (the optimum is 1)."""
    rng = np.random.default_rng(seed)
    A = rng.integers(0, 100, size=(m, n)).astype(float)
    d = np.floor(A.sum(axis=1) / 2)
    slack = np.zeros((m, 2 * m))
    slack[np.arange(m), 2 * np.arange(m)] = 1.0
    slack[np.arange(m), 2 * np.arange(m) + 1] = -1.0
    k = n + 2 * m
    return LinearProgram(
        c=np.r_[np.zeros(n), np.ones(2 * m)], A=sp.csr_matrix(np.hstack([A, slack])),
        row_lower=d, row_upper=d, col_lower=np.zeros(k),
        col_upper=np.r_[np.ones(n), np.full(2 * m, np.inf)],
        integrality=np.r_[np.ones(n, bool), np.zeros(2 * m, bool)],
        blocks=(Block("x", 0, (k,)),), name=f"market_split_{m}x{n}")


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's default SIGINT handler in the main thread for the test (a runner may have
    installed another), restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        pytest.fail("these tests must run in the main thread of their process")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def interrupted_after(solve: Any) -> float:
    """Seconds from a SIGINT (sent :data:`SIGNAL_AFTER` s into ``solve()``) to the
    ``KeyboardInterrupt`` that ``solve()`` must raise; measured from the planned send time,
    since a solver that holds the GIL also holds up the timer thread (SCIP's ``optimize``)."""
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(SIGNAL_AFTER, signal.pthread_kill, (main, signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            solve()
        return time.perf_counter() - t0 - SIGNAL_AFTER
    finally:
        timer.cancel()
        timer.join()


def solver_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("aigc-opt-")]


@pytest.mark.parametrize("backend", ["highs", "scip"])
def test_sigint_stops_a_long_milp(backend: str, default_sigint: None) -> None:
    if not is_available(backend):
        pytest.skip(f"{backend} not installed")
    lp = market_split()
    be = get_backend(backend)
    waited = interrupted_after(lambda: be.solve(lp, SolveOptions(time_limit=30.0)))
    assert waited < PROMPT, f"{backend}: KeyboardInterrupt {waited:.1f} s after the SIGINT"
    assert not solver_threads(), "the solver was abandoned, not stopped"


def test_interrupted_highs_stopped_and_callbacks_off(default_sigint: None) -> None:
    h = highs_mod.new_highs()
    import highspy

    highs_mod.HighsBackend._pass(h, market_split(), highspy)
    h.setOptionValue("time_limit", 30.0)
    waited = interrupted_after(lambda: highs_mod.run(h))
    assert waited < PROMPT
    assert highs_mod._status_name(h.getModelStatus()) == "kInterrupt"  # HiGHS itself stopped
    assert h.HandleUserInterrupt is False


def test_off_main_thread_runs_directly() -> None:
    """In a worker thread no KeyboardInterrupt can arrive: the call runs in that thread."""
    from aigc_opt.solvers import interrupts

    seen: list[bool] = []

    def work() -> str:
        seen.append(threading.current_thread().name.startswith("aigc-opt-"))
        return "done"

    out: list[str] = []
    t = threading.Thread(target=lambda: out.append(
        interrupts.call_interruptibly(work, lambda: None, "test")))
    t.start()
    t.join()
    assert out == ["done"] and seen == [False]


@pytest.mark.parametrize("backend", ["highs", "scip"])
def test_normal_solve_unchanged(backend: str, default_sigint: None,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The same verified optimum through the worker-thread path and a direct call."""
    if not is_available(backend):
        pytest.skip(f"{backend} not installed")
    from aigc_opt.problems.offloading import OffloadingSpec
    from aigc_opt.solvers import interrupts, scip_backend

    scn = ao.Scenario.generate(12, 3, 3, seed=1)
    opts = SolveOptions(threads=1, mip_gap=1e-9)
    calls: list[str] = []
    real = interrupts.call_interruptibly

    def spy(work: Any, stop: Any, solver: str, stopped: Any = None) -> Any:
        calls.append(solver)
        return real(work, stop, solver, stopped)

    for mod in (highs_mod, scip_backend):
        monkeypatch.setattr(mod, "call_interruptibly", spy)
    threaded = ao.solve(scn, OffloadingSpec(), backend, options=opts)
    assert calls and interrupts.interruptible()
    monkeypatch.setattr(interrupts, "interruptible", lambda: False)
    direct = ao.solve(scn, OffloadingSpec(), backend, options=opts)
    assert threaded.verified and direct.verified, (threaded, direct)
    assert threaded.termination == direct.termination == "optimal"
    assert threaded.objective == pytest.approx(direct.objective, rel=OBJ_RTOL)

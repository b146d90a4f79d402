"""Fuzzing the public entry points with bad input (issue 12).

Two generators: hypothesis strategies over option / scenario / spec values (the property: a
ValidationError that names the field, or a stored value of the right type inside its bounds),
and the seeded case catalogue of :mod:`aigc_opt.benchmarks.fuzz_inputs` (every entry point,
file loaders, unknown names, wrong instance types). The default run takes a few hundred seeded
cases in-process with a per-case alarm; the slow run is the full 10,000-case benchmark in worker
processes with a per-case timeout.
"""

from __future__ import annotations

import math
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aigc_opt import Scenario, SolveOptions, ValidationError
from aigc_opt.benchmarks import fuzz_inputs
from aigc_opt.problems.caching import CachingObjective
from aigc_opt.problems.offloading import OffloadObjective
from aigc_opt.schema import SCHEMA

SCN = Scenario.generate(3, 2, 2, seed=0)

#: Anything a user might pass for a scalar.
ANY_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.complex_numbers(), st.text(max_size=5),
    st.binary(max_size=3), st.lists(st.floats(), max_size=3),
    st.sampled_from(["1.5", "10", "inf", "nan", np.float32(2.5), np.int64(7), np.bool_(True)]),
)


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    """Fail (not hang) when the body runs longer than ``seconds``."""
    def boom(signum: int, frame: Any) -> None:
        raise TimeoutError(f"case ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _named(exc: ValidationError, *names: str) -> bool:
    return any(n in str(exc) for n in names)


# ------------------------------------------------------------------ hypothesis
@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["time_limit", "mip_gap", "threads", "verbose", "verify"]),
       value=ANY_SCALAR)
def test_solve_options_contract(field: str, value: Any) -> None:
    try:
        opts = SolveOptions(**{field: value})
    except ValidationError as exc:
        assert _named(exc, field), str(exc)
        return
    v = getattr(opts, field)
    if field in ("verbose", "verify"):
        assert isinstance(v, bool)
    elif field == "threads":
        assert v is None or (type(v) is int and 1 <= v <= 4096)
    elif field == "time_limit":
        assert v is None or (type(v) is float and 0 < v <= 1e9)
    else:
        assert v is None or (type(v) is float and 0 <= v <= 1e6)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["latency", "device_energy", "quality", "load", "deadline"]),
       value=ANY_SCALAR)
def test_objective_weights_contract(field: str, value: Any) -> None:
    try:
        obj = OffloadObjective(**{field: value})
    except ValidationError as exc:
        assert _named(exc, field), str(exc)
        return
    v = getattr(obj, field)
    if field == "deadline":
        assert v in ("hard", "penalty")
    else:
        assert type(v) is float and 0 <= v <= 1e9


@settings(max_examples=100, deadline=None)
@given(field=st.sampled_from(["latency", "cloud", "latency_budget_s", "compute_capacity"]),
       value=ANY_SCALAR)
def test_caching_objective_contract(field: str, value: Any) -> None:
    try:
        obj = CachingObjective(**{field: value})
    except ValidationError as exc:
        assert _named(exc, field), str(exc)
        return
    v = getattr(obj, field)
    assert isinstance(v, bool) if field == "compute_capacity" else type(v) is float


_NUMERIC = [s for s in SCHEMA if s.dtype != "str" and getattr(SCN, s.name) is not None]
_DTYPES: Any = st.sampled_from([np.float64, np.int64, np.complex128, np.bool_, np.float32, "U3",
                           np.uint8])


@st.composite
def _field_values(draw: Any) -> tuple[Any, Any]:
    spec = draw(st.sampled_from(_NUMERIC))
    base = np.asarray(getattr(SCN, spec.name))
    shape = draw(st.one_of(st.just(base.shape), hnp.array_shapes(min_dims=0, max_dims=3,
                                                                  min_side=0, max_side=4)))
    value = draw(st.one_of(
        hnp.arrays(_DTYPES, shape, elements=None),
        ANY_SCALAR,
        st.sampled_from([-1.0, 1e300, 0.5, np.nan, np.inf, 1.0]).map(
            lambda k: _scaled(base, k)),
    ))
    return spec, value


def _scaled(base: np.ndarray, k: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(base * k)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_field_values())
def test_scenario_field_contract(case: tuple[Any, Any]) -> None:
    spec, value = case
    try:
        with np.errstate(all="ignore"):
            out = SCN.replace(**{spec.name: value})
    except ValidationError as exc:
        names = (spec.name, "model_quality_steps", "model_quality_values", "request_model")
        assert _named(exc, *names), str(exc)
        return
    v = getattr(out, spec.name)
    arr = np.asarray(v, dtype=float)
    assert arr.shape == np.asarray(getattr(SCN, spec.name)).shape
    finite = arr[np.isfinite(arr)]
    assert not np.isnan(arr).any()
    assert (finite <= spec.high).all() and (spec.lower is None or (finite >= spec.lower).all())
    if spec.dtype == "int":
        assert (v.dtype == np.int64) if spec.axes else type(v) is int
    elif not spec.axes:
        assert type(v) is float


# ------------------------------------------------------------------ seeded catalogue
def test_seeded_catalogue_default_run() -> None:
    """A few hundred seeded cases in-process: 0 failures of any class."""
    failures = []
    outcomes: dict[str, int] = {}
    for i in range(400):
        with alarm(20):
            outcome, detail, desc = fuzz_inputs.run_case(i, seed=12)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome in fuzz_inputs.FAILURES:
            failures.append(f"case {i}: {outcome}: {desc}: {detail}")
    assert not failures, "\n".join(failures[:20])
    assert outcomes.get("named", 0) > 300  # the catalogue mostly holds bad input


def test_catalogue_covers_every_entry_point() -> None:
    names = {t.name for t in fuzz_inputs.targets()}
    for must in ("Scenario", "Scenario.replace", "Scenario.generate", "SolveOptions", "api",
                 "files", "WpmecInstance", "WpmecBatch", "WpmecSpec", "PowerInstance",
                 "BandwidthComputeInstance", "JointBPInstance", "LlmInstance", "CachingInstance",
                 "ContractInstance", "StackelbergInstance", "MultiLeaderInstance",
                 "AuctionInstance", "OffloadingSpec", "JointSpec", "MulticellSpec", "StepsSpec",
                 "LlmSpec", "CachingSpec", "MultiLeaderSpec", "WpmecBatch.generate",
                 "CachingInstance.generate", "AuctionInstance.generate", "Scenario.subset",
                 "WpmecBatch.from_array", "CachingInstance.with_requests", "quality"):
        assert must in names, must


def _case_one_sleeps(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make case 1 overrun by sleeping ``seconds`` (the other cases run as usual)."""
    import time

    real = fuzz_inputs.run_case

    def slow(i: int, seed: int = 0) -> tuple[str, str, str]:
        if i == 1:
            time.sleep(seconds)
        return real(i, seed)

    monkeypatch.setattr(fuzz_inputs, "run_case", slow)


def test_pool_timeout_reports_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    """The subprocess pool turns a case that never returns into a 'hang', not a stuck run."""
    _case_one_sleeps(monkeypatch, 60)
    with warnings.catch_warnings():  # the patch reaches the worker only through fork()
        warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                                category=DeprecationWarning)
        res = fuzz_inputs.run(4, workers=1, timeout=2.0, start_method="fork")
    assert res[1][0] == "hang" and len(res) == 4
    assert all(res[i][0] != "hang" for i in (0, 2, 3))


def test_pool_default_start_method_gives_the_inline_answers() -> None:
    """The default pool (fork-server workers, which import the package afresh) returns what
    the cases give in this process, and starts no worker by ``fork()`` of this one."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        res = fuzz_inputs.run(3, seed=12, workers=1, timeout=60.0)
    assert res == {i: fuzz_inputs.run_case(i, 12) for i in range(3)}


def test_workers_zero_runs_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--workers 0`` runs the cases here (it used to start no worker and wait forever); an
    overrun is still a 'hang', cut by the alarm, and the next case runs."""
    import time

    res = fuzz_inputs.run(3, seed=12, workers=0, timeout=20.0)
    assert res == {i: fuzz_inputs.run_case(i, 12) for i in range(3)}
    _case_one_sleeps(monkeypatch, 30)
    before = signal.getsignal(signal.SIGALRM)
    t0 = time.monotonic()
    res = fuzz_inputs.run(3, workers=0, timeout=0.5)
    assert time.monotonic() - t0 < 20
    assert res[1][0] == "hang" and res[0][0] != "hang" and res[2][0] != "hang"
    assert signal.getsignal(signal.SIGALRM) == before  # the handler is restored
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # and no alarm is left


def test_negative_workers_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        fuzz_inputs.main(["--cases", "2", "--workers", "-1"])
    assert exc.value.code == 2 and "--workers must be >= 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="workers"):
        fuzz_inputs.run(2, workers=-2)


@pytest.mark.slow
def test_ten_thousand_cases_zero_failures() -> None:
    res = fuzz_inputs.run(10_000, seed=0, workers=2, timeout=10.0)
    table = fuzz_inputs.table(res)
    bad = [r for r in res.values() if r[0] in fuzz_inputs.FAILURES]
    assert not bad, table + "\n" + "\n".join(map(str, bad[:20]))
    assert math.isclose(len(res), 10_000)

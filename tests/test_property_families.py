"""Property tests over every family (GitHub issue 11): random valid instances across scales.

For each family variant of :data:`aigc_opt.benchmarks.certify_bench.FAMILIES`, hypothesis draws
a seed, a group of fields (bit sizes, memory, compute, deadlines, objective weights, ...) and a
scale ``10**k`` (k in -6..6) for that group, builds the instance (the validators may refuse it:
an allowed outcome, counted with ``hypothesis.event``), runs every method that
``aigc_opt.methods(spec, instance)`` lists and checks (:func:`check_results`):

* a result that claims a solution is verified by the family's evaluator;
* an exact method (termination ``optimal``) is never worse than any verified result of another
  method beyond its reported gap (so HiGHS and SCIP agree within their gaps);
* an exact method does not report ``infeasible`` when another method has a verified solution;
* nothing raises except ``ValidationError``.

The default run draws 8 cases per family (112 in all); the slow test runs the certification
benchmark (10,000 cases by default, ``CERTIFY_CASES`` to change) in worker processes.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from aigc_opt.benchmarks.certify_bench import _GROUPS, FAMILIES, format_table, run, run_case

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "8"))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_properties(family: str) -> None:
    groups = sorted(_GROUPS[FAMILIES[family].groups])

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(seed=st.integers(0, 10_000), group=st.sampled_from(groups),
           exponent=st.integers(-6, 6))
    def check(seed: int, group: str, exponent: int) -> None:
        rep = run_case(family, seed, group=group, exponent=exponent, time_limit=10.0)
        for method, outcome in rep.outcomes.items():
            event(f"{method}: {outcome}")
        assert not rep.failures, f"{rep.label}:\n" + "\n".join(rep.failures)

    check()


@pytest.mark.slow
def test_certification_benchmark() -> None:
    """The slow certification run: no unverified claim, no exact method beaten, no exception,
    no crashed case (cases run in isolated worker processes: a native crash in a solver
    library is a ``crash`` outcome, not the end of pytest)."""
    n = int(os.environ.get("CERTIFY_CASES", "10000"))
    table, failures = run(n, seed=0, progress=False, jobs=1)
    assert not failures, format_table(table) + "\n" + "\n".join(f"{a}: {b}" for a, b in
                                                                 failures[:50])

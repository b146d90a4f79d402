"""Every case kind states its objective sense, and the batch runner writes it in each row.

Rows used to carry an empty ``sense`` and the registry had none, so ``results.load`` guessed:
``wpmec.binary`` (a maximisation) came out "min", and the report's ratios and wins flipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import aigc_opt as ao
from aigc_opt.batch import parse_suite, run_suite
from aigc_opt.cases import case_kinds
from aigc_opt.export import read_rows


def _program_sense(spec: object, instance: object) -> str:
    """The built program's sense (a LinearProgram's ``sense``, or a CVXPY objective's)."""
    prog = spec.build(instance)  # type: ignore[attr-defined]
    sense = getattr(prog, "sense", None)
    if sense is not None:
        return str(sense.value)
    objective = prog.problem.objective
    return "max" if type(objective).__name__ == "Maximize" else "min"


#: Kinds without a program builder: the sense is read off their exact method against a
#: heuristic on the default instance (the exact one is the better).
NO_BUILDER = ("offloading.joint", "incentives.stackelberg", "incentives.stackelberg_multi",
              "online.frame", "online.lyapunov", "wpmec.binary")


@pytest.mark.parametrize("name", sorted(case_kinds()))
def test_sense_matches_the_program_or_the_exact_method(name: str) -> None:
    kind = case_kinds()[name]
    spec = kind.make_spec()
    inst = kind.make_instance(0)
    sense = kind.sense_of(spec)
    if type(spec).has_builder():
        assert sense == _program_sense(spec, inst)
        return
    assert name in NO_BUILDER
    exact, other = kind.default_methods[0], kind.default_methods[-1]
    opts = ao.SolveOptions(time_limit=20)
    a = ao.run_method(inst, spec, exact, options=opts).objective
    b = ao.run_method(inst, spec, other, options=opts).objective
    if a != b:
        assert (a > b) == (sense == "max"), (exact, a, other, b)


def test_power_sense_follows_the_mode() -> None:
    kind = case_kinds()["allocation.power"]
    assert kind.sense_of(kind.make_spec(mode="sum_rate")) == "max"
    assert kind.sense_of(kind.make_spec(mode="min_power")) == "min"


def test_rows_carry_the_sense(tmp_path: Path) -> None:
    suite = parse_suite("""
[suite]
name = "senses"
[[cases]]
problem = "wpmec.binary"
methods = ["exact", "all_local"]
sizes = {n_users = [4]}
[[cases]]
problem = "offloading.assignment"
methods = ["greedy_latency"]
sizes = {n_users = [4], n_servers = [2], n_models = [2]}
""")
    out = tmp_path / "r.csv"
    run_suite(suite, out, workers=0)
    senses = {(r["problem"], r["method"]): r["sense"] for r in read_rows(out)}
    assert senses == {("wpmec.binary", "exact"): "max", ("wpmec.binary", "all_local"): "max",
                      ("offloading.assignment", "greedy_latency"): "min"}

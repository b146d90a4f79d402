"""Plug-in mistakes are refused by name: a builder or an evaluator returning the wrong type, a
method registered under a name that run_method would route elsewhere (an outside tester's
plug-ins: a bare ``AttributeError: 'dict' object has no attribute 'kind'``, and a heuristic
called ``"highs"`` silently replacing the HiGHS backend)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import aigc_opt as ao
from aigc_opt.errors import PluginError, ValidationError
from aigc_opt.metrics import Metrics, register_evaluator, relative_excess
from aigc_opt.program import Block, LinearProgram, Sense


@dataclass(frozen=True)
class KnapInstance:
    """Item weights w (kg) and a capacity cap (kg)."""

    w: np.ndarray
    cap: float = 5.0


@dataclass(frozen=True)
class KnapAlloc:
    chosen: np.ndarray


@dataclass(frozen=True)
class KnapSpec(ao.ProblemSpec):
    problem: str = "plugtest"
    variant: str = "knap"
    instance_type = KnapInstance


@dataclass(frozen=True)
class WrongBuildSpec(KnapSpec):
    variant: str = "wrongbuild"


@dataclass(frozen=True)
class EvalAlloc:
    chosen: np.ndarray


@dataclass(frozen=True)
class WrongEvalSpec(KnapSpec):
    variant: str = "wrongeval"


def _build(inst: KnapInstance, spec: Any) -> LinearProgram:
    n = inst.w.size
    return LinearProgram(c=np.ones(n), A=sp.csr_matrix(inst.w[None, :]),
                         row_lower=np.array([-np.inf]), row_upper=np.array([inst.cap]),
                         col_lower=np.zeros(n), col_upper=np.ones(n),
                         integrality=np.ones(n, bool), blocks=(Block("x", 0, (n,)),),
                         sense=Sense.MAX, name="plugtest")


def _decode(inst: KnapInstance, spec: Any, program: Any, values: Any) -> KnapAlloc:
    return KnapAlloc(np.asarray(values["x"]) > 0.5)


def _evaluate(inst: KnapInstance, alloc: Any, objective: Any = None) -> Metrics:
    x = np.asarray(alloc.chosen, bool)
    load = np.array([inst.w[x].sum()])
    return Metrics.from_arrays("plugtest", float(x.sum()), {}, {},
                               {"cap": relative_excess(load, np.array([inst.cap]))})


def _dict_builder(inst: KnapInstance, spec: Any) -> dict[str, Any]:
    return {"c": [1, 2]}


def _float_evaluator(inst: KnapInstance, alloc: Any, objective: Any = None) -> float:
    return 42.0


ao.register_builder(KnapSpec, _build, _decode)
ao.register_builder(WrongBuildSpec, _dict_builder, _decode)
ao.register_builder(WrongEvalSpec, _build,
                    lambda i, s, p, v: EvalAlloc(np.asarray(v["x"]) > 0.5))
register_evaluator(KnapAlloc, _evaluate)
register_evaluator(EvalAlloc, _float_evaluator)
INST = KnapInstance(np.array([1.0, 2.0, 3.0, 2.5, 1.5]))


def test_the_well_formed_plug_in_solves_and_is_verified() -> None:
    res = ao.solve(INST, KnapSpec(), "highs")
    assert res.verified and res.objective == pytest.approx(3.0)  # 1 + 2 + 1.5 <= 5


@pytest.mark.parametrize("call", [lambda: ao.solve(INST, WrongBuildSpec(), "highs"),
                                  lambda: ao.methods(WrongBuildSpec(), INST),
                                  lambda: WrongBuildSpec().build(INST)])
def test_a_builder_returning_a_dict_is_named(call: Any) -> None:
    with pytest.raises(PluginError) as info:
        call()
    msg = str(info.value)
    assert "builder registered for WrongBuildSpec" in msg
    assert f"{__name__}._dict_builder" in msg
    assert "returned a dict" in msg and "LinearProgram or aigc_opt.ConvexProgram" in msg
    assert isinstance(info.value, TypeError) and not isinstance(info.value, ValidationError)


def test_an_evaluator_returning_a_float_is_named() -> None:
    alloc = EvalAlloc(np.array([True, False, False, False, False]))
    with pytest.raises(PluginError, match=r"evaluator registered for EvalAlloc \("
                       rf"{__name__}._float_evaluator\) returned a float \(42\.0\); it must "
                       r"return an aigc_opt\.Metrics"):
        ao.evaluate(INST, alloc)
    res = ao.solve(INST, WrongEvalSpec(), "highs")  # the referee's failure, said in the result
    assert not res.verified and "PluginError" in res.message and "_float_evaluator" in res.message


def test_a_plug_in_error_survives_pickling() -> None:
    import pickle

    err = PluginError("builder registered for X", _dict_builder, {"c": 1}, "a program")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.function == err.function


@dataclass(frozen=True)
class ShadowSpec(KnapSpec):
    variant: str = "shadow"


def _empty(inst: KnapInstance, spec: Any, seed: int = 0) -> KnapAlloc:
    return KnapAlloc(np.zeros(inst.w.size, bool))


@pytest.mark.parametrize("register", [
    lambda: ao.register_heuristic(ShadowSpec, "highs", _empty),
    lambda: ao.register_algorithm(ShadowSpec, "highs", lambda i, s, o: None),
])
def test_a_method_named_as_a_backend_is_refused(register: Any) -> None:
    with pytest.raises(ValidationError, match=r"name \[-\] = 'highs': is a backend's name"):
        register()
    assert ao.methods(ShadowSpec(), INST).count("highs") == 1
    res = ao.run_method(INST, ShadowSpec(), "highs")  # still the backend, not the heuristic
    assert res.stats.backend == "highs" and res.verified and res.objective == pytest.approx(3.0)


def test_a_heuristic_named_as_an_algorithm_is_refused() -> None:
    @dataclass(frozen=True)
    class AlgoSpec(KnapSpec):
        variant: str = "algo"

    @dataclass(frozen=True)
    class ChildSpec(AlgoSpec):
        variant: str = "child"

    ao.register_algorithm(AlgoSpec, "exact_knap", lambda i, s, o: ao.solve(i, s, "highs"))
    with pytest.raises(ValidationError, match="is an algorithm of ChildSpec"):
        ao.register_heuristic(ChildSpec, "exact_knap", _empty)  # run_method would never reach it
    ao.register_heuristic(AlgoSpec, "empty", _empty)
    with pytest.raises(ValidationError, match="is a heuristic of AlgoSpec"):
        ao.register_algorithm(AlgoSpec, "empty", lambda i, s, o: ao.solve(i, s, "highs"))
    res = ao.run_method(INST, ChildSpec(), "exact_knap")
    assert res.verified and res.objective == pytest.approx(3.0)


def test_methods_lists_each_name_once() -> None:
    @dataclass(frozen=True)
    class TableSpec(KnapSpec):
        variant: str = "table"

    solve_mod = importlib.import_module("aigc_opt.solve")  # ao.solve is the function
    # put into the table without register_heuristic (as an older plug-in could)
    solve_mod._HEURISTICS.setdefault(TableSpec, {})["highs"] = _empty
    try:
        names = ao.methods(TableSpec(), INST)
    finally:
        del solve_mod._HEURISTICS[TableSpec]
    assert len(names) == len(set(names)) and "highs" in names


@dataclass(frozen=True)
class NoneSpec(KnapSpec):
    variant: str = "none"


def test_none_from_a_decoder_or_a_heuristic_is_unverified() -> None:
    """A decoder returning None: ``solve`` said ``optimal`` (``verified=False``) and a batch
    row counted it as optimal; a heuristic returning None became ``feasible`` with objective
    NaN (an outside tester's plug-in). Both are ``unverified`` now, saying why."""
    ao.register_builder(NoneSpec, _build, lambda inst, spec, prog, values: None)
    ao.register_heuristic(NoneSpec, "gives_none", lambda inst, spec, seed=0: None)
    res = ao.solve(INST, NoneSpec(), "highs")
    assert res.termination == "unverified" and not res.optimal and not res.verified
    assert "no allocation" in res.message
    heur = ao.run_method(INST, NoneSpec(), "gives_none")
    assert heur.termination == "unverified" and not heur.verified
    assert "no allocation" in heur.message

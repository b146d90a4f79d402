"""A plug-in's decoder or heuristic that returns None claims a solution the referee cannot see.

An outside tester (tl) registered a decoder returning None: ``solve`` said ``optimal`` (with
``verified=False``) and a batch row counted it in the optimal column; a heuristic returning
None became ``feasible`` with objective NaN. Both are now ``unverified``, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

import aigc_opt as ao
from aigc_opt import Block, LinearProgram, Sense
from aigc_opt.metrics import Metrics, register_evaluator, relative_excess


@dataclass(frozen=True)
class NoneInst:
    w: np.ndarray
    cap: float = 5.0


@dataclass(frozen=True)
class NoneAlloc:
    chosen: np.ndarray


@dataclass(frozen=True)
class NoneSpec(ao.ProblemSpec):
    problem: str = "plugin"
    variant: str = "none"
    instance_type = NoneInst


def _build(inst: NoneInst, spec: NoneSpec) -> LinearProgram:
    n = inst.w.size
    return LinearProgram(c=np.ones(n), A=sp.csr_matrix(inst.w[None, :]),
                         row_lower=np.array([-np.inf]), row_upper=np.array([inst.cap]),
                         col_lower=np.zeros(n), col_upper=np.ones(n),
                         integrality=np.ones(n, bool), blocks=(Block("x", 0, (n,)),),
                         sense=Sense.MAX, name="none")


def _evaluate(inst: NoneInst, alloc: NoneAlloc, spec: object = None) -> Metrics:
    x = np.asarray(alloc.chosen, bool)
    return Metrics.from_arrays("plugin", float(x.sum()), {}, {}, {"cap": relative_excess(
        np.array([inst.w[x].sum()]), np.array([inst.cap]))})


def test_none_from_a_decoder_or_a_heuristic_is_unverified() -> None:
    register_evaluator(NoneAlloc, _evaluate)
    ao.register_builder(NoneSpec, _build, lambda inst, spec, prog, values: None)
    ao.register_heuristic(NoneSpec, "gives_none", lambda inst, spec, seed=0: None)
    inst = NoneInst(np.array([1.0, 2.0, 3.0, 2.5]))
    res = ao.solve(inst, NoneSpec(), "highs")
    assert res.termination == "unverified" and not res.optimal and not res.verified
    assert "no allocation" in res.message
    heur = ao.run_method(inst, NoneSpec(), "gives_none")
    assert heur.termination == "unverified" and not heur.verified
    assert "no allocation" in heur.message

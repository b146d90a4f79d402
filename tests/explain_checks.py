"""Checks shared by the explanation tests: the acceptance test of issue 16 (named rows,
relaxing them makes the program feasible, each conflict infeasible alone and irreducible)."""

from __future__ import annotations

import dataclasses

import numpy as np

from aigc_opt.backend import SolveOptions, get_backend
from aigc_opt.explain import Explanation, relax
from aigc_opt.program import LinearProgram

OPTS = SolveOptions(verify=False)


def feasible(program: LinearProgram) -> bool:
    res = get_backend("highs").solve(dataclasses.replace(program, c=np.zeros(program.n_cols)),
                                     OPTS)
    return res.has_solution


def only(program: LinearProgram, rows: list[int]) -> LinearProgram:
    """``program`` with every row except ``rows`` relaxed."""
    keep = np.zeros(program.n_rows, dtype=bool)
    keep[rows] = True
    return relax(program, np.nonzero(~keep)[0])


def check(program: LinearProgram, exp: Explanation, *, named: bool = False) -> None:
    """The acceptance test: named, relaxing every named row makes it feasible, each conflict is
    infeasible alone and irreducible; with ``named`` no row is reported by its index."""
    assert exp and exp.labels and exp.complete, exp
    if named:
        assert not [lab for lab in exp.labels if lab.startswith("row at")], exp.labels
    assert feasible(relax(program, exp))
    for c in exp.conflicts:
        assert c.irreducible
        assert not feasible(only(program, list(c.rows)))
        for r in c.rows:
            assert feasible(only(program, [x for x in c.rows if x != r]))

"""A built program's ``meta`` is read-only at every depth, ``meta["columns"]`` included.

Found by an outside tester: ``program.column_data`` (``meta["columns"]``, the per-column
arrays an extension's ``rows`` reads) was writable for the auction, ISCC and life-cycle
programs (74 of 243 program arrays), because only top-level meta arrays were frozen. An
``extra_constraints`` rows function writing ``cols["level"][:] = 0`` silently changed what an
ISCC program decodes to, and the solve came back ``unverified``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import aigc_opt as ao
from aigc_opt.cases import get_case
from aigc_opt.problems.iscc.data import IsccSpec
from aigc_opt.program import Block, LinearProgram

AFFECTED = ["incentives.auction", "iscc.matching", "lifecycle.placement"]
KINDS = {name: get_case(name) for name in AFFECTED}  # imports the families once, at collection


def _arrays(v: Any, path: str) -> Iterator[tuple[str, np.ndarray]]:
    if isinstance(v, np.ndarray):
        yield path, v
    elif isinstance(v, Mapping):
        for k, x in v.items():
            yield from _arrays(x, f"{path}[{k!r}]")
    elif isinstance(v, (tuple, list)):
        for i, x in enumerate(v):
            yield from _arrays(x, f"{path}[{i}]")


@pytest.mark.parametrize("name", AFFECTED)
def test_column_data_of_every_family_is_read_only(name: str) -> None:
    kind = KINDS[name]
    inst, spec = kind.make_instance(0), kind.make_spec()
    prog = spec.build(inst)
    cols = prog.column_data
    assert len(cols) > 0
    found = list(_arrays(prog.meta, "meta"))
    assert any(p.startswith("meta['columns']") for p, _ in found)
    assert [p for p, a in found if a.flags.writeable] == []
    key = next(iter(cols))
    before = np.array(cols[key])
    with pytest.raises(ValueError, match="read-only"):
        cols[key][:1] = 0
    with pytest.raises(TypeError):
        cols[key] = before  # type: ignore[index]
    np.testing.assert_array_equal(prog.column_data[key], before)
    res = ao.solve(inst, spec, "highs", time_limit=20)
    assert res.verified and ao.evaluate(inst, res.allocation, spec).feasible


@dataclasses.dataclass(frozen=True)
class _Overwriting(IsccSpec):
    """An extension that (wrongly) edits the program's column data in place."""

    def extra_constraints(self, inst: Any) -> tuple[ao.ExtraConstraint, ...]:
        def rows(program: Any) -> Any:
            program.column_data["level"][:] = 0
            b = program.blocks[0]
            return {b.name: sp.csr_matrix((1, b.size))}, np.full(1, -np.inf), np.ones(1)

        return (ao.ExtraConstraint("noop", rows, lambda a: np.zeros(1)),)


def test_an_extension_cannot_change_what_the_program_decodes_to() -> None:
    inst = KINDS["iscc.matching"].make_instance(0)
    base = ao.solve(inst, IsccSpec(), "highs", time_limit=20)
    assert base.verified and ao.evaluate(inst, base.allocation, IsccSpec()).feasible
    with pytest.raises(ValueError, match="read-only"):
        _Overwriting().build(inst)


def test_nested_meta_is_frozen_and_the_builders_arrays_are_copied() -> None:
    mine = np.arange(3.0)
    deep = {"columns": {"w": mine, "more": {"v": mine}}, "pair": (mine, 1)}
    lp = LinearProgram(c=np.ones(3), A=sp.csr_matrix((0, 3)), row_lower=np.zeros(0),
                       row_upper=np.zeros(0), col_lower=np.zeros(3), col_upper=np.ones(3),
                       integrality=np.zeros(3, bool), blocks=(Block("x", 0, (3,)),),
                       meta=deep)
    found = dict(_arrays(lp.meta, "meta"))
    assert len(found) == 3 and not any(a.flags.writeable for a in found.values())
    assert not any(np.shares_memory(a, mine) for a in found.values())
    mine[0] = 7.0  # the builder's own array stays its own
    assert lp.column_data["w"][0] == 0.0
    with pytest.raises(TypeError):
        lp.meta["columns"]["more"]["v"] = mine  # type: ignore[index]

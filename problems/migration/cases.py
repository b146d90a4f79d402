"""Benchmark case kinds of the migration family and the offline solve helper.

* ``migration.lyapunov``: online controllers (Lyapunov drift-plus-penalty, never-migrate,
  always-nearest, greedy) against the perfect-foresight offline MILP (``highs``, the
  reference); the budget is reported, not enforced, for the online controllers, so a
  controller that overspends the budget can cost less than the reference (compare
  ``migration_avg_j`` too, or the offline optimum at the controller's own budget as in
  ``benchmarks/migration_bench.py``).
* ``migration.offline``: the offline MILP alone, budget hard (backends compared).

(``agod.selection`` is registered by :mod:`.agod`.)
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import UnknownNameError
from aigc_opt.result import Result
from aigc_opt.solve import solve

from .data import CostWeights, MigrationInstance, MigrationSpec
from .mobility import generate
from .offline import offline_milp

logger = logging.getLogger(__name__)


def solve_offline(inst: MigrationInstance, spec: MigrationSpec, *,
                  time_limit: float | None = None, mip_gap: float = 1e-6,
                  backend: str = "highs", start: bool = False) -> Result:
    """The perfect-foresight MILP; a time-limited solve returns the solver's bound and gap.
    ``start=True`` uses :func:`~.offline.offline_milp` (HiGHS from the best budget-feasible
    controller)."""
    opts = SolveOptions(time_limit=time_limit, mip_gap=mip_gap)
    if start:
        return offline_milp(inst, spec, opts)
    return solve(inst, spec, backend=backend, options=opts)


def _make_instance(seed: int, n_users: int = 6, n_servers: int = 4, n_slots: int = 8,
                   **kw: Any) -> MigrationInstance:
    return generate(n_users, n_servers, n_slots, seed=seed, **kw)


def _weights(w: Any) -> Any:
    """None: the default :class:`CostWeights`; a dict of weight name -> value (unknown names
    refused); anything else is passed on for :class:`MigrationSpec` to check (a non-weights
    value used to become the defaults silently, and a dict was ignored)."""
    if w is None:
        return CostWeights()
    if isinstance(w, dict):
        names = [f.name for f in dataclasses.fields(CostWeights)]
        for k in w:
            if not isinstance(k, str) or k not in names:
                raise UnknownNameError("weights", k if isinstance(k, str) else repr(k), names)
        return CostWeights(**w)
    return w


def _spec(hard: bool) -> Any:
    def make(**params: Any) -> MigrationSpec:
        w = _weights(params.pop("weights", None))
        params.setdefault("budget_hard", hard)
        return MigrationSpec(weights=w, **params)
    return make


CASES = (
    CaseKind(name="migration.lyapunov", make_instance=_make_instance, make_spec=_spec(False),
             default_methods=("highs", "lyapunov", "never_migrate", "always_nearest", "greedy"),
             reference="highs",
             description="AIGC service migration with mobility: online controllers vs the "
                         "offline optimum without the soft budget (a lower bound)"),
    CaseKind(name="migration.offline", make_instance=_make_instance, make_spec=_spec(True),
             default_methods=("highs",), reference="highs",
             description="AIGC service migration: perfect-foresight MILP with budget row"),
)
for _kind in CASES:
    register_case(_kind)

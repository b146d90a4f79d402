r"""The one-shot ISCC orchestration MILP: a capacitated task-to-resource-model graph matching.

Columns are the feasible bundles ``b`` of :func:`~.data.enumerate_bundles` (task ``i_b``, access
site ``s_b``, sensing units ``u_b``, RBs ``r_b``, GPU units ``g_b``, host edge/cloud, model);
``x_b in {0, 1}``:

.. math::

    \max \sum_b u_b x_b \quad \text{s.t.}\quad
    \sum_{b: i_b = i} x_b \le 1 \;\forall i, \qquad
    \sum_{b: s_b = s} u_b x_b \le U_s, \quad
    \sum_{b: s_b = s} r_b x_b \le B_s, \quad
    \sum_{b: s_b = s, edge} g_b x_b \le G_s \;\forall s, \qquad
    \sum_{b: cloud} g_b x_b \le G_c .

This is GaiRom-ISCC's graph matching between tasks and (resource, model) nodes (GainNet,
arXiv 2401.02662, solved there by deep RL), written as an exact MILP. With
``partition="static"`` every pool row is split into one row per class ``c`` with capacity
``partition_capacity(cap, C)[c]`` over the class's tasks (per-service slicing; a restriction,
so its optimum never exceeds the decoupled one).

``program.meta["columns"]`` holds the bundle arrays (``task, site, level, rbs, gpus, cloud,
model, units, utility``) for user-added constraints.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aigc_opt.cases import CaseKind, register_case
from aigc_opt.program import Block, LinearProgram, RowBuilder, Sense
from aigc_opt.spec import register_builder

from .data import (
    Bundles,
    IsccAllocation,
    IsccInstance,
    IsccSpec,
    allocation_from_bundles,
    enumerate_bundles,
    partition_capacity,
)

logger = logging.getLogger(__name__)

#: A pool row group: (name, group key per selected column, number of groups, selected columns,
#: coefficients, capacity per group).
PoolRows = tuple[str, np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]


def site_pool_rows(inst: IsccInstance, bun: Bundles, partition: str = "decoupled"
                   ) -> list[PoolRows]:
    """The capacity rows of the one-shot matching (sensing, RB, edge GPU per site; cloud GPU),
    per class when ``partition == "static"``."""
    S, C = inst.n_sites, inst.n_classes
    cols = np.arange(bun.size)
    edge = ~bun.cloud
    groups: list[PoolRows] = [
        ("sensing", bun.site, S, cols, bun.units, inst.site_sensing_units),
        ("rbs", bun.site, S, cols, bun.rbs, inst.site_rbs),
        ("gpus", bun.site[edge], S, cols[edge], bun.gpus[edge], inst.site_gpus),
        ("cloud", np.zeros(int(bun.cloud.sum()), np.int64), 1, cols[bun.cloud],
         bun.gpus[bun.cloud], np.array([inst.cloud_gpus])),
    ]
    if partition == "decoupled":
        return groups
    cls = inst.task_class[bun.task]
    out: list[PoolRows] = []
    for name, key, n, sel, coef, cap in groups:
        out.append((name, cls[sel] * n + key, C * n, sel, coef,
                    partition_capacity(cap, C).reshape(-1)))
    return out


def site_pool_items(inst: IsccInstance, partition: str = "decoupled"
                    ) -> dict[str, str | tuple[str, ...]]:
    """Row labels of the pools of :func:`site_pool_rows` (``meta["row_groups"]`` items)."""
    if partition == "decoupled":
        return {"sensing": "site {i}", "rbs": "site {i}", "gpus": "site {i}",
                "cloud": "cloud GPUs"}
    sites = tuple(f"class {c}, site {s}" for c in range(inst.n_classes)
                  for s in range(inst.n_sites))
    return {"sensing": sites, "rbs": sites, "gpus": sites, "cloud": "class {i}, cloud GPUs"}


def assemble(inst: IsccInstance, bun: Bundles, pools: Sequence[PoolRows], name: str,
             items: Mapping[str, str | Sequence[str]] | None = None) -> LinearProgram:
    """The matching MILP over ``bun`` with one-per-task rows and the given pool rows; ``items``
    labels each pool's rows in ``meta["row_groups"]`` (default ``"row {i}"``)."""
    n = bun.size
    rb = RowBuilder()
    rb.add(bun.task, np.arange(n), 1.0, inst.n_tasks, -np.inf, 1.0, name="task",
           items="task {i}")
    row_blocks = {"task": (0, inst.n_tasks)}
    for pname, key, ngroups, sel, coef, cap in pools:
        first = rb.add(key, sel, coef, ngroups, -np.inf, np.asarray(cap, dtype=np.float64),
                       name=pname, items=(items or {}).get(pname, "row {i}"))
        row_blocks[pname] = (first, first + ngroups)
    A = rb.matrix(n)
    lo, hi = rb.bounds()
    columns = {"task": bun.task, "site": bun.site, "level": bun.level, "rbs": bun.rbs,
               "gpus": bun.gpus, "cloud": bun.cloud, "model": bun.model, "units": bun.units,
               "utility": bun.utility}
    return LinearProgram(
        c=bun.utility, A=A, row_lower=lo, row_upper=hi, col_lower=np.zeros(n),
        col_upper=np.ones(n), integrality=np.ones(n, dtype=bool),
        blocks=(Block("x", 0, (n,)),), sense=Sense.MAX, name=name,
        meta={"columns": columns, "row_blocks": row_blocks, "row_groups": rb.groups,
              "n_tasks": inst.n_tasks})


def bundles_for(inst: IsccInstance, spec: Any, *, slotted: bool = False) -> Bundles:
    """The spec's bundles (RB / GPU options, pruning)."""
    return enumerate_bundles(inst, spec.rb_options, spec.gpu_options, slotted=slotted,
                             prune=spec.prune)


def build(inst: IsccInstance, spec: IsccSpec) -> LinearProgram:
    """The matching MILP (module docstring)."""
    bun = bundles_for(inst, spec)
    logger.debug("iscc matching: %d tasks, %d bundles", inst.n_tasks, bun.size)
    return assemble(inst, bun, site_pool_rows(inst, bun, spec.partition),
                    f"iscc-{spec.partition}[N={inst.n_tasks},S={inst.n_sites},B={bun.size}]",
                    site_pool_items(inst, spec.partition))


def chosen_columns(program: LinearProgram, values: Any) -> np.ndarray:
    """Indices of the selected bundles (``x > 1/2``; at most one per task by the task rows)."""
    x = np.asarray(values["x"], dtype=np.float64)
    return np.nonzero(x > 0.5)[0]


def bundles_of(program: LinearProgram) -> Bundles:
    """The program's bundles, from ``meta["columns"]`` (phase times are not kept: zeros)."""
    c = program.column_data
    z = np.zeros(np.asarray(c["task"]).shape[0])
    return Bundles(task=np.asarray(c["task"]), link=np.zeros_like(z, dtype=np.int64),
                   site=np.asarray(c["site"]), level=np.asarray(c["level"]),
                   rbs=np.asarray(c["rbs"]), gpus=np.asarray(c["gpus"]),
                   cloud=np.asarray(c["cloud"]), model=np.asarray(c["model"]),
                   utility=np.asarray(c["utility"]), t_sense=z, t_tx=z, t_cmp=z,
                   units=np.asarray(c["units"]))


def decode(inst: IsccInstance, spec: Any, program: LinearProgram, values: Any
           ) -> IsccAllocation:
    """Each task gets its selected bundle (none when no ``x_b > 1/2``)."""
    return allocation_from_bundles(inst.n_tasks, bundles_of(program),
                                   chosen_columns(program, values))


register_builder(IsccSpec, build, decode)


def _make_instance(seed: int, n_tasks: int = 30, n_sites: int = 3, n_classes: int = 3,
                   **kw: Any) -> IsccInstance:
    return IsccInstance.generate(n_tasks, n_sites, n_classes, seed=seed, **kw)


register_case(CaseKind(
    sense="max", name="iscc.matching", make_instance=_make_instance,
    make_spec=lambda **p: IsccSpec(**p),
    default_methods=("highs", "greedy_density", "random", "static_partition"),
    reference="highs",
    description="ISCC task-to-(sensing, RB, GPU, model) matching over decoupled pools"))

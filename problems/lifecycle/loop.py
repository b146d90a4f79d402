r"""GainNet's closed loop, simulated round by round, every round solved exactly.

GainNet (Chen et al., IEEE Network 2024) describes a closed knowledge flow: data -> fine-tuning
-> better models -> better services -> more data. We simulate it as R rounds (epochs); in
round r the life-cycle MILP is solved exactly on the round's instance, then:

* **inference yields data**: the requests served in the window leave
  ``harvest * tokens_s`` usable fine-tuning tokens each (consented, curated share; *assumed*
  ``harvest = 0.05``) on the devices of their region:
  ``D_{r+1}[s,u] = D_r[s,u] + harvest * tokens_s * served_r[s,u]``;
* **better services attract demand**: ``d_{r+1}[s,u] = d_0[s,u] (1 + eps (q_r[s] - q_0[s]))_+``
  with the quality ``q_r[s]`` delivered in round r, ``q_0`` that of round 0 and elasticity
  ``eps`` (*assumed* 2: +0.05 quality brings 10 % more requests);
* **more data, better fine-tuning**: the next round's fine-tuning quality is the quality table
  interpolated at the larger data volume (:func:`~.data.option_physics`), so the loop raises
  quality as long as the table rises in the data volume.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.errors import ValidationError
from aigc_opt.metrics import evaluate
from aigc_opt.solve import solve

from .data import MODES, LifecycleInstance, LifecycleSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopModel:
    """How a round's service turns into the next round's data and demand (*assumed* values).

    Parameters
    ----------
    harvest : float
        Usable fine-tuning tokens per served token, in [0, 1].
    elasticity : float
        Relative demand change per unit of quality gained over round 0.
    """

    harvest: float = 0.05
    elasticity: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.harvest <= 1.0:
            raise ValidationError("harvest", "-", self.harvest, "must be in [0, 1]")
        if not self.elasticity >= 0.0:
            raise ValidationError("elasticity", "-", self.elasticity, "must be >= 0")


def closed_loop(inst: LifecycleInstance, spec: LifecycleSpec, rounds: int = 5, *,
                model: LoopModel | None = None, backend: str = "highs",
                options: SolveOptions | None = None) -> list[dict[str, Any]]:
    """Simulate ``rounds`` rounds of the closed loop; one row per round.

    Each row: round, status, objective (solver) and eval_objective (referee), data_tokens,
    requests, quality_mean, cost, latency_mean_s, privacy_bytes, fine_tuned (services), modes
    (mode chosen per service), and the next round's data.
    """
    if int(rounds) < 1:
        raise ValidationError("rounds", "-", rounds, "must be >= 1")
    lm = model or LoopModel()
    opts = options or SolveOptions(mip_gap=1e-9)
    d0 = inst.demand_rps
    q0: np.ndarray | None = None
    cur = inst
    rows: list[dict[str, Any]] = []
    for r in range(int(rounds)):  # rounds are sequential by nature
        res = solve(cur, spec, backend, options=opts)
        row: dict[str, Any] = {"round": r, "status": res.termination.value,
                               "data_tokens": float(cur.data_tokens.sum())}
        if not res.has_solution:
            rows.append(row)
            logger.warning("closed loop stopped in round %d: %s", r, res.termination)
            break
        met = evaluate(cur, res.allocation, spec)
        alloc = res.allocation
        q = met.per_item["quality"]
        q0 = q.copy() if q0 is None else q0
        row.update(objective=res.objective, eval_objective=met.objective,
                   requests=met.totals["requests"], quality_mean=met.totals["quality_mean"],
                   cost=met.totals["cost"], latency_mean_s=met.totals["latency_mean_s"],
                   privacy_bytes=met.totals["privacy_bytes"],
                   fine_tuned=int(met.totals["fine_tuned"]),
                   modes=[MODES[k] for k in cur.option_mode[alloc.option]],
                   feasible=met.feasible)
        rows.append(row)
        T = cur.shape["T"]
        served = (cur.window_s / T * cur.demand_rps * (1.0 - alloc.reject)).sum(axis=0)
        new_data = cur.data_tokens + lm.harvest * cur.service_tokens[:, None] * served
        growth = np.maximum(1.0 + lm.elasticity * (q - q0), 0.0)
        cur = cur.replace(data_tokens=new_data, demand_rps=d0 * growth[None, :, None])
    return rows

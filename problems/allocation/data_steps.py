r"""Specs of the diffusion-step allocation (edge only, or a hybrid edge-then-device split).

The model is in :mod:`aigc_opt.problems.allocation.steps` (the MILP builder registers itself for
these specs). Its allocations are :class:`~aigc_opt.problems.offloading.data.OffloadAllocation`
objects, so the offloading evaluator is the referee: latency (s), device and server energy (J),
quality and the objective weighted by :class:`~aigc_opt.problems.offloading.data.OffloadObjective`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.metrics import evaluate
from aigc_opt.problems.offloading.data import OffloadAllocation, OffloadObjective
from aigc_opt.scenario import Scenario
from aigc_opt.schema import bound
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import check_array, check_bool, check_choice, check_int, check_scalar

logger = logging.getLogger(__name__)


def check_epsilon(epsilon: object) -> tuple[tuple[str, float], ...]:
    """Epsilon rows ``((metric, bound), ...)``: metric in :data:`EPSILON_METRICS`, a finite real
    bound (|bound| <= 1e30)."""
    if isinstance(epsilon, (str, bytes)) or not isinstance(epsilon, (tuple, list)):
        raise ValidationError("epsilon", "-", epsilon, "must be a tuple of (metric, bound) pairs")
    out = []
    for item in epsilon:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValidationError("epsilon", "-", item, "must be (metric, finite bound), "
                                  f"metric in {EPSILON_METRICS}")
        metric = check_choice("epsilon", item[0], EPSILON_METRICS)
        out.append((metric, float(check_scalar("epsilon", item[1], "-", -1e30, 1e30))))
    return tuple(out)

#: Metrics an epsilon row can bound (weighted sums over requests, as in the objective).
EPSILON_METRICS = ("latency", "energy", "quality")
#: Default weights of the step specs (see :class:`StepsSpec`).
DEFAULT_OBJECTIVE = OffloadObjective(latency=0.05, device_energy=0.01)


@dataclass(frozen=True)
class StepsSpec(ProblemSpec):
    """Edge-only step allocation (see :mod:`aigc_opt.problems.allocation.steps` for the MILP).

    Parameters
    ----------
    objective : OffloadObjective
        Weights (alpha latency, beta device energy, eta server energy, gamma quality, rho
        lateness, lambda load) and deadline mode (``hard`` or ``penalty``). The default,
        ``alpha = 0.05 /s, beta = 0.01 /J``, makes a step's quality gain (about 0.01-0.09 per
        step on the generated curves) comparable with its latency and energy cost.
    max_steps : int
        K_max: candidate total step counts are ``1..max_steps`` unless ``levels`` is given.
    levels : tuple of int
        Explicit candidate step counts (strictly increasing, >= 1); overrides ``max_steps``.
    cap_at_requested : bool
        Forbid levels above each request's ``request_steps``.
    min_edge_steps : int
        Least number of steps run on the edge server (hybrid variant; >= 1).
    epsilon : tuple of (str, float)
        Extra epsilon-constraint rows ``(metric, bound)``: ``latency`` (sum_n w_n L_n <= bound,
        s), ``energy`` (sum_n w_n (E^dev_n + E^srv_n) <= bound, J) or ``quality``
        (sum_n w_n Q_n >= bound).
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    objective: OffloadObjective = field(default_factory=lambda: DEFAULT_OBJECTIVE)
    max_steps: int = 50
    levels: tuple[int, ...] = ()
    cap_at_requested: bool = False
    min_edge_steps: int = 1
    epsilon: tuple[tuple[str, float], ...] = ()
    problem: str = "allocation"
    variant: str = "steps"

    #: Whether steps may be split between edge (first) and device (rest).
    hybrid: ClassVar[bool] = False

    instance_type = Scenario

    def __post_init__(self) -> None:
        if not isinstance(self.objective, OffloadObjective):
            raise ValidationError("objective", "-", type(self.objective).__name__,
                                  "must be an OffloadObjective")
        steps_hi = int(bound("steps"))
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("max_steps", check_int("max_steps", self.max_steps, "step", 1, steps_hi))
        if isinstance(self.levels, (str, bytes)):
            raise ValidationError("levels", "step", self.levels, "must be a tuple of integers")
        lv = check_array("levels", "step", self.levels, ndim=1, low=1, high=steps_hi,
                         dtype=np.int64)
        if (np.diff(lv) <= 0).any():
            raise ValidationError("levels", "step", self.levels,
                                  "must be strictly increasing integers >= 1")
        set_("levels", tuple(int(x) for x in lv))
        set_("cap_at_requested", check_bool("cap_at_requested", self.cap_at_requested))
        set_("min_edge_steps", check_int("min_edge_steps", self.min_edge_steps, "step", 1,
                                         steps_hi))
        set_("epsilon", check_epsilon(self.epsilon))

    # ---------------------------------------------------------------- Pareto protocol
    def with_weights(self, *, latency: float, energy: float, quality: float) -> Self:
        """Same spec with weights alpha = latency, beta = eta = energy, gamma = quality."""
        obj = dataclasses.replace(self.objective, latency=latency, device_energy=energy,
                                  server_energy=energy, quality=quality)
        return dataclasses.replace(self, objective=obj)

    def with_epsilon(self, metric: str, bound: float) -> Self:
        """Same spec plus the epsilon row ``metric <= bound`` (``>=`` for quality)."""
        return dataclasses.replace(self, epsilon=(*self.epsilon, (metric, float(bound))))

    def pareto_metrics(self, scenario: Scenario, allocation: OffloadAllocation) -> dict[str, float]:
        """Weighted sums the objective trades off, recomputed by the evaluator."""
        met = evaluate(scenario, allocation, self.objective)
        w = scenario.request_weight
        pi = met.per_item
        return {
            "latency": float((w * pi["latency_s"]).sum()),
            "energy": float((w * (pi["device_energy_j"] + pi["server_energy_j"])).sum()),
            "quality": float((w * pi["quality"]).sum()),
        }


@dataclass(frozen=True)
class HybridStepsSpec(StepsSpec):
    """Hybrid split: the first ``k^e >= min_edge_steps`` steps at the edge, the rest on device."""

    variant: str = "hybrid_steps"
    hybrid: ClassVar[bool] = True

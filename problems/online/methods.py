"""Registered algorithms and benchmark case kinds of the online family.

Every controller name (``exact``, ``quantised``, ``myopic``, ``local``, ``offload``) is a
registered algorithm of :class:`LyapunovSpec` that accepts two instance types:

* a :class:`FrameInstance` -- one frame: the controller's decision as a Result whose
  ``allocation`` is a :class:`FrameDecision` and ``objective`` the drift-plus-penalty frame
  objective (``exact``: ``termination=optimal`` with the certified bound and gap; the others
  ``feasible`` without a bound);
* a :class:`Trajectory` -- a whole run by :func:`~aigc_opt.problems.online.sim.simulate`:
  ``allocation`` is the :class:`SimulationResult`, ``objective`` the time-average weighted
  computation rate in bit/s, ``termination=feasible`` (an online policy proves nothing about
  optimality; see :mod:`~aigc_opt.problems.online.yardstick` for the offline bound).
  ``time_limit`` is a deadline for the whole run, checked after every slot: a run that passes
  it stops there and returns ``termination=limit`` without a solution (a partial run is no
  result for the trajectory), its message saying how many slots were simulated.

Case kinds: ``online.frame`` (sizes ``n_users``; a LyDROO frame with random backlogs
``Q ~ U(0, 20 Mbit)`` and energy queues ``Y ~ U(0, 50)``) and ``online.lyapunov`` (sizes
``n_users``, ``n_slots``; LyDROO's environment), both with spec parameters of
:class:`LyapunovSpec` (e.g. ``V``) so suites can sweep V, N and T.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import OutOfTime, ValidationError
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm
from aigc_opt.validate import MAX_ENTRIES, check_seed, check_size

from .data import FrameInstance, LyapunovSpec, Trajectory, generate_trajectory, lydroo_profile
from .sim import CONTROLLERS, make_controller, simulate

#: Relative gap at which the exact frame solver reports ``optimal``.
FRAME_RTOL = 1e-9


def _method(name: str) -> Any:
    def run(instance: Any, spec: LyapunovSpec, options: Any = None) -> Result:
        t0 = time.perf_counter()
        ctrl = make_controller(name, spec)
        if isinstance(instance, Trajectory):
            limit = getattr(options, "time_limit", None)
            try:
                sim = simulate(instance, spec, ctrl,
                               deadline=None if limit is None else t0 + limit)
            except OutOfTime as exc:  # ran 10.7 s at time_limit=1 (N=10, T=12,000) unchecked
                return Result(Termination.LIMIT, False, gap=math.inf,
                              message=f"time limit {limit:g} s: simulated {exc.done} of "
                                      f"{exc.total} slots, stopped before the horizon; no "
                                      "result for the whole trajectory",
                              stats=SolveStats(backend=name,
                                               solve_seconds=time.perf_counter() - t0))
            rate = sim.weighted_rate(spec, instance.tau_s)
            return Result(Termination.FEASIBLE, True, objective=rate, allocation=sim,
                          values={"bits": np.asarray(sim.bits)},
                          stats=SolveStats(backend=name,
                                           solve_seconds=time.perf_counter() - t0))
        if not isinstance(instance, FrameInstance):
            raise ValidationError("instance", "-", type(instance).__name__,
                                  "must be a FrameInstance or a Trajectory")
        sol = ctrl.solve(instance)
        exact = name == "exact"
        gap = sol.gap if exact else float("nan")
        return Result(
            Termination.OPTIMAL if exact and gap <= 10 * FRAME_RTOL else Termination.FEASIBLE,
            True, objective=sol.objective, bound=sol.bound if exact else float("nan"),
            gap=gap, allocation=sol.decision,
            values={"offload": sol.decision.offload.astype(np.float64),
                    "time_frac": np.asarray(sol.decision.time_frac)},
            stats=SolveStats(backend=name, solve_seconds=time.perf_counter() - t0,
                             nodes=sol.nodes))
    run.__name__ = f"online_{name}"
    run.__doc__ = f"Controller ``{name}`` on a FrameInstance or a Trajectory (see module)."
    return run


for _name in CONTROLLERS:
    register_algorithm(LyapunovSpec, _name, _method(_name))


def random_frame(seed: int, n_users: int = 10) -> FrameInstance:
    """A LyDROO frame (gains of slot 0 of a seeded trajectory) with random queue states.

    ``seed`` is an integer >= 0 (the queues are drawn with ``seed + 7919``), ``n_users`` an
    integer in ``[1, MAX_ENTRIES]``.
    """
    checked = check_seed("seed", seed)
    if not isinstance(checked, int):  # None, a Generator or a SeedSequence
        raise ValidationError("seed", "-", seed, "must be an integer >= 0 (the frame's queue "
                              "states are drawn with seed + 7919)")
    seed = checked
    n_users = check_size("n_users", n_users, MAX_ENTRIES, raise_with=None)
    tr = generate_trajectory(lydroo_profile(n_users, 1), seed)
    rng = np.random.default_rng(seed + 7919)
    return FrameInstance(tr.gains_to(0)[0], rng.uniform(0.0, 20e6, n_users),
                         rng.uniform(0.0, 50.0, n_users), tr.tau_s)


register_case(CaseKind(
    sense="max", name="online.frame",
    make_instance=random_frame,
    make_spec=lambda **params: LyapunovSpec(**params),
    default_methods=("exact", "quantised", "myopic", "local", "offload"),
    reference="exact",
    description="One LyDROO frame: drift-plus-penalty binary offloading (Bi et al. 2021)",
))

register_case(CaseKind(
    sense="max", name="online.lyapunov",
    make_instance=lambda seed, n_users=10, n_slots=200: generate_trajectory(
        lydroo_profile(n_users, n_slots), seed),
    make_spec=lambda **params: LyapunovSpec(**params),
    default_methods=("exact", "quantised", "myopic", "local", "offload"),
    description="LyDROO online control over T frames: time-average weighted rate (bit/s)",
))

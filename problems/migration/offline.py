"""The offline migration MILP solved with HiGHS from a MIP start: the best online controller
the referee calls feasible (see :func:`offline_milp`). Its own module because the start runs the
controllers, which are built on :mod:`.milp`'s per-slot MILP."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.errors import OutOfTime, ValidationError
from aigc_opt.result import Result, SolveStats, Termination
from aigc_opt.solve import register_algorithm

from .controllers import CONTROLLERS, run_online
from .data import MigrationInstance, MigrationSpec
from .milp import decode_offline, solve_highs, start_vector

logger = logging.getLogger(__name__)

START_SHARE = 0.25
"""Share of ``time_limit`` the MIP-start controllers of :func:`offline_milp` may use."""

SKIP_SHARE = 0.25
"""With less than this share of ``time_limit`` left after the build and the controllers,
:func:`offline_milp` returns the best controller's trajectory (no bound) without HiGHS."""


def offline_milp(inst: MigrationInstance, spec: MigrationSpec, options: SolveOptions) -> Result:
    """The offline MILP with HiGHS (``mip_gap`` 1e-6 unless given), started from the best
    online controller the referee calls feasible (with a hard budget: whose trajectory meets
    it), so that a time-limited solve is at least as good as every such controller, with
    HiGHS's proven bound. With a ``time_limit`` the per-slot MILP controller ``lyapunov``
    runs only within ``START_SHARE`` of it (it stops at the first slot past that), so the
    guarantee then covers the greedy controllers and ``lyapunov`` only when it finished. The
    budget is a row only when ``spec.budget_hard`` (see :func:`~.milp.build_offline`): an
    "optimal" label always refers to the referee's feasible set."""
    from aigc_opt.metrics import evaluate

    opts = options if options.mip_gap is not None else replace(options, mip_gap=1e-6)
    t0 = time.perf_counter()
    lp = spec.build(inst)
    build_s = time.perf_counter() - t0
    best, start = np.inf, None
    # the greedy controllers first (a quarter second at 60 users x 120 slots), then the
    # per-slot MILP controller only within START_SHARE of the limit: it solves a MILP per slot
    # (4.8 s there, 10.7 s warm) and ran unbounded, 21.1 s in all at time_limit=2. 'lyapunov_warm'
    # takes the same decisions as 'lyapunov' and is not run again.
    deadline = None if opts.time_limit is None else t0 + START_SHARE * opts.time_limit
    for name in ("never_migrate", "always_nearest", "greedy", "lyapunov"):
        if deadline is not None and name == "lyapunov" and time.perf_counter() > deadline:
            break
        try:
            alloc = run_online(inst, spec, CONTROLLERS[name](spec), name=name,
                               deadline=deadline if name == "lyapunov" else None)
        except (ValidationError, OutOfTime) as exc:  # a controller that cannot run or finish
            logger.debug("no MIP start from %s: %s", name, exc)  # gives no MIP start
            continue
        met = evaluate(inst, alloc, spec)
        if met.feasible and met.objective < best:
            best, start = met.objective, alloc
    left = opts.left(t0, floor=0.0)
    limit = opts.time_limit
    if start is not None and left is not None and limit is not None \
            and left < SKIP_SHARE * limit:
        # HiGHS's own set-up of this MILP does not keep to a short limit (6.3 s given 0.28 s
        # on 60 users x 8 servers x 120 slots): with less than SKIP_SHARE of the limit left,
        # the best controller's trajectory is the answer, with no bound
        return Result(Termination.FEASIBLE, True, objective=float(best), bound=-math.inf,
                      gap=math.inf, allocation=start,
                      message=f"time limit: {left:.3g} s of {limit:g} s left after "
                              f"the build and the MIP-start controllers, the MILP was not run; "
                              f"best controller {best:.6g} ({start.controller}), no bound",
                      stats=SolveStats("offline_milp", build_seconds=build_s,
                                       solve_seconds=time.perf_counter() - t0 - build_s))
    x0 = None if start is None else start_vector(inst, lp, start)
    # HiGHS gets the time left after the build and the MIP-start controllers (it had the whole
    # limit again: 21.5 s at time_limit=2 on 40 users x 60 slots)
    res = solve_highs(lp, replace(opts, time_limit=opts.left(t0)), x0)
    alloc_out = decode_offline(inst, spec, lp, res.values) if res.has_solution else None
    note = f"; MIP start {best:.6g} ({start.controller})" if start is not None else ""
    return replace(res, allocation=alloc_out, message=res.message + note,
                   stats=replace(res.stats, backend="offline_milp", build_seconds=build_s))


register_algorithm(MigrationSpec, "offline_milp", offline_milp)

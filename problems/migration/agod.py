r"""AGOD provider selection: AGOD's heuristic baselines and the offline optimum it lacks.

Heuristics (AGOD ``policy/`` and ``benchmark/``, reproduced): ``random`` (uniform provider,
``policy/random.py``), ``round_robin`` (provider ``j mod P``, ``policy/roundrobin.py``),
``crash_avoid`` (the provider with the most free capacity, first on ties,
``SwarmManager.most_availble_service_provider``), ``prophet`` (the best-reward provider among
those with room, provider 0 when none earns more than 0, ``best_reward_service_provider``).
They run against :class:`AgodSimulator` (AGOD's dynamics, see :mod:`.data_agod`).

Offline optimum (perfect foresight over the realised sequence, not in AGOD; the registered
builder, so any MILP backend takes it, and the algorithm ``offline_milp``: HiGHS started from
the best crash-free heuristic)::

    maximise   sum_{j,p} R[j,p] x[j,p]
    subject to sum_p x[j,p] = 1                                   every task is placed
               sum_{k in A(j)} t_k x[k,p] <= C_p   for all j, p   no provider ever overloads
               x binary

with ``A(j)`` the tasks running when j arrives (j included). Under AGOD's dynamics a feasible
x is exactly a crash-free action sequence and its utility is the objective. Capacity rows
whose whole active load fits ``C_p`` are dropped (they cannot bind), and so is the row of j
when no task of ``A(j)`` ends before arrival j + 1 (``A(j)`` is then inside ``A(j + 1)``).
When the episode is so loaded that every schedule crashes, the MILP is infeasible (a status).

The optimum upper-bounds every crash-free policy. A crash costs ``2 (1 + sum (1 - progress))
> 2``, more than any single reward (< 1), yet it also frees capacity, so "offline >= a crashing
heuristic" is checked on the tested episodes (and by brute force over every action sequence on
tiny ones), not proved.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import ValidationError
from aigc_opt.explain import GridLabels
from aigc_opt.program import Block, LinearProgram, RowBuilder, Sense
from aigc_opt.result import Result
from aigc_opt.solve import register_algorithm, register_heuristic
from aigc_opt.spec import register_builder

from .data_agod import (
    AgodAllocation,
    AgodInstance,
    AgodSpec,
    active_pairs,
    reward_table,
    runtime_s,
)
from .milp import solve_highs

logger = logging.getLogger(__name__)


class AgodSimulator:
    """AGOD's environment on one episode, one task at a time (state = free capacity)."""

    def __init__(self, inst: AgodInstance, crash_penalty: float) -> None:
        self.inst = inst
        self.penalty = crash_penalty
        self.rt = runtime_s(inst.task_steps)
        self.reward = reward_table(inst)
        self.alive = np.zeros(inst.n_tasks, dtype=bool)
        self.where = np.full(inst.n_tasks, -1)
        self.j = 0
        self.utility = 0.0
        self.crashes = 0

    def available(self) -> np.ndarray:
        """Free capacity per provider when task ``j`` arrives (after finished tasks leave)."""
        inst = self.inst
        now = inst.arrival_s[self.j]
        self.alive &= ~(inst.arrival_s + self.rt <= now)
        used = np.bincount(self.where[self.alive], weights=inst.task_steps[self.alive],
                           minlength=inst.n_providers)
        return inst.provider_capacity - used

    def step(self, p: int) -> float:
        """Assign the current task to provider ``p``; return AGOD's reward."""
        inst, j = self.inst, self.j
        free = self.available()
        if inst.task_steps[j] > free[p]:
            here = self.alive & (self.where == p)
            progress = (inst.arrival_s[j] - inst.arrival_s[here]) / self.rt[here]
            r = -self.penalty * (1.0 + float((1.0 - progress).sum()))
            self.alive &= ~here
            self.crashes += 1
        else:
            self.alive[j] = True
            self.where[j] = p
            r = float(self.reward[j, p])
        self.utility += r
        self.j += 1
        return r


def _run(inst: AgodInstance, spec: AgodSpec, choose: Any) -> AgodAllocation:
    sim = AgodSimulator(inst, spec.crash_penalty)
    out = np.zeros(inst.n_tasks, dtype=np.int64)
    for j in range(inst.n_tasks):
        out[j] = choose(j, sim)
        sim.step(int(out[j]))
    return AgodAllocation(provider=out)


def random_policy(inst: AgodInstance, spec: AgodSpec, *, seed: int = 0) -> AgodAllocation:
    """Uniform random provider (AGOD ``RandomPolicy``)."""
    draws = np.random.default_rng(seed).integers(0, inst.n_providers, inst.n_tasks)
    return AgodAllocation(provider=draws)


def round_robin(inst: AgodInstance, spec: AgodSpec, *, seed: int = 0) -> AgodAllocation:
    """Provider ``j mod P`` (AGOD ``RoundRobinPolicy``)."""
    return AgodAllocation(provider=np.arange(inst.n_tasks) % inst.n_providers)


def crash_avoid(inst: AgodInstance, spec: AgodSpec, *, seed: int = 0) -> AgodAllocation:
    """Most free capacity, first on ties (AGOD ``most_availble_service_provider``)."""
    return _run(inst, spec, lambda j, sim: int(np.argmax(sim.available())))


def prophet(inst: AgodInstance, spec: AgodSpec, *, seed: int = 0) -> AgodAllocation:
    """Best reward among providers with room; 0 when none earns > 0 (AGOD
    ``best_reward_service_provider``)."""
    def choose(j: int, sim: AgodSimulator) -> int:
        room = sim.available() >= inst.task_steps[j]
        r = np.where(room, sim.reward[j], 0.0)
        return int(np.argmax(r)) if r.max() > 0 else 0
    return _run(inst, spec, choose)


HEURISTICS = {"random": random_policy, "round_robin": round_robin, "crash_avoid": crash_avoid,
              "prophet": prophet}


def simulate(inst: AgodInstance, alloc: AgodAllocation, spec: AgodSpec | None = None
             ) -> tuple[float, int]:
    """Utility and crash count of a fixed provider sequence under :class:`AgodSimulator`."""
    sim = AgodSimulator(inst, (spec or AgodSpec()).crash_penalty)
    for p in alloc.provider:
        sim.step(int(p))
    return sim.utility, sim.crashes


def _need_crash_free(spec: AgodSpec) -> None:
    if not spec.crash_free:
        raise ValidationError("crash_free", "-", False,
                              "the offline MILP is the crash-free optimum, exact only when a "
                              "crash is a violation: set crash_free=True, or compare the "
                              "heuristics by their utility")


def build(inst: AgodInstance, spec: AgodSpec) -> LinearProgram:
    """The offline crash-free MILP of the module docstring (sense max); only for a
    ``crash_free`` spec, for which it is exact."""
    _need_crash_free(spec)
    J, P = inst.n_tasks, inst.n_providers
    n = J * P
    ix = np.arange(n).reshape(J, P)
    j, k = active_pairs(inst)
    load = np.bincount(j, weights=inst.task_steps[k], minlength=J)  # active steps at arrival j
    rb = RowBuilder()
    rb.add(np.repeat(np.arange(J), P), ix.ravel(), 1.0, J, 1.0, 1.0, name="placed",
           items="task {i}")
    # a row at arrival j is dominated by the row at j + 1 when no task of A(j) ends before
    # arrival j + 1 (then A(j) is a subset of A(j + 1)); rows whose whole load fits never bind
    end = inst.arrival_s + runtime_s(inst.task_steps)
    first_end = np.full(J, np.inf)
    np.minimum.at(first_end, j, end[k])
    maximal = np.ones(J, dtype=bool)
    maximal[:-1] = first_end[:-1] <= inst.arrival_s[1:]
    tight = maximal[:, None] & (load[:, None] > inst.provider_capacity[None, :])  # (J, P)
    row_id = np.full((J, P), -1)
    row_id[tight] = np.arange(int(tight.sum()))
    rj = np.repeat(j, P)
    rp = np.tile(np.arange(P), j.shape[0])
    rk = np.repeat(k, P)
    keep = tight[rj, rp]
    tj, tp = np.nonzero(tight)  # the rows' (arrival, provider), in row order
    rb.add(row_id[rj[keep], rp[keep]], ix[rk[keep], rp[keep]],
           inst.task_steps[rk[keep]].astype(float), tj.size, -np.inf,
           inst.provider_capacity[tp].astype(float), name="capacity",
           items=GridLabels("arrival of task {0}, provider {1}", (J, P), np.flatnonzero(tight)))
    lo, hi = rb.bounds()
    return LinearProgram(c=reward_table(inst).ravel(), A=rb.matrix(n), row_lower=lo,
                         row_upper=hi, col_lower=np.zeros(n), col_upper=np.ones(n),
                         integrality=np.ones(n, dtype=bool),
                         blocks=(Block("assign", 0, (J, P)),),
                         sense=Sense.MAX, name=f"agod-offline[J={J},P={P}]",
                         meta={"row_groups": rb.groups})


def decode(inst: AgodInstance, spec: AgodSpec, program: LinearProgram, values: Any
           ) -> AgodAllocation:
    """Provider of largest ``x`` per task."""
    return AgodAllocation(provider=np.asarray(values["assign"]).argmax(axis=1))


register_builder(AgodSpec, build, decode)


#: Time limit of :func:`offline_milp` when the options give none, s.
DEFAULT_TIME_LIMIT_S = 300.0
#: Share of the time limit :func:`offline_milp` spends on :func:`improve_by_windows`.
LNS_SHARE = 0.5
#: Tasks re-optimised together by one window of :func:`improve_by_windows`.
LNS_WINDOW = 80
#: HiGHS time limit per window, s.
LNS_WINDOW_LIMIT_S = 3.0


def crash_free(inst: AgodInstance, provider: np.ndarray) -> bool:
    """Whether the provider sequence never overloads a provider (no crash): the load of every
    provider at every arrival, ``sum_{k in A(j), p_k = p} t_k``, is ``<= C_p``."""
    j, k = active_pairs(inst)
    P = inst.n_providers
    load = np.bincount(j * P + np.asarray(provider)[k], weights=inst.task_steps[k],
                       minlength=inst.n_tasks * P).reshape(inst.n_tasks, P)
    return bool(np.all(load <= inst.provider_capacity[None, :]))


def improve_by_windows(inst: AgodInstance, lp: LinearProgram, provider: np.ndarray, *,
                       budget_s: float, window: int = LNS_WINDOW,
                       window_limit_s: float = LNS_WINDOW_LIMIT_S
                       ) -> tuple[np.ndarray, int]:
    """Large-neighbourhood search on the offline MILP ``lp`` (from :func:`build`) from the
    crash-free sequence ``provider``: the tasks of a window of ``window`` consecutive arrivals
    are re-assigned by HiGHS with every other task fixed at the incumbent (the incumbent is the
    MIP start, so a window never makes it worse); windows slide by half a window; sweeps repeat
    while one improves the utility by more than 1e-9 and ``budget_s`` lasts. A candidate is
    kept only if it is crash-free (:func:`crash_free`) and better. Returns the sequence and the
    number of windows solved. Primal only: the bound comes from the full solve afterwards."""
    J, P = inst.n_tasks, inst.n_providers
    R = reward_table(inst)
    cur = np.asarray(provider, dtype=np.int64).copy()
    value = float(R[np.arange(J), cur].sum())
    t0, solved = time.perf_counter(), 0
    step = max(1, window // 2)
    while True:
        before = value
        for start in range(0, max(1, J - step), step):
            left = budget_s - (time.perf_counter() - t0)
            if left <= 0.1:
                return cur, solved
            x = np.zeros((J, P))
            x[np.arange(J), cur] = 1.0
            lo, hi = x.copy(), x.copy()
            lo[start:start + window], hi[start:start + window] = 0.0, 1.0
            sub = replace(lp, col_lower=lo.ravel(), col_upper=hi.ravel())
            res = solve_highs(sub, SolveOptions(time_limit=min(window_limit_s, left),
                                                mip_gap=1e-9), x.ravel())
            solved += 1
            if not res.has_solution:
                continue
            cand = np.asarray(res.values["assign"]).argmax(axis=1)
            cand_value = float(R[np.arange(J), cand].sum())
            if cand_value > value + 1e-12 and crash_free(inst, cand):
                cur, value = cand, cand_value
        if value <= before + 1e-9:
            return cur, solved


def offline_milp(inst: AgodInstance, spec: AgodSpec, options: SolveOptions) -> Result:
    """The offline MILP with HiGHS, started from the best crash-free heuristic (crash-avoid or
    prophet) improved by :func:`improve_by_windows` for ``LNS_SHARE`` of the time limit (on
    episodes longer than one window), so that a time-limited solve returns at least that
    utility with HiGHS's proven bound. Defaults: ``mip_gap`` 1e-6 and, when no limit is given,
    ``DEFAULT_TIME_LIMIT_S``. A full AGOD episode of ~1000 tasks does not close: without the
    search 4.7 % gap after 120 s, see ``benchmarks/migration_bench.py`` for the measured gap
    with it. The build refuses a spec that is not ``crash_free``."""
    opts = options if options.mip_gap is not None else replace(options, mip_gap=1e-6)
    if opts.time_limit is None:
        opts = replace(opts, time_limit=DEFAULT_TIME_LIMIT_S)
    t0 = time.perf_counter()
    lp = spec.build(inst)
    build_s = time.perf_counter() - t0
    start, best = None, -np.inf
    for name in ("crash_avoid", "prophet"):
        alloc = HEURISTICS[name](inst, spec)
        utility, crashes = simulate(inst, alloc, spec)
        if crashes == 0 and utility > best:
            start, best = alloc, utility
    x0 = None
    note = ""
    if start is not None:
        seq = np.asarray(start.provider)
        note = f"; MIP start {best:.6g} from a crash-free heuristic"
        limit = float(opts.time_limit or DEFAULT_TIME_LIMIT_S)
        if inst.n_tasks > LNS_WINDOW and LNS_SHARE > 0:
            seq, windows = improve_by_windows(inst, lp, seq, budget_s=LNS_SHARE * limit)
            lns = float(reward_table(inst)[np.arange(inst.n_tasks), seq].sum())
            note += f", {lns:.6g} after {windows} LNS windows"
        # the MILP gets what is left (it keeps the MIP start whenever it stops)
        opts = replace(opts, time_limit=max(0.05, limit - (time.perf_counter() - t0)))
        x0 = np.zeros((inst.n_tasks, inst.n_providers))
        x0[np.arange(inst.n_tasks), seq] = 1.0
    res = solve_highs(lp, opts, None if x0 is None else x0.ravel())
    alloc_out = decode(inst, spec, lp, res.values) if res.has_solution else None
    # the method's time: heuristics, window search and the MILP (not the MILP's alone)
    return replace(res, allocation=alloc_out, message=res.message + note,
                   stats=replace(res.stats, backend="offline_milp", build_seconds=build_s,
                                 solve_seconds=time.perf_counter() - t0 - build_s))


register_algorithm(AgodSpec, "offline_milp", offline_milp,
                   applies=lambda spec: spec.crash_free)
for _name, _fn in HEURISTICS.items():
    register_heuristic(AgodSpec, _name, _fn)


def _make_instance(seed: int, n_providers: int = 20, total_time: float = 1e6,
                   rate: float = 1e-3) -> AgodInstance:
    return AgodInstance.generate(seed, n_providers=n_providers, total_time=total_time,
                                 rate=rate)


register_case(CaseKind(
    sense="max", name="agod.selection", make_instance=_make_instance,
    make_spec=lambda **params: AgodSpec(**params),
    default_methods=("offline_milp", "random", "round_robin", "crash_avoid", "prophet"),
    reference="offline_milp",
    description="AGOD online AIGC provider selection: AGOD's heuristics vs the offline MILP"))

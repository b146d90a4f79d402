r"""Sealed-bid combinatorial auction of GPU slots at edge servers: WDP MILP, VCG, a baseline.

Bidder n (a user or ASP) submits an XOR bid: a value :math:`v_{n,s,k} \ge 0` for ``k`` GPU slots
at edge server ``s`` (``k = 1..K``; 0 means no bid). It wins at most one bundle; server ``s``
has :math:`G_s` slots. **Winner determination** (WDP) is the MILP

.. math::

    W^* = \max \sum_{n,s,k} v_{n,s,k} x_{n,s,k} \quad\text{s.t.}\quad
    \sum_{s,k} x_{n,s,k} \le 1 \;\forall n, \qquad
    \sum_{n,k} k\, x_{n,s,k} \le G_s \;\forall s, \qquad x \in \{0,1\},

(a multiple-choice multi-knapsack: NP-hard), built vectorised with one column per positive bid
and solved through :func:`aigc_opt.solve` (``highs``, ``cvxpy`` or ``pyomo``); values are
divided by the largest bid so the solver sees O(1) numbers.

**VCG** (method ``"vcg"``): winner n pays the externality it imposes,
:math:`p_n = W^*_{-n} - (W^* - v_n(x^*))`, where :math:`W^*_{-n}` re-solves the WDP without n;
losers pay 0. With exact WDP solves (``mip_gap = 0``) VCG is dominant-strategy truthful,
individually rational (:math:`p_n \le v_n(x^*)` since :math:`W^*_{-n} \le W^*`) and never pays
bidders (:math:`p_n \ge 0`); it need not maximise revenue.

**Baseline** (heuristic ``"greedy_uniform"``): bundles are accepted greedily by value per slot;
each server clears at a uniform per-slot price, the highest per-slot bid at that server of a
bidder who won nothing, capped at the lowest accepted per-slot bid there (so it is IR by
construction). It is neither welfare-optimal nor truthful.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.explain import row_group
from aigc_opt.program import Block, LinearProgram, Sense
from aigc_opt.result import Result, SolveStats, Termination, relative_gap
from aigc_opt.solve import register_algorithm, register_heuristic
from aigc_opt.spec import register_builder

from .data import AuctionAllocation, AuctionInstance, AuctionSpec

logger = logging.getLogger(__name__)


def effective_capacity(inst: AuctionInstance) -> np.ndarray:
    """``min(G_s, N K)`` per server (float): N bidders win at most one bundle of at most K slots
    each, so a capacity beyond ``N K`` is equivalent to an unbounded one (this keeps capacities
    such as ``2**63`` or ``1e300`` out of the solver and out of integer arithmetic)."""
    N, _, K = inst.values.shape
    return np.minimum(np.asarray(inst.capacity, dtype=np.float64), float(N * K))


def build_wdp(inst: AuctionInstance, spec: AuctionSpec | None = None) -> LinearProgram:
    """The WDP MILP, the builder registered for :class:`AuctionSpec`.

    One binary column per positive bid (block ``x``); N bidder rows (``sum x <= 1``, row group
    ``one_bundle``), S capacity rows (``sum k x <= min(G_s, N K)``, :func:`effective_capacity`,
    row group ``capacity``); values divided by the largest bid (``meta["objective_scale"]``).
    Coefficients as built: ``c in (0, 1]`` (only zero bids are left out), matrix entries
    ``1..K``, right-hand sides ``1..N K``; the backends' equilibration
    (:mod:`aigc_opt.solvers.numerics`) brings each row's largest entry into [1, 2).
    ``program.column_data`` gives each column's ``bidder``, ``server`` and ``slots`` (for
    user-added rows, see :mod:`aigc_opt.spec`).
    """
    N, S, _ = inst.values.shape
    n, s, k = np.nonzero(inst.values > 0)
    m = n.size
    scale = float(inst.values.max()) if m else 1.0
    cols = np.arange(m)
    A = sp.csr_matrix((np.concatenate([np.ones(m), k + 1.0]),
                       (np.concatenate([n, N + s]), np.concatenate([cols, cols]))),
                      shape=(N + S, m))
    return LinearProgram(
        c=inst.values[n, s, k] / scale, A=A,
        row_lower=np.full(N + S, -np.inf),
        row_upper=np.concatenate([np.ones(N), effective_capacity(inst)]),
        col_lower=np.zeros(m), col_upper=np.ones(m), integrality=np.ones(m, dtype=bool),
        blocks=(Block("x", 0, (m,)),), sense=Sense.MAX, name=f"wdp[N={N},S={S},bids={m}]",
        meta={"objective_scale": scale, "bidder": n, "server": s, "slots": k + 1,
              "columns": {"bidder": n, "server": s, "slots": k + 1},
              "row_groups": {"one_bundle": row_group(0, N, "bidder {i}"),
                             "capacity": row_group(N, N + S, "server {i}")}},
    )


def decode_wdp(inst: AuctionInstance, spec: AuctionSpec, program: LinearProgram, values: Any
               ) -> AuctionAllocation:
    """Winning bundle per bidder from the ``x`` block (value > 1/2); payments 0."""
    x = np.asarray(values["x"]) > 0.5
    bidder = np.asarray(program.meta["bidder"])[x]
    server = np.full(inst.n_bidders, -1, dtype=np.int64)
    slots = np.zeros(inst.n_bidders, dtype=np.int64)
    server[bidder] = np.asarray(program.meta["server"])[x]
    slots[bidder] = np.asarray(program.meta["slots"])[x]
    return AuctionAllocation(server=server, slots=slots, payment=np.zeros(inst.n_bidders))


def won_value(inst: AuctionInstance, server: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Each bidder's (reported) value of its bundle (0 for losers)."""
    n = np.arange(inst.n_bidders)
    win = server >= 0
    return np.where(win, inst.values[n, np.maximum(server, 0), np.maximum(slots - 1, 0)], 0.0)


def _exact(options: SolveOptions | None, backend: str) -> SolveOptions:
    base = options or SolveOptions()
    extra = {k: v for k, v in base.extra.items() if k != "backend"}
    if backend == "highs":
        extra.setdefault("mip_abs_gap", 0.0)
    return dataclasses.replace(base, mip_gap=0.0, extra=extra)


def vcg(inst: AuctionInstance, *, backend: str = "highs", options: SolveOptions | None = None,
        bidders: np.ndarray | None = None, cache: dict[Any, float] | None = None,
        spec: AuctionSpec | None = None) -> Result:
    """WDP + VCG payments (for ``bidders`` only, NaN for other winners; all by default).

    ``cache`` (optional, caller-owned dict) memoises ``W*_{-n}``, which depends only on the
    other bidders' bids (and the spec): repeated auctions in which one bidder changes its
    report (e.g. a truthfulness test) then need a single WDP solve each. ``spec`` (default
    ``AuctionSpec()``) is the one solved, the winners and every ``W*_{-n}`` alike: a subclass
    with extra constraints (README "Adding a constraint") restricts them all, so the
    payments are VCG's over that feasible set (it was dropped, and the method's winners broke
    the user's constraint: 'unverified').
    """
    from aigc_opt.solve import solve

    t0 = time.perf_counter()
    opts = _exact(options, backend)
    if spec is None:
        spec = AuctionSpec()
    res = solve(inst, spec, backend=backend, options=opts)
    if not res.has_solution:
        return res
    alloc = res.allocation
    v_won = won_value(inst, alloc.server, alloc.slots)
    welfare = float(v_won.sum())
    pay = np.zeros(inst.n_bidders)
    who = np.arange(inst.n_bidders) if bidders is None else np.asarray(bidders)
    todo = np.zeros(inst.n_bidders, dtype=bool)
    todo[who] = True
    pay[~todo & (alloc.server >= 0)] = np.nan
    term, solves, skipped = res.termination, 1, 0
    for n in np.nonzero(todo & (alloc.server >= 0))[0]:  # one WDP re-solve per winner
        without = inst.with_bidder(int(n), np.zeros(inst.values.shape[1:]))
        key = (int(n), without.values.tobytes(), effective_capacity(inst).tobytes(), repr(spec))
        left = opts.left(t0, floor=0.0)  # one deadline for the WDP and every re-solve
        if cache is not None and key in cache:
            w_minus = cache[key]
        elif not (without.values > 0).any():
            w_minus = 0.0
        elif left is not None and left <= 0.0:  # out of time: this payment is not known
            skipped += 1
            term = Termination.FEASIBLE
            pay[n] = math.nan
            continue
        else:
            r = solve(without, spec, backend=backend,
                      options=opts if left is None else dataclasses.replace(opts, time_limit=left))
            solves += 1
            if not r.optimal:
                term = Termination.FEASIBLE if r.has_solution else Termination.ERROR
            w_minus = float(won_value(without, r.allocation.server, r.allocation.slots).sum()
                            if r.has_solution else math.nan)
            if cache is not None and r.optimal:
                cache[key] = w_minus
        pay[n] = max(w_minus - (welfare - v_won[n]), 0.0)
    out = AuctionAllocation(server=alloc.server, slots=alloc.slots, payment=pay)
    return Result(term, True, objective=welfare, bound=res.bound,
                  gap=relative_gap(welfare, res.bound), values=dict(res.values), allocation=out,
                  stats=SolveStats("vcg", solve_seconds=time.perf_counter() - t0,
                                   nodes=res.stats.nodes, extra={"wdp_solves": solves,
                                                                 "backend": backend}),
                  message=f"WDP + {solves - 1} re-solves on {backend}"
                          + (f"; time limit: {skipped} winners' payments not computed (NaN)"
                             if skipped else ""))


def solve_vcg(inst: AuctionInstance, spec: AuctionSpec, options: SolveOptions) -> Result:
    """Registered method ``"vcg"`` (``options.extra["backend"]`` picks the WDP backend)."""
    return vcg(inst, backend=str(options.extra.get("backend", "highs")), options=options,
               spec=spec)


def greedy_uniform(inst: AuctionInstance, spec: AuctionSpec, seed: int = 0
                   ) -> AuctionAllocation:
    """Greedy by value per slot, uniform per-slot clearing price per server (module doc)."""
    n, s, k = np.nonzero(inst.values > 0)
    v = inst.values[n, s, k]
    per = v / (k + 1)
    order = np.lexsort((n, -per))
    left = effective_capacity(inst).astype(np.int64)
    server = np.full(inst.n_bidders, -1, dtype=np.int64)
    slots = np.zeros(inst.n_bidders, dtype=np.int64)
    for i in order:  # greedy acceptance is sequential by nature
        if server[n[i]] < 0 and k[i] + 1 <= left[s[i]]:
            server[n[i]], slots[n[i]] = s[i], k[i] + 1
            left[s[i]] -= k[i] + 1
    loser = server[n] < 0
    pay = np.zeros(inst.n_bidders)
    for srv in range(inst.values.shape[1]):  # one price per server
        won = (s == srv) & (server[n] == srv) & (slots[n] == k + 1)
        if not won.any():
            continue
        lost = loser & (s == srv)
        price = min(float(per[lost].max(initial=0.0)), float(per[won].min()))
        winners = np.nonzero(server == srv)[0]
        pay[winners] = price * slots[winners]
    return AuctionAllocation(server=server, slots=slots, payment=pay)


register_builder(AuctionSpec, build_wdp, decode_wdp)
register_algorithm(AuctionSpec, "vcg", solve_vcg)
register_heuristic(AuctionSpec, "greedy_uniform", greedy_uniform)

register_case(CaseKind(
    sense="max", name="incentives.auction",
    make_instance=lambda seed, n_bidders=8, n_servers=3, max_slots=3: AuctionInstance.generate(
        n_bidders, n_servers, max_slots, seed=seed),
    make_spec=lambda **params: AuctionSpec(**params),
    default_methods=("vcg", "highs", "greedy_uniform"),
    reference="vcg",
    description="XOR-bid GPU-slot auction: WDP MILP, VCG payments, greedy uniform-price baseline",
))

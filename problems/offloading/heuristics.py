"""Baselines for the offloading assignment problem, scored by the same evaluator as the MILP.

* ``all_local``: every request on its device (``local_max_steps`` applies); nothing cached.
* ``all_edge_nearest``: every request to its highest-gain server, each server caches the models
  most requested there (by count) while memory lasts; requests whose model did not fit go to the
  cloud (or stay local without a cloud). Capacities are *not* checked: the evaluator reports
  what this naive policy violates.
* Under an elastic spec (``admission=True``) the naive policies keep their plan but reject
  every request it cannot serve (its option misses the request's deadline or energy budget,
  or, heaviest requests first, no subchannel or GPU slot is left), so their answer is feasible
  and the rejections count what the policy could not serve.
* ``greedy_latency``: requests in order of decreasing weight take their cheapest option (same
  cost as the MILP's) that still fits: a free subchannel on the radio server, a free GPU slot,
  and the model already cached or memory left to cache it.
* ``random``: like greedy, but in random order picking a random option that fits (seeded).
  Under an elastic spec greedy and random reject a request none of whose options meets its
  deadline and energy budget.

They share :func:`first_fit`; the per-request loop is inherent to a sequential greedy.
"""

from __future__ import annotations

import numpy as np

from aigc_opt.scenario import Scenario
from aigc_opt.solve import register_heuristic

from .assignment import OptionTable, allocation_from_columns, option_table
from .data import (
    CLOUD,
    LOCAL,
    REJECT,
    OffloadAllocation,
    OffloadingSpec,
    rejection_penalty_of,
)


def _user_columns(t: OptionTable, n_users: int) -> list[np.ndarray]:
    starts = np.searchsorted(t.user, np.arange(n_users + 1))
    return [np.arange(starts[i], starts[i + 1]) for i in range(n_users)]


def first_fit(
    scn: Scenario, spec: OffloadingSpec, order: np.ndarray, rank: str,
    rng: np.random.Generator | None = None,
) -> OffloadAllocation:
    """Sequential first-fit over ``order``; options ranked by cost (``"cost"``) or at random.

    Only options that meet the request's own hard constraints (deadline, device energy
    budget: ``OptionTable.feasible``) are candidates. Under an elastic spec
    (``admission=True``) the ``REJECT`` column always fits: ranked by cost it is taken when it
    is cheaper than every fitting option; at random it is never drawn, only used when no
    candidate fits -- in particular a request none of whose options meets its constraints is
    rejected. Without admission such a request, or one none of whose candidates fit the
    capacities left, takes its cheapest option anyway (the evaluator then reports the
    violation).
    """
    t = option_table(scn, spec)
    S, M = scn.n_servers, scn.n_models
    sub_left = scn.server_subchannels.astype(np.int64).copy()
    slot_left = scn.server_gpu_slots.astype(np.int64).copy()
    mem_left = scn.server_gpu_memory_bytes.astype(float).copy()
    cache = np.zeros((S, M), dtype=bool)
    chosen = np.zeros(scn.n_users, dtype=np.int64)
    cols_of = _user_columns(t, scn.n_users)
    for n in order:
        cols = cols_of[n]
        is_rej = t.placement[cols] == REJECT
        reject, serve = cols[is_rej], cols[~is_rej]
        feas = serve[t.feasible[serve]]
        if feas.size == 0 and reject.size == 0:  # no way to meet its constraints: report it
            feas = serve
        if rank == "cost":
            cand = np.concatenate([feas, reject])
            cand = cand[np.argsort(t.cost[cand], kind="stable")]
        else:  # random order never draws "reject" (the fallback only)
            assert rng is not None
            cand = np.concatenate([rng.permutation(feas), reject])
        m = scn.request_model[n]
        pick = -1
        for c in cand:
            p, r = t.placement[c], t.radio_server[c]
            if r >= 0 and sub_left[r] < 1:
                continue
            if p >= 0 and (slot_left[p] < 1 or
                           (not cache[p, m] and mem_left[p] < scn.model_size_bytes[m])):
                continue
            pick = c
            break
        if pick < 0:
            pick = int(cand[np.argmin(t.cost[cand])])
        p, r = t.placement[pick], t.radio_server[pick]
        if r >= 0:
            sub_left[r] -= 1
        if p >= 0:
            slot_left[p] -= 1
            if not cache[p, m]:
                cache[p, m] = True
                mem_left[p] -= scn.model_size_bytes[m]
        chosen[n] = pick
    return allocation_from_columns(t, chosen, cache)


def greedy_latency(scn: Scenario, spec: OffloadingSpec, seed: int = 0) -> OffloadAllocation:
    """Heaviest requests first, cheapest option that fits (see module docstring)."""
    order = np.argsort(-scn.request_weight, kind="stable")
    return first_fit(scn, spec, order, "cost")


def random_fit(scn: Scenario, spec: OffloadingSpec, seed: int = 0) -> OffloadAllocation:
    """Random order, random fitting option (seeded)."""
    rng = np.random.default_rng(seed)
    return first_fit(scn, spec, rng.permutation(scn.n_users), "random", rng)


def _naive_table(scn: Scenario, spec: OffloadingSpec, allow_cloud: bool) -> OptionTable:
    """Option table of the naive policies: local, cloud (``allow_cloud``) and the best server
    only, plus ``REJECT`` under an elastic ``spec``."""
    return option_table(scn, OffloadingSpec(
        objective=spec.objective, allow_local=True, allow_cloud=allow_cloud,
        local_max_steps=spec.local_max_steps, candidate_servers=1,
        admission=spec.admission, rejection_penalty=spec.rejection_penalty))


def _admit(scn: Scenario, spec: OffloadingSpec, t: OptionTable, cols: np.ndarray) -> np.ndarray:
    """Admission control of a naive policy under an elastic ``spec`` (else ``cols`` as given).

    Heaviest requests first, request ``n`` keeps its column ``cols[n]`` if that option meets
    its own constraints (``t.feasible``: deadline, device energy budget), is allowed by
    ``spec`` (local execution needs ``allow_local``) and still fits a subchannel of its radio
    server and a GPU slot of its edge server; otherwise it is rejected. The caller's cache must
    already fit the GPU memory.
    """
    if rejection_penalty_of(spec) is None:
        return cols
    rej = np.nonzero(t.placement == REJECT)[0]
    rej_col = np.empty(scn.n_users, dtype=np.int64)
    rej_col[t.user[rej]] = rej
    sub_left = scn.server_subchannels.astype(np.int64).copy()
    slot_left = scn.server_gpu_slots.astype(np.int64).copy()
    out = np.asarray(cols, dtype=np.int64).copy()
    for n in np.argsort(-scn.request_weight, kind="stable"):
        c = out[n]
        p, r = t.placement[c], t.radio_server[c]
        if (not t.feasible[c] or (p == LOCAL and not spec.allow_local)
                or (r >= 0 and sub_left[r] < 1) or (p >= 0 and slot_left[p] < 1)):
            out[n] = rej_col[n]
            continue
        if r >= 0:
            sub_left[r] -= 1
        if p >= 0:
            slot_left[p] -= 1
    return out


def all_local(scn: Scenario, spec: OffloadingSpec, seed: int = 0) -> OffloadAllocation:
    """Every request on its own device; under an elastic spec the requests the device cannot
    serve (see :func:`_admit`) are rejected."""
    t = _naive_table(scn, spec, allow_cloud=False)
    local = np.nonzero(t.placement == LOCAL)[0]
    local = _admit(scn, spec, t, local)
    return allocation_from_columns(t, local, np.zeros((scn.n_servers, scn.n_models), bool))


def all_edge_nearest(scn: Scenario, spec: OffloadingSpec, seed: int = 0) -> OffloadAllocation:
    """Nearest (highest-gain) server; cache by local demand; uncached models to the cloud;
    under an elastic spec the requests this plan cannot serve are rejected (:func:`_admit`)."""
    t = _naive_table(scn, spec, allow_cloud=True)
    S, M = scn.n_servers, scn.n_models
    best = scn.best_server
    demand = np.zeros((S, M))
    np.add.at(demand, (best, scn.request_model), 1.0)
    # cache greedily by demand: for each server, models sorted by demand, prefix that fits
    order = np.argsort(-demand, axis=1, kind="stable")
    sizes = scn.model_size_bytes[order]
    fits = np.cumsum(sizes, axis=1) <= scn.server_gpu_memory_bytes[:, None]
    cache = np.zeros((S, M), dtype=bool)
    rows = np.repeat(np.arange(S), M)
    cache[rows, order.reshape(-1)] = (fits & (np.take_along_axis(demand, order, 1) > 0)).reshape(-1)
    held = cache[best, scn.request_model]
    fallback = CLOUD if spec.allow_cloud else LOCAL
    want = np.where(held, best, fallback)
    match = np.nonzero(t.placement == want[t.user])[0]  # one column per user
    cols = np.full(scn.n_users, -1)
    cols[t.user[match]] = match
    return allocation_from_columns(t, _admit(scn, spec, t, cols), cache)


register_heuristic(OffloadingSpec, "all_local", all_local)
register_heuristic(OffloadingSpec, "all_edge_nearest", all_edge_nearest)
register_heuristic(OffloadingSpec, "greedy_latency", greedy_latency)
register_heuristic(OffloadingSpec, "random", random_fit)

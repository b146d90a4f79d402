"""Baselines for the offloading assignment problem, scored by the same evaluator as the MILP.

* ``all_local``: every request on its device (``local_max_steps`` applies); nothing cached.
* ``all_edge_nearest``: every request to its highest-gain server, each server caches the models
  most requested there (by count) while memory lasts; requests whose model did not fit go to the
  cloud (or stay local without a cloud). Capacities are *not* checked: the evaluator reports
  what this naive policy violates.
* ``greedy_latency``: requests in order of decreasing weight take their cheapest option (same
  cost as the MILP's) that still fits: a free subchannel on the radio server, a free GPU slot,
  and the model already cached or memory left to cache it.
* ``random``: like greedy, but in random order picking a random option that fits (seeded).

They share :func:`first_fit`; the per-request loop is inherent to a sequential greedy.
"""

from __future__ import annotations

import numpy as np

from aigc_opt.scenario import Scenario
from aigc_opt.solve import register_heuristic

from .assignment import OptionTable, allocation_from_columns, option_table
from .data import CLOUD, LOCAL, REJECT, OffloadAllocation, OffloadingSpec


def _user_columns(t: OptionTable, n_users: int) -> list[np.ndarray]:
    starts = np.searchsorted(t.user, np.arange(n_users + 1))
    return [np.arange(starts[i], starts[i + 1]) for i in range(n_users)]


def first_fit(
    scn: Scenario, spec: OffloadingSpec, order: np.ndarray, rank: str,
    rng: np.random.Generator | None = None,
) -> OffloadAllocation:
    """Sequential first-fit over ``order``; options ranked by cost (``"cost"``) or at random.

    A request none of whose options fit takes its cheapest option anyway (the evaluator then
    reports the violation). Under an elastic spec (``admission=True``) the ``REJECT`` column
    always fits: ranked by cost it is taken when it is cheaper than every fitting option; at
    random it is never drawn, only used when nothing else fits.
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
        reject = cols[is_rej]
        if rank != "cost":  # random order never draws "reject" (a fallback only)
            cols = cols[~is_rej]
        feas = cols[t.feasible[cols]]
        cand = feas if feas.size else cols
        if rank == "cost":
            cand = cand[np.argsort(t.cost[cand], kind="stable")]
        else:
            assert rng is not None
            cand = rng.permutation(cand)
            cand = np.concatenate([cand, reject])
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


def all_local(scn: Scenario, spec: OffloadingSpec, seed: int = 0) -> OffloadAllocation:
    """Every request on its own device."""
    t = option_table(scn, OffloadingSpec(
        objective=spec.objective, allow_local=True, allow_cloud=False,
        local_max_steps=spec.local_max_steps, candidate_servers=1))
    local = np.nonzero(t.placement == LOCAL)[0]
    return allocation_from_columns(t, local, np.zeros((scn.n_servers, scn.n_models), bool))


def all_edge_nearest(scn: Scenario, spec: OffloadingSpec, seed: int = 0) -> OffloadAllocation:
    """Nearest (highest-gain) server; cache by local demand; uncached models to the cloud."""
    t = option_table(scn, OffloadingSpec(
        objective=spec.objective, allow_local=True, allow_cloud=True,
        local_max_steps=spec.local_max_steps, candidate_servers=1))
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
    return allocation_from_columns(t, cols, cache)


register_heuristic(OffloadingSpec, "all_local", all_local)
register_heuristic(OffloadingSpec, "all_edge_nearest", all_edge_nearest)
register_heuristic(OffloadingSpec, "greedy_latency", greedy_latency)
register_heuristic(OffloadingSpec, "random", random_fit)

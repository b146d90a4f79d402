r"""User mobility and seeded :class:`~.data.MigrationInstance` generation.

Positions come from the online family's processes (:mod:`aigc_opt.problems.online.data`,
the shared time-slotted environment) when it is installed, else from this module's own copies,
or from a ``slot,user,x,y`` CSV trace (:func:`positions_from_csv`). Mobility models (positions
in a square area, one sample per slot):

* ``random_waypoint``: each user walks at a speed drawn uniformly from ``speed_mps`` towards a
  uniformly drawn waypoint and draws a new waypoint (and speed) on arrival (Johnson & Maltz);
* ``gauss_markov``: velocity ``v_{t+1} = alpha v_t + (1 - alpha) mu + sqrt(1 - alpha^2) sigma w``
  with ``w ~ N(0, I)``, reflected at the borders (Liang & Haas 1999).

Network: S servers on a square grid of spacing ``spacing_m`` (one per base station); backhaul
hops = grid Manhattan distance; a user's cell is its nearest base station. The access delay is
``(b_in + b_out) / r`` with ``r = B log2(1 + p g / (N0 B))``, path loss and Rician fading from
the core channel model with the ``edge_aigc`` profile's LyDROO constants. Model work, GPU speed
and memory are the profile's (*assumed* hardware ranges, see :mod:`aigc_opt.profiles`); the
quality of step level k is the profile's sigmoid ``q_max / (1 + exp(-a (n_k - b)))``.
Assumed here: hop delay 50 ms (a 4 Mbit image over a 100 Mbit/s metro hop with queuing),
migration ``e_0 = 1`` J plus ``e_1 = 2e-9`` J per byte-hop of a
0.5-2 GB service state (a diffusion model's activations/LoRA context), 60 s slots, 1-15 m/s.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aigc_opt.channel import dbm_to_watt, fading_power, path_loss_gain, shannon_rate
from aigc_opt.errors import ValidationError
from aigc_opt.profiles import PROFILES
from aigc_opt.schema import bound
from aigc_opt.slot_csv import read_slot_user_csv
from aigc_opt.validate import (
    MAX_ENTRIES,
    check_array,
    check_choice,
    check_entries,
    check_int,
    check_scalar,
    check_seed,
    check_size,
    derived_from,
)

from .data import MigrationInstance

logger = logging.getLogger(__name__)

MOBILITY_MODELS = ("random_waypoint", "gauss_markov")
#: Fastest user, m/s (nothing moves faster than light).
MAX_SPEED_MPS = 299_792_458.0


def random_waypoint(rng: np.random.Generator, n_users: int, n_slots: int, *, side_m: float,
                    speed_mps: tuple[float, float], slot_s: float) -> np.ndarray:
    """Positions (T, U, 2), m, of the random-waypoint model (no pause)."""
    pos = rng.uniform(0.0, side_m, (n_users, 2))
    goal = rng.uniform(0.0, side_m, (n_users, 2))
    speed = rng.uniform(*speed_mps, n_users)
    out = np.empty((n_slots, n_users, 2))
    for t in range(n_slots):
        out[t] = pos
        budget = speed * slot_s
        for _ in range(8):  # a few waypoints per slot at most
            d = goal - pos
            dist = np.sqrt((d ** 2).sum(axis=1))
            reach = dist <= budget
            step = np.where(reach, 1.0, budget / np.maximum(dist, 1e-12))
            pos = pos + d * step[:, None]
            budget = np.where(reach, budget - dist, 0.0)
            if not reach.any():
                break
            n = int(reach.sum())
            goal[reach] = rng.uniform(0.0, side_m, (n, 2))
            speed[reach] = rng.uniform(*speed_mps, n)
    return out


def gauss_markov(rng: np.random.Generator, n_users: int, n_slots: int, *, side_m: float,
                 speed_mps: tuple[float, float], slot_s: float, alpha: float = 0.75
                 ) -> np.ndarray:
    """Positions (T, U, 2), m, of the Gauss-Markov model, reflected at the area's borders."""
    pos = rng.uniform(0.0, side_m, (n_users, 2))
    mean_speed = 0.5 * (speed_mps[0] + speed_mps[1])
    sigma = 0.5 * (speed_mps[1] - speed_mps[0])
    ang = rng.uniform(0.0, 2.0 * np.pi, n_users)
    mu = mean_speed * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    vel = mu.copy()
    out = np.empty((n_slots, n_users, 2))
    for t in range(n_slots):
        out[t] = pos
        vel = alpha * vel + (1 - alpha) * mu + np.sqrt(1 - alpha ** 2) * sigma \
            * rng.standard_normal((n_users, 2))
        pos = pos + vel * slot_s
        for _ in range(4):  # reflect
            low, high = pos < 0.0, pos > side_m
            pos = np.where(low, -pos, np.where(high, 2 * side_m - pos, pos))
            vel = np.where(low | high, -vel, vel)
            mu = np.where(low | high, -mu, mu)
        pos = np.clip(pos, 0.0, side_m)
    return out


def positions(rng: np.random.Generator, n_users: int, n_slots: int, *, mobility: str,
              side_m: float, speed_mps: tuple[float, float], slot_s: float,
              source: str = "online") -> np.ndarray:
    """User positions (T, U, 2), m, from the online family's processes
    (:mod:`aigc_opt.problems.online.data`: ``random_waypoint`` / ``gauss_markov`` with
    ``alpha = 0.75``, mean speed and spread from ``speed_mps``) or, with ``source="own"`` or
    without that family, from this module's."""
    if source not in ("online", "own"):
        raise ValidationError("source", "-", source, "choose 'online' or 'own'")
    lo, hi = float(speed_mps[0]), float(speed_mps[1])
    if source == "online":
        try:
            from aigc_opt.problems.online import data as online

            if mobility == "random_waypoint":
                return np.asarray(online.random_waypoint(
                    rng, n_slots, n_users, slot_s, area_m=side_m, speed_min=lo, speed_max=hi))
            return np.asarray(online.gauss_markov(
                rng, n_slots, n_users, slot_s, area_m=side_m, alpha=0.75,
                mean_speed=0.5 * (lo + hi), speed_std=0.5 * (hi - lo)))
        except (ImportError, AttributeError, TypeError) as exc:  # optional, and its API may move
            logger.warning("online family's mobility unavailable (%s); own model used", exc)
    if mobility == "random_waypoint":
        return random_waypoint(rng, n_users, n_slots, side_m=side_m, speed_mps=speed_mps,
                               slot_s=slot_s)
    return gauss_markov(rng, n_users, n_slots, side_m=side_m, speed_mps=speed_mps,
                        slot_s=slot_s)


def positions_from_csv(path: str) -> np.ndarray:
    """Positions (T, U, 2), m, from a CSV with a header and columns ``slot,user,x,y`` (the
    online family's position-trace format); every (slot, user) pair must appear once."""
    out = read_slot_user_csv(path, ("x", "y"), "position trace")
    return check_array("positions_m", "m", out, out.shape, low=None)


def grid_servers(n_servers: int, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Server positions (S, 2), m, on a square grid and their hop counts (S, S)."""
    side = int(np.ceil(np.sqrt(n_servers)))
    g = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1).reshape(-1, 2)
    g = g[:n_servers]
    hops = np.abs(g[:, None, :] - g[None, :, :]).sum(axis=2)
    return (g + 0.5) * spacing_m, hops


def generate(n_users: int = 6, n_servers: int = 4, n_slots: int = 10, *, seed: int = 0,
             n_models: int = 3, steps: tuple[int, ...] = (10, 25, 50),
             mobility: str = "random_waypoint", spacing_m: float = 500.0,
             speed_mps: tuple[float, float] = (1.0, 15.0), slot_s: float = 60.0,
             load: float = 0.6, memory_models: float | None = None,
             positions_m: np.ndarray | None = None, source: str = "online",
             max_entries: int | None = None, **overrides: Any) -> MigrationInstance:
    """A seeded instance (see the module docstring).

    Parameters
    ----------
    n_users, n_servers, n_slots : int, default 6, 4, 10
        Users U, servers S (on a square grid) and time slots T, each >= 1 (``n_users`` and
        ``n_slots`` are replaced by the trace's when ``positions_m`` is given).
    seed : int, numpy Generator, SeedSequence or None, default 0
        Seed of every random draw.
    n_models : int, default 3
        Models M in the catalogue, >= 1; each user requests one, uniformly drawn.
    steps : tuple of int, default (10, 25, 50)
        Denoising-step levels ``n_k`` a server may run, each >= 1, step.
    mobility : {"random_waypoint", "gauss_markov"}
        User mobility model (module docstring); unused with ``positions_m``.
    spacing_m : float, default 500.0
        Grid spacing between neighbouring servers (> 0), m; the area's side is
        ``spacing_m * ceil(sqrt(S))``.
    speed_mps : (float, float), default (1.0, 15.0)
        Minimum and maximum user speed (0 <= min <= max), m/s.
    slot_s : float, default 60.0
        Slot length (> 0), s: the users move for ``slot_s`` between samples and a server
        computes for ``slot_s`` per slot.
    load : float
        Ratio of the users' total work at the highest step level to the servers' total work
        per slot: the request rates ``r_u`` are scaled to it (larger means tighter GPUs).
    memory_models : float, optional
        GPU memory per server as a multiple of the mean model footprint (None: all models fit).
    positions_m : ndarray (T, U, 2), optional
        User positions from a trace (e.g. :func:`positions_from_csv`); replaces the generated
        ones (T and U are taken from it).
    source : str
        ``"online"``: the online family's mobility processes when that family is installed
        (else this module's own); ``"own"``: this module's.
    max_entries : int, optional
        Most entries of the largest generated array (``n_slots * n_users * n_servers``
        distances; default :data:`aigc_opt.validate.MAX_ENTRIES`, 1e7); larger sizes are
        refused before allocating.
    overrides
        Replace any :class:`MigrationInstance` field.
    """
    mobility = check_choice("mobility", mobility, MOBILITY_MODELS)
    source = check_choice("source", source, ("online", "own"))
    limit = MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries, "-", 1)
    S, M = check_size("n_servers", n_servers, limit), check_size("n_models", n_models, limit)
    n_users, n_slots = check_size("n_users", n_users, limit), check_size("n_slots", n_slots, limit)
    st = check_array("steps", "step", steps, ndim=1, low=1, high=bound("steps"), dtype=np.int64,
                     nonempty=True)
    spacing_m = check_scalar("spacing_m", spacing_m, "m", 0.0, bound("distance_m"), strict=True)
    lo, hi = (float(v) for v in check_array("speed_mps", "m/s", speed_mps, (2,), low=0.0,
                                            high=MAX_SPEED_MPS))
    if lo > hi:
        raise ValidationError("speed_mps", "m/s", (lo, hi), "must be (min, max) with min <= max")
    speed_mps = (lo, hi)
    slot_s = check_scalar("slot_s", slot_s, "s", 0.0, bound("time_s"), strict=True)
    load = check_scalar("load", load, "-", 0.0, bound("utilisation"))
    memory_models = check_scalar("memory_models", memory_models, "-", 0.0, bound("models"),
                                 optional=True)
    p = PROFILES["edge_aigc"]
    rng = np.random.default_rng(check_seed("seed", seed))
    server_xy, hops = grid_servers(S, spacing_m)
    side = spacing_m * int(np.ceil(np.sqrt(S)))
    if positions_m is not None:
        xy = check_array("positions_m", "m", positions_m, ndim=3, low=-bound("position_m"),
                         high=bound("position_m"))
        if xy.shape[2] != 2 or min(xy.shape[:2]) == 0:
            raise ValidationError("positions_m", "m", xy.shape, "must be (T, U, 2), non-empty")
    else:
        check_entries("n_slots*n_users*n_servers", n_slots * n_users * S, limit)
        xy = positions(rng, n_users, n_slots, mobility=mobility, side_m=side,
                       speed_mps=speed_mps, slot_s=slot_s, source=source)
    T, U = xy.shape[:2]
    check_entries("n_slots*n_users*n_servers", T * U * S, limit)
    d = np.sqrt(((xy[:, :, None, :] - server_xy[None, None]) ** 2).sum(axis=3))  # (T, U, S)
    cell = d.argmin(axis=2)
    dist = np.take_along_axis(d, cell[..., None], axis=2)[..., 0]
    gain = path_loss_gain(dist, antenna_gain=p.antenna_gain, carrier_hz=p.carrier_hz,
                          exponent=p.path_loss_exponent) \
        * fading_power(rng, (T, U), kind=p.fading, rician_k=p.rician_k)
    noise = dbm_to_watt(p.noise_dbm_per_hz)
    rate = shannon_rate(np.full((T, U), p.server_uplink_hz), np.full((T, U), 0.2), gain, noise)
    bits_in = rng.uniform(p.request_input_bits[0], p.request_input_bits[1], U)
    bits_out = rng.uniform(p.request_output_bits[0], p.request_output_bits[1], U)
    access = np.asarray(bits_in + bits_out)[None, :] / np.maximum(rate, 1e3)
    flop_step = rng.uniform(*p.model_flop_per_step, M)
    model_mem = rng.uniform(*p.model_size_bytes, M)
    user_model = rng.integers(0, M, U)
    qmax = rng.uniform(*p.quality_max, M)
    slope = rng.uniform(*p.quality_slope, M)
    mid = rng.uniform(*p.quality_mid, M)
    quality = qmax[:, None] / (1.0 + np.exp(-slope[:, None] * (st[None, :] - mid[:, None])))
    speed = rng.uniform(*p.server_compute_flops, S)
    req = rng.uniform(0.5, 1.5, U)  # relative request rates, scaled to the load below
    top_work = float((req * st[-1] * flop_step[user_model]).sum())
    req = req * load * slot_s * speed.sum() / top_work
    mem = np.full(S, model_mem.sum() * 1.01) if memory_models is None \
        else np.full(S, memory_models * model_mem.mean())
    fields: dict[str, Any] = dict(
        server_hops=hops, server_flops=speed, server_gpu_memory_bytes=mem, user_cell=cell,
        access_s=access, user_model=user_model, user_state_bytes=rng.uniform(0.5e9, 2e9, U),
        model_memory_bytes=model_mem, model_flop_per_step=flop_step, steps=st, quality=quality,
        initial_server=cell[0], slot_s=slot_s, hop_delay_s=0.05, migration_fixed_j=1.0,
        migration_j_per_byte_hop=2e-9, server_xy_m=server_xy, user_xy_m=xy,
        user_requests=req)
    unknown = set(overrides) - set(fields)
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationError(name, "-", overrides[name], "unknown MigrationInstance field")
    fields.update(overrides)
    with derived_from(n_users=n_users, n_servers=S, n_slots=n_slots, seed=seed,
                      n_models=M, load=load, slot_s=slot_s, spacing_m=spacing_m):
        return MigrationInstance(**fields)

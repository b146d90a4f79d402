"""Allocations: what a solver or heuristic decided, in physical units.

:class:`OffloadAllocation` is shared by the offloading and resource-allocation families: where
each request runs, the radio and compute resources it gets and the denoising steps it runs.
:class:`OffloadObjective` holds the weights that turn the evaluator's metrics into one number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ValidationError

#: Placement codes (edge servers are 0..S-1).
LOCAL = -1
CLOUD = -2


def _ro(a: Any, dtype: Any, name: str, unit: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.array(a, dtype=dtype)
    if arr.shape != shape:
        raise ValidationError(name, unit, arr.shape, f"wrong shape, expected {shape}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValidationError(name, unit, float("nan"), "NaN is not allowed")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class OffloadAllocation:
    """Per-request placement and resources (N requests, S servers, M models).

    Parameters
    ----------
    placement : ndarray of int, shape (N,)
        ``LOCAL`` (-1), ``CLOUD`` (-2) or an edge server index in ``0..S-1``.
    radio_server : ndarray of int, shape (N,)
        Server whose radio carries the request's up/downlink (the edge server itself, or the
        relay towards the cloud); -1 for local execution.
    uplink_hz, downlink_hz : ndarray, shape (N,)
        Bandwidth given to the request on ``radio_server``, Hz.
    tx_power_w : ndarray, shape (N,)
        Device uplink transmit power, W.
    compute_flops : ndarray, shape (N,)
        Compute speed given to the remote part (edge share or cloud), FLOP/s.
    backhaul_bps : ndarray, shape (N,)
        Backhaul rate given to a cloud request on its relay, bit/s.
    remote_steps : ndarray, shape (N,)
        Steps run remotely (at the edge server or cloud).
    device_steps : ndarray, shape (N,)
        Steps run on the device (all of them for local execution; the tail of a hybrid split).
    cache : ndarray of bool, shape (S, M)
        ``cache[s, m]``: server s holds model m in GPU memory.
    """

    placement: np.ndarray
    radio_server: np.ndarray
    uplink_hz: np.ndarray
    downlink_hz: np.ndarray
    tx_power_w: np.ndarray
    compute_flops: np.ndarray
    backhaul_bps: np.ndarray
    remote_steps: np.ndarray
    device_steps: np.ndarray
    cache: np.ndarray

    def __post_init__(self) -> None:
        n = int(np.asarray(self.placement).shape[0])
        cache = np.asarray(self.cache)
        if cache.ndim != 2:
            raise ValidationError("cache", "-", cache.shape, "must be a (servers, models) array")
        spec = {
            "placement": (np.int64, "-"),
            "radio_server": (np.int64, "-"),
            "uplink_hz": (np.float64, "Hz"),
            "downlink_hz": (np.float64, "Hz"),
            "tx_power_w": (np.float64, "W"),
            "compute_flops": (np.float64, "FLOP/s"),
            "backhaul_bps": (np.float64, "bit/s"),
            "remote_steps": (np.float64, "step"),
            "device_steps": (np.float64, "step"),
        }
        for name, (dtype, unit) in spec.items():
            object.__setattr__(self, name, _ro(getattr(self, name), dtype, name, unit, (n,)))
        object.__setattr__(self, "cache", _ro(cache, bool, "cache", "-", cache.shape))

    @property
    def n_users(self) -> int:
        """Number of requests N."""
        return int(self.placement.shape[0])

    @property
    def steps(self) -> np.ndarray:
        """Total denoising steps per request (remote + device)."""
        return self.remote_steps + self.device_steps


@dataclass(frozen=True)
class OffloadObjective:
    """Weights of the offloading objective (minimised)::

        sum_n w_n (alpha L_n + beta E^dev_n + eta E^srv_n - gamma Q_n + rho max(0, L_n - d_n))
          + mu * cloud_cost + lambda * sum_{s,m} cache[s, m] * size_m / load_rate_s

    Parameters
    ----------
    latency : float
        alpha, per second of end-to-end latency L_n.
    device_energy : float
        beta, per joule of device energy (transmit + local compute).
    server_energy : float
        eta, per joule of edge/cloud compute energy.
    quality : float
        gamma, per unit of output quality Q_n (a reward, hence the minus sign).
    deadline_penalty : float
        rho, per second of lateness beyond the deadline d_n (used when ``deadline="penalty"``).
    cloud_cost : float
        mu, per cost unit of cloud compute (``cloud_cost_per_flop * FLOP``).
    load : float
        lambda, per second of model loading time of the cached models (not weighted by w_n).
    deadline : {"hard", "penalty"}
        Hard deadlines are constraints (their violation makes an allocation infeasible);
        ``"penalty"`` makes lateness a cost and drops the constraint.
    """

    latency: float = 1.0
    device_energy: float = 0.1
    server_energy: float = 0.0
    quality: float = 1.0
    deadline_penalty: float = 10.0
    cloud_cost: float = 1.0
    load: float = 0.0
    deadline: str = "hard"

    def __post_init__(self) -> None:
        for name in ("latency", "device_energy", "server_energy", "quality",
                     "deadline_penalty", "cloud_cost", "load"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValidationError(name, "weight", v, "must be finite and >= 0")
        if self.deadline not in ("hard", "penalty"):
            raise ValidationError("deadline", "-", self.deadline, "must be 'hard' or 'penalty'")

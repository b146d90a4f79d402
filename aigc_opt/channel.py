"""Wireless channel and link models (vectorised numpy).

Path loss (free-space form used by DROO / LyDROO)::

    g_bar(d) = A_d * (c / (4 pi f_c d)) ** d_e

Small-scale fading multiplies the mean gain by an independent power factor with unit mean:
exponential (Rayleigh amplitude) or non-central chi-square (Rician with K-factor). The Shannon
rate of a link with bandwidth b (Hz), transmit power p (W), gain g and noise PSD N0 (W/Hz) is::

    r = b * log2(1 + p g / (N0 b))      [bit/s]
"""

from __future__ import annotations

import math

import numpy as np

from .errors import UnknownNameError

SPEED_OF_LIGHT = 3.0e8  # m/s, the value DROO / LyDROO use


def path_loss_gain(
    distance_m: np.ndarray, *, antenna_gain: float, carrier_hz: float, exponent: float
) -> np.ndarray:
    """Mean channel power gain ``A_d (c / (4 pi f_c d))^d_e`` (dimensionless)."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), 1e-3)
    return antenna_gain * (SPEED_OF_LIGHT / (4.0 * np.pi * carrier_hz * d)) ** exponent


def fading_power(
    rng: np.random.Generator, shape: tuple[int, ...], *, kind: str, rician_k: float = 0.0
) -> np.ndarray:
    """Unit-mean small-scale fading power factors.

    ``kind`` is ``"none"`` (all ones), ``"rayleigh"`` (Exp(1)) or ``"rician"``: with LOS power
    fraction ``K / (K + 1)``, ``|sqrt(K/(K+1)) + CN(0, 1/(K+1))|^2``.
    """
    if kind == "none":
        return np.ones(shape)
    if kind == "rayleigh":
        return rng.exponential(1.0, size=shape)
    if kind == "rician":
        los = np.sqrt(rician_k / (rician_k + 1.0))
        sigma = np.sqrt(1.0 / (2.0 * (rician_k + 1.0)))
        x = los + sigma * rng.standard_normal(shape)
        y = sigma * rng.standard_normal(shape)
        return x**2 + y**2
    raise UnknownNameError("fading", kind, ("none", "rayleigh", "rician"))


_LN2 = math.log(2.0)


def shannon_rate(
    bandwidth_hz: np.ndarray, power_w: np.ndarray, gain: np.ndarray, noise_psd: float
) -> np.ndarray:
    """``b log2(1 + p g / (N0 b))`` in bit/s; 0 where the bandwidth is 0.

    Computed as ``b log1p(snr) / ln 2``: ``log2(1.0 + snr)`` is exactly 0 below
    ``snr ~ 1e-16`` (a channel gain of 1e-31 gave an infinite upload time where the true rate
    is 1.3e-11 bit/s, and every exact method reported an overflow)."""
    b = np.asarray(bandwidth_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.asarray(power_w) * np.asarray(gain) / (noise_psd * b)
        r = b * (np.log1p(snr) / _LN2)
    return np.where(b > 0, r, 0.0)


def dbm_to_watt(dbm: float) -> float:
    """Convert dBm to W."""
    return float(10.0 ** ((dbm - 30.0) / 10.0))

r"""ISCC continuous-share data: the instance, spec and allocation of the fixed-assignment
bandwidth / compute sharing problem (:mod:`.continuous`) and its cost, shared with the referee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.schema import bound, check_floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import check_array

from .data import RB_HZ, IsccAllocation, IsccInstance
from .data_checks import axis, int_arr


# ------------------------------------------------------------------------------ shares
@dataclass(frozen=True, eq=False)
class ShareInstance:
    """Fixed assignment, continuous shares (N tasks, S sites).

    Parameters
    ----------
    site : ndarray of int, shape (N,)
        Site of each task.
    weight : ndarray, shape (N,)
        Weights w_i > 0.
    data_bits : ndarray, shape (N,)
        Uplink data d_i, bit.
    spectral_eff : ndarray, shape (N,)
        eta_i, bit/s/Hz (rate = eta_i b_i).
    workload_flop : ndarray, shape (N,)
        c_i, FLOP.
    site_bandwidth_hz, site_compute_flops : ndarray, shape (S,)
        Budgets B_s (Hz) and F_s (FLOP/s).
    """

    site: np.ndarray
    weight: np.ndarray
    data_bits: np.ndarray
    spectral_eff: np.ndarray
    workload_flop: np.ndarray
    site_bandwidth_hz: np.ndarray
    site_compute_flops: np.ndarray

    def __post_init__(self) -> None:
        N = axis(self.site, "site", "-")
        S = axis(self.site_bandwidth_hz, "site_bandwidth_hz", "Hz")
        object.__setattr__(self, "site", int_arr(self.site, "site", "-", (N,)))
        if (self.site >= S).any():
            raise ValidationError("site", "-", self.site, f"sites are 0..{S - 1}")
        # the physical bounds and floors of every instance (aigc_opt.schema): 1e-300 Hz,
        # 1e-300 FLOP/s, 1e300-bit tasks and 1e300 weights had been accepted
        for nm, unit, shape, hi in (
                ("weight", "-", (N,), bound("weight")),
                ("spectral_eff", "bit/s/Hz", (N,), bound("bps")),
                ("site_bandwidth_hz", "Hz", (S,), bound("hz")),
                ("site_compute_flops", "FLOP/s", (S,), bound("flops") * bound("count"))):
            object.__setattr__(self, nm, check_array(nm, unit, getattr(self, nm), shape,
                                                     low=0.0, strict=True, high=hi))
        for nm, unit, hi in (("data_bits", "bit", bound("bits")),
                             ("workload_flop", "FLOP", bound("flop") * bound("steps"))):
            object.__setattr__(self, nm, check_array(nm, unit, getattr(self, nm), (N,), low=0.0,
                                                     high=hi))
        check_floor("site_bandwidth_hz", "Hz", self.site_bandwidth_hz, "hz")
        check_floor("site_compute_flops", "FLOP/s", self.site_compute_flops, "flops")
        full_band = self.spectral_eff * self.site_bandwidth_hz[self.site]
        check_floor("spectral_eff", "bit/s/Hz (times its site's bandwidth, bit/s)", full_band,
                    "bps")

    @property
    def n_sites(self) -> int:
        """S."""
        return int(self.site_bandwidth_hz.shape[0])

    @classmethod
    def from_allocation(cls, inst: IsccInstance, alloc: IsccAllocation) -> ShareInstance:
        """The served, edge-computed tasks of a matching with budgets equal to each site's RB
        bandwidth (``B_s * 180 kHz``) and GPU speed (``G_s * F_s``)."""
        idx = np.nonzero(alloc.served & ~alloc.cloud)[0]
        site = alloc.site[idx]
        link = np.argmax(inst.link_site[idx] == site[:, None], axis=1)
        lv, m = alloc.level[idx], alloc.model[idx]
        return cls(site=site, weight=inst.task_weight[idx],
                   data_bits=inst.task_data_bits[idx] * inst.level_data_factor[lv],
                   spectral_eff=inst.link_rate_per_rb_bps[idx, link] / RB_HZ,
                   workload_flop=inst.task_workload_flop[idx] * inst.model_flop_factor[m],
                   site_bandwidth_hz=np.maximum(inst.site_rbs, 1) * RB_HZ,
                   site_compute_flops=np.maximum(inst.site_gpus, 1) * inst.gpu_flops[:-1])


@dataclass(frozen=True)
class ShareSpec(ProblemSpec):
    """``min sum_i w_i (d_i / (eta_i b_i) + c_i / f_i)`` s.t. per-site budgets (continuous)."""

    problem: str = "iscc"
    variant: str = "shares"


@dataclass(frozen=True, eq=False)
class ShareAllocation:
    """Bandwidth ``b_i`` (Hz) and compute ``f_i`` (FLOP/s) per task: 1-D arrays of the same
    shape, real and not NaN (``+inf`` allowed); their signs and budgets are the referee's to
    check."""

    bandwidth_hz: np.ndarray
    compute_flops: np.ndarray

    def __post_init__(self) -> None:
        b = check_array("bandwidth_hz", "Hz", self.bandwidth_hz, ndim=1, low=None,
                        allow_inf=True)
        f = check_array("compute_flops", "FLOP/s", self.compute_flops, b.shape, low=None,
                        allow_inf=True, like="bandwidth_hz")
        object.__setattr__(self, "bandwidth_hz", b)
        object.__setattr__(self, "compute_flops", f)


def share_cost(inst: ShareInstance, b: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Per-task weighted latency ``w_i (d_i / (eta_i b_i) + c_i / f_i)``, s (inf at b or f 0
    with positive demand)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(inst.data_bits > 0, inst.data_bits / (inst.spectral_eff * b), 0.0)
        cp = np.where(inst.workload_flop > 0, inst.workload_flop / f, 0.0)
    tx = np.where((inst.data_bits > 0) & (b <= 0), np.inf, tx)
    cp = np.where((inst.workload_flop > 0) & (f <= 0), np.inf, cp)
    return np.asarray(inst.weight * (tx + cp))

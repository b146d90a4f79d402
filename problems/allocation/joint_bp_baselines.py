"""Baselines (registered heuristics) of the joint bandwidth-power problem.

Both hand out the time-frequency budget ``A = area_scale B T_f`` (Hz s) without looking at
the weights or the deadlines and then send each user's ``D_n`` bits in the tightest block of
its share (:func:`.data.tight_blocks`: full band, or full power and less band when full band
is not enough). The evaluator scores them like any allocation; they may violate deadlines.
"""

from __future__ import annotations

import numpy as np

from aigc_opt.solve import register_heuristic

from .data import JointBPAllocation, JointBPInstance, JointBPSpec, proportional_u, tight_blocks


def _baseline(inst: JointBPInstance, u: np.ndarray) -> JointBPAllocation:
    """Tight blocks at efficiencies ``u`` (bit/(Hz s)). Where ``2^u`` overflows float64 (a share
    far too small: the tight block gave ``p = inf/inf = nan`` and the allocation was refused,
    certify seed 78000021) the user sends at full band and full power instead, which the
    evaluator then scores (typically over the area budget or the frame)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        _, _, _, b, p = tight_blocks(inst, u)
    bad = ~(np.isfinite(b) & np.isfinite(p) & (b > 0))
    return JointBPAllocation(bandwidth_hz=np.where(bad, inst.bandwidth_hz, b),
                             power_w=np.where(bad, inst.max_power_w, p))


def equal_area(inst: JointBPInstance, spec: JointBPSpec, seed: int = 0) -> JointBPAllocation:
    """Every user gets the same block area ``A / N`` (Hz s)."""
    u = inst.data_bits * inst.n_users / (spec.area_scale * inst.bandwidth_hz * inst.frame_s)
    return _baseline(inst, u)


def proportional_area(inst: JointBPInstance, spec: JointBPSpec, seed: int = 0
                      ) -> JointBPAllocation:
    """Areas in proportion to ``D_n / u*_n`` (what each user needs at full band and full power,
    ``u* = log2(1 + SNR_full)``), scaled to fill the budget."""
    return _baseline(inst, proportional_u(inst, spec.area_scale * inst.bandwidth_hz
                                          * inst.frame_s))


register_heuristic(JointBPSpec, "equal_area", equal_area)
register_heuristic(JointBPSpec, "proportional_area", proportional_area)

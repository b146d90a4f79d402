"""Capacity floors (:data:`aigc_opt.schema.LOWER_BOUNDS`: 1 Hz, 1 bit/s, 1 FLOP/s, 1 byte) in
every type that holds a capacity. A property fuzzer found these accepting 1e-6 and 1e-320;
the solvers then raised on internal quantities or returned 'unverified' answers, and a
baseline was 'feasible' at an infinite objective."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from aigc_opt.errors import ValidationError
from aigc_opt.problems.allocation import BandwidthComputeInstance, PowerInstance
from aigc_opt.problems.iscc import IsccInstance
from aigc_opt.problems.offloading import MulticellSpec
from aigc_opt.problems.online.data import LyapunovSpec
from aigc_opt.problems.sizing import GpuOption, RadioOption
from aigc_opt.problems.wpmec import WpmecParams

GPU = GpuOption("g", 1.0, 2e13, 12e9, 2)
RADIO = RadioOption("r", 1.0, 1e6, 1e6, 4)


def _replace(make: Callable[[], Any], field: str) -> Callable[[float], Any]:
    def build(v: float) -> Any:
        obj = make()
        old = getattr(obj, field)
        return dataclasses.replace(obj, **{field: np.full(np.shape(old), v)
                                           if isinstance(old, np.ndarray) else v})
    return build


CASES = [
    (PowerInstance.generate, "bandwidth_hz", "Hz"),
    (BandwidthComputeInstance.generate, "bandwidth_hz", "Hz"),
    (BandwidthComputeInstance.generate, "compute_flops", "FLOP/s"),
    (lambda: IsccInstance.generate(seed=0), "gpu_flops", "FLOP/s"),
    (lambda: IsccInstance.generate(seed=0), "link_rate_per_rb_bps", "bit/s"),
    (WpmecParams, "bandwidth_hz", "Hz"),
    (LyapunovSpec, "bandwidth_hz", "Hz"),
    (LyapunovSpec, "f_max_hz", "Hz"),
    (lambda: RADIO, "uplink_hz", "Hz"),
    (lambda: RADIO, "downlink_hz", "Hz"),
    (lambda: GPU, "flops", "FLOP/s"),
    (lambda: GPU, "memory_bytes", "byte"),
    (MulticellSpec, "forward_bps", "bit/s"),
]


@pytest.mark.parametrize(("make", "field", "unit"), CASES)
def test_a_capacity_below_its_floor_is_refused(make: Callable[[], Any], field: str,
                                               unit: str) -> None:
    build = _replace(make, field)
    for v in (1e-6, 1e-320):
        with pytest.raises(ValidationError, match=rf"{field} \[{unit}\].*(floor|>= 1)"):
            build(v)
    build(1.0)  # the floor itself is a (slow) capacity

"""Wireless-powered MEC with binary offloading (Bi & Zhang 2018; DROO, Huang, Bi & Zhang 2020).

Modules
-------
``data``
    :class:`WpmecParams`, :class:`WpmecInstance`, :class:`WpmecBatch` (``.npy``/``.csv``/``.mat``
    I/O), :class:`WpmecAllocation` and :class:`WpmecSpec`; the physics and the channel model.
``inner``
    Vectorised kernels: the exact inner problem for fixed modes and the Lagrangian dual.
``exact``
    Lagrangian branch and bound (registered algorithm ``"exact"``, case ``wpmec.binary``).
``heuristics``
    Coordinate descent, linear-relaxation rounding, all-local, all-offload (registered).
``batch``
    :func:`solve_batch`: thousands of frames in one call.
``evaluate``
    The referee (:func:`evaluate_wpmec`), registered for :class:`WpmecAllocation`.

Importing this package registers the method, the heuristics, the evaluator and the case kind.
"""

from __future__ import annotations

from .batch import METHODS, solve_batch
from .data import (
    CHANNEL_PROFILES,
    WpmecAllocation,
    WpmecBatch,
    WpmecChannel,
    WpmecInstance,
    WpmecParams,
    WpmecSpec,
    default_weights,
    mean_gains,
)
from .evaluate import evaluate_wpmec
from .exact import BatchSolution, exact_batch, solve_exact, to_result
from .heuristics import (
    HEURISTICS,
    all_local,
    all_offload,
    cd,
    cd_batch,
    fixed_mode_batch,
    lr,
    lr_batch,
    relaxation_batch,
    relaxation_inner,
)
from .inner import (
    dual_value,
    objective_value,
    snr_of_price,
    snr_of_price_lambertw,
    snr_of_price_newton,
    solve_inner,
)

__all__ = [
    "CHANNEL_PROFILES",
    "HEURISTICS",
    "METHODS",
    "BatchSolution",
    "WpmecAllocation",
    "WpmecBatch",
    "WpmecChannel",
    "WpmecInstance",
    "WpmecParams",
    "WpmecSpec",
    "all_local",
    "all_offload",
    "cd",
    "cd_batch",
    "default_weights",
    "dual_value",
    "evaluate_wpmec",
    "exact_batch",
    "fixed_mode_batch",
    "lr",
    "lr_batch",
    "mean_gains",
    "objective_value",
    "relaxation_batch",
    "relaxation_inner",
    "snr_of_price",
    "snr_of_price_lambertw",
    "snr_of_price_newton",
    "solve_batch",
    "solve_exact",
    "solve_inner",
    "to_result",
]

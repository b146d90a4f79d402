"""Batch mode for wireless-powered MEC: many frames (thousands) in one call.

``solve_batch(batch, "exact")`` runs the Lagrangian branch and bound on all frames at once
(nodes of all frames share numpy arrays); the heuristics are vectorised over frames too. The
result is a :class:`~aigc_opt.problems.wpmec.exact.BatchSolution` of arrays (objective, modes,
a, tau, bound, gap per frame).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from aigc_opt.errors import ValidationError

from .data import WpmecBatch
from .exact import BatchSolution, exact_batch
from .heuristics import cd_batch, fixed_mode_batch, lr_batch

logger = logging.getLogger(__name__)

METHODS = ("exact", "cd", "lr", "all_local", "all_offload")


def solve_batch(batch: WpmecBatch, method: str = "exact", *, rel_gap: float = 1e-6,
                max_nodes: int = 1_000_000, seed: int = 0, chunk: int = 2048
                ) -> BatchSolution:
    """Solve every frame of ``batch`` with ``method``.

    Parameters
    ----------
    batch : WpmecBatch
        Frames (gains K x N), weights and parameters.
    method : {"exact", "cd", "lr", "all_local", "all_offload"}
        Exact certified optimum or a baseline.
    rel_gap, max_nodes : float, int
        Exact method's tolerance and node limit per frame.
    seed : int
        Seed of CD's random initial modes.
    chunk : int
        Frames per vectorised block (bounds memory).

    Returns
    -------
    BatchSolution
        Arrays over frames; ``bound``/``gap`` are NaN for heuristics.
    """
    if method not in METHODS:
        raise ValidationError("method", "-", method, f"unknown; known: {', '.join(METHODS)}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValidationError("chunk", "frame", chunk, "must be an integer >= 1")
    t0 = time.perf_counter()
    L, g, W = batch.coefficients()
    parts = []
    for start in range(0, batch.n_frames, chunk):
        sl = slice(start, start + chunk)
        args = (L[sl], g[sl], W[sl])
        if method == "exact":
            parts.append(exact_batch(*args, rel_gap=rel_gap, max_nodes=max_nodes))
        elif method == "cd":
            parts.append(cd_batch(*args, seed=seed + start))
        elif method == "lr":
            parts.append(lr_batch(*args))
        else:
            parts.append(fixed_mode_batch(*args, offload=method == "all_offload"))
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return BatchSolution(objective=cat("objective"), offload=cat("offload"), a=cat("a"),
                         tau=cat("tau"), bound=cat("bound"), gap=cat("gap"),
                         nodes=cat("nodes"), seconds=time.perf_counter() - t0, method=method)

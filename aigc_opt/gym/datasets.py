r"""Certified label data sets for learning-based offloading (DROO-style training data).

:func:`wpmec_labels` draws (or takes) WPMEC channel frames and labels every frame with the
certified optimum of the binary offloading problem (:func:`~aigc_opt.problems.wpmec.
solve_batch` with the exact Lagrangian branch and bound): the optimal mode vector, the optimal
weighted sum computation rate (bit/s), the WPT fraction and offloading slots of that optimum,
the proven upper bound and the relative gap ``(bound - objective) / objective <= rel_gap``.
DROO's own training files (``data_N.mat``) were labelled by enumeration for N = 10 only; these
labels scale to N = 20, 30, 50, 100 with the same guarantee.

:func:`save_labels` writes ``.npz`` (arrays ``gains``, ``modes``, ``objective``, ``bound``,
``gap``, ``wpt_fraction``, ``tau``, ``weights``, ``seed``) or, for ``.mat``, DROO's layout
(``scipy.io.savemat``): ``input_h`` (F x N gains), ``output_mode`` (F x N, 0/1),
``output_obj`` (F x 1, bit/s), ``output_a`` (F x 1), ``output_tau`` (F x N), plus
``output_bound`` and ``output_gap`` -- so DROO-style code (``sio.loadmat(...)['input_h']``,
``['output_mode']``) trains on certified labels unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.problems.wpmec import WpmecBatch, WpmecParams, solve_batch

logger = logging.getLogger(__name__)

__all__ = ["WpmecLabels", "load_labels", "save_labels", "wpmec_labels"]


@dataclass(frozen=True, eq=False)
class WpmecLabels:
    """Certified WPMEC labels (F frames, N devices).

    Parameters
    ----------
    gains : ndarray, shape (F, N)
        Channel power gains (-).
    modes : ndarray of int8, shape (F, N)
        Optimal offloading modes (1 = offload).
    objective : ndarray, shape (F,)
        Optimal weighted sum computation rate, bit/s.
    bound : ndarray, shape (F,)
        Proven upper bound on the optimum, bit/s.
    gap : ndarray, shape (F,)
        ``(bound - objective) / objective``.
    wpt_fraction : ndarray, shape (F,)
        Optimal WPT fraction ``a``.
    tau : ndarray, shape (F, N)
        Optimal offloading slots (fractions of the frame).
    weights : ndarray, shape (N,)
        Rate weights used.
    seed : int
        Seed of the channel draws (-1 when the gains were given).
    """

    gains: np.ndarray
    modes: np.ndarray
    objective: np.ndarray
    bound: np.ndarray
    gap: np.ndarray
    wpt_fraction: np.ndarray
    tau: np.ndarray
    weights: np.ndarray
    seed: int = -1

    @property
    def n_frames(self) -> int:
        """Frames F."""
        return int(self.gains.shape[0])

    @property
    def n_users(self) -> int:
        """Devices N."""
        return int(self.gains.shape[1])


def wpmec_labels(n_users: int = 10, n_frames: int = 1000, *, seed: int = 0,
                 gains: Any = None, weights: Any = None, params: WpmecParams | None = None,
                 rel_gap: float = 1e-6, chunk: int = 2048) -> WpmecLabels:
    """Certified optimal labels for ``n_frames`` WPMEC frames.

    Parameters
    ----------
    n_users, n_frames : int
        Devices N and frames F of the generated Rayleigh channels (ignored with ``gains``).
    seed : int
        Seed of :meth:`~aigc_opt.problems.wpmec.WpmecBatch.generate`.
    gains : array_like, shape (F, N), optional
        Channels to label instead (e.g. DROO's ``input_h``).
    weights, params
        Rate weights (DROO's by default) and physical parameters.
    rel_gap : float
        Certified relative gap of every label (the exact method stops at it).
    chunk : int
        Frames per vectorised block.

    Returns
    -------
    WpmecLabels
    """
    if gains is not None:
        batch = WpmecBatch.from_array(gains, weights=weights, params=params)
        used_seed = -1
    else:
        batch = WpmecBatch.generate(n_frames, n_users, seed=seed, weights=weights,
                                    params=params)
        used_seed = int(seed)
    sol = solve_batch(batch, "exact", rel_gap=rel_gap, chunk=chunk)
    bound = np.maximum(sol.bound, sol.objective)
    gap = (bound - sol.objective) / np.maximum(np.abs(sol.objective), 1e-300)
    worst = float(gap.max(initial=0.0))
    if worst > rel_gap:
        logger.warning("wpmec_labels: %d frames left with gap > rel_gap (worst %.3g)",
                       int((gap > rel_gap).sum()), worst)
    logger.info("wpmec_labels: %d frames of %d users in %.3g s (worst gap %.3g)",
                batch.n_frames, batch.n_users, sol.seconds, worst)
    return WpmecLabels(np.asarray(batch.gains), np.asarray(sol.offload, dtype=np.int8),
                       np.asarray(sol.objective), bound, gap, np.asarray(sol.a),
                       np.asarray(sol.tau), np.asarray(batch.weights), used_seed)


def save_labels(labels: WpmecLabels, path: str | Path) -> Path:
    """Write ``labels`` to ``.npz`` or ``.mat`` (DROO layout, see the module docstring)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        np.savez_compressed(p, gains=labels.gains, modes=labels.modes,
                            objective=labels.objective, bound=labels.bound, gap=labels.gap,
                            wpt_fraction=labels.wpt_fraction, tau=labels.tau,
                            weights=labels.weights, seed=np.int64(labels.seed))
    elif suffix == ".mat":
        import scipy.io

        scipy.io.savemat(p, {
            "input_h": labels.gains, "output_mode": labels.modes.astype(np.float64),
            "output_obj": labels.objective[:, None], "output_a": labels.wpt_fraction[:, None],
            "output_tau": labels.tau, "output_bound": labels.bound[:, None],
            "output_gap": labels.gap[:, None], "weights": labels.weights[None, :]})
    else:
        raise ValidationError("path", "-", str(p), "unsupported file type (.npz or .mat)")
    return p


def load_labels(path: str | Path) -> WpmecLabels:
    """Read a file written by :func:`save_labels` (``.npz`` or DROO-layout ``.mat``)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            return WpmecLabels(z["gains"], z["modes"].astype(np.int8), z["objective"],
                               z["bound"], z["gap"], z["wpt_fraction"], z["tau"], z["weights"],
                               int(z["seed"]))
    if suffix == ".mat":
        import scipy.io

        d = scipy.io.loadmat(p)
        f, n = d["input_h"].shape
        col = lambda k, fill: (np.asarray(d[k]).reshape(-1) if k in d  # noqa: E731
                               else np.full(f, fill))
        return WpmecLabels(np.asarray(d["input_h"], dtype=np.float64),
                           np.asarray(d["output_mode"]).astype(np.int8),
                           col("output_obj", np.nan), col("output_bound", np.nan),
                           col("output_gap", np.nan), col("output_a", np.nan),
                           np.asarray(d.get("output_tau", np.full((f, n), np.nan))),
                           np.asarray(d["weights"]).reshape(-1) if "weights" in d
                           else np.full(n, np.nan))
    raise ValidationError("path", "-", str(p), "unsupported file type (.npz or .mat)")

"""Output-quality curves of generative models as a function of denoising steps (or tokens).

Three kinds, per model (fields of :class:`aigc_opt.scenario.Scenario`):

* ``sigmoid``:  ``q(s) = q_max / (1 + exp(-a (s - b)))``;
* ``piecewise_linear``: linear interpolation between breakpoints ``(s_k, q_k)``, constant
  beyond the first/last breakpoint;
* ``tabulated``: step function, ``q(s) = q_k`` for the largest breakpoint ``s_k <= s``
  (``q_0`` below the first breakpoint).

Quality is dimensionless (e.g. a normalised CLIP / aesthetic / accuracy score).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .scenario import Scenario


def quality(scenario: Scenario, model: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Quality of running ``model[i]`` for ``steps[i]`` steps (vectorised over i).

    Parameters
    ----------
    scenario : Scenario
        Supplies the model catalogue's curves.
    model : ndarray of int
        Model ids.
    steps : ndarray
        Steps (may be fractional for relaxations; 0 gives the curve's value at 0).
    """
    model = np.asarray(model, dtype=np.int64)
    s = np.asarray(steps, dtype=np.float64)
    model, s = np.broadcast_arrays(model, s)
    out = np.empty(s.shape)
    kind = scenario.model_quality_kind[model]
    sig = kind == "sigmoid"
    if sig.any():
        m = model[sig]
        z = -scenario.model_quality_slope[m] * (s[sig] - scenario.model_quality_mid[m])
        out[sig] = scenario.model_quality_max[m] / (1.0 + np.exp(z))
    bp_s = scenario.model_quality_steps
    bp_q = scenario.model_quality_values
    for k in ("piecewise_linear", "tabulated"):
        sel = kind == k
        if not sel.any():
            continue
        m, x = model[sel], s[sel]
        xs, qs = bp_s[m], bp_q[m]  # (n, P)
        idx = (xs <= x[:, None]).sum(axis=1) - 1  # last breakpoint <= x, -1 if below all
        lo = np.clip(idx, 0, xs.shape[1] - 1)
        if k == "tabulated":
            out[sel] = qs[np.arange(len(m)), lo]
            continue
        hi = np.clip(idx + 1, 0, xs.shape[1] - 1)
        r = np.arange(len(m))
        x0, x1, q0, q1 = xs[r, lo], xs[r, hi], qs[r, lo], qs[r, hi]
        t = np.where(x1 > x0, (x - x0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0)
        out[sel] = np.where(idx < 0, qs[:, 0], q0 + np.clip(t, 0.0, 1.0) * (q1 - q0))
    return out

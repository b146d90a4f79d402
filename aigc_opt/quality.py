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

from .errors import ValidationError

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
    from .validate import check_array

    model = np.asarray(check_array("model", "-", model, low=0, high=scenario.n_models - 1,
                                   dtype=np.int64))
    # |steps| <= 1e7: the schema's physical bound on a step count (relaxations may pass
    # slightly negative or fractional steps, so the lower bound is symmetric)
    s = np.asarray(check_array("steps", "step", steps, low=-1e7, high=1e7))
    try:
        model, s = np.broadcast_arrays(model, s)
    except ValueError as exc:
        raise ValidationError("steps", "step", s.shape,
                              f"cannot be paired with model ids of shape {model.shape}") from exc
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
        if bp_s.shape[1] == 0:
            raise ValidationError("model_quality_steps", "step", bp_s.shape,
                                  f"{k} quality curves need at least one breakpoint")
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

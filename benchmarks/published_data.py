"""Published data sets of the peers, checked against the certified optima.

``--droo FILE``: a DROO label file (``data_N.mat`` of github.com/revenol/DROO: ``input_h``,
``output_mode``, ``output_obj``, ``output_a``, ``output_tau``), checked frame by frame by
:func:`aigc_opt.gym.datasets.check_labels` (counts per verdict, worst frames).

``--lydroo FILE``: LyDROO's published run (``result_10.mat`` of github.com/revenol/LyDROO:
``input_h``, ``data_queue`` in Mbit, ``energy_queue``, ``data_arrival`` in Mbit,
``off_mode``, ``rate`` in Mbit, ``energy_consumption`` in J, ``objective``) replayed frame by
frame with :class:`~aigc_opt.problems.online.LyapunovSpec`'s defaults (the LyDROO code's):
LyDROO's chosen mode completed by our exact inner solver (``solve_fixed_modes``) against the
published objective, rates and energies; the queue laws against the published queues; and the
certified frame optimum (``solve_frame``) against the published objective.

Neither file is shipped (download them from the repositories above). A file that is missing,
unreadable or lacks a field ends the run with one line naming it on stderr (exit status 2).
Run::

    python -m aigc_opt.benchmarks.published_data --droo data_10.mat --lydroo result_10.mat
    python -m aigc_opt.benchmarks.published_data --droo data_10_WeightsAlternated.mat \\
        --weights 1.5,1,1.5,1,1.5,1,1.5,1,1.5,1
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.export import format_table


def droo(path: str, weights: list[float] | None) -> list[dict[str, Any]]:
    """One row per quantity of :meth:`LabelCheck.summary`, plus the wall time."""
    from aigc_opt.gym.datasets import check_labels, load_labels

    t0 = time.perf_counter()
    chk = check_labels(load_labels(path), weights=weights)
    rows = [{"file": path, "quantity": k, "value": f"{v:.6g}"} for k, v in chk.summary().items()]
    rows.append({"file": path, "quantity": "seconds", "value": f"{time.perf_counter() - t0:.3g}"})
    return rows


def lydroo(path: str) -> list[dict[str, Any]]:
    """The replay's rows (see the module docstring)."""
    from aigc_opt.matfile import load_mat
    from aigc_opt.problems.online.data import FrameInstance, LyapunovSpec
    from aigc_opt.problems.online.lyapunov import solve_fixed_modes, solve_frame

    h, q, y, arrival, mode, rate, energy, obj = _lydroo_arrays(load_mat(path))
    spec = LyapunovSpec()
    t0 = time.perf_counter()
    fixed, best, bound, dbits, denergy = [], [], [], 0.0, 0.0
    for t in range(h.shape[0]):
        inst = FrameInstance(h[t], q[t] * spec.queue_unit_bits, y[t])
        f = solve_fixed_modes(spec, inst, mode[t][None, :])
        s = solve_frame(spec, inst)
        fixed.append(f.objective)
        best.append(s.objective)
        bound.append(s.bound)
        dbits = max(dbits, float(np.abs(f.bits / spec.queue_unit_bits - rate[t]).max()))
        denergy = max(denergy, float(np.abs(f.energy_j - energy[t]).max()))
    sec = time.perf_counter() - t0
    fx, be, bo = (np.asarray(v) for v in (fixed, best, bound))
    scale = np.maximum(np.abs(obj), 1.0)
    q_next = np.maximum(q[:-1] + arrival[:-1] - rate[:-1], 0.0)
    y_next = np.maximum(y[:-1] + (energy[:-1] - spec.energy_threshold_j) * spec.nu_per_j, 0.0)
    gain = (be - obj) / scale
    vals = {
        "frames": h.shape[0],
        "their mode, ours vs published objective (min rel)": float(((fx - obj) / scale).min()),
        "their mode, ours vs published objective (max rel)": float(((fx - obj) / scale).max()),
        "their mode, max |rate diff| Mbit": dbits,
        "their mode, max |energy diff| J": denergy,
        "queue law max |diff| Mbit": float(np.abs(q_next - q[1:]).max(initial=0.0)),
        "energy-queue law max |diff|": float(np.abs(y_next - y[1:]).max(initial=0.0)),
        "published above certified bound (max rel)": float(((obj - bo) / scale).max()),
        "frames where the optimum beats the DNN by > 1e-6": int((gain > 1e-6).sum()),
        "optimum over DNN (median rel)": float(np.median(gain)),
        "optimum over DNN (max rel)": float(gain.max()),
        "mean objective, published": float(obj.mean()),
        "mean objective, certified optimum": float(be.mean()),
        "seconds": sec,
    }
    return [{"file": path, "quantity": k, "value": f"{v:.6g}"} for k, v in vals.items()]


#: LyDROO's variables: unit, and whether the array is per (frame, device) or per frame.
_LYDROO = {"input_h": ("-", 2), "data_queue": ("Mbit", 2), "energy_queue": ("-", 2),
           "data_arrival": ("Mbit", 2), "off_mode": ("-", 2), "rate": ("Mbit", 2),
           "energy_consumption": ("J", 2), "objective": ("-", 1)}


def _lydroo_arrays(d: dict[str, Any]) -> list[np.ndarray]:
    """The variables of :data:`_LYDROO` in order, checked: real and finite, ``(T, N)`` (the
    shape of ``input_h``) or ``T`` values, ``T >= 1``, ``off_mode`` 0/1, gains > 0, the rest
    >= 0 but ``objective``; a ValidationError names the variable, its unit and value."""
    from aigc_opt.validate import check_array

    h = check_array("input_h", "-", d["input_h"], ndim=2, low=0.0, strict=True, nonempty=True)
    out = []
    for name, (unit, nd) in _LYDROO.items():
        shape = h.shape if nd == 2 else None
        v = np.asarray(d[name])
        if nd == 1 and v.ndim == 2 and 1 in v.shape:
            v = v.ravel()  # MATLAB stores a vector as 1 x T or T x 1
        out.append(check_array(name, unit, v, shape, ndim=nd, like="input_h", low=None
                               if name == "objective" else 0.0, dtype=bool if name ==
                               "off_mode" else np.float64))
    if out[-1].shape != (h.shape[0],):
        raise ValidationError("objective", "-", out[-1].shape,
                              f"wrong shape, expected ({h.shape[0]},) to match input_h")
    return out


def _read_errors() -> tuple[type[BaseException], ...]:
    """What reading a bad file raises: OS errors, ValidationError (a ValueError), a missing
    variable (KeyError), a malformed array (IndexError), scipy's MatReadError."""
    from scipy.io.matlab import MatReadError

    return OSError, ValueError, KeyError, IndexError, MatReadError


def _fail(path: str, exc: BaseException) -> None:
    """One line on stderr naming ``path``, exit status 2."""
    why = f"missing variable {exc}" if isinstance(exc, KeyError) else str(exc) or repr(exc)
    print(f"published_data: error: {path}: {why}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--droo", nargs="*", default=[], help="DROO data_N.mat files")
    ap.add_argument("--weights", default="", help="comma-separated weights for --droo files")
    ap.add_argument("--lydroo", nargs="*", default=[], help="LyDROO result_N.mat files")
    args = ap.parse_args(argv)
    if not args.droo and not args.lydroo:
        ap.error("give --droo and/or --lydroo files")
    try:
        w = [float(v) for v in args.weights.split(",")] if args.weights.strip() else None
    except ValueError:
        ap.error(f"--weights: comma-separated numbers expected, got {args.weights!r}")
    rows: list[dict[str, Any]] = []
    jobs = [(p, True) for p in args.droo] + [(p, False) for p in args.lydroo]
    for path, is_droo in jobs:
        try:
            rows += droo(path, w) if is_droo else lydroo(path)
        except _read_errors() as exc:
            _fail(path, exc)
    print(format_table(rows, ["file", "quantity", "value"]))


if __name__ == "__main__":
    main()

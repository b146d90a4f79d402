r"""Certified label data sets for learning-based offloading (DROO-style training data).

:func:`wpmec_labels` draws (or takes) WPMEC channel frames and labels every frame with the
certified optimum of the binary offloading problem (:func:`~aigc_opt.problems.wpmec.
solve_batch` with the exact Lagrangian branch and bound): the optimal mode vector, the optimal
weighted sum computation rate (bit/s), the WPT fraction and offloading slots of that optimum,
the proven upper bound and the relative gap ``(bound - objective) / objective <= rel_gap``.
DROO's own training files (``data_N.mat``) were labelled by enumerating the 2^N modes for
N <= 10 (and by coordinate descent, a heuristic, for N = 20, 30); these labels scale to
N = 20, 30, 50, 100 with the same guarantee. :func:`check_labels` certifies or refutes any
such file frame by frame (``aigc-opt dataset check FILE``).

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
from aigc_opt.problems.wpmec import CHANNEL_PROFILES, WpmecBatch, WpmecParams, solve_batch
from aigc_opt.schema import bound as _bound
from aigc_opt.validate import (
    INT_LIMIT,
    check_array,
    check_name,
    check_path,
    check_regular_file,
    check_scalar,
    writing,
)

logger = logging.getLogger(__name__)

__all__ = ["LabelCheck", "WpmecLabels", "check_labels", "load_labels", "save_labels",
           "wpmec_labels"]


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
                 rel_gap: float = 1e-6, chunk: int = 2048,
                 channel_profile: str = "droo_code") -> WpmecLabels:
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
    channel_profile : str
        Channel profile of the generated frames (see
        :data:`~aigc_opt.problems.wpmec.CHANNEL_PROFILES`; ``"droo_data"`` draws frames with
        the statistics of DROO's published ``data_N.mat``).

    Returns
    -------
    WpmecLabels
    """
    check_name("channel_profile", channel_profile, CHANNEL_PROFILES)  # not 'profile'
    if gains is not None:
        batch = WpmecBatch.from_array(gains, weights=weights, params=params)
        used_seed = -1
    else:
        batch = WpmecBatch.generate(n_frames, n_users, seed=seed, weights=weights,
                                    params=params, profile=channel_profile)
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
    """Write ``labels`` to ``.npz`` or ``.mat`` (DROO layout, see the module docstring).

    All-NaN ``weights`` (absent: DROO's defaults, as :func:`load_labels` reads a file without
    them) are not written, so that the file reads back the same."""
    p = Path(path)
    suffix = p.suffix.lower()
    w: dict[str, Any] = {} if np.isnan(labels.weights).all() else {"weights": labels.weights}
    if suffix not in (".npz", ".mat"):
        raise ValidationError("path", "-", str(p), "unsupported file type (.npz or .mat)")
    # opened here, so a missing directory or a full disk is an OSError that writing() names
    # (savemat given the path had said "Reader needs file name")
    with writing(p), open(p, "wb") as fh:
        if suffix == ".npz":
            np.savez_compressed(fh, gains=labels.gains, modes=labels.modes,
                                objective=labels.objective, bound=labels.bound, gap=labels.gap,
                                wpt_fraction=labels.wpt_fraction, tau=labels.tau,
                                seed=np.int64(labels.seed), **w)
        else:
            import scipy.io

            scipy.io.savemat(fh, {
                "input_h": labels.gains, "output_mode": labels.modes.astype(np.float64),
                "output_obj": labels.objective[:, None], "output_a": labels.wpt_fraction[:, None],
                "output_tau": labels.tau, "output_bound": labels.bound[:, None],
                "output_gap": labels.gap[:, None], "seed": np.int64(labels.seed)}
                | {k: v[None, :] for k, v in w.items()})  # (the seed had been lost in .mat)
    return p


def load_labels(path: str | Path) -> WpmecLabels:
    """Read a file written by :func:`save_labels` (``.npz``) or any DROO-layout ``.mat``.

    A ``.mat`` file needs ``input_h`` (F x N channel gains, -) and ``output_mode`` (F x N,
    0/1); ``output_obj`` (bit/s), ``output_a``, ``output_tau``, ``output_bound``,
    ``output_gap`` and ``weights`` are optional (NaN when absent: DROO's published files carry
    no weights, which are then DROO's default ones). Every variable must be real numbers of
    exactly its shape (F x N, F or N; a 1 x F or F x 1 matrix for an F-vector, as MATLAB
    stores them, and an N-vector for F x N when F = 1); ``weights``, when present, must be
    finite and > 0 and ``seed`` one integer >= -1 (-1: gains given). A missing, unreadable or
    malformed file, a missing variable, a variable of the wrong type or shape or bad values
    raise a :class:`ValidationError` naming it.
    """
    p = check_path("path", path)
    suffix = p.suffix.lower()
    if suffix not in (".npz", ".mat"):
        raise ValidationError("path", "-", str(p), "unsupported file type (.npz or .mat)")
    from aigc_opt.matfile import load_mat, load_npz

    # missing, a directory, a named pipe (which blocked the readers forever): named
    check_regular_file(p, "label file")
    try:
        if suffix == ".npz":
            d = load_npz(p, "label .npz archive", expected=_npz_expected)
            names = {"input_h": "gains", "output_mode": "modes", "output_obj": "objective",
                     "output_bound": "bound", "output_gap": "gap", "output_a": "wpt_fraction",
                     "output_tau": "tau", "weights": "weights"}
            d = {mat: d[npz] for mat, npz in names.items() if npz in d} | (
                {"seed": d["seed"]} if "seed" in d else {})
        else:
            d = load_mat(p)
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise ValidationError("path", "-", str(p), f"cannot read: {exc}") from None
    for key in ("input_h", "output_mode"):
        if key not in d:
            found = sorted(k for k in d if not k.startswith("__"))
            raise ValidationError(key, "-", "missing", f"not in {p.name}; variables: {found}")
    try:
        gains = WpmecBatch.from_array(_real(d, "input_h", "-")).gains
    except ValidationError as exc:
        if exc.field == "input_h":
            raise exc.located(str(p)) from None
        raise ValidationError("input_h", "-", f"array of shape {np.shape(d['input_h'])}",
                              f"not channel gains: {exc}").located(str(p)) from None
    f, n = gains.shape

    def var(key: str, shape: tuple[int, ...], unit: str) -> np.ndarray:
        if key not in d:
            return np.full(shape, np.nan)
        try:
            return _shaped(key, unit, _real(d, key, unit), shape)
        except ValidationError as exc:
            raise exc.located(str(p)) from None

    modes = var("output_mode", (f, n), "-")
    bad = ~np.isin(modes, (0.0, 1.0))
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise ValidationError("output_mode", "-", float(modes[i, j]),
                              f"offloading modes must be 0 or 1: frame {i}, user {j} (0-based; "
                              f"{int(bad.sum())} of {bad.size} entries are not 0/1)"
                              ).located(str(p))
    stated = {k: var(k, (f,), u) for k, u in (("output_obj", "bit/s"), ("output_bound", "bit/s"),
                                            ("output_gap", "-"), ("output_a", "-"))}
    tau = var("output_tau", (f, n), "-")
    weights = var("weights", (n,), "-")
    try:  # a stated variable that is present is complete and physical (absent: all NaN)
        for key, arr, high in (("output_obj", stated["output_obj"], None),
                               ("output_bound", stated["output_bound"], None),
                               ("output_gap", stated["output_gap"], None),
                               ("output_a", stated["output_a"], 1.0 + STATED_SLACK),
                               ("output_tau", tau, 1.0 + STATED_SLACK)):
            if key in d and not np.isnan(arr).all():  # all NaN: absent (save_labels)
                check_array(key, "bit/s" if key in ("output_obj", "output_bound") else "-",
                            arr, arr.shape, low=0.0, high=high)
    except ValidationError as exc:
        raise exc.with_note("a variable that is absent is not checked").located(str(p)) \
            from None
    try:
        if "weights" in d:  # present: real weights (absent: NaN, i.e. DROO's defaults)
            try:
                check_array("weights", "-", weights, (n,), low=0.0, strict=True,
                            high=_bound("weight"))
            except ValidationError as exc:
                raise exc.with_note("a file without 'weights' uses DROO's defaults") from None
        seed = _seed(d["seed"]) if "seed" in d else -1
    except ValidationError as exc:
        raise exc.located(str(p)) from None
    return WpmecLabels(gains, modes.astype(np.int8), stated["output_obj"],
                       stated["output_bound"], stated["output_gap"], stated["output_a"], tau,
                       weights, seed)


def _npz_expected(headers: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Largest shape of each entry of a label ``.npz``: F x N from ``gains`` (F-vectors,
    F x N matrices, an N-vector of weights, one seed); an entry larger than this is refused
    before its data is read (its data and the total are capped by
    :data:`aigc_opt.validate.MAX_FILE_BYTES`)."""
    shape: tuple[int, ...] = headers["gains"].shape if "gains" in headers else ()
    if len(shape) not in (1, 2):  # no gains matrix: the loader names that (size cap only)
        return {}
    f, n = (shape[0], shape[1]) if len(shape) == 2 else (1, shape[0])
    return {"modes": (f, n), "tau": (f, n), "objective": (f,), "bound": (f,), "gap": (f,),
            "wpt_fraction": (f,), "weights": (n,), "seed": ()}


#: Slack on the stated time fractions ``output_a`` and ``output_tau`` (<= 1 + this): DROO's
#: published slots over-use the frame by up to 2.9e-8.
STATED_SLACK = 1e-6


def _real(d: dict[str, Any], key: str, unit: str) -> np.ndarray:
    """``d[key]`` as float64; complex (never truncated), text, object (MATLAB cell or struct)
    and boolean arrays are refused (``output_mode`` may be boolean)."""
    arr = np.asarray(d[key])
    kinds = "iufb" if key == "output_mode" else "iuf"
    if arr.dtype.kind not in kinds:
        what = {"c": "complex numbers (the imaginary part would be lost)", "U": "text",
                "S": "text", "O": "a cell or object array", "V": "a struct",
                "b": "booleans"}.get(arr.dtype.kind, f"of dtype {arr.dtype}")
        raise ValidationError(key, unit, f"array of dtype {arr.dtype}",
                              f"must be a matrix of real numbers, not {what}")
    return arr.astype(np.float64)


def _shaped(key: str, unit: str, arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``arr`` of exactly ``shape``: never reshaped from another shape of the same size (a
    transposed F x N matrix would scramble frames and users). An F-vector may be stored as a
    1 x F or F x 1 matrix (MATLAB) and an F x N matrix with F = 1 as an N-vector."""
    m = shape[0]
    if arr.shape == shape:
        return arr
    if len(shape) == 1 and arr.ndim == 2 and arr.size == m and 1 in arr.shape:
        return arr.reshape(shape)
    if len(shape) == 2 and m == 1 and arr.shape == shape[1:]:
        return arr.reshape(shape)
    what = (f"{m} frame(s) x {shape[1]} user(s)" if len(shape) == 2 else
            f"{m} {'user(s)' if key == 'weights' else 'frame(s)'}")
    raise ValidationError(key, unit, f"array of shape {arr.shape}",
                          f"needs {shape} for {what} (not reshaped: a transposed or "
                          "differently shaped matrix would mix up frames and users)")


def _seed(value: Any) -> int:
    """The file's ``seed``: one integer >= -1 (-1: the gains were given, not drawn)."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValidationError("seed", "-", f"array of shape {arr.shape}",
                              "must be one integer >= 0 (or -1: gains given)")
    return int(check_scalar("seed", arr.reshape(-1)[0], "-", -1, INT_LIMIT, integer=True))


@dataclass(frozen=True, eq=False)
class LabelCheck:
    """Given labels (e.g. a published data set) against the certified optimum, per frame.

    Parameters
    ----------
    stated : ndarray, shape (F,)
        The file's ``output_obj``, bit/s (NaN where absent).
    mode_value : ndarray, shape (F,)
        The labelled mode's true value: its best WPT fraction and slots (the exact inner
        solver, which solves the convex problem of a fixed mode), bit/s.
    optimum : ndarray, shape (F,)
        Certified optimum (exact branch and bound), bit/s.
    bound : ndarray, shape (F,)
        Proven upper bound on the optimum, bit/s (``optimum <= OPT <= bound``).
    verdict : ndarray of str, shape (F,)
        ``"agree"``; ``"suboptimal"`` (the labelled mode is worth less than the optimum by
        more than ``tol`` relative: a better mode exists); ``"overstated"`` (the stated value
        exceeds the proven bound by more than ``tol`` relative: no feasible allocation reaches
        it); ``"both"``; for a frame that would otherwise agree, ``"infeasible"`` (the stated
        ``a + sum(tau)`` exceeds the frame by more than :data:`STATED_SLACK`) or
        ``"misstated"`` (the stated rate differs by more than ``tol`` relative from the value
        of the stated allocation, or without one, of the labelled mode; or the stated
        allocation is worth less than the labelled mode's best).
    stated_time : ndarray, shape (F,)
        ``output_a + sum(output_tau)`` of the file's allocation, fraction of the frame (NaN
        where absent): above 1 the stated allocation over-uses the frame.
    tol : float
        Relative tolerance of the verdicts.
    stated_value : ndarray, shape (F,), optional
        The referee's rate of the stated allocation (``output_mode``, ``output_a``,
        ``output_tau``), bit/s (NaN where the file states none).
    """

    stated: np.ndarray
    mode_value: np.ndarray
    optimum: np.ndarray
    bound: np.ndarray
    verdict: np.ndarray
    stated_time: np.ndarray
    tol: float
    stated_value: np.ndarray | None = None

    def summary(self) -> dict[str, float]:
        """Counts per verdict; the largest relative loss of a labelled mode, relative excess of
        a stated value over the bound, and over-use of the frame ``a + sum tau - 1`` by a
        stated allocation (NaN where the file has no such values)."""
        loss = (self.optimum - self.mode_value) / np.maximum(np.abs(self.optimum), 1e-300)
        over = (self.stated - self.bound) / np.maximum(np.abs(self.bound), 1e-300)
        out: dict[str, float] = {"frames": float(self.verdict.size)}
        for v in ("agree", "suboptimal", "overstated", "both", "misstated", "infeasible"):
            out[v] = float((self.verdict == v).sum())
        out["max_mode_loss"] = float(np.max(loss, initial=0.0))
        out["max_overstatement"] = float(np.nanmax(over, initial=-np.inf)) \
            if np.isfinite(over).any() else float("nan")
        out["max_time_overuse"] = float(max(np.nanmax(self.stated_time) - 1.0, 0.0)) \
            if np.isfinite(self.stated_time).any() else float("nan")
        return out

    #: Columns of :meth:`disagreements` and :meth:`write_csv`.
    COLUMNS = ("frame", "verdict", "stated", "mode_value", "optimum", "bound", "stated_time")

    def disagreements(self) -> list[dict[str, Any]]:
        """One row per frame whose verdict is not ``"agree"`` (keys :attr:`COLUMNS`), the
        largest loss of the labelled mode first."""
        rows = [{"frame": int(k), "verdict": str(self.verdict[k]),
                 "stated": float(self.stated[k]), "mode_value": float(self.mode_value[k]),
                 "optimum": float(self.optimum[k]), "bound": float(self.bound[k]),
                 "stated_time": float(self.stated_time[k])}
                for k in np.nonzero(self.verdict != "agree")[0]]
        return sorted(rows, key=lambda r: (-(r["optimum"] - r["mode_value"])
                                           / max(abs(r["optimum"]), 1e-300), r["frame"]))

    def report(self, top: int = 10) -> str:
        """The :meth:`summary` table, then the ``top`` worst disagreeing frames (text)."""
        from aigc_opt.export import format_table

        text = format_table([{"quantity": k, "value": f"{v:.6g}"}
                             for k, v in self.summary().items()], ["quantity", "value"])
        rows = self.disagreements()[:top]
        if rows:
            text += "\n" + format_table([{k: (f"{v:.10g}" if isinstance(v, float) else v)
                                          for k, v in r.items()} for r in rows],
                                         list(self.COLUMNS))
        return text

    def write_csv(self, path: str | Path) -> int:
        """Write :meth:`disagreements` as CSV to ``path``; returns the number of rows."""
        import csv

        rows = self.disagreements()
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, self.COLUMNS)
            w.writeheader()
            w.writerows(rows)
        return len(rows)


def check_labels(labels: WpmecLabels, *, weights: Any = None,
                 params: WpmecParams | None = None, rel_gap: float = 1e-6,
                 tol: float = 1e-6) -> LabelCheck:
    """Certify (or refute) every frame's label of ``labels``.

    The frames are solved exactly (:func:`~aigc_opt.problems.wpmec.solve_batch`, certified
    within ``rel_gap``) and each labelled mode is valued by the exact inner solver, so a
    ``"suboptimal"`` verdict comes with a strictly better mode (its value is in ``optimum``)
    and an ``"overstated"`` one with a proof (``bound``) that the stated rate is out of reach.

    Parameters
    ----------
    labels : WpmecLabels
        E.g. :func:`load_labels` of DROO's ``data_10.mat``.
    weights : array_like, shape (N,), optional
        Rate weights; default the labels' own (all NaN, as :func:`load_labels` gives for a file
        without ``weights``: DROO's ``[1, 1.5, 1, 1.5, ...]``). Labels whose weights are only
        partly NaN, infinite or <= 0 are refused (:class:`ValidationError` naming ``weights``).
    params : WpmecParams, optional
        Physical parameters (default DROO's).
    rel_gap, tol : float
        Certified gap of the exact solves and relative tolerance of the verdicts
        (``tol >= rel_gap`` so that a certified optimum never reads as a disagreement).
    """
    from aigc_opt.problems.wpmec.inner import solve_inner

    if weights is None:  # the labels' own weights; all NaN: absent (DROO's defaults)
        own = np.asarray(labels.weights, dtype=np.float64)
        if not np.isnan(own).all():
            weights = own  # validated (finite, > 0) by WpmecBatch below
    rel_gap = check_scalar("rel_gap", rel_gap, "-", 0.0, 1.0)  # NaN had let any label agree
    tol = check_scalar("tol", tol, "-", rel_gap, 1.0)  # >= rel_gap: see above
    batch = WpmecBatch.from_array(labels.gains, weights=weights, params=params)
    _check_fields(labels, batch.gains.shape)
    _check_certificates(labels, tol)
    sol = solve_batch(batch, "exact", rel_gap=rel_gap)
    L, g, W = batch.coefficients()
    mode_value = solve_inner(L, g, W, labels.modes.astype(bool))[0]
    optimum = np.maximum(sol.objective, mode_value)  # both are values of feasible modes
    bound = np.maximum(sol.bound, optimum)
    scale = np.maximum(np.abs(optimum), 1e-300)
    sub = (optimum - mode_value) / scale > tol
    over = (labels.objective - bound) / scale > tol  # NaN compares False
    verdict = np.where(sub & over, "both", np.where(sub, "suboptimal",
                                                    np.where(over, "overstated", "agree")))
    # per frame (NaN where the frame states no complete allocation): one frame's absent tau
    # had made every frame's NaN, and over-use went unseen
    stated_time = labels.wpt_fraction + labels.tau.sum(axis=1)
    # what "agree" also needs: a stated allocation that fits the frame, and a stated rate that
    # is the value of that allocation (or, without one, of the labelled mode). Stated rates of
    # 0 and slots over-using the frame 1.79 times had been called "agree".
    stated_value = _stated_values(batch, labels)
    ref = np.where(np.isnan(stated_value), mode_value, stated_value)
    misstated = np.abs(labels.objective - ref) / scale > tol  # NaN (absent) compares False
    # a stated allocation worth less than its mode's best (a = tau = 0, rate 0, had agreed)
    misstated |= (mode_value - stated_value) / scale > tol
    overuse = stated_time > 1.0 + STATED_SLACK
    agree = verdict == "agree"
    verdict = np.where(agree & overuse, "infeasible",
                       np.where(agree & misstated, "misstated", verdict))
    return LabelCheck(np.asarray(labels.objective, dtype=np.float64), mode_value, optimum,
                      bound, verdict, np.asarray(stated_time, dtype=np.float64), float(tol),
                      stated_value)


def _check_fields(labels: WpmecLabels, shape: tuple[int, ...]) -> None:
    """Every field of in-memory ``labels`` of its shape for ``shape = (F, N)`` gains, modes
    0/1 (modes of 2 had been valued as offloading and called "agree"; a wrong shape raised
    numpy's broadcast error)."""
    F, N = shape
    for name, want in (("modes", (F, N)), ("objective", (F,)), ("bound", (F,)), ("gap", (F,)),
                       ("wpt_fraction", (F,)), ("tau", (F, N)), ("weights", (N,))):
        got = np.shape(getattr(labels, name))
        if got != want:
            raise ValidationError(name, "-", f"array of shape {got}",
                                  f"needs {want} for gains of shape {shape}")
    if not np.isin(labels.modes, (0, 1)).all():
        raise ValidationError("modes", "-", "non-0/1 entries", "offloading modes must be 0 or 1")
    # the stated values as load_labels checks a file's (NaN: absent); an infinite or negative
    # slot had been called 'agree' (negative slots cancelled another device's over-use)
    for name, unit, high in (("objective", "bit/s", None), ("bound", "bit/s", None),
                             ("gap", "-", None), ("wpt_fraction", "-", 1.0 + STATED_SLACK),
                             ("tau", "-", 1.0 + STATED_SLACK)):
        arr = np.asarray(getattr(labels, name), dtype=np.float64)
        stated = arr[~np.isnan(arr)]
        if stated.size:
            check_array(name, unit, stated, stated.shape, low=0.0, high=high)


def _check_certificates(labels: WpmecLabels, tol: float) -> None:
    """ValidationError naming the first frame whose stated certificate contradicts itself:
    a ``bound`` (a proven upper bound on the maximum, bit/s) below the stated ``objective``
    (the value of a feasible allocation, bit/s) by more than ``tol`` relative, or a ``gap``
    (-) other than ``(bound - objective) / objective`` by more than ``tol`` (relative to the
    gap when it exceeds 1). Frames that state no bound or gap (NaN) are not checked, nor the
    gap of a frame whose stated objective is 0 (a relative gap is undefined). A bound of
    1.0 bit/s against an objective of 3.6e6 and a gap of 0.9 for a gap of 1e-8 had been
    called 'agree' (the stated values were only range-checked)."""
    obj, bnd, gap = (np.asarray(getattr(labels, k), dtype=np.float64)
                     for k in ("objective", "bound", "gap"))
    scale = np.maximum(np.abs(obj), 1e-300)
    with np.errstate(invalid="ignore", over="ignore"):
        want = (bnd - obj) / scale
        below = np.isfinite(obj) & np.isfinite(bnd) & ((obj - bnd) / scale > tol)
        off = np.isfinite(want) & np.isfinite(gap) & (obj != 0) & (
            np.abs(gap - want) > tol * np.maximum(1.0, np.abs(want)))
    for bad, name, unit, value, why in (
            (below, "bound", "bit/s", bnd, lambda k: f"below the stated objective {obj[k]:.9g} "
             "bit/s: a proven upper bound on the maximum cannot be"),
            (off, "gap", "-", gap, lambda k: f"not (bound - objective) / objective = "
             f"{want[k]:.9g} (bound {bnd[k]:.9g} bit/s, objective {obj[k]:.9g} bit/s)")):
        if bad.any():
            k = int(np.argmax(bad))
            raise ValidationError(name, unit, float(value[k]), f"frame {k} (0-based): "
                                  f"{why(k)}, beyond tol = {tol:g} ({int(bad.sum())} of "
                                  f"{bad.size} frames)")


def _stated_values(batch: WpmecBatch, labels: WpmecLabels) -> np.ndarray:
    """The rate (bit/s) of each frame's stated allocation (``modes``, ``wpt_fraction``,
    ``tau``; every device spending what it harvests: DROO's rate formula, as the exact inner
    solver values a mode), NaN where the labels state no complete allocation. Vectorised: the
    referee frame by frame took 2.1 s per 5,000 frames."""
    from aigc_opt.problems.wpmec.inner import objective_value

    a, tau = np.asarray(labels.wpt_fraction, float), np.asarray(labels.tau, float)
    have = np.isfinite(a) & np.isfinite(tau).all(axis=1)
    L, g, W = batch.coefficients()
    off = labels.modes.astype(bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = objective_value(L, g, W, off, np.where(have, np.maximum(a, 0.0), 0.0),
                                np.where(have[:, None], np.maximum(tau, 0.0), 0.0))
    return np.where(have, value, np.nan)

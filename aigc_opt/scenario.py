"""The network instance: users with one AIGC request each, edge servers, the cloud, the model
catalogue and the channel, all in SI units and validated on construction.

Every field, its axes, unit and bounds are listed in :data:`aigc_opt.schema.SCHEMA`; arrays are
stored read-only so a scenario can be shared between solves and processes without copies.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UnknownNameError, ValidationError
from .matfile import NpyHeader, load_npz
from .schema import FIELDS, LOWER_BOUNDS, SCHEMA, FieldSpec, check_floor
from .validate import (
    check_array,
    check_choice,
    check_path,
    check_scalar,
    check_size,
    load_json,
    writing,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1


@dataclass(frozen=True, eq=False, kw_only=True)
class Scenario:
    """An edge-AIGC network instance (see :mod:`aigc_opt.schema` for every field's unit).

    Axes: N users (one request each), S edge servers, M models, P quality-curve breakpoints,
    L links per user. Construct with keyword arguments for every field, with :meth:`generate`,
    or with :meth:`load`. Derived quantities (:attr:`distance_m`, sizes) are properties, never
    stored.

    The channel is stored either densely (``channel_gain``, shape (N, S)) or sparsely as links
    (``link_server`` and ``link_gain``, shape (N, L): the L servers each user hears, strictly
    increasing per user, and their gains; a server a user does not hear has gain 0 and cannot
    serve it). Exactly one form is given; the other fields are None. Read the channel through
    :meth:`gain_at`, :meth:`links` and :attr:`best_server`, which work for both;
    ``channel_gain`` is None for a sparse scenario (:meth:`dense` converts small ones).
    Parameters
    ----------
    user_position_m : ndarray, shape (N, 2)
        Planar position of each device, m.
    user_tx_power_w : ndarray, shape (N,)
        Maximum uplink transmit power, W.
    user_compute_flops : ndarray, shape (N,)
        Device compute speed, FLOP/s.
    user_kappa : ndarray, shape (N,)
        Effective switched capacitance (local energy ``kappa W f^2`` for W FLOP at f FLOP/s),
        J s^2/FLOP^3.
    user_energy_budget_j : ndarray, shape (N,)
        Device energy budget per request, J.
    request_model : ndarray of int, shape (N,)
        Model id (index into the catalogue) (-).
    request_input_bits : ndarray, shape (N,)
        Uploaded input size (prompt, image, ...), bit.
    request_output_bits : ndarray, shape (N,)
        Downloaded output size (generated content), bit.
    request_steps : ndarray of int, shape (N,)
        Requested denoising steps / output tokens, step.
    request_deadline_s : ndarray, shape (N,)
        End-to-end latency deadline, s.
    request_weight : ndarray, shape (N,)
        Importance weight of the request (-).
    server_position_m : ndarray, shape (S, 2)
        Planar position of each server, m.
    server_compute_flops : ndarray, shape (S,)
        GPU compute speed, FLOP/s.
    server_gpu_memory_bytes : ndarray, shape (S,)
        GPU memory for cached models, byte.
    server_uplink_hz : ndarray, shape (S,)
        Uplink bandwidth, Hz.
    server_downlink_hz : ndarray, shape (S,)
        Downlink bandwidth, Hz.
    server_tx_power_w : ndarray, shape (S,)
        Downlink transmit power, W.
    server_backhaul_bps : ndarray, shape (S,)
        Backhaul rate to the cloud, bit/s.
    server_subchannels : ndarray of int, shape (S,)
        Orthogonal subchannels (uplink and downlink) (-).
    server_gpu_slots : ndarray of int, shape (S,)
        Concurrent requests the GPU is shared among (-).
    server_energy_per_flop_j : ndarray, shape (S,)
        Edge compute energy per FLOP, J/FLOP.
    server_load_bps : ndarray, shape (S,)
        Model loading rate into GPU memory, bit/s.
    cloud_compute_flops : float
        Cloud compute speed given to one request, FLOP/s.
    cloud_latency_s : float
        Backhaul propagation delay, round trip, s.
    cloud_energy_per_flop_j : float
        Cloud compute energy per FLOP, J/FLOP.
    cloud_cost_per_flop : float
        Price of cloud compute, cost/FLOP.
    model_size_bytes : ndarray, shape (M,)
        GPU memory footprint of the model, byte.
    model_flop_per_step : ndarray, shape (M,)
        Compute per denoising step / token, FLOP.
    model_quality_kind : ndarray of str, shape (M,)
        Quality curve kind: "sigmoid", "piecewise_linear" or "tabulated" (-).
    model_quality_max : ndarray, shape (M,)
        Sigmoid: asymptotic quality q_max (-).
    model_quality_slope : ndarray, shape (M,)
        Sigmoid: slope a, 1/step.
    model_quality_mid : ndarray, shape (M,)
        Sigmoid: midpoint b, step.
    model_quality_steps : ndarray, shape (M, P)
        piecewise_linear / tabulated: breakpoints, strictly increasing per model (P >= 1 if any
        model uses them), step.
    model_quality_values : ndarray, shape (M, P)
        piecewise_linear / tabulated: quality at the breakpoints (-).
    channel_gain : ndarray, shape (N, S) or None
        Linear channel power gain, dense (None when the channel is given as links) (-).
    link_server : ndarray of int, shape (N, L) or None
        Links: the L servers each user hears, strictly increasing per user (None: dense) (-).
    link_gain : ndarray, shape (N, L) or None
        Links: linear channel power gain to link_server (None: dense) (-).
    noise_psd_w_per_hz : float
        Noise power spectral density, W/Hz.
    antenna_gain : float
        Path-loss antenna gain A_d (generation only) (-).
    carrier_hz : float
        Carrier frequency f_c (generation only), Hz.
    path_loss_exponent : float
        Path-loss exponent d_e (generation only) (-).
    fading : str
        Small-scale fading used in generation: "none", "rayleigh" or "rician" (-).
    rician_k : float
        Rician K-factor (generation only) (-).
    """

    user_position_m: np.ndarray
    user_tx_power_w: np.ndarray
    user_compute_flops: np.ndarray
    user_kappa: np.ndarray
    user_energy_budget_j: np.ndarray
    request_model: np.ndarray
    request_input_bits: np.ndarray
    request_output_bits: np.ndarray
    request_steps: np.ndarray
    request_deadline_s: np.ndarray
    request_weight: np.ndarray
    server_position_m: np.ndarray
    server_compute_flops: np.ndarray
    server_gpu_memory_bytes: np.ndarray
    server_uplink_hz: np.ndarray
    server_downlink_hz: np.ndarray
    server_tx_power_w: np.ndarray
    server_backhaul_bps: np.ndarray
    server_subchannels: np.ndarray
    server_gpu_slots: np.ndarray
    server_energy_per_flop_j: np.ndarray
    server_load_bps: np.ndarray
    cloud_compute_flops: float
    cloud_latency_s: float
    cloud_energy_per_flop_j: float
    cloud_cost_per_flop: float
    model_size_bytes: np.ndarray
    model_flop_per_step: np.ndarray
    model_quality_kind: np.ndarray
    model_quality_max: np.ndarray
    model_quality_slope: np.ndarray
    model_quality_mid: np.ndarray
    model_quality_steps: np.ndarray
    model_quality_values: np.ndarray
    # None for a sparse scenario: typed as an array so that the families written for dense
    # scenarios type-check; code that accepts sparse scenarios reads gain_at / links().
    channel_gain: np.ndarray = None  # type: ignore[assignment]
    link_server: np.ndarray | None = None
    link_gain: np.ndarray | None = None
    noise_psd_w_per_hz: float
    antenna_gain: float
    carrier_hz: float
    path_loss_exponent: float
    fading: str
    rician_k: float

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        sizes = self._axis_sizes()
        for spec in SCHEMA:
            value = getattr(self, spec.name)
            if spec.optional and value is None:
                continue
            object.__setattr__(self, spec.name, _check_field(spec, value, sizes))
        self._check_channel(sizes)
        bad = self.request_model >= sizes["model"]
        if bad.any():
            raise ValidationError(
                "request_model", "-", int(self.request_model[bad][0]),
                f"unknown model id (catalogue has {sizes['model']} models: "
                f"0..{sizes['model'] - 1})",
            )
        steps = self.model_quality_steps
        table = np.isin(self.model_quality_kind, ("piecewise_linear", "tabulated"))
        if steps.shape[1] == 0 and table.any():
            m = int(np.nonzero(table)[0][0])
            raise ValidationError(
                "model_quality_steps", "step", steps.shape,
                f"model {m} has a {self.model_quality_kind[m]} quality curve but there are no "
                "breakpoints (P = 0); give at least one breakpoint per model",
            )
        if steps.shape[1] > 1 and not (np.diff(steps, axis=1) > 0).all():
            row = int(np.nonzero((np.diff(steps, axis=1) <= 0).any(axis=1))[0][0])
            raise ValidationError(
                "model_quality_steps", "step", steps[row],
                f"model {row}: must be strictly increasing"
            )

    def _check_channel(self, sizes: dict[str, int]) -> None:
        """Exactly one channel form; links name existing servers, strictly increasing."""
        dense = self.channel_gain is not None
        linked = (self.link_server is not None, self.link_gain is not None)
        if dense and any(linked):
            raise ValidationError("link_server" if linked[0] else "link_gain", "-",
                                  "dense and links",
                                  "give either channel_gain (dense) or link_server and "
                                  "link_gain (links), not both")
        if not dense and not all(linked):
            name = "link_gain" if linked[0] else "link_server" if linked[1] else "channel_gain"
            raise ValidationError(name, "-", None, "missing: give channel_gain (dense) or both "
                                  "link_server and link_gain (links)")
        if dense:
            return
        ls = self.link_server
        assert ls is not None
        if ls.size and int(ls.max()) >= sizes["server"]:
            raise ValidationError("link_server", "-", int(ls.max()),
                                  f"unknown server (there are {sizes['server']}: "
                                  f"0..{sizes['server'] - 1})")
        if ls.shape[1] > 1 and not (np.diff(ls, axis=1) > 0).all():
            row = int(np.nonzero((np.diff(ls, axis=1) <= 0).any(axis=1))[0][0])
            raise ValidationError("link_server", "-", ls[row],
                                  f"user {row}: servers must be strictly increasing")

    def _axis_sizes(self) -> dict[str, int]:
        """Axis lengths: the most common length among the fields on each axis, so that the one
        field with a wrong shape is the one the error names."""
        sizes = _axis_lengths({s.name: _shape_of(getattr(self, s.name)) for s in SCHEMA})
        for axis, name in (("user", "user_tx_power_w"), ("server", "server_compute_flops"),
                           ("model", "model_size_bytes")):
            if sizes[axis] == 0:
                raise ValidationError(name, FIELDS[name].unit, [], f"empty scenario: no {axis}s")
        return sizes

    # ------------------------------------------------------------------ derived quantities
    @property
    def n_users(self) -> int:
        """N, the number of users (= requests)."""
        return int(self.user_tx_power_w.shape[0])

    @property
    def n_servers(self) -> int:
        """S, the number of edge servers."""
        return int(self.server_compute_flops.shape[0])

    @property
    def n_models(self) -> int:
        """M, the number of models in the catalogue."""
        return int(self.model_size_bytes.shape[0])

    @property
    def distance_m(self) -> np.ndarray:
        """User-to-server distances, m, shape (N, S)."""
        d = self.user_position_m[:, None, :] - self.server_position_m[None, :, :]
        return np.sqrt((d**2).sum(axis=-1))

    @property
    def is_sparse(self) -> bool:
        """True when the channel is stored as links (``link_server``, ``link_gain``)."""
        return self.channel_gain is None

    def links(self) -> tuple[np.ndarray, np.ndarray]:
        """``(server, gain)``, shape (N, L): the servers each user hears and the gains (for a
        dense scenario every server, L = S)."""
        if self.channel_gain is not None:
            g = self.channel_gain
            return np.broadcast_to(np.arange(g.shape[1]), g.shape), g
        assert self.link_server is not None and self.link_gain is not None
        return self.link_server, self.link_gain

    @property
    def best_server(self) -> np.ndarray:
        """Highest-gain server of each user, shape (N,) (lowest index on ties)."""
        server, gain = self.links()
        return np.asarray(server[np.arange(self.n_users), np.argmax(gain, axis=1)])

    def top_servers(self, k: int) -> np.ndarray:
        """Each user's ``k`` highest-gain servers, shape (N, min(k, L)), best first; ties go to
        the lower server index (the one rule the builders' candidate sets and the referee
        share: a tied server outside the set is not an option)."""
        server, gain = self.links()
        order = np.lexsort((server, -gain), axis=-1)[:, :k]
        return np.asarray(np.take_along_axis(server, order, axis=1))

    def gain_at(self, users: np.ndarray, servers: np.ndarray) -> np.ndarray:
        """Channel gain of the pairs ``(users[i], servers[i])``; 0 for a pair without a link
        (sparse scenarios). Vectorised: O(pairs) dense, O(pairs x L) sparse."""
        u = np.asarray(users)
        sv = np.asarray(servers)
        if self.channel_gain is not None:
            return np.asarray(self.channel_gain[u, sv])
        assert self.link_server is not None and self.link_gain is not None
        hit = self.link_server[u] == np.asarray(sv)[..., None]
        return np.where(hit, self.link_gain[u], 0.0).sum(axis=-1)

    def dense(self) -> Scenario:
        """The same scenario with a dense ``channel_gain`` (gain 0 where there is no link is
        not representable densely, so a sparse scenario must link every user to every server;
        otherwise use :meth:`gain_at`)."""
        if self.channel_gain is not None:
            return self
        assert self.link_server is not None and self.link_gain is not None
        if self.link_server.shape[1] != self.n_servers:
            raise ValidationError("link_server", "-", self.link_server.shape,
                                  "only a scenario whose users hear every server has a dense "
                                  "form (channel gains must be > 0)")
        return replace(self, channel_gain=self.link_gain, link_server=None, link_gain=None)

    def sparse(self, k: int | None = None) -> Scenario:
        """The same scenario with the channel stored as links: each user's ``k`` highest-gain
        servers (None: all), ties to the lower server index as in :meth:`top_servers` (so
        ``sparse(k)`` keeps exactly the options of ``candidate_servers=k``)."""
        server, gain = self.links()
        L = server.shape[1]
        k = L if k is None else check_size("k", k, L, raise_with=None)
        if k < L:
            top = np.lexsort((server, -gain), axis=-1)[:, :k]
            server = np.take_along_axis(server, top, axis=1)
            gain = np.take_along_axis(gain, top, axis=1)
        order = np.argsort(server, axis=1)
        return replace(self, channel_gain=None,  # type: ignore[arg-type]
                       link_server=np.take_along_axis(server, order, axis=1),
                       link_gain=np.take_along_axis(gain, order, axis=1))

    @property
    def request_flop(self) -> np.ndarray:
        """Workload of each request at its requested steps, FLOP, shape (N,)."""
        return self.request_steps * self.model_flop_per_step[self.request_model]

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def generate(
        cls,
        n_users: int = 20,
        n_servers: int = 3,
        n_models: int = 4,
        *,
        seed: int = 0,
        profile: str = "edge_aigc",
        max_entries: int | None = None,
        load: float | str | None = "profile",
        links: int | None = None,
        **overrides: Any,
    ) -> Scenario:
        """Seeded, reproducible scenario from a named parameter profile.

        See :mod:`aigc_opt.profiles` for the profiles and their sources. ``overrides`` replace
        any generated field (validated like the rest). Sizes must be integers >= 1; a scenario
        whose largest array (the ``n_users x n_servers`` channel gains) would exceed
        ``max_entries`` entries (default :data:`aigc_opt.validate.MAX_ENTRIES`, 1e7) is refused
        before anything is allocated.

        ``load`` is the target utilisation the network is sized to (default: the profile's,
        0.7), so that the default offloading problem is feasible for every ``n_users``;
        ``load=None`` keeps the profile's fixed per-server capacities (see
        :func:`aigc_opt.profiles.generate`). ``links=k`` stores the channel sparsely: each user
        hears its ``k`` nearest servers (O(N k) time and memory instead of O(N S)).
        """
        from .profiles import generate

        return generate(n_users, n_servers, n_models, seed=seed, profile=profile,
                        max_entries=max_entries, load=load, links=links, **overrides)

    def replace(self, **changes: Any) -> Scenario:
        """A new, validated scenario with some fields changed."""
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise UnknownNameError("scenario field", sorted(unknown)[0], FIELDS)
        return replace(self, **changes)

    def subset(self, users: np.ndarray | slice) -> Scenario:
        """The scenario restricted to some users (servers, models and cloud unchanged)."""
        if not isinstance(users, slice):
            mask = np.asarray(users) if isinstance(users, np.ndarray) else None
            if mask is not None and mask.dtype.kind == "b":
                users = check_array("users", "-", mask, (self.n_users,), dtype=bool)
            else:
                users = check_array("users", "-", users, ndim=1, low=-self.n_users,
                                    high=self.n_users - 1, dtype=np.int64)
        changes: dict[str, Any] = {
            s.name: np.asarray(getattr(self, s.name))[users]
            for s in SCHEMA
            if s.axes and s.axes[0] == "user" and getattr(self, s.name) is not None
        }
        return replace(self, **changes)

    # ------------------------------------------------------------------ I/O
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists of Python floats, ints and strings)."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for spec in SCHEMA:
            v = getattr(self, spec.name)
            out[spec.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "dict") -> Scenario:
        """Build from :meth:`to_dict` output; every field is validated."""
        if not isinstance(data, dict):
            raise ValidationError("scenario", "-", type(data).__name__,
                                  f"must be a JSON object / dict of fields (in {source})")
        version = data.get("schema_version", SCHEMA_VERSION)
        if isinstance(version, np.ndarray) and version.ndim == 0:  # an .npz member
            version = version.item()
        if (isinstance(version, bool) or not isinstance(version, int | float)
                or version != SCHEMA_VERSION):
            raise ValidationError("schema_version", "-", version,
                                  f"expected {SCHEMA_VERSION} (in {source})")
        unknown = sorted(str(k) for k in set(data) - set(FIELDS) - {"schema_version"})
        if unknown:
            raise UnknownNameError("scenario field", unknown[0], FIELDS).located(source)
        missing = [s.name for s in SCHEMA if s.name not in data and not s.optional]
        if missing:
            raise ValidationError(missing[0], FIELDS[missing[0]].unit, None, f"missing in {source}")
        try:
            values: dict[str, Any] = {s.name: data.get(s.name) for s in SCHEMA}
            return cls(**values)
        except ValidationError as exc:
            raise (exc.located(source) if source != "dict" else exc) from None

    def save(self, path: str | Path) -> None:
        """Write by suffix: ``.npz`` (binary numpy archive, for large scenarios) or JSON (any
        other suffix; floats are written with ``repr``). Both round trips are exact."""
        p = check_path("path", path)
        with writing(p):
            if p.suffix.lower() == ".npz":
                arrays: dict[str, Any] = {"schema_version": np.array(SCHEMA_VERSION)}
                for spec in SCHEMA:
                    v = getattr(self, spec.name)
                    if v is not None:
                        arrays[spec.name] = np.asarray(v)
                with open(p, "wb") as fh:
                    np.savez(fh, **arrays)
                return
            p.write_text(json.dumps(self.to_dict(), allow_nan=True), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a scenario written by :meth:`save` (validated).

        Raises :class:`ValidationError` naming the path (and line) for a missing, unreadable,
        non-UTF-8, truncated, invalid or too deeply nested file, and naming the field and the
        file for bad content.
        """
        p = check_path("path", path)
        if p.suffix.lower() == ".npz":
            return cls.from_dict(_read_npz(p), source=str(path))
        data = load_json(path, "scenario file")
        return cls.from_dict(data, source=str(path))

    def digest(self) -> str:
        """Stable SHA-256 (first 16 hex digits) of the scenario's content."""
        h = hashlib.sha256()
        for spec in SCHEMA:
            v = getattr(self, spec.name)
            if v is None:
                continue  # an absent channel form (dense digests are unchanged by links)
            h.update(spec.name.encode())
            h.update(np.ascontiguousarray(v).tobytes() if isinstance(v, np.ndarray) else
                     repr(v).encode())
        return h.hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a is None or b is None:
                if a is not b:
                    return False
            elif isinstance(a, np.ndarray):
                if a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


def _axis_lengths(shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """Axis lengths from the fields' shapes: the most common length among the fields on each
    axis (ties go to the first field in schema order; 0 when no field gives one)."""
    sizes = {"xy": 2}
    for axis in ("user", "server", "model", "point", "link"):
        lengths: list[int] = []
        for spec in SCHEMA:
            shape = shapes.get(spec.name, ())
            if axis in spec.axes and len(shape) > spec.axes.index(axis):
                lengths.append(int(shape[spec.axes.index(axis)]))
        sizes[axis] = max(lengths, key=lengths.count) if lengths else 0
    return sizes


def _npz_expected(headers: dict[str, NpyHeader]) -> dict[str, tuple[int, ...]]:
    """Each field's shape as the archive's other entries declare it (``schema_version``: a
    scalar); an entry larger than this is refused before its data is read."""
    sizes = _axis_lengths({k: h.shape for k, h in headers.items()})
    return {"schema_version": ()} | {s.name: tuple(sizes[a] for a in s.axes) for s in SCHEMA}


def _read_npz(path: Path) -> dict[str, Any]:
    """The fields of a scenario ``.npz`` archive (no pickles; a bad file names the path; each
    entry's declared shape is checked before its data is read: :func:`aigc_opt.matfile.
    load_npz`)."""
    arrays = load_npz(path, "scenario .npz archive", expected=_npz_expected,
                      units={s.name: s.unit for s in SCHEMA})
    return {k: a.item() if a.ndim == 0 else a for k, a in arrays.items()}


def _shape_of(value: Any) -> tuple[int, ...]:
    """Shape of a field value without converting it (ragged or odd values: the shape as far as
    it is regular; () when it has none). Used only to infer the axis sizes."""
    if isinstance(value, np.ndarray):
        return value.shape
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return ()
    shape: list[int] = []
    x = value
    while hasattr(x, "__len__") and not isinstance(x, (str, bytes, dict)) and len(shape) < 8:
        try:
            shape.append(len(x))
            if not len(x):
                break
            x = x[0]
        except (TypeError, KeyError, IndexError):
            break
    return tuple(shape)


def _check_field(spec: FieldSpec, value: Any, sizes: dict[str, int]) -> Any:
    """Convert and validate one field (types first, then shape, NaN/inf, bounds, integrality;
    see :mod:`aigc_opt.validate`); return the stored (read-only) value."""
    shape = tuple(sizes[a] for a in spec.axes)
    if spec.dtype == "str":
        if not spec.axes:
            return check_choice(spec.name, value, spec.choices)
        if isinstance(value, (str, bytes)):
            raise ValidationError(spec.name, spec.unit, value,
                                  f"must be an array of strings of shape {shape}")
        try:
            arr = np.asarray(value, dtype=object)
        except (TypeError, ValueError) as exc:
            raise ValidationError(spec.name, spec.unit, value,
                                  "must be a rectangular array of strings") from exc
        if arr.shape != shape:
            named = "(" + ", ".join(f"{a}={sizes[a]}" for a in spec.axes) + ")"
            raise ValidationError(spec.name, spec.unit, arr.shape,
                                  f"wrong shape, expected {named}")
        for v in arr.ravel():
            check_choice(spec.name, v, spec.choices)
        out = np.array(arr.tolist(), dtype=str) if arr.size else np.zeros(shape, dtype="<U1")
        out.flags.writeable = False
        return out
    integer = spec.dtype == "int"
    # a capacity's floor is checked after the types, by check_floor, so that the message gives
    # the floor's reason (and exactly 0 passes where it means "none")
    floored = spec.bound in LOWER_BOUNDS and spec.low is not None
    low = None if floored else spec.lower
    if not spec.axes:
        out = check_scalar(spec.name, value, spec.unit, low, spec.high, integer=integer,
                           strict=spec.lower_strict, allow_inf=spec.allow_inf)
        if floored:
            check_floor(spec.name, spec.unit, out, spec.bound, zero_ok=spec.zero_allowed)
        return out
    arr = check_array(spec.name, spec.unit, value, low=low, high=spec.high,
                      strict=spec.lower_strict, allow_inf=spec.allow_inf, integer=integer,
                      dtype=np.int64 if integer else np.float64)
    if floored:
        check_floor(spec.name, spec.unit, arr, spec.bound, zero_ok=spec.zero_allowed)
    if arr.shape != shape:
        named = "(" + ", ".join(f"{a}={sizes[a]}" for a in spec.axes) + ")"
        raise ValidationError(spec.name, spec.unit, arr.shape, f"wrong shape, expected {named}")
    return arr

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
from .schema import FIELDS, SCHEMA, FieldSpec
from .validate import check_array, check_choice, check_scalar, load_json

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1


@dataclass(frozen=True, eq=False)
class Scenario:
    """An edge-AIGC network instance (see :mod:`aigc_opt.schema` for every field's unit).

    Axes: N users (one request each), S edge servers, M models, P quality-curve breakpoints.
    Construct with keyword arguments for every field, with :meth:`generate`, or with
    :meth:`load`. Derived quantities (:attr:`distance_m`, sizes) are properties, never stored.
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
    channel_gain: np.ndarray
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
            object.__setattr__(self, spec.name, _check_field(spec, getattr(self, spec.name), sizes))
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

    def _axis_sizes(self) -> dict[str, int]:
        """Axis lengths: the most common length among the fields on each axis, so that the one
        field with a wrong shape is the one the error names."""
        sizes = {"xy": 2}
        for axis in ("user", "server", "model", "point"):
            lengths: list[int] = []
            for spec in SCHEMA:
                if axis not in spec.axes:
                    continue
                shape = _shape_of(getattr(self, spec.name))
                k = spec.axes.index(axis)
                if len(shape) > k:
                    lengths.append(int(shape[k]))
            # most common length; ties go to the first field in schema order
            sizes[axis] = max(lengths, key=lengths.count) if lengths else 0
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
        **overrides: Any,
    ) -> Scenario:
        """Seeded, reproducible scenario from a named parameter profile.

        See :mod:`aigc_opt.profiles` for the profiles and their sources. ``overrides`` replace
        any generated field (validated like the rest). Sizes must be integers >= 1; a scenario
        whose largest array (the ``n_users x n_servers`` channel gains) would exceed
        ``max_entries`` entries (default :data:`aigc_opt.validate.MAX_ENTRIES`, 1e7) is refused
        before anything is allocated.
        """
        from .profiles import generate

        return generate(n_users, n_servers, n_models, seed=seed, profile=profile,
                        max_entries=max_entries, **overrides)

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
            if s.axes and s.axes[0] == "user"
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
        if isinstance(version, bool) or version != SCHEMA_VERSION:
            raise ValidationError("schema_version", "-", version,
                                  f"expected {SCHEMA_VERSION} (in {source})")
        unknown = sorted(str(k) for k in set(data) - set(FIELDS) - {"schema_version"})
        if unknown:
            raise UnknownNameError("scenario field", unknown[0], FIELDS).located(source)
        missing = [s.name for s in SCHEMA if s.name not in data]
        if missing:
            raise ValidationError(missing[0], FIELDS[missing[0]].unit, None, f"missing in {source}")
        try:
            return cls(**{s.name: data[s.name] for s in SCHEMA})
        except ValidationError as exc:
            raise (exc.located(source) if source != "dict" else exc) from None

    def save(self, path: str | Path) -> None:
        """Write as JSON; floats are written with ``repr`` so the round trip is exact."""
        Path(path).write_text(json.dumps(self.to_dict(), allow_nan=True), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a scenario written by :meth:`save` (validated).

        Raises :class:`ValidationError` naming the path (and line) for a missing, unreadable,
        non-UTF-8, truncated, invalid or too deeply nested file, and naming the field and the
        file for bad content.
        """
        data = load_json(path, "scenario file")
        return cls.from_dict(data, source=str(path))

    def digest(self) -> str:
        """Stable SHA-256 (first 16 hex digits) of the scenario's content."""
        h = hashlib.sha256()
        for spec in SCHEMA:
            v = getattr(self, spec.name)
            h.update(spec.name.encode())
            h.update(np.ascontiguousarray(v).tobytes() if isinstance(v, np.ndarray) else
                     repr(v).encode())
        return h.hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                if a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


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
    if not spec.axes:
        return check_scalar(spec.name, value, spec.unit, spec.lower, spec.high, integer=integer,
                            strict=spec.strict, allow_inf=spec.allow_inf)
    arr = check_array(spec.name, spec.unit, value, low=spec.lower, high=spec.high,
                      strict=spec.strict, allow_inf=spec.allow_inf, integer=integer,
                      dtype=np.int64 if integer else np.float64)
    if arr.shape != shape:
        named = "(" + ", ".join(f"{a}={sizes[a]}" for a in spec.axes) + ")"
        raise ValidationError(spec.name, spec.unit, arr.shape, f"wrong shape, expected {named}")
    return arr

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

from .errors import ValidationError
from .schema import FIELDS, SCHEMA, FieldSpec
from .validate import check_array

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
                arr = np.asarray(getattr(self, spec.name), dtype=object)
                k = spec.axes.index(axis)
                if arr.ndim > k:
                    lengths.append(int(arr.shape[k]))
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
        **overrides: Any,
    ) -> Scenario:
        """Seeded, reproducible scenario from a named parameter profile.

        See :mod:`aigc_opt.profiles` for the profiles and their sources. ``overrides`` replace
        any generated field (validated like the rest).
        """
        from .profiles import generate

        return generate(n_users, n_servers, n_models, seed=seed, profile=profile, **overrides)

    def replace(self, **changes: Any) -> Scenario:
        """A new, validated scenario with some fields changed."""
        unknown = set(changes) - set(FIELDS)
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(name, "-", changes[name], "unknown scenario field")
        return replace(self, **changes)

    def subset(self, users: np.ndarray | slice) -> Scenario:
        """The scenario restricted to some users (servers, models and cloud unchanged)."""
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
            raise ValidationError(source, "-", type(data).__name__, "must be a JSON object")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValidationError("schema_version", "-", version, f"expected {SCHEMA_VERSION}")
        unknown = set(data) - set(FIELDS) - {"schema_version"}
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(name, "-", data[name], f"unknown scenario field in {source}")
        missing = [s.name for s in SCHEMA if s.name not in data]
        if missing:
            raise ValidationError(missing[0], FIELDS[missing[0]].unit, None, f"missing in {source}")
        return cls(**{s.name: data[s.name] for s in SCHEMA})

    def save(self, path: str | Path) -> None:
        """Write as JSON; floats are written with ``repr`` so the round trip is exact."""
        Path(path).write_text(json.dumps(self.to_dict(), allow_nan=True))

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a scenario written by :meth:`save` (validated)."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise ValidationError("path", "-", str(p), f"cannot read scenario file: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError("path", "-", str(p), f"not valid JSON: {exc}") from exc
        return cls.from_dict(data, source=str(p))

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


def _check_field(spec: FieldSpec, value: Any, sizes: dict[str, int]) -> Any:
    """Convert and validate one field; return the stored (read-only) value."""
    if spec.dtype == "str":
        if not spec.axes:
            if not isinstance(value, str) or (spec.choices and value not in spec.choices):
                raise ValidationError(spec.name, spec.unit, value, f"must be one of {spec.choices}")
            return value
        arr = np.asarray(value, dtype=object)
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValidationError(spec.name, spec.unit, value, "must be numeric") from exc
    shape = tuple(sizes[a] for a in spec.axes)
    if arr.shape != shape:
        named = "(" + ", ".join(f"{a}={sizes[a]}" for a in spec.axes) + ")"
        raise ValidationError(spec.name, spec.unit, arr.shape, f"wrong shape, expected {named}")
    if spec.dtype == "str":
        wrong = [v for v in arr.ravel() if v not in spec.choices]
        if wrong:
            raise ValidationError(spec.name, spec.unit, wrong[0], f"must be one of {spec.choices}")
        out = np.array(arr.tolist(), dtype=str) if arr.size else np.zeros(shape, dtype="<U1")
        out.flags.writeable = False
        return out
    arr = check_array(spec.name, spec.unit, arr, low=spec.low, strict=spec.strict,
                      allow_inf=spec.allow_inf, integer=spec.dtype == "int")
    if not spec.axes:
        return int(arr) if spec.dtype == "int" else float(arr)
    if spec.dtype == "int":
        arr = arr.astype(np.int64)
        arr.flags.writeable = False
    return arr

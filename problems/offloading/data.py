r"""Offloading family data: specs, allocations, objective weights and the shared physics.

Everything here is imported both by the builders (:mod:`.assignment`, :mod:`.partial`,
:mod:`.multicell`, :mod:`.joint`) and by the referee (:mod:`.evaluate`), which must not import
a builder. :class:`OffloadAllocation` and :class:`OffloadObjective` are also used by the
resource-allocation family.

Physics of :func:`link_times` (request n with model m, radio server r, all SI):

* uplink   ``t_up = D_in / (b_up log2(1 + p g_nr / (N0 b_up)))``;
* downlink ``t_dl = D_out / (b_dl log2(1 + P_r g_nr / (N0 b_dl)))``;
* remote compute ``t_rc = k_rem phi_m / f_rem`` (edge share or cloud speed);
* cloud backhaul ``t_bh = (D_in + D_out) / R_n + tau_cloud`` (cloud requests only);
* device compute ``t_dc = k_dev phi_m / f_dev``;
* latency ``L = t_up + t_bh + t_rc + t_dl + t_dc`` (0 comm terms for local execution);
* device energy ``E_dev = p t_up + kappa k_dev phi_m f_dev^2``;
* server energy ``E_srv = e k_rem phi_m`` (edge or cloud energy per FLOP, J/FLOP);
* quality ``Q = q_m(k_rem + k_dev)``;
* a rejected request (placement ``REJECT``) has every time and energy 0.

:func:`branch_times` gives the unit branch times of partial offloading (device and edge
branches in parallel), :func:`link_capacity` the inter-server link matrix of the multi-cell
variant (forwarding adds ``(D_in + D_out) / forward_bps`` to the latency).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aigc_opt.channel import shannon_rate
from aigc_opt.errors import ValidationError
from aigc_opt.scenario import Scenario
from aigc_opt.schema import bound, check_floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import check_array, check_bool, check_choice, check_int, check_scalar

#: Placement codes (edge servers are 0..S-1). ``REJECT``: the request is not served (only
#: valid under an elastic spec, ``OffloadingSpec(admission=True)``).
LOCAL = -1
CLOUD = -2
REJECT = -3

#: Default penalty of a rejected request, objective units per unit of request weight.
DEFAULT_REJECTION_PENALTY = 100.0

#: Largest ``N * S`` for which a family that needs a dense channel densifies a sparse scenario.
DENSE_LIMIT = 10**7


def _ro(a: Any, dtype: Any, name: str, unit: str, shape: tuple[int, ...]) -> np.ndarray:
    """An allocation array: real (no strings, complex, ragged), no NaN, +inf allowed, integer
    codes integral (range-checked before the cast)."""
    return check_array(name, unit, a, shape, allow_inf=np.dtype(dtype).kind == "f", dtype=dtype)


def _check_objective(obj: Any) -> None:
    if not isinstance(obj, OffloadObjective):
        raise ValidationError("objective", "-", type(obj).__name__, "must be an OffloadObjective")


def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise with ``0/0 = 0`` and ``x/0 = inf`` for ``x > 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(num > 0, num / den, 0.0)
    return np.where((num > 0) & (den <= 0), np.inf, out)


# ---------------------------------------------------------------------- allocations
@dataclass(frozen=True, eq=False)
class OffloadAllocation:
    """Per-request placement and resources (N requests, S servers, M models).

    Parameters
    ----------
    placement : ndarray of int, shape (N,)
        ``LOCAL`` (-1), ``CLOUD`` (-2), ``REJECT`` (-3, not served: elastic specs only) or an
        edge server index in ``0..S-1``.
    radio_server : ndarray of int, shape (N,)
        Server whose radio carries the request's up/downlink (the edge server itself, or the
        relay towards the cloud); -1 for local execution and rejected requests (whose
        resources and steps are all 0).
    uplink_hz, downlink_hz : ndarray, shape (N,)
        Bandwidth given to the request on ``radio_server``, Hz.
    tx_power_w : ndarray, shape (N,)
        Device uplink transmit power, W.
    compute_flops : ndarray, shape (N,)
        Compute speed given to the remote part (edge share or cloud), FLOP/s.
    backhaul_bps : ndarray, shape (N,)
        Backhaul rate given to a cloud request on its relay, bit/s.
    remote_steps : ndarray, shape (N,)
        Steps run remotely (at the edge server or cloud); finite, ``|k| <= 1e7`` (the schema's
        ``steps`` bound; fractional and slightly negative values of relaxations are allowed).
    device_steps : ndarray, shape (N,)
        Steps run on the device (all of them for local execution; the tail of a hybrid split);
        finite, ``|k| <= 1e7``.
    cache : ndarray of bool, shape (S, M)
        ``cache[s, m]``: server s holds model m in GPU memory.
    """

    placement: np.ndarray
    radio_server: np.ndarray
    uplink_hz: np.ndarray
    downlink_hz: np.ndarray
    tx_power_w: np.ndarray
    compute_flops: np.ndarray
    backhaul_bps: np.ndarray
    remote_steps: np.ndarray
    device_steps: np.ndarray
    cache: np.ndarray

    instance_type = Scenario

    def __post_init__(self) -> None:
        n = check_array("placement", "-", self.placement, ndim=1, dtype=np.int64).shape[0]
        cache = check_array("cache", "-", self.cache, ndim=2, dtype=bool)
        spec = {
            "placement": (np.int64, "-"),
            "radio_server": (np.int64, "-"),
            "uplink_hz": (np.float64, "Hz"),
            "downlink_hz": (np.float64, "Hz"),
            "tx_power_w": (np.float64, "W"),
            "compute_flops": (np.float64, "FLOP/s"),
            "backhaul_bps": (np.float64, "bit/s"),
        }
        for name, (dtype, unit) in spec.items():
            object.__setattr__(self, name, _ro(getattr(self, name), dtype, name, unit, (n,)))
        hi = bound("steps")  # finite step counts (|k| <= 1e7, as quality() takes their sum)
        for name in ("remote_steps", "device_steps"):
            object.__setattr__(self, name, check_array(name, "step", getattr(self, name), (n,),
                                                       low=-hi, high=hi))
        object.__setattr__(self, "cache", _ro(cache, bool, "cache", "-", cache.shape))

    @property
    def n_users(self) -> int:
        """Number of requests N."""
        return int(self.placement.shape[0])

    @property
    def steps(self) -> np.ndarray:
        """Total denoising steps per request (remote + device)."""
        return self.remote_steps + self.device_steps


@dataclass(frozen=True, eq=False)
class MulticellAllocation(OffloadAllocation):
    """An :class:`OffloadAllocation` whose edge requests may run away from their radio server.

    Parameters
    ----------
    forward_bps : ndarray, shape (N,)
        Rate given on the inter-server link ``radio_server -> placement``, bit/s (0 when the
        request is not forwarded). Other fields as in :class:`OffloadAllocation`; for an edge
        request ``radio_server`` may differ from ``placement``.
    """

    forward_bps: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "forward_bps", _ro(self.forward_bps, np.float64,
                                                    "forward_bps", "bit/s", (self.n_users,)))

    @property
    def forwarded(self) -> np.ndarray:
        """True for edge requests processed away from their radio server."""
        return (self.placement >= 0) & (self.radio_server != self.placement)


@dataclass(frozen=True, eq=False)
class PartialOffloadAllocation:
    """Per-request split between device and one edge server (N requests).

    Parameters
    ----------
    server : ndarray of int, shape (N,)
        Edge server that runs the offloaded part (its radio carries the data), ``0..S-1``.
    fraction : ndarray, shape (N,)
        ``lambda_n`` in [0, 1], the offloaded fraction of workload and data.
    uplink_hz, downlink_hz : ndarray, shape (N,)
        Bandwidth given on ``server``, Hz.
    tx_power_w : ndarray, shape (N,)
        Device transmit power, W.
    compute_flops : ndarray, shape (N,)
        Edge compute share, FLOP/s.
    """

    server: np.ndarray
    fraction: np.ndarray
    uplink_hz: np.ndarray
    downlink_hz: np.ndarray
    tx_power_w: np.ndarray
    compute_flops: np.ndarray

    instance_type = Scenario

    def __post_init__(self) -> None:
        n = check_array("server", "-", self.server, ndim=1, dtype=np.int64).shape[0]
        units = {"server": (np.int64, "-"), "fraction": (np.float64, "-"),
                 "uplink_hz": (np.float64, "Hz"), "downlink_hz": (np.float64, "Hz"),
                 "tx_power_w": (np.float64, "W"), "compute_flops": (np.float64, "FLOP/s")}
        for name, (dtype, unit) in units.items():
            object.__setattr__(self, name, _ro(getattr(self, name), dtype, name, unit, (n,)))

    @property
    def n_users(self) -> int:
        """Number of requests N."""
        return int(self.server.shape[0])


# ---------------------------------------------------------------------- objective
#: Unit of each :class:`OffloadObjective` weight (the objective is a pure number: a weight is
#: per unit of its term).
_OFFLOAD_WEIGHT_UNITS: dict[str, str] = {
    "latency": "1/s", "device_energy": "1/J", "server_energy": "1/J", "quality": "-",
    "deadline_penalty": "1/s", "cloud_cost": "1/cost", "load": "1/s"}


@dataclass(frozen=True)
class OffloadObjective:
    """Weights of the offloading objective (minimised)::

        sum_n w_n (alpha L_n + beta E^dev_n + eta E^srv_n - gamma Q_n + rho max(0, L_n - d_n))
          + mu * cloud_cost + lambda * sum_{s,m} cache[s, m] * size_m / load_rate_s

    Parameters
    ----------
    latency : float
        alpha, per second of end-to-end latency L_n.
    device_energy : float
        beta, per joule of device energy (transmit + local compute).
    server_energy : float
        eta, per joule of edge/cloud compute energy.
    quality : float
        gamma, per unit of output quality Q_n (a reward, hence the minus sign).
    deadline_penalty : float
        rho, per second of lateness beyond the deadline d_n (used when ``deadline="penalty"``).
    cloud_cost : float
        mu, per cost unit of cloud compute (``cloud_cost_per_flop * FLOP``).
    load : float
        lambda, per second of model loading time of the cached models (not weighted by w_n).
    deadline : {"hard", "penalty"}
        Hard deadlines are constraints (their violation makes an allocation infeasible);
        ``"penalty"`` makes lateness a cost and drops the constraint.
    """

    latency: float = 1.0
    device_energy: float = 0.1
    server_energy: float = 0.0
    quality: float = 1.0
    deadline_penalty: float = 10.0
    cloud_cost: float = 1.0
    load: float = 0.0
    deadline: str = "hard"

    def __post_init__(self) -> None:
        for name, unit in _OFFLOAD_WEIGHT_UNITS.items():
            object.__setattr__(self, name, check_scalar(name, getattr(self, name), unit, 0.0,
                                                        bound("weight")))
        check_choice("deadline", self.deadline, ("hard", "penalty"))


def objective_of(objective: Any) -> OffloadObjective:
    """The weights of ``objective``: an :class:`OffloadObjective`, a spec carrying one as
    ``.objective``, or None (the defaults)."""
    if objective is None:
        return OffloadObjective()
    if isinstance(objective, OffloadObjective):
        return objective
    obj = getattr(objective, "objective", None)
    if isinstance(obj, OffloadObjective):
        return obj
    raise ValidationError("objective", "-", type(objective).__name__,
                          "expected an OffloadObjective or a spec with one")


def rejection_penalty_of(spec: Any) -> float | None:
    """The per-unit-weight rejection penalty when ``spec`` is elastic (``admission=True``),
    else None (rejecting a request is then a hard violation)."""
    if getattr(spec, "admission", False) is True:
        return float(spec.rejection_penalty)
    return None


def dense_channel(scn: Scenario, what: str = "this problem") -> Scenario:
    """``scn`` with a dense ``channel_gain`` for code that cannot read links.

    A dense scenario is returned as is; a sparse one is densified when every user hears every
    server and ``N * S <= DENSE_LIMIT``; otherwise a :class:`ValidationError` on
    ``channel_gain`` is raised.
    """
    if not scn.is_sparse:
        return scn
    assert scn.link_server is not None
    if (scn.link_server.shape[1] == scn.n_servers
            and scn.n_users * scn.n_servers <= DENSE_LIMIT):
        return scn.dense()
    raise ValidationError("channel_gain", "-", "sparse links",
                          f"{what} needs a dense scenario: use scn.dense()")


def objective_param(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with an ``objective`` given as a dict of :class:`OffloadObjective` fields
    (suite files) turned into the dataclass."""
    if isinstance(params.get("objective"), dict):
        names = {f.name for f in dataclasses.fields(OffloadObjective)}
        unknown = sorted(str(k) for k in set(params["objective"]) - names)
        if unknown:
            from aigc_opt.errors import UnknownNameError

            raise UnknownNameError("objective weight", unknown[0], names)
        params = {**params, "objective": OffloadObjective(**params["objective"])}
    return params


# ---------------------------------------------------------------------- specs
def _check_linking(linking: str) -> None:
    check_choice("linking", linking, ("disaggregated", "aggregated"))


def _check_local_steps(local_max_steps: int | None) -> None:
    check_int("local_max_steps", local_max_steps, "step", 1, int(bound("steps")), optional=True)


def _check_common(spec: Any, *names: str) -> None:
    """Shared spec fields: the objective, flags, optional counts and ``linking``."""
    _check_objective(spec.objective)
    for name in names:
        if name.startswith(("allow_", "use_")):
            object.__setattr__(spec, name, check_bool(name, getattr(spec, name)))
        elif name == "local_max_steps":
            object.__setattr__(spec, name, check_int(name, spec.local_max_steps, "step", 1,
                                                     int(bound("steps")), optional=True))
        elif name == "candidate_servers":
            object.__setattr__(spec, name, check_int(name, spec.candidate_servers, "-", 1,
                                                     int(bound("count")), optional=True))
        elif name == "linking":
            _check_linking(spec.linking)


@dataclass(frozen=True)
class OffloadingSpec(ProblemSpec):
    """Assignment MILP spec (formulation in :mod:`aigc_opt.problems.offloading.assignment`).

    Parameters
    ----------
    objective : OffloadObjective
        Weights and deadline mode.
    allow_local, allow_cloud : bool
        Whether device / cloud execution are options.
    local_max_steps : int or None
        The device runs at most this many steps (a truncated schedule, lower quality); None:
        the requested steps.
    candidate_servers : int or None
        Offer each request only its ``k`` highest-gain servers (None: all). The standard way to
        scale to many users.
    linking : {"disaggregated", "aggregated"}
        How ``x`` is tied to ``y`` (see the assignment module).
    admission : bool
        Elastic mode: every request may also be rejected (placement ``REJECT``), using no
        resource, at cost ``w_n * rejection_penalty``; the program is then always feasible and
        the evaluator lists the rejected requests (``per_item["rejected"]``,
        ``totals["n_rejected"]``). Without it a rejected request is a hard violation.
    rejection_penalty : float
        Cost of rejecting request n, in objective units per unit of its weight ``w_n``
        (objective units: ``alpha`` per second of latency etc., see
        :class:`OffloadObjective`); used only with ``admission=True``.
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    objective: OffloadObjective = field(default_factory=OffloadObjective)
    allow_local: bool = True
    allow_cloud: bool = True
    local_max_steps: int | None = None
    candidate_servers: int | None = None
    linking: str = "disaggregated"
    admission: bool = False
    rejection_penalty: float = DEFAULT_REJECTION_PENALTY
    problem: str = "offloading"
    variant: str = "assignment"

    instance_type = Scenario

    def __post_init__(self) -> None:
        _check_common(self, "allow_local", "allow_cloud", "local_max_steps", "candidate_servers",
                      "linking")
        object.__setattr__(self, "admission", check_bool("admission", self.admission))
        object.__setattr__(self, "rejection_penalty", check_scalar(
            "rejection_penalty", self.rejection_penalty, "objective/weight", 0.0,
            bound("weight")))


@dataclass(frozen=True)
class PartialSpec(ProblemSpec):
    """Partial offloading (device + edge in parallel), fixed equal shares
    (:mod:`aigc_opt.problems.offloading.partial`)."""

    objective: OffloadObjective = field(default_factory=OffloadObjective)
    problem: str = "offloading"
    variant: str = "partial"

    instance_type = Scenario

    def __post_init__(self) -> None:
        _check_objective(self.objective)


@dataclass(frozen=True)
class JointSpec(ProblemSpec):
    """Joint placement + uplink/compute shares (:mod:`aigc_opt.problems.offloading.joint`).

    Parameters
    ----------
    objective : OffloadObjective
        Weights and deadline mode.
    allow_local, allow_cloud, candidate_servers, local_max_steps, linking
        As in :class:`OffloadingSpec` (same option columns).
    gap_tol : float
        Relative gap (:func:`aigc_opt.result.relative_gap` of UB and LB) at which outer
        approximation stops.
    max_iterations : int
        Outer-approximation iteration limit.
    cuts : {"lazy", "full"}
        ``"lazy"`` (default): per-server aggregated cuts at every visited placement, per-column
        tangent cuts only where a deadline binds or the subproblem is infeasible (small
        master). ``"full"``: also per-column cuts at every subproblem optimum and master point
        and, every iteration, "what-if" cuts for every unused column (fewer iterations, much
        larger master).
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    objective: OffloadObjective = field(default_factory=OffloadObjective)
    allow_local: bool = True
    allow_cloud: bool = True
    local_max_steps: int | None = None
    candidate_servers: int | None = None
    linking: str = "disaggregated"
    gap_tol: float = 1e-6
    max_iterations: int = 200
    cuts: str = "lazy"
    problem: str = "offloading"
    variant: str = "joint"

    instance_type = Scenario

    def __post_init__(self) -> None:
        _check_common(self, "allow_local", "allow_cloud", "local_max_steps", "candidate_servers",
                      "linking")
        object.__setattr__(self, "gap_tol", check_scalar("gap_tol", self.gap_tol, "-", 0.0,
                                                         bound("rel_tol")))
        check_choice("cuts", self.cuts, ("lazy", "full"))
        object.__setattr__(self, "max_iterations", check_int(
            "max_iterations", self.max_iterations, "-", 1, int(bound("iterations"))))

    def base(self, deadline: str | None = None) -> OffloadingSpec:
        """The fixed-share spec with the same columns (optionally another deadline mode)."""
        obj = self.objective if deadline is None else dataclasses.replace(
            self.objective, deadline=deadline)
        return OffloadingSpec(objective=obj, allow_local=self.allow_local,
                              allow_cloud=self.allow_cloud, local_max_steps=self.local_max_steps,
                              candidate_servers=self.candidate_servers, linking=self.linking)


@dataclass(frozen=True)
class MulticellSpec(ProblemSpec):
    """Multi-cell assignment spec (:mod:`aigc_opt.problems.offloading.multicell`).

    Parameters
    ----------
    objective : OffloadObjective
        Weights and deadline mode (``"hard"`` or ``"penalty"``).
    forward_bps : float or ndarray of shape (S, S)
        Capacity of each directed inter-server link ``r -> s``, bit/s (diagonal unused).
    forward_channels : int
        Concurrent forwarded requests per link; each gets ``forward_bps / forward_channels``.
    candidate_radios : int
        Radio servers offered per request (its highest-gain ones).
    allow_local, allow_cloud, allow_forwarding : bool
        Which options exist.
    local_max_steps : int or None
        The device runs at most this many steps (a truncated schedule, lower quality); None:
        the requested steps.
    linking : {"disaggregated", "aggregated"}
        How x is tied to y (as in :class:`OffloadingSpec`).
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    objective: OffloadObjective = field(default_factory=OffloadObjective)
    forward_bps: Any = 1e9
    forward_channels: int = 4
    candidate_radios: int = 1
    allow_local: bool = True
    allow_cloud: bool = True
    allow_forwarding: bool = True
    local_max_steps: int | None = None
    linking: str = "disaggregated"
    problem: str = "offloading"
    variant: str = "multicell"

    instance_type = Scenario

    def __post_init__(self) -> None:
        cap = check_array("forward_bps", "bit/s", self.forward_bps, low=0.0, high=bound("bps"))
        check_floor("forward_bps", "bit/s", cap, "bps", zero_ok=True)  # 0: no link
        if cap.ndim not in (0, 2) or (cap.ndim == 2 and cap.shape[0] != cap.shape[1]):
            raise ValidationError("forward_bps", "bit/s", cap.shape,
                                  "must be a scalar or a square (S, S) array")
        object.__setattr__(self, "forward_bps", float(cap) if cap.ndim == 0 else cap)
        for name in ("forward_channels", "candidate_radios"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), "-", 1,
                                                     int(bound("count"))))
        _check_common(self, "allow_local", "allow_cloud", "allow_forwarding", "local_max_steps",
                      "linking")


# ---------------------------------------------------------------------- physics
def link_times(scn: Scenario, alloc: OffloadAllocation, users: np.ndarray | None = None,
               gain: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-request time components (s), energies (J) and remote work (FLOP), see the module
    docstring.

    ``users[i]`` is the scenario user of allocation row i (default: row i is user i); builders
    use it to score many candidate options of the same user in one vectorised call. Returns
    ``t_uplink_s``, ``t_downlink_s``, ``t_backhaul_s``, ``t_remote_compute_s``,
    ``t_device_compute_s``, ``latency_s``, ``device_energy_j``, ``server_energy_j`` (edge or
    cloud compute energy) and ``remote_flop``. ``gain`` (optional) is the channel gain of each
    row to its radio server when the caller already has it (else
    :meth:`~aigc_opt.scenario.Scenario.gain_at`).
    """
    S = scn.n_servers
    pl, rs = alloc.placement, alloc.radio_server
    served = pl != REJECT
    remote = (pl != LOCAL) & served
    cloud = pl == CLOUD
    rs_c = np.clip(rs, 0, S - 1)
    n = np.arange(alloc.n_users) if users is None else np.asarray(users)
    g = scn.gain_at(n, rs_c) if gain is None else np.asarray(gain)  # 0: no link, rate 0
    n0 = scn.noise_psd_w_per_hz
    r_up = shannon_rate(alloc.uplink_hz, alloc.tx_power_w, g, n0)
    r_dl = shannon_rate(alloc.downlink_hz, scn.server_tx_power_w[rs_c], g, n0)
    t_up = np.where(remote, safe_div(scn.request_input_bits[n], r_up), 0.0)
    t_dl = np.where(remote, safe_div(scn.request_output_bits[n], r_dl), 0.0)
    t_bh = np.where(
        cloud,
        safe_div(scn.request_input_bits[n] + scn.request_output_bits[n], alloc.backhaul_bps)
        + scn.cloud_latency_s,
        0.0,
    )
    phi = scn.model_flop_per_step[scn.request_model[n]]
    w_rem = np.where(remote, alloc.remote_steps * phi, 0.0)
    w_dev = np.where(remote, alloc.device_steps, alloc.device_steps + alloc.remote_steps) * phi
    w_dev = np.where(served, w_dev, 0.0)  # a rejected request runs nothing
    t_rc = safe_div(w_rem, alloc.compute_flops)
    f_dev = scn.user_compute_flops[n]
    t_dc = w_dev / f_dev
    with np.errstate(invalid="ignore"):  # 0 W x inf s (no uplink) is 0 J, set just below
        e_dev = alloc.tx_power_w * np.where(np.isfinite(t_up), t_up, np.inf) * remote
    e_dev = np.nan_to_num(e_dev, nan=0.0) + scn.user_kappa[n] * w_dev * f_dev**2
    pl_c = np.clip(pl, 0, S - 1)
    e_srv = np.where(cloud, scn.cloud_energy_per_flop_j, scn.server_energy_per_flop_j[pl_c]) * w_rem
    return {
        "t_uplink_s": t_up,
        "t_downlink_s": t_dl,
        "t_backhaul_s": t_bh,
        "t_remote_compute_s": t_rc,
        "t_device_compute_s": t_dc,
        "latency_s": t_up + t_bh + t_rc + t_dl + t_dc,
        "device_energy_j": e_dev,
        "server_energy_j": e_srv,
        "remote_flop": w_rem,
    }


def edge_server_energy(scn: Scenario, alloc: OffloadAllocation) -> np.ndarray:
    """Compute energy consumed at each edge server, J, shape (S,): the ``server_energy_j`` of
    :func:`link_times` summed over the requests placed at that server (cloud and local
    requests consume none; invalid placement codes are ignored)."""
    S = scn.n_servers
    pl = alloc.placement
    edge = (pl >= 0) & (pl < S)
    e = link_times(scn, alloc)["server_energy_j"]
    return np.bincount(np.where(edge, pl, 0), weights=np.where(edge, e, 0.0), minlength=S)


def link_capacity(forward_bps: Any, n_servers: int) -> np.ndarray:
    """The (S, S) link-capacity matrix from a scalar or an (S, S) array, bit/s."""
    cap = np.asarray(forward_bps, dtype=float)
    if cap.ndim == 0:
        cap = np.full((n_servers, n_servers), float(cap))
    return cap


def forward_times(scn: Scenario, alloc: MulticellAllocation,
                  users: np.ndarray | None = None) -> np.ndarray:
    """Edge-to-edge forwarding time ``(D_in + D_out) / forward_bps`` per request, s (0 when
    not forwarded; inf for a forwarded request with no rate)."""
    n = np.arange(alloc.n_users) if users is None else np.asarray(users)
    return np.where(alloc.forwarded, safe_div(scn.request_input_bits[n]
                                              + scn.request_output_bits[n], alloc.forward_bps),
                    0.0)


def branch_times(scn: Scenario, alloc: PartialOffloadAllocation) -> dict[str, np.ndarray]:
    """Per-request unit branch times and energies of partial offloading.

    Returns ``a`` (device time of the whole workload, s), ``b`` (edge-branch time
    ``D_in / r_up + W / f_rem + D_out / r_dl`` of the whole workload, s), ``e_tx`` (transmit
    energy of the whole input, J), ``e_loc`` (local compute energy ``kappa W f_dev^2`` of the
    whole workload, J), ``e_srv`` (edge energy of the whole workload, J) and the workload
    ``W`` (FLOP); the branch values at a fraction ``lambda`` are linear in these.
    """
    S = scn.n_servers
    s = np.clip(alloc.server, 0, S - 1)
    n = np.arange(alloc.n_users)
    g = scn.gain_at(n, s)
    n0 = scn.noise_psd_w_per_hz
    r_up = shannon_rate(alloc.uplink_hz, alloc.tx_power_w, g, n0)
    r_dl = shannon_rate(alloc.downlink_hz, scn.server_tx_power_w[s], g, n0)
    work = scn.request_flop
    t_up = safe_div(scn.request_input_bits, r_up)
    b = t_up + safe_div(work, alloc.compute_flops) + safe_div(scn.request_output_bits, r_dl)
    f_dev = scn.user_compute_flops
    return {
        "a": work / f_dev,
        "b": b,
        "e_tx": alloc.tx_power_w * t_up,
        "e_loc": scn.user_kappa * work * f_dev**2,
        "e_srv": scn.server_energy_per_flop_j[s] * work,
        "W": work,
    }

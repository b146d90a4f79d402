r"""AIGC service migration with user mobility: instance, specs, allocations and the physics shared
by the builders (:mod:`.milp`), the online controllers (:mod:`.controllers`) and the referee
(:mod:`.evaluate`).

Model (after S. Ouyang, Z. Zhou, X. Chen, "Follow Me at the Edge: Mobility-Aware Dynamic
Service Placement for Mobile Edge Computing", IEEE JSAC 36(10), 2018, arXiv:1809.05239, with the
service made an AIGC diffusion request):

* S edge servers, each co-located with a base station (cell) and linked by a backhaul graph
  with hop counts ``H[a, b]`` (``H[a, a] = 0``); server s has GPU speed ``F_s`` FLOP/s and GPU
  memory ``G_s`` byte.
* U users move over T slots of ``tau`` seconds; in slot t user u sits in cell ``c_{t,u}`` (its
  nearest base station) with access (radio) delay ``a_{t,u}`` s. Each user runs one AIGC service
  of diffusion model ``m_u`` that must be served, in every slot, by exactly one edge server s
  with a step level k (``n_k`` denoising steps, quality ``q_{m,k}``, work ``n_k f_m`` FLOP).
* latency ``L_{t,u,s,k} = a_{t,u} + delta H[c_{t,u}, s] + n_k f_{m_u} / F_s`` (access, backhaul
  at ``delta`` s per hop, computation at the server's full GPU speed);
* user u issues ``r_u`` requests per slot (a rate); per-slot performance cost
  ``P_{t,u,s,k} = r_u (w_L L_{t,u,s,k} - w_Q q_{m_u,k})`` (cost units; may be negative);
* per-slot GPU work ``sum_{u,k} x r_u n_k f_{m_u} <= F_s tau`` and GPU memory
  ``sum_m M_m h_{s,m} <= G_s`` where ``h_{s,m} = 1`` when server s hosts model m (some user
  with model m is served there);
* migration cost (energy, J) when user u's serving server changes from a to b != a between
  consecutive slots: ``E_u(a, b) = e_0 + e_1 B_u H[a, b]`` (a fixed set-up energy plus transfer
  energy per byte-hop for the service state of ``B_u`` bytes); slot 0 pays ``E_u(s_u^0, b)``
  against the initial server ``s_u^0`` (nothing when ``s_u^0 = -1``).

Long-term budget (Ouyang et al. Sec. III): ``(1/T) sum_t E_t <= \bar E``. Online controllers use
the virtual queue ``Z_{t+1} = max(Z_t + E_t - \bar E, 0)``, ``Z_0 = 0``, which gives the
sample-path identity ``(1/T) sum_t E_t <= \bar E + Z_T / T`` (checked by the evaluator).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.schema import bound, check_floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import check_array, check_bool, check_scalar, check_type

logger = logging.getLogger(__name__)

#: Largest migration transfer energy ``e_1``, J per byte per hop: 1e9 times the assumed 2e-9
#: (a 1 GB service state would then take 1 GJ, :data:`aigc_opt.schema.BOUNDS` ``energy_j``, per
#: hop).
MAX_J_PER_BYTE_HOP = 1.0
#: Largest request rate ``r_u``, requests per slot.
MAX_REQUESTS = 1e9
#: Largest virtual queue ``Z_t``, J: the largest energy for every slot of the longest horizon.
MAX_QUEUE_J = bound("energy_j") * bound("slots")


def _scalar(value: Any, name: str, unit: str, high: float, *, strict: bool = False) -> float:
    """A finite number ``>= 0`` (``> 0`` if ``strict``) and ``<= high``."""
    return float(check_scalar(name, value, unit, 0.0, high, strict=strict))


def _index(value: Any, name: str, shape: tuple[int, ...], high: int, *, low: int = 0,
           of: str = "") -> np.ndarray:
    """Integer indices ``low <= a < high`` (``of``: the field whose length is ``high``)."""
    a = check_array(name, "-", value, shape, dtype=np.int64)
    if a.size and (a.min() < low or a.max() >= high):
        bad = a[(a < low) | (a >= high)][0]
        raise ValidationError(name, "-", bad, f"index out of range [{low}, {high})"
                              + (f" (the length of {of})" if of else ""))
    return a


@dataclass(frozen=True, eq=False)
class MigrationInstance:
    """Servers, models and the users' trajectories (T slots, U users, S servers, M models,
    K step levels). See the module docstring for the maths.

    Parameters
    ----------
    server_hops : ndarray of int, shape (S, S)
        Backhaul hop counts ``H`` (symmetric, 0 on the diagonal).
    server_flops : ndarray, shape (S,)
        GPU speed ``F_s``, FLOP/s.
    server_gpu_memory_bytes : ndarray, shape (S,)
        GPU memory ``G_s``, byte.
    user_cell : ndarray of int, shape (T, U)
        Cell (index of the base station / server) of each user in each slot.
    access_s : ndarray, shape (T, U)
        Access (radio up + down) delay of each user in each slot, s.
    user_model : ndarray of int, shape (U,)
        Diffusion model of each user's service.
    user_state_bytes : ndarray, shape (U,)
        Service state moved on a migration ``B_u``, byte.
    model_memory_bytes : ndarray, shape (M,)
        GPU memory footprint ``M_m``, byte.
    model_flop_per_step : ndarray, shape (M,)
        Work of one denoising step ``f_m``, FLOP.
    steps : ndarray of int, shape (K,)
        Step options ``n_k`` (strictly increasing).
    quality : ndarray, shape (M, K)
        Quality ``q_{m,k}`` of model m at step level k (dimensionless).
    initial_server : ndarray of int, shape (U,)
        Server before slot 0 (-1: none, slot 0 pays no migration).
    slot_s : float
        Slot length ``tau``, s.
    hop_delay_s : float
        Backhaul delay per hop ``delta``, s.
    migration_fixed_j : float
        ``e_0``, J per migration.
    migration_j_per_byte_hop : float
        ``e_1``, J per byte per hop.
    server_xy_m, user_xy_m : ndarray or None
        Positions (S, 2) and (T, U, 2), m; informational (plots), not used by the model.
    user_requests : ndarray, shape (U,), optional
        ``r_u``, requests of user u per slot (a rate, default 1): the slot's GPU work and
        performance cost of u are ``r_u`` times those of one request.
    """

    server_hops: np.ndarray
    server_flops: np.ndarray
    server_gpu_memory_bytes: np.ndarray
    user_cell: np.ndarray
    access_s: np.ndarray
    user_model: np.ndarray
    user_state_bytes: np.ndarray
    model_memory_bytes: np.ndarray
    model_flop_per_step: np.ndarray
    steps: np.ndarray
    quality: np.ndarray
    initial_server: np.ndarray
    slot_s: float
    hop_delay_s: float
    migration_fixed_j: float
    migration_j_per_byte_hop: float
    server_xy_m: np.ndarray | None = None
    user_xy_m: np.ndarray | None = None
    user_requests: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        cell = check_array("user_cell", "-", self.user_cell, ndim=2, dtype=np.int64)
        if min(cell.shape) == 0:
            raise ValidationError("user_cell", "-", cell.shape, "must be a non-empty (T, U) array")
        T, U = cell.shape
        hops = check_array("server_hops", "hop", self.server_hops, ndim=2, low=0, integer=True,
                           high=bound("count"), dtype=np.int64)
        S = hops.shape[0]
        if hops.shape != (S, S) or S == 0:
            raise ValidationError("server_hops", "hop", hops.shape, "must be square (S, S)")
        if (np.diag(hops) != 0).any() or (hops != hops.T).any():
            raise ValidationError("server_hops", "hop", hops, "must be symmetric, 0 on diagonal")
        set_("server_hops", hops)
        set_("server_flops", check_array("server_flops", "FLOP/s", self.server_flops, (S,),
                                         low=0.0, strict=True, high=bound("flops"),
                                         like="server_hops"))
        set_("server_gpu_memory_bytes", check_array(
            "server_gpu_memory_bytes", "byte", self.server_gpu_memory_bytes, (S,), low=0.0,
            high=bound("bytes"), like="server_hops"))
        check_floor("server_flops", "FLOP/s", self.server_flops, "flops")
        check_floor("server_gpu_memory_bytes", "byte", self.server_gpu_memory_bytes, "bytes",
                    zero_ok=True)
        set_("user_cell", _index(cell, "user_cell", (T, U), S))
        set_("access_s", check_array("access_s", "s", self.access_s, (T, U), low=0.0,
                                     high=bound("time_s"), like="user_cell"))
        mem = check_array("model_memory_bytes", "byte", self.model_memory_bytes, ndim=1, low=0.0,
                          high=bound("bytes"), nonempty=True)
        M = mem.shape[0]
        set_("model_memory_bytes", mem)
        set_("user_model", _index(self.user_model, "user_model", (U,), M,
                                  of="model_memory_bytes"))
        set_("user_state_bytes", check_array("user_state_bytes", "byte", self.user_state_bytes,
                                             (U,), low=0.0, high=bound("bytes"),
                                             like="user_cell"))
        set_("model_flop_per_step", check_array("model_flop_per_step", "FLOP",
                                                self.model_flop_per_step, (M,), low=0.0,
                                                high=bound("flop"), like="model_memory_bytes"))
        st = check_array("steps", "step", self.steps, ndim=1, low=1, integer=True, dtype=np.int64,
                         high=bound("steps"), nonempty=True)
        if (np.diff(st) <= 0).any():
            raise ValidationError("steps", "step", st, "must be strictly increasing")
        set_("steps", st)
        set_("quality", check_array("quality", "-", self.quality, (M, st.shape[0]),
                                    low=-bound("quality"), high=bound("quality"),
                                    like="model_memory_bytes and steps"))
        set_("initial_server", _index(self.initial_server, "initial_server", (U,), S, low=-1))
        set_("slot_s", _scalar(self.slot_s, "slot_s", "s", bound("time_s"), strict=True))
        set_("hop_delay_s", _scalar(self.hop_delay_s, "hop_delay_s", "s", bound("time_s")))
        set_("migration_fixed_j", _scalar(self.migration_fixed_j, "migration_fixed_j", "J",
                                          bound("energy_j")))
        set_("migration_j_per_byte_hop", _scalar(self.migration_j_per_byte_hop,
                                                 "migration_j_per_byte_hop", "J/(byte hop)",
                                                 MAX_J_PER_BYTE_HOP))
        r = np.ones(U) if self.user_requests is None else self.user_requests
        set_("user_requests", check_array("user_requests", "request", r, (U,), low=0.0,
                                          high=MAX_REQUESTS, like="user_cell"))
        xy = bound("position_m")
        if self.server_xy_m is not None:
            set_("server_xy_m", check_array("server_xy_m", "m", self.server_xy_m, (S, 2),
                                            low=-xy, high=xy, like="server_hops"))
        if self.user_xy_m is not None:
            set_("user_xy_m", check_array("user_xy_m", "m", self.user_xy_m, (T, U, 2), low=-xy,
                                          high=xy, like="user_cell"))

    @property
    def n_slots(self) -> int:
        """T."""
        return int(self.user_cell.shape[0])

    @property
    def n_users(self) -> int:
        """U."""
        return int(self.user_cell.shape[1])

    @property
    def n_servers(self) -> int:
        """S."""
        return int(self.server_hops.shape[0])

    @property
    def n_models(self) -> int:
        """M."""
        return int(self.model_memory_bytes.shape[0])

    @property
    def n_levels(self) -> int:
        """K, the number of step levels."""
        return int(self.steps.shape[0])

    def window(self, start: int, stop: int) -> MigrationInstance:
        """Slots ``start:stop`` as an instance (same network; initial server unchanged)."""
        from dataclasses import replace

        xy = None if self.user_xy_m is None else self.user_xy_m[start:stop]
        return replace(self, user_cell=self.user_cell[start:stop],
                       access_s=self.access_s[start:stop], user_xy_m=xy)


# ---------------------------------------------------------------------------------- physics
def work_flop(inst: MigrationInstance) -> np.ndarray:
    """``W[u, k] = r_u n_k f_{m_u}``, FLOP per slot, shape (U, K)."""
    f = inst.model_flop_per_step[inst.user_model] * np.asarray(inst.user_requests)
    return inst.steps[None, :] * f[:, None]


def user_quality(inst: MigrationInstance) -> np.ndarray:
    """``q[u, k] = q_{m_u, k}``, shape (U, K)."""
    return inst.quality[inst.user_model]


def latency_s(inst: MigrationInstance) -> np.ndarray:
    """``L[t, u, s, k] = a_{t,u} + delta H[c_{t,u}, s] + n_k f_{m_u} / F_s``, s, (T, U, S, K)."""
    back = inst.hop_delay_s * inst.server_hops[inst.user_cell]  # (T, U, S)
    one = inst.steps[None, :] * inst.model_flop_per_step[inst.user_model][:, None]  # (U, K)
    comp = one[:, None, :] / inst.server_flops[None, :, None]  # (U, S, K)
    return inst.access_s[:, :, None, None] + back[..., None] + comp[None]


def migration_matrix_j(inst: MigrationInstance) -> np.ndarray:
    """``E[u, a, b] = [a != b] (e_0 + e_1 B_u H[a, b])``, J, shape (U, S, S)."""
    S = inst.n_servers
    move = ~np.eye(S, dtype=bool)
    return move[None] * (inst.migration_fixed_j + inst.migration_j_per_byte_hop
                         * inst.user_state_bytes[:, None, None] * inst.server_hops[None])


def migration_from_j(inst: MigrationInstance, prev: np.ndarray) -> np.ndarray:
    """Cost ``E_u(prev_u, s)`` of serving u at s given its previous server, J, shape (U, S);
    zero for users with ``prev_u = -1``."""
    prev = np.asarray(prev, dtype=np.int64)
    E = migration_matrix_j(inst)
    out = E[np.arange(inst.n_users), np.maximum(prev, 0)]
    return np.where((prev >= 0)[:, None], out, 0.0)


@dataclass(frozen=True)
class CostWeights:
    """Weights of the performance cost ``P = w_L L - w_Q q``.

    Parameters
    ----------
    latency_per_s : float
        ``w_L``, cost units per second of latency.
    quality : float
        ``w_Q``, cost units per unit of quality.
    """

    latency_per_s: float = 1.0
    quality: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "latency_per_s", _scalar(
            self.latency_per_s, "weights.latency_per_s", "1/s", bound("weight")))
        object.__setattr__(self, "quality", _scalar(self.quality, "weights.quality", "-",
                                                    bound("weight")))


def perf_cost(inst: MigrationInstance, weights: CostWeights) -> np.ndarray:
    """``P[t, u, s, k] = r_u (w_L L[t, u, s, k] - w_Q q[u, k])``, shape (T, U, S, K)."""
    r = np.asarray(inst.user_requests)[None, :, None, None]
    return r * (weights.latency_per_s * latency_s(inst)
                - weights.quality * user_quality(inst)[None, :, None, :])


# ---------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class MigrationSpec(ProblemSpec):
    """Service migration over the whole trajectory.

    Built (``aigc_opt.solve``) it is the perfect-foresight offline MILP: minimise the
    time-average performance cost ``(1/T) sum_{t,u} P`` subject to the per-slot constraints and,
    when ``budget_hard``, the long-term budget ``sum_t E_t <= T budget_j`` as a hard row. A soft
    budget (``budget_hard=False``) is a target the online controllers track and the referee
    reports, not a constraint, so the exact methods then solve without it: their optimum is a
    lower bound on every controller's cost (for the budgeted offline optimum that online
    controllers are compared against, solve with ``budget_hard=True``). Its heuristics are the
    online controllers (Lyapunov drift-plus-penalty with ``v``, cold or warm, never-migrate,
    always-nearest, greedy), which see one slot at a time; its algorithm ``offline_milp`` is
    HiGHS started from the best budget-feasible controller.

    Parameters
    ----------
    budget_j : float
        ``\\bar E``, allowed time-average migration energy per slot, J.
    v : float
        Lyapunov trade-off ``V`` (online controller only).
    weights : CostWeights
        Performance-cost weights.
    budget_hard : bool
        Whether ``(1/T) sum E_t <= budget`` is a constraint: a row of the exact methods'
        program and a hard violation for the evaluator (True, the offline problem). False:
        online controllers meet it only asymptotically, so the evaluator reports it as a soft
        violation and the exact methods omit it.
    slot_backend : str
        Backend that solves the Lyapunov controller's per-slot MILP.
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    budget_j: float = 1.0
    v: float = 10.0
    weights: CostWeights = CostWeights()
    budget_hard: bool = True
    slot_backend: str = "highs"
    problem: str = "migration"
    variant: str = "trajectory"

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("budget_j", _scalar(self.budget_j, "budget_j", "J", bound("energy_j")))
        set_("v", _scalar(self.v, "v", "-", bound("weight")))
        check_type("weights", self.weights, CostWeights)
        set_("budget_hard", check_bool("budget_hard", self.budget_hard))
        # a backend name (the referee may not import the backend registry: an unknown name is
        # named by the Lyapunov controller, with the known names, when it is created)
        if not isinstance(self.slot_backend, str) or not self.slot_backend:
            raise ValidationError("slot_backend", "-", self.slot_backend,
                                  "must be a backend name (a non-empty string, e.g. 'highs')")


@dataclass(frozen=True, eq=False)
class MigrationSlot:
    """One slot's drift-plus-penalty problem (the Lyapunov controller's per-slot instance).

    ``min sum_{u,s,k} (V P[u,s,k] + Z E[u,s]) x[u,s,k]`` over one (server, level) per user with
    the GPU work and memory rows of the module docstring.

    Parameters
    ----------
    perf : ndarray, shape (U, S, K)
        Performance cost ``P`` of the slot.
    migration_j : ndarray, shape (U, S)
        Migration energy ``E_u(prev_u, s)``, J.
    work_flop : ndarray, shape (U, K)
        GPU work per option, FLOP.
    capacity_flop : ndarray, shape (S,)
        GPU work per slot ``F_s tau``, FLOP.
    user_model : ndarray of int, shape (U,)
        Model index ``m_u`` in [0, M) of each user's service (-).
    model_memory_bytes : ndarray, shape (M,)
        GPU memory footprint of each model ``M_m``, byte.
    server_gpu_memory_bytes : ndarray, shape (S,)
        GPU memory of each server ``G_s``, byte.
    v : float
        ``V``.
    queue_j : float
        ``Z_t``, J.
    """

    perf: np.ndarray
    migration_j: np.ndarray
    work_flop: np.ndarray
    capacity_flop: np.ndarray
    user_model: np.ndarray
    model_memory_bytes: np.ndarray
    server_gpu_memory_bytes: np.ndarray
    v: float
    queue_j: float

    def __post_init__(self) -> None:
        p = check_array("perf", "cost", self.perf, ndim=3, low=-bound("money"),
                        high=bound("money"))
        U, S, K = p.shape
        mem = check_array("model_memory_bytes", "byte", self.model_memory_bytes, ndim=1, low=0.0,
                          high=bound("bytes"), nonempty=True)
        M = mem.shape[0]
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("perf", p)
        set_("migration_j", check_array("migration_j", "J", self.migration_j, (U, S), low=0.0,
                                        high=MAX_QUEUE_J, like="perf"))
        set_("work_flop", check_array("work_flop", "FLOP", self.work_flop, (U, K), low=0.0,
                                      high=MAX_REQUESTS * bound("flop") * bound("steps"),
                                      like="perf"))
        set_("capacity_flop", check_array("capacity_flop", "FLOP", self.capacity_flop, (S,),
                                          low=0.0, high=bound("flops") * bound("time_s"),
                                          like="perf"))
        set_("user_model", _index(self.user_model, "user_model", (U,), M,
                                  of="model_memory_bytes"))
        set_("model_memory_bytes", mem)
        set_("server_gpu_memory_bytes", check_array(
            "server_gpu_memory_bytes", "byte", self.server_gpu_memory_bytes, (S,), low=0.0,
            high=bound("bytes"), like="perf"))
        set_("v", _scalar(self.v, "v", "-", bound("weight")))
        set_("queue_j", _scalar(self.queue_j, "queue_j", "J", MAX_QUEUE_J))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(U, S, K)."""
        U, S, K = self.perf.shape
        return int(U), int(S), int(K)

    def unit_cost(self) -> np.ndarray:
        """``V P[u,s,k] + Z E[u,s]``, shape (U, S, K)."""
        return self.v * self.perf + self.queue_j * self.migration_j[:, :, None]


def slot_problem(inst: MigrationInstance, spec: MigrationSpec, t: int, prev: np.ndarray,
                 queue_j: float, *, perf: np.ndarray | None = None) -> MigrationSlot:
    """The drift-plus-penalty instance of slot ``t`` given the previous servers and ``Z_t``."""
    P = perf_cost(inst, spec.weights)[t] if perf is None else perf
    # an option whose work alone exceeds the server's GPU work per slot is in no feasible
    # point; its cost (1e15 at 1 FLOP/s) is clipped to the money range so the slot validates
    cap = inst.server_flops * inst.slot_s
    over = work_flop(inst)[:, None, :] > cap[None, :, None]  # (U, S, K)
    P = np.where(over, np.clip(P, -bound("money"), bound("money")), P)
    return MigrationSlot(perf=P, migration_j=migration_from_j(inst, prev),
                         work_flop=work_flop(inst), capacity_flop=inst.server_flops * inst.slot_s,
                         user_model=inst.user_model, model_memory_bytes=inst.model_memory_bytes,
                         server_gpu_memory_bytes=inst.server_gpu_memory_bytes, v=spec.v,
                         queue_j=queue_j)


@dataclass(frozen=True)
class SlotSpec(ProblemSpec):
    """The per-slot drift-plus-penalty MILP over a :class:`MigrationSlot` (generalised
    assignment with step levels, GPU work and memory rows)."""

    problem: str = "migration"
    variant: str = "slot"


# ---------------------------------------------------------------------------------- allocations
def _index_array(name: str, value: Any, ndim: int, shape_text: str) -> np.ndarray:
    """An allocation's index array: whole numbers (``2.0`` is read as 2; ``1.999``, NaN, inf and
    values beyond the int64 range are refused, never truncated) with ``ndim`` dimensions, as a
    read-only int64 array. Whether an index names a real option is the evaluator's check
    (``one_server``)."""
    a = check_array(name, "-", value, dtype=np.int64)
    if a.ndim != ndim:
        raise ValidationError(name, "-", a.shape, f"must be a {shape_text} array")
    return a


@dataclass(frozen=True, eq=False)
class SlotAllocation:
    """One slot's decision: serving server and step level of every user.

    Parameters
    ----------
    server : ndarray of int, shape (U,)
        Serving server index in [0, S) of each user (-).
    level : ndarray of int, shape (U,)
        Index into the step options (``steps``), in [0, K) (-).

    Both must be whole numbers (as in :class:`MigrationAllocation`).
    """

    server: np.ndarray
    level: np.ndarray

    def __post_init__(self) -> None:
        for name in ("server", "level"):
            object.__setattr__(self, name, _index_array(name, getattr(self, name), 1, "(U,)"))


@dataclass(frozen=True, eq=False)
class MigrationAllocation:
    """A whole trajectory's decisions, from the offline MILP or an online controller.

    Parameters
    ----------
    server : ndarray of int, shape (T, U)
        Serving server index in [0, S) of each user in each slot (-).
    level : ndarray of int, shape (T, U)
        Step level, an index into ``MigrationInstance.steps`` in [0, K) (-).
    queue_j : ndarray or None, shape (T + 1,)
        The virtual queue ``Z_0 .. Z_T`` an online controller kept, J (None for offline).
    controller : str
        Who produced it (``"offline"``, ``"lyapunov"`` ...).

    ``server`` and ``level`` must be whole numbers (``2.0`` is read as 2; ``1.999``, NaN, inf and
    values beyond the int64 range raise :class:`~aigc_opt.errors.ValidationError`).
    """

    server: np.ndarray
    level: np.ndarray
    queue_j: np.ndarray | None = None
    controller: str = "offline"

    def __post_init__(self) -> None:
        for name in ("server", "level"):
            object.__setattr__(self, name, _index_array(name, getattr(self, name), 2, "(T, U)"))
        if self.queue_j is not None:
            object.__setattr__(self, "queue_j", check_array("queue_j", "J", self.queue_j,
                                                            ndim=1, low=0.0))


def queue_trace(migration_per_slot_j: np.ndarray, budget_j: float) -> np.ndarray:
    """``Z_0 = 0``, ``Z_{t+1} = max(Z_t + E_t - budget, 0)``; shape (T + 1,), J."""
    e = np.asarray(migration_per_slot_j, dtype=np.float64)
    z = np.zeros(e.shape[0] + 1)
    for t, et in enumerate(e):
        z[t + 1] = max(z[t] + et - budget_j, 0.0)
    return z

r"""Online controllers and the simulator that replays a :class:`Trajectory` against them.

Controller interface (stable; defined in :mod:`aigc_opt.problems.online.data`, re-exported
here): a :class:`Controller` has ``name``, ``reset()`` and ``act(state: SlotState) ->
decision``. :func:`simulate` feeds slot t's :class:`SlotState` (queues ``Q(t)``, virtual
queues ``Y(t)``, gains, arrivals ``A(t)``, positions) and applies the queue dynamics of the
LyDROO code::

    Q(t+1) = max(Q(t) + A(t) - r(t), 0),      Y(t+1) = max(Y(t) + nu (e(t) - gamma), 0)

with ``r(t)``, ``e(t)`` recomputed from the decision by the physics of
:mod:`~aigc_opt.problems.online.data` (never taken from the controller). Nothing is written
back into the trajectory; the result is a frozen :class:`SimulationResult`.

Controllers
    :class:`LyapunovExact` (the exact per-frame drift-plus-penalty optimum,
    :func:`~aigc_opt.problems.online.lyapunov.solve_frame`), :class:`LyDROOQuantised`
    (LyDROO's order-preserving quantisation of a relaxed score into K modes, each completed by
    the exact inner solver -- the DNN of LyDROO is replaced by a score function), :class:`Myopic`
    (maximises the weighted bits of the frame, ignoring queues and energy: ``v = w/b0``, no
    energy price), :class:`LocalOnly`, :class:`OffloadAll` (fixed modes, drift-plus-penalty
    resource allocation), :class:`BackloggedLyapunov` (drift-plus-penalty for infinitely
    backlogged users: energy queues only; not in :data:`CONTROLLERS`, it needs huge
    initial backlogs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aigc_opt.errors import OutOfTime, ValidationError
from aigc_opt.schema import bound
from aigc_opt.validate import check_array

from .data import (
    MAX_VIRTUAL_QUEUE,
    Controller,
    FrameDecision,
    FrameInstance,
    LyapunovSpec,
    SimulationResult,
    SlotState,
    Trajectory,
    frame_objective,
    local_bits,
    local_energy,
    max_frame_bits,
    offload_bits,
    offload_energy,
)
from .lyapunov import (
    FrameSolution,
    lyapunov_prep,
    order_preserving_modes,
    prepare,
    solve_fixed_modes,
    solve_frame,
)

logger = logging.getLogger(__name__)

__all__ = ["Controller", "SlotState", "LyapunovExact", "LyDROOQuantised", "Myopic",
           "BackloggedLyapunov", "LocalOnly", "OffloadAll", "simulate", "make_controller",
           "CONTROLLERS"]


@dataclass
class _Base:
    """Shared plumbing: the spec, the last frame solution (for certificates)."""

    spec: LyapunovSpec = field(default_factory=LyapunovSpec)
    name: str = "base"
    last: FrameSolution | None = field(default=None, init=False, repr=False)

    def reset(self) -> None:
        self.last = None

    def act(self, state: SlotState) -> FrameDecision:
        self.last = self.solve(state.frame())
        return self.last.decision

    def solve(self, inst: FrameInstance) -> FrameSolution:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class LyapunovExact(_Base):
    """Exact drift-plus-penalty control (per-frame branch and bound, certified to ``rtol``)."""

    name: str = "exact"
    rtol: float = 1e-9

    def solve(self, inst: FrameInstance) -> FrameSolution:
        return solve_frame(self.spec, inst, rtol=self.rtol)


def channel_score(spec: LyapunovSpec, inst: FrameInstance) -> np.ndarray:
    """Default relaxed score in (0, 1): rank of ``v_i log(1 + P_max h_i / N0)`` (value of a
    full-power offloading second), mapped to ``(rank + 0.5) / N``."""
    pr = lyapunov_prep(spec, inst)
    key = pr.v * pr.x_max
    rank = np.empty(key.size)
    rank[np.argsort(key, kind="stable")] = np.arange(key.size)
    return (rank + 0.5) / key.size


@dataclass
class LyDROOQuantised(_Base):
    """LyDROO's actor without the DNN: ``K`` order-preserving modes from a relaxed score
    (``score_fn(spec, frame) -> [0,1]^N``, default :func:`channel_score`), the best one after
    the exact inner solve. ``k=None`` starts from ``K = N`` (the code's initial K).

    ``adaptive=True`` follows the code's adaptive K (``LyDROO.py``, ``Delta = 32``): every
    ``delta`` frames ``K = min(max(recent best indices mod K) + 2, N)``.
    """

    name: str = "quantised"
    k: int | None = None
    score_fn: Callable[[LyapunovSpec, FrameInstance], np.ndarray] | None = None
    adaptive: bool = False
    delta: int = 32
    _k_now: int = field(default=0, init=False, repr=False)
    _best_idx: list[int] = field(default_factory=list, init=False, repr=False)

    def reset(self) -> None:
        super().reset()
        self._k_now, self._best_idx = 0, []

    def solve(self, inst: FrameInstance) -> FrameSolution:
        n = inst.n_users
        if self._k_now == 0:
            self._k_now = min(self.k or n, n)
        t = len(self._best_idx)
        if self.adaptive and t > 0 and t % self.delta == 0:
            recent = np.asarray(self._best_idx[-self.delta:-1] or self._best_idx[-1:])
            self._k_now = min(int((recent % self._k_now).max()) + 2, n)
        score = (self.score_fn or channel_score)(self.spec, inst)
        modes = order_preserving_modes(score, self._k_now)
        sol, idx = solve_fixed_modes(self.spec, inst, modes, method=self.name,
                                     return_index=True)
        self._best_idx.append(idx)
        return sol


@dataclass
class Myopic(_Base):
    """Rate-only control: maximise ``sum w_i r_i`` each frame (``r <= Q``), no energy price."""

    name: str = "myopic"

    def solve(self, inst: FrameInstance) -> FrameSolution:
        w = self.spec.weights_for(inst.n_users) / self.spec.queue_unit_bits
        pr = prepare(self.spec, inst.gains, inst.queues_bits, w, np.zeros(inst.n_users),
                     inst.tau_s)
        sol = solve_frame(self.spec, inst, prep=pr)
        return sol


@dataclass
class BackloggedLyapunov(_Base):
    r"""Drift-plus-penalty for *infinitely backlogged* users (energy queues only).

    The canonical utility-maximisation form of the LyDROO frame problem: every user always has
    data, so the data queues leave the weights and only the energy virtual queues ``Y`` remain;
    per frame::

        max  sum_i (V w_i / b0) r_i / b0 - y_scale sum_i Y_i e_i,   r_i <= min(Q_i, r_max_i)

    with ``r_max_i`` from :func:`~aigc_opt.problems.online.data.max_frame_bits` (the cap is
    redundant once ``Q_i >= r_max_i``; simulate with a huge ``initial_queues_bits``). This
    is the long-term problem ``max avg sum w_i r_i`` s.t. ``avg e_i <= gamma`` whose
    drift-plus-penalty theory gives a rate within ``O(1/V)`` of the optimum with
    ``Y = O(V)`` (see :func:`~aigc_opt.problems.online.yardstick.lagrangian_bound`). Solved
    exactly per frame by the same branch and bound; ``V = 0`` serves nothing.
    """

    name: str = "backlogged"
    rtol: float = 1e-9

    def solve(self, inst: FrameInstance) -> FrameSolution:
        sp = self.spec
        cap = np.minimum(inst.queues_bits, max_frame_bits(sp, inst.gains, inst.tau_s))
        pr = prepare(sp, inst.gains, cap, sp.V * sp.weights_for(inst.n_users)
                     / sp.queue_unit_bits, sp.y_scale * inst.virtual_queues, inst.tau_s)
        return solve_frame(sp, inst, prep=pr, rtol=self.rtol)


@dataclass
class LocalOnly(_Base):
    """Every user computes locally (drift-plus-penalty CPU frequency)."""

    name: str = "local"

    def solve(self, inst: FrameInstance) -> FrameSolution:
        return solve_fixed_modes(self.spec, inst, np.zeros(inst.n_users, bool), method=self.name)


@dataclass
class OffloadAll(_Base):
    """Every user offloads (drift-plus-penalty time and power)."""

    name: str = "offload"

    def solve(self, inst: FrameInstance) -> FrameSolution:
        return solve_fixed_modes(self.spec, inst, np.ones(inst.n_users, bool), method=self.name)


CONTROLLERS: dict[str, type[_Base]] = {
    "exact": LyapunovExact, "quantised": LyDROOQuantised, "myopic": Myopic,
    "local": LocalOnly, "offload": OffloadAll,
}


def make_controller(name: str, spec: LyapunovSpec, **kw: Any) -> _Base:
    """A controller by registry name (``exact``, ``quantised``, ``myopic``, ``local``,
    ``offload``)."""
    if name not in CONTROLLERS:
        from aigc_opt.errors import UnknownNameError

        raise UnknownNameError("controller", name, sorted(CONTROLLERS))
    return CONTROLLERS[name](spec=spec, **kw)


def _name(controller: Controller) -> str:
    return str(getattr(controller, "name", type(controller).__name__))


def _check_decision(dec: Any, n: int, t: int, controller: Controller) -> None:
    """``dec`` is a FrameDecision for ``n`` users (its own checks make its four arrays real,
    finite and of one length): a wrong length had raised numpy's broadcast ValueError, None an
    AttributeError."""
    where = f"controller {_name(controller)!r}, slot {t}"
    if not isinstance(dec, FrameDecision):
        raise ValidationError("decision", "-", type(dec).__name__,
                              f"{where}: act() must return a FrameDecision")
    if dec.offload.shape != (n,):
        raise ValidationError("decision.offload", "-", dec.offload,
                              f"{where}: {dec.offload.size} modes for {n} users; expected "
                              f"shape ({n},)")


def simulate(trajectory: Trajectory, spec: LyapunovSpec, controller: Controller, *,
             server: int = 0, initial_queues_bits: np.ndarray | None = None,
             initial_virtual_queues: np.ndarray | None = None,
             deadline: float | None = None) -> SimulationResult:
    """Replay ``trajectory`` against ``controller`` (see module docstring).

    Parameters
    ----------
    trajectory : Trajectory
        The environment (gains to ``server`` are used).
    spec : LyapunovSpec
        Physics and queue parameters.
    controller : Controller
        Must return a :class:`FrameDecision` for the trajectory's N users per slot (anything
        else raises a :class:`~aigc_opt.errors.ValidationError` naming ``decision``); it is
        ``reset()`` first.
    server : int, default 0
        Index in ``[0, S)`` of the server the users offload to: the bits and energy of every
        slot use ``trajectory.gains_to(server)`` (the controller still sees all S gains).
    initial_queues_bits, initial_virtual_queues : ndarray (N,), optional
        ``Q(0)``, ``Y(0)`` (zeros by default, as in the LyDROO code).
    deadline : float, optional
        A ``time.perf_counter()`` value, s, checked after every slot (as migration's
        ``run_online``): past it before the last slot the run stops with
        :class:`~aigc_opt.errors.OutOfTime` (``done`` slots of ``total``), never with a
        shortened result.
    """
    n_t, n = trajectory.n_slots, trajectory.n_users
    if not 0 <= server < trajectory.n_servers:
        raise ValidationError("server", "-", server, f"must be in [0, {trajectory.n_servers})")
    tau_s = trajectory.tau_s
    gains = trajectory.gains_to(server)
    arrivals = trajectory.arrivals_bits
    q = np.zeros((n_t + 1, n))
    y = np.zeros((n_t + 1, n))
    # checked by their own names and with FrameInstance's bounds (a wrong length had raised
    # numpy's broadcast error; 1e300 was refused at slot 0 as 'queues_bits'), Y in units of
    # nu x J ('-', as FrameInstance says; it was labelled J)
    if initial_queues_bits is not None:
        q[0] = check_array("initial_queues_bits", "bit", initial_queues_bits, (n,), low=0.0,
                           high=bound("bits"))
    if initial_virtual_queues is not None:
        y[0] = check_array("initial_virtual_queues", "-", initial_virtual_queues, (n,),
                           low=0.0, high=MAX_VIRTUAL_QUEUE)
    out = {k: np.zeros((n_t, n)) for k in ("cpu", "tf", "pw", "bits", "energy")}
    offload = np.zeros((n_t, n), dtype=bool)
    obj = np.zeros(n_t)
    secs = np.zeros(n_t)
    controller.reset()
    for t in range(n_t):
        state = SlotState(t, tau_s, q[t].copy(), y[t].copy(), trajectory.gains[t].copy(),
                          arrivals[t].copy(), trajectory.positions_m[t].copy())
        t0 = time.perf_counter()
        dec = controller.act(state)
        secs[t] = time.perf_counter() - t0
        _check_decision(dec, n, t, controller)
        bits = np.where(dec.offload,
                        offload_bits(spec, dec.time_frac, dec.power_w, gains[t], tau_s),
                        local_bits(spec, dec.cpu_hz, tau_s))
        energy = np.where(dec.offload, offload_energy(dec.time_frac, dec.power_w, tau_s),
                          local_energy(spec, dec.cpu_hz, tau_s))
        offload[t] = dec.offload
        out["cpu"][t], out["tf"][t], out["pw"][t] = dec.cpu_hz, dec.time_frac, dec.power_w
        out["bits"][t], out["energy"][t] = bits, energy
        obj[t] = frame_objective(spec, q[t], y[t], bits, energy)
        q[t + 1] = np.maximum(q[t] + arrivals[t] - bits, 0.0)
        y[t + 1] = np.maximum(y[t] + spec.nu_per_j * (energy - spec.energy_threshold_j), 0.0)
        if deadline is not None and t + 1 < n_t and time.perf_counter() > deadline:
            raise OutOfTime(f"{_name(controller)}: deadline passed after slot {t + 1} of {n_t}",
                            done=t + 1, total=n_t)
    name = _name(controller)
    logger.debug("simulated %s on %d slots: %.3g s", name, n_t, secs.sum())
    return SimulationResult(name, offload, out["cpu"], out["tf"], out["pw"], out["bits"],
                            out["energy"], q, y, obj, secs, server)

r"""Lyapunov online offloading (the online family's LyDROO model) as a Gymnasium environment.

Model (:mod:`aigc_opt.problems.online`, Bi, Huang, Wang & Zhang 2021 "LyDROO"): an episode is a
trajectory of ``episode_length`` slots drawn from an
:class:`~aigc_opt.problems.online.EnvironmentProfile` (default LyDROO's: N static users, Rician
fading i.i.d. per slot, exponential arrivals of mean 3 Mbit). The state of slot t is the gains
``h(t)``, the data queues ``Q(t)`` (bit), the energy virtual queues ``Y(t)`` and the arrivals
``A(t)``. The agent picks the binary offloading modes; the environment completes them by the
exact per-frame resource allocation (CPU frequencies, time fractions, powers:
:func:`~aigc_opt.problems.online.solve_fixed_modes`) and applies the queue dynamics of the
simulator (:func:`~aigc_opt.problems.online.simulate`)::

    Q(t+1) = max(Q(t) + A(t) - r(t), 0),      Y(t+1) = max(Y(t) + nu (e(t) - gamma), 0).

Reward
    ``reward_scale`` x the per-frame drift-plus-penalty objective of LyDROO's problem (26)
    (:func:`~aigc_opt.problems.online.data.frame_objective`)::

        sum_i (Q_i / b0 + V w_i) r_i / b0  -  y_scale sum_i Y_i e_i

    (``b0 = 1e6`` bit; maximising it every slot is the Lyapunov drift-plus-penalty policy that
    keeps the queues stable and trades the long-term weighted rate against energy with ``V``).
    Raw values: ``info["bits"]``, ``info["energy_j"]``, ``info["weighted_rate_bps"]``.
Spaces
    ``observation``: ``Box(0, 1e6, (4 N,), float32)``, the concatenation
    ``[h / hbar, Q / b0, Y / nu, A / b0]``: gains over their path-loss mean (the fading power
    only), queues and arrivals in Mbit, virtual queues divided by ``nu`` (J). Raw values in
    ``info`` (``gains``, ``mean_gains``: the path-loss mean ``hbar(t)``, ``queues_bits``,
    ``virtual_queues``, ``arrivals_bits``). With the default static users ``hbar`` is
    constant per user, so the observation determines the gains; with a mobility profile
    ``hbar(t)`` changes with the users' positions and is **not** in the observation (only
    in ``info["mean_gains"]``): wrap the environment to add it if the policy should see it.
    ``action``: ``MultiBinary(N)`` (1 = offload).
Labels (``label=True``)
    The per-frame optimum by the online family's exact branch and bound
    (:func:`~aigc_opt.problems.online.solve_frame`, relative tolerance ``rtol``). Regret is
    against the per-frame problem (the Lyapunov policy), not the long-term objective.
Episodes
    ``episode_length`` slots, then ``truncated=True``; ``step`` after that (or before
    ``reset``) raises a :class:`~aigc_opt.errors.ValidationError` (``"episode over: call
    reset()"``). The whole trajectory is drawn at ``reset`` (its random draws are ordered by
    kind over the episode, so it cannot be drawn in pieces without changing the episodes of a
    seed): about 40 bytes held and 110 bytes at the peak of the draw per user and slot, so
    ``episode_length x N`` is capped at :data:`~aigc_opt.validate.MAX_ENTRIES` (1e7: about
    0.4 GB held, 1.1 GB at peak). Use several episodes for longer runs.
Profiles
    The environment has one access point: a profile with several ``server_positions_m`` is
    refused (the frame problem has no server choice).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.gym._need import gymnasium as gym  # names the [gym] extra if missing
from aigc_opt.gym._need import spaces
from aigc_opt.problems.online import (
    EnvironmentProfile,
    FrameInstance,
    LyapunovSpec,
    Trajectory,
    generate_trajectory,
    lydroo_profile,
    solve_fixed_modes,
    solve_frame,
)
from aigc_opt.problems.online.lyapunov import FrameSolution
from aigc_opt.result import relative_gap
from aigc_opt.validate import MAX_ENTRIES, check_bool, check_scalar

from ._common import (
    BranchableMixin,
    Label,
    binary_action,
    certificate,
    check_live,
    check_positive_int,
    check_render_mode,
    check_reward_scale,
    not_reset,
    sub_seed,
)

logger = logging.getLogger(__name__)

#: Upper end of the (clipped) normalised observations.
OBS_HIGH = 1e6


class LyapunovOffloadEnv(BranchableMixin, gym.Env):
    """LyDROO's online offloading, one slot per step (see the module docstring).

    Parameters
    ----------
    n_users : int
        Users N (ignored when ``profile`` is given).
    episode_length : int
        Slots per episode (the trajectory length); then ``truncated``.
        ``episode_length x N <= 1e7`` (the episode is drawn at reset; see the module
        docstring for its memory).
    spec : LyapunovSpec, optional
        Frame problem and queue parameters (default: LyDROO's code values, ``V = 20``).
    profile : EnvironmentProfile, optional
        Environment generator (default :func:`~aigc_opt.problems.online.lydroo_profile`);
        its ``n_slots`` is replaced by ``episode_length``. One server (access point) only.
    label : bool
        Label every slot with the exact per-frame optimum.
    rtol : float
        Relative tolerance of the exact frame solver.
    reward_scale : float
        Multiplies the frame objective.
    render_mode : {None, "ansi"}
        Text line per slot.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    _SHARED = ("_traj", "profile", "problem_spec", "spec")

    def __init__(self, n_users: int = 10, *, episode_length: int = 200,
                 spec: LyapunovSpec | None = None, profile: EnvironmentProfile | None = None,
                 label: bool = True, rtol: float = 1e-9, reward_scale: float = 1.0,
                 render_mode: str | None = None) -> None:
        self.episode_length = check_positive_int("episode_length", episode_length, 10**7)
        if profile is None:
            profile = lydroo_profile(check_positive_int("n_users", n_users, 100_000),
                                     self.episode_length)
        elif not isinstance(profile, EnvironmentProfile):
            raise ValidationError("profile", "-", type(profile).__name__,
                                  "must be an EnvironmentProfile")
        n_servers = len(profile.server_positions_m)
        if n_servers != 1:
            raise ValidationError("server_positions_m", "m", n_servers,
                                  "the environment models one access point: the profile "
                                  "must have exactly one server position")
        if self.episode_length * profile.n_users > MAX_ENTRIES:
            raise ValidationError(
                "episode_length", "slot", self.episode_length,
                f"episode_length x n_users = {self.episode_length * profile.n_users:,} is "
                f"above {MAX_ENTRIES:,} (the episode is drawn at reset, about 110 bytes per "
                "user and slot at peak); use shorter episodes")
        self.profile = dataclasses.replace(profile, n_slots=self.episode_length)
        self.problem_spec = LyapunovSpec() if spec is None else spec
        if not isinstance(self.problem_spec, LyapunovSpec):
            raise ValidationError("spec", "-", type(self.problem_spec).__name__,
                                  "must be a LyapunovSpec")
        self.n_users = n = self.profile.n_users
        self.problem_spec.weights_for(n)  # validates the weights' length
        self.label = check_bool("label", label)
        self.rtol = float(check_scalar("rtol", rtol, "-", 0.0, 1.0))
        self.reward_scale = check_reward_scale(reward_scale)
        self.render_mode = check_render_mode(render_mode)
        self.observation_space = spaces.Box(0.0, OBS_HIGH, (4 * n,), np.float32)
        self.action_space = spaces.MultiBinary(n)
        self._traj: Trajectory | None = None
        self._t = 0
        self._q = np.zeros(n)
        self._y = np.zeros(n)
        self._label: Label | None = None
        self._last = ""

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """New trajectory (seeded from ``np_random``), empty queues ``Q(0) = Y(0) = 0``."""
        super().reset(seed=seed)
        self._last = ""  # render() showed the previous episode's last decision
        self._traj = generate_trajectory(self.profile, seed=sub_seed(self.np_random))
        self._t = 0
        self._q = np.zeros(self.n_users)
        self._y = np.zeros(self.n_users)
        self._label = None
        return self._obs(), self._raw()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Score ``action`` on slot t, update the queues, move to slot t + 1."""
        reward, info, sol = self._score(action)  # refuses a step before reset / after end
        if self.label:
            info.update(self.current_label().to_info(reward))
        traj = self._traj
        assert traj is not None
        self._q = np.maximum(self._q + traj.arrivals_bits[self._t] - sol.bits, 0.0)
        self._y = np.maximum(self._y + self.problem_spec.nu_per_j
                             * (sol.energy_j - self.problem_spec.energy_threshold_j), 0.0)
        self._last = (f"slot {self._t}: modes "
                      f"{''.join('1' if m else '0' for m in info['mode'])} objective "
                      f"{info['frame_objective']:.6g} mean Q {self._q.mean():.4g} bit")
        self._t += 1
        truncated = self._t >= self.episode_length
        if truncated:  # the state after the last slot has no gains/arrivals: repeat the last
            self._t = self.episode_length - 1
            obs = self._obs()
            self._t = self.episode_length
        else:
            obs = self._obs()
        self._label = None
        info["slot"] = self._t
        return obs, reward, False, truncated, info

    def render(self) -> str | None:
        """The last slot's decision as text (``render_mode="ansi"``)."""
        if self.render_mode == "ansi":
            return self._last or "slot 0: no decision yet"
        return None

    # ------------------------------------------------------------------ state, labels
    def frame(self) -> FrameInstance:
        """The current slot's per-frame problem instance."""
        traj = self._traj
        if traj is None:
            raise not_reset()
        t = min(self._t, self.episode_length - 1)
        return FrameInstance(traj.gains_to(0)[t], self._q, self._y, traj.tau_s)

    def _obs(self) -> np.ndarray:
        traj = self._traj
        assert traj is not None
        t = min(self._t, self.episode_length - 1)
        b0 = self.problem_spec.queue_unit_bits
        mean = traj.mean_gains if traj.mean_gains is not None else traj.gains
        nu = self.problem_spec.nu_per_j
        # nu = 0: Y stays Y(0) = 0 and has no meaning in J; observe Y itself, not 0/0 = NaN
        energy = self._y / nu if nu > 0.0 else self._y
        parts = (traj.gains[t, :, 0] / mean[t, :, 0], self._q / b0, energy,
                 traj.arrivals_bits[t] / b0)
        return np.asarray(np.clip(np.concatenate(parts), 0.0, OBS_HIGH), dtype=np.float32)

    def _raw(self) -> dict[str, Any]:
        traj = self._traj
        assert traj is not None
        t = min(self._t, self.episode_length - 1)
        mean = traj.mean_gains if traj.mean_gains is not None else traj.gains
        return {"gains": traj.gains[t, :, 0].copy(), "mean_gains": mean[t, :, 0].copy(),
                "queues_bits": self._q.copy(),
                "virtual_queues": self._y.copy(), "arrivals_bits": traj.arrivals_bits[t].copy(),
                "slot": self._t}

    def _check_live(self) -> None:
        check_live(self._traj is not None, self._t, self.episode_length)

    def _solve_mode(self, mode: np.ndarray) -> FrameSolution:
        return solve_fixed_modes(self.problem_spec, self.frame(), mode[None, :], method="action")

    def _score(self, action: Any) -> tuple[float, dict[str, Any], FrameSolution]:
        self._check_live()
        mode = binary_action(action, self.n_users)
        sol = self._solve_mode(mode)
        traj = self._traj
        assert traj is not None
        w = self.problem_spec.weights_for(self.n_users)
        info = self._raw()
        info.update({"mode": mode.astype(np.int8), "frame_objective": sol.objective,
                     "bits": sol.bits.copy(), "energy_j": sol.energy_j.copy(),
                     "cpu_hz": np.asarray(sol.decision.cpu_hz).copy(),
                     "time_frac": np.asarray(sol.decision.time_frac).copy(),
                     "power_w": np.asarray(sol.decision.power_w).copy(),
                     "weighted_rate_bps": float(w @ sol.bits) / traj.tau_s})
        return sol.objective * self.reward_scale, info, sol

    def evaluate_action(self, action: Any) -> tuple[float, dict[str, Any]]:
        """``(reward, info)`` of ``action`` in the current slot, without changing state."""
        reward, info, _ = self._score(action)
        return reward, info

    def current_label(self) -> Label:
        """The exact per-frame optimum of the current slot (cached)."""
        self._check_live()
        if self._label is None:
            sol = solve_frame(self.problem_spec, self.frame(), rtol=self.rtol)
            mode = np.asarray(sol.decision.offload, dtype=bool)
            value = self._solve_mode(mode).objective
            bound, _ = certificate(value, sol.bound)
            gap = relative_gap(value, bound)  # the frame solver's certificate
            self._label = Label(mode.astype(np.int8), value * self.reward_scale,
                                bound * self.reward_scale, gap,
                                "optimal" if gap <= self.rtol else "limit")
        return self._label

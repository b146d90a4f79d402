r"""Native batched WPMEC environment: ``num_envs`` frames per step, solved in one call.

Same model, spaces (per sub-environment), reward and labels as
:class:`~aigc_opt.gym.wpmec.WpmecOffloadEnv` (binary actions), but the inner problems of all
sub-environments are solved together by the vectorised
:func:`~aigc_opt.problems.wpmec.inner.solve_inner` and the labels by one call of the batch
branch and bound :func:`~aigc_opt.problems.wpmec.exact_batch` (nodes of all frames share numpy
arrays), which is what makes labelled data cheap (< 1 ms per frame at N = 10 with 256 frames).

All sub-environments run episodes of the same length in lockstep; at the end of an episode
they are reset in the same step (``autoreset_mode = SAME_STEP``): the returned observation is
the first frame of the new episode, the last frame's observation is in
``info["final_obs"]``. ``info`` holds arrays over sub-environments (``rate_bps``, ``regret``,
``optimal_action`` (num_envs, N), ...).

Registered as the ``vector_entry_point`` of ``"aigc_opt/WpmecOffload-v0"``::

    envs = gymnasium.make_vec("aigc_opt/WpmecOffload-v0", num_envs=256,
                              vectorization_mode="vector_entry_point", n_users=10)
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from aigc_opt.errors import ValidationError
from aigc_opt.problems.wpmec import WpmecParams
from aigc_opt.problems.wpmec.exact import exact_batch
from aigc_opt.problems.wpmec.inner import solve_inner

from ._common import check_positive_int, check_render_mode, check_reward_scale
from .wpmec import OBS_HIGH, WpmecModel

logger = logging.getLogger(__name__)


class WpmecBatchVectorEnv(VectorEnv):
    """``num_envs`` WPMEC frames per step (see the module docstring).

    Parameters
    ----------
    num_envs : int
        Sub-environments (frames per step).
    n_users : int
        Devices N per frame.
    episode_length : int
        Frames per episode.
    label : bool
        Compute the certified optimum of every frame.
    rel_gap : float
        Relative gap of the exact method.
    reward_scale : float
        Reward = scale x weighted sum rate in bit/s (default Mbit/s).
    weights, params, gains
        As in :class:`~aigc_opt.gym.wpmec.WpmecModel`; with ``gains`` sub-environment i replays
        rows ``start_i, start_i + 1, ...`` (cyclic), ``start_i`` drawn at reset.
    render_mode : {None, "ansi"}
        Text summary of the last step.
    """

    metadata = {"render_modes": ["ansi"], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 256, n_users: int = 10, *, episode_length: int = 100,
                 label: bool = True, rel_gap: float = 1e-6, reward_scale: float = 1e-6,
                 weights: Any = None, params: WpmecParams | None = None, gains: Any = None,
                 render_mode: str | None = None, **unused: Any) -> None:
        if unused.get("action_type", "binary") != "binary":
            raise ValidationError("action_type", "-", unused["action_type"],
                                  "the batched environment takes binary actions only")
        self.num_envs = check_positive_int("num_envs", num_envs, 10**7)
        self.model = WpmecModel(n_users, weights, params, gains)
        n = self.n_users = self.model.n_users
        self.episode_length = check_positive_int("episode_length", episode_length, 10**9)
        self.label = bool(label)
        if not (isinstance(rel_gap, int | float) and 0 <= rel_gap <= 1):
            raise ValidationError("rel_gap", "-", rel_gap, "must be in [0, 1]")
        self.rel_gap = float(rel_gap)
        self.reward_scale = check_reward_scale(reward_scale)
        self.render_mode = check_render_mode(render_mode)
        self.single_observation_space = spaces.Box(0.0, OBS_HIGH, (n,), np.float32)
        self.single_action_space = spaces.MultiBinary(n)
        self.observation_space = spaces.Box(0.0, OBS_HIGH, (self.num_envs, n), np.float32)
        self.action_space = spaces.MultiBinary((self.num_envs, n))
        self._rng, _ = gym.utils.seeding.np_random(None)
        self._gains = np.ones((self.num_envs, n))
        self._t = 0
        self._start = np.zeros(self.num_envs, dtype=np.int64)
        self._last = ""

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """New episodes for all sub-environments (one generator seeded by ``seed``)."""
        if isinstance(seed, list | tuple):
            seed = seed[0] if seed else None
        if seed is not None:
            self._rng, _ = gym.utils.seeding.np_random(int(seed))
        self._new_episode()
        return self.model.observe(self._gains), {"gains": self._gains.copy()}

    def _new_episode(self) -> None:
        self._t = 0
        if self.model.data is not None:
            self._start = self._rng.integers(self.model.data.shape[0], size=self.num_envs)
        self._draw()

    def _draw(self) -> None:
        if self.model.data is None:
            self._gains = self.model.draw(self._rng, self.num_envs)
        else:
            idx = (self._start + self._t) % self.model.data.shape[0]
            self._gains = self.model.data[idx]

    def evaluate_actions(self, actions: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """``(rewards, info)`` of ``actions`` (num_envs, N) on the current frames (no state
        change)."""
        off = np.asarray(actions)
        if off.shape != (self.num_envs, self.n_users) or not np.all((off == 0) | (off == 1)):
            raise ValidationError("actions", "-", off.shape,
                                  f"must be 0/1 of shape ({self.num_envs}, {self.n_users})")
        off = off.astype(bool)
        L, g, W = self.model.coefficients(self._gains)
        rate, a, tau, _ = solve_inner(L, g, W, off)
        info = {"rate_bps": rate, "gains": self._gains.copy(), "mode": off.astype(np.int8),
                "wpt_fraction": a, "tau": tau}
        return rate * self.reward_scale, info

    def labels(self) -> dict[str, np.ndarray]:
        """Certified optimum of every current frame: ``optimal_action`` (int8), reward, bound,
        gap (arrays over sub-environments)."""
        L, g, W = self.model.coefficients(self._gains)
        sol = exact_batch(L, g, W, rel_gap=self.rel_gap)
        off = np.asarray(sol.offload, dtype=bool)
        value = solve_inner(L, g, W, off)[0]
        bound = np.maximum(sol.bound, value)
        gap = (bound - value) / np.maximum(np.abs(value), 1e-300)
        return {"optimal_action": off.astype(np.int8), "optimal_reward": value * self.reward_scale,
                "bound": bound * self.reward_scale, "gap": gap}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, Any]]:
        """Score every sub-environment's action, then draw the next frames."""
        rewards, info = self.evaluate_actions(actions)
        if self.label:
            lab = self.labels()
            info.update(lab)
            info["regret"] = lab["optimal_reward"] - rewards
            info["labelled"] = np.ones(self.num_envs, dtype=bool)
        self._last = (f"step {self._t}: mean rate {float(info['rate_bps'].mean()):.6g} bit/s"
                      + (f", mean regret {float(info['regret'].mean()):.3g}"
                         if self.label else ""))
        self._t += 1
        truncated = np.full(self.num_envs, self._t >= self.episode_length)
        if truncated[0]:
            info["final_obs"] = self.model.observe(self._draw_final())
            info["_final_obs"] = np.ones(self.num_envs, dtype=bool)
            self._new_episode()
        else:
            self._draw()
        terminated = np.zeros(self.num_envs, dtype=bool)
        return self.model.observe(self._gains), rewards, terminated, truncated, info

    def _draw_final(self) -> np.ndarray:
        """The frame that would follow the last one (the truncated episode's final obs)."""
        self._draw()
        return self._gains.copy()

    def render(self) -> tuple[str, ...] | None:
        """Text summary of the last step (``render_mode="ansi"``)."""
        if self.render_mode == "ansi":
            return (self._last or "no step yet",)
        return None

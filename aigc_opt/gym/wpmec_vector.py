r"""Native batched WPMEC environment: ``num_envs`` frames per step, solved in one call.

Same model, spaces (per sub-environment), reward and labels as
:class:`~aigc_opt.gym.wpmec.WpmecOffloadEnv` (binary actions), but the inner problems of all
sub-environments are solved together by the vectorised
:func:`~aigc_opt.problems.wpmec.inner.solve_inner` and the labels by one call of the batch
branch and bound :func:`~aigc_opt.problems.wpmec.exact_batch` (nodes of all frames share numpy
arrays), which is what makes labelled data cheap (< 1 ms per frame at N = 10 with 256 frames).

Registered as the ``vector_entry_point`` of ``"aigc_opt/WpmecOffload-v0"``, so that
``gymnasium.make_vec`` picks it by default::

    envs = gymnasium.make_vec("aigc_opt/WpmecOffload-v0", num_envs=256, n_users=10)

Arguments
    The keyword arguments of :class:`~aigc_opt.gym.wpmec.WpmecOffloadEnv` (``action_type``
    must be ``"binary"``) plus ``max_episode_steps`` (what ``gymnasium.make`` would turn into
    a ``TimeLimit``: episodes are truncated after ``min(episode_length, max_episode_steps)``
    steps; ``None`` or ``-1``: no limit) and ``disable_env_checker`` (no effect: vector
    environments have no checker). Any other keyword raises ``TypeError``.
Seeding
    As :class:`gymnasium.vector.SyncVectorEnv`: every sub-environment has its own generator,
    ``reset(seed=s)`` seeds sub-environment i with ``s + i``, ``reset(seed=[s_0, ...])`` with
    ``s_i`` (one entry per sub-environment; ``None`` keeps that sub-environment's generator),
    and ``reset()`` continues the generators. Sub-environment i then sees exactly the frames
    (observations, rewards, optimal actions and rewards) of a single ``WpmecOffloadEnv``
    reset with the same seed and the same arguments (rewards agree to rounding: the batched
    inner solver is another implementation of the same formula; ``bound`` and ``gap`` are
    certified either way but depend on which frames the branch and bound solves together).
    ``np_random`` and ``np_random_seed`` are the tuples of the sub-environments' generators
    and seeds, as in ``SyncVectorEnv``.
Autoreset and info (``autoreset_mode = SAME_STEP``)
    All sub-environments run episodes of the same length in lockstep and are reset in the step
    that ends them, with ``info`` laid out as ``SyncVectorEnv(...,
    autoreset_mode=AutoresetMode.SAME_STEP)`` lays it out: every key has its ``_key`` mask;
    at an episode's last step the returned observation is the first frame of the new
    episode, ``info["final_obs"]`` (object array of the last observations),
    ``info["final_info"]`` (the step's info: rates, labels, ...) with the masks
    ``_final_obs`` and ``_final_info``, and the top-level keys are those of the reset
    (``gains``, ``frame``). Gymnasium's vector *observation* wrappers
    (``NormalizeObservation``, ``FlattenObservation``, ``DtypeObservation``, ...) refuse
    SAME_STEP environments by design; use ``vectorization_mode="sync"`` (NEXT_STEP
    autoreset, same frames for the same seeds) with them. Reward and statistics wrappers
    work with both.
Memory
    Each sub-environment keeps its block of ``min(label_block, episode_length)`` frames
    (the single environment's draw schedule): ``8 num_envs min(label_block, episode_length)
    N`` bytes, capped at :data:`MAX_BUFFER` entries.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.gym._need import gymnasium, spaces  # names the [gym] extra if missing
from aigc_opt.problems.wpmec import WpmecParams
from aigc_opt.problems.wpmec.exact import exact_batch
from aigc_opt.problems.wpmec.inner import solve_inner
from aigc_opt.validate import check_bool, check_scalar

from ._common import (
    binary_action,
    check_choice,
    check_positive_int,
    check_render_mode,
    check_reward_scale,
    not_reset,
)
from .wpmec import OBS_HIGH, WpmecModel, block_rows

logger = logging.getLogger(__name__)

#: Cap on ``num_envs x min(label_block, episode_length) x N`` (the frame buffer, 8 bytes each).
MAX_BUFFER = 50_000_000


def _masked(info: dict[str, Any], num_envs: int) -> dict[str, Any]:
    """``info`` with a ``_key`` mask (all True) next to every key, as gymnasium's vector
    environments report infos present in every sub-environment."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        out[key] = value
        out[f"_{key}"] = np.ones(num_envs, dtype=bool)
    return out


class WpmecBatchVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` WPMEC frames per step (see the module docstring).

    Parameters
    ----------
    num_envs : int
        Sub-environments (frames per step).
    n_users : int, optional
        Devices N (default 10; with ``gains``, their columns, which an explicit ``n_users``
        must equal).
    episode_length : int
        Frames per episode.
    action_type : {"binary"}
        Accepted for compatibility with the single environment; only binary actions.
    quantise_k : int
        Checked as in the single environment; no effect with binary actions.
    label : bool
        Compute the certified optimum of every frame.
    rel_gap : float
        Relative gap of the exact method.
    reward_scale : float
        Reward = scale x weighted sum rate in bit/s (default Mbit/s).
    weights, params, gains, channel_profile
        As in :class:`~aigc_opt.gym.wpmec.WpmecModel`; with ``gains`` sub-environment i replays
        rows ``start_i, start_i + 1, ...`` (cyclic), ``start_i`` drawn at reset.
    label_block : int
        Frames drawn per block (the single environment's schedule, so that the frames of a
        seed agree with it).
    render_mode : {None, "ansi"}
        Text summary of the last step.
    max_episode_steps : int, optional
        Truncate episodes after ``min(episode_length, max_episode_steps)`` steps (``None`` or
        ``-1``: after ``episode_length``), as ``gymnasium.make`` does with a ``TimeLimit``.
    disable_env_checker : bool, optional
        Accepted as ``gymnasium.make`` accepts it; no effect.
    """

    metadata = {"render_modes": ["ansi"],
                "autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 256, n_users: int | None = None, *,
                 episode_length: int = 100,
                 action_type: str = "binary", quantise_k: int = 1, label: bool = True,
                 rel_gap: float = 1e-6, reward_scale: float = 1e-6, weights: Any = None,
                 params: WpmecParams | None = None, gains: Any = None, label_block: int = 64,
                 render_mode: str | None = None, max_episode_steps: int | None = None,
                 disable_env_checker: bool | None = None,
                 channel_profile: str = "droo_code") -> None:
        if check_choice("action_type", action_type, ("binary", "relaxed")) != "binary":
            raise ValidationError("action_type", "-", action_type,
                                  "the batched environment takes binary actions only")
        self.num_envs = check_positive_int("num_envs", num_envs, 10**7)
        self.model = WpmecModel(n_users, weights, params, gains, channel_profile)
        n = self.n_users = self.model.n_users
        check_positive_int("quantise_k", quantise_k, n)
        self.episode_length = check_positive_int("episode_length", episode_length, 10**9)
        self.label_block = check_positive_int("label_block", label_block, 1_000_000)
        if max_episode_steps is None or (max_episode_steps == -1
                                         and not isinstance(max_episode_steps, bool)):
            self.max_episode_steps: int | None = None
        else:
            self.max_episode_steps = check_positive_int("max_episode_steps",
                                                        max_episode_steps, 10**9)
        #: Steps per episode: ``min(episode_length, max_episode_steps)``.
        self.horizon = min(self.episode_length, self.max_episode_steps or self.episode_length)
        rows = min(self.label_block, self.episode_length)
        if self.num_envs * rows * n > MAX_BUFFER:
            raise ValidationError(
                "num_envs", "-", self.num_envs,
                f"num_envs x min(label_block, episode_length) x n_users = "
                f"{self.num_envs * rows * n:,} frame entries, above {MAX_BUFFER:,}; "
                "lower num_envs or label_block")
        self.label = check_bool("label", label)
        self.rel_gap = float(check_scalar("rel_gap", rel_gap, "-", 0.0, 1.0))
        self.reward_scale = check_reward_scale(reward_scale)
        self.render_mode = check_render_mode(render_mode)
        self.single_observation_space = spaces.Box(0.0, OBS_HIGH, (n,), np.float32)
        self.single_action_space = spaces.MultiBinary(n)
        self.observation_space = spaces.Box(0.0, OBS_HIGH, (self.num_envs, n), np.float32)
        self.action_space = spaces.MultiBinary((self.num_envs, n))
        self._rngs: list[np.random.Generator] | None = None
        self._seeds: list[int | None] = [None] * self.num_envs
        self._ready = False
        self._gains = np.ones((self.num_envs, n))
        self._block = np.ones((self.num_envs, 1, n))
        self._block_t0 = 0
        self._t = 0
        self._start = np.zeros(self.num_envs, dtype=np.int64)
        self._last = ""

    # ------------------------------------------------------------------ seeding
    @property  # type: ignore[misc]
    def np_random(self) -> tuple[np.random.Generator, ...]:  # type: ignore[override]
        """The sub-environments' generators (created unseeded if not reset yet)."""
        return tuple(self._generators())

    @property
    def np_random_seed(self) -> tuple[int | None, ...]:  # type: ignore[override]
        """The seed of every sub-environment's generator (entropy-drawn when unseeded)."""
        self._generators()
        return tuple(self._seeds)

    def _generators(self) -> list[np.random.Generator]:
        if self._rngs is None:
            pairs = [gymnasium.utils.seeding.np_random(None) for _ in range(self.num_envs)]
            self._rngs = [g for g, _ in pairs]
            self._seeds = [s for _, s in pairs]
        return self._rngs

    def _seed_list(self, seed: Any) -> list[int | None]:
        m = self.num_envs
        if seed is None:
            return [None] * m
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(m)]
        if not isinstance(seed, list | tuple | np.ndarray):
            raise ValidationError("seed", "-", seed,
                                  "must be None, an int or a list of num_envs ints / None")
        if len(seed) != m:
            raise ValidationError("seed", "-", seed,
                                  f"a list of seeds must have num_envs = {m} entries, "
                                  f"got {len(seed)}")
        out: list[int | None] = []
        for s in seed:
            if s is not None and (isinstance(s, bool) or not isinstance(s, int | np.integer)):
                raise ValidationError("seed", "-", s, "entries must be ints or None")
            out.append(None if s is None else int(s))
        return out

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """New episodes for all sub-environments (seeding as ``SyncVectorEnv``: ``seed + i``,
        or one entry per sub-environment). ``options["reset_mask"]`` must select every
        sub-environment: they run in lockstep."""
        seeds = self._seed_list(seed)
        if options and "reset_mask" in options and not np.all(options["reset_mask"]):
            raise ValidationError("options", "-", "reset_mask",
                                  "the batched environment resets all sub-environments "
                                  "together; use vectorization_mode='sync' for partial resets")
        rngs = self._generators()
        for i, s in enumerate(seeds):
            if s is not None:
                rngs[i], self._seeds[i] = gymnasium.utils.seeding.np_random(s)
        self._new_episode()
        self._last = ""  # render() showed the previous episode's last step
        self._ready = True
        return self.model.observe(self._gains), self._reset_info()

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, Any]]:
        """Score every sub-environment's action, then draw the next frames (and reset all
        sub-environments in the same step at the end of an episode)."""
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
        self._set_frames()
        info["frame"] = np.full(self.num_envs, self._t, dtype=np.int64)
        obs = self.model.observe(self._gains)
        done = self._t >= self.horizon
        truncated = np.full(self.num_envs, done)
        terminated = np.zeros(self.num_envs, dtype=bool)
        if not done:
            return obs, rewards, terminated, truncated, _masked(info, self.num_envs)
        final_obs = np.empty(self.num_envs, dtype=object)
        final_obs[:] = list(obs)  # one array per sub-environment, as SyncVectorEnv gives
        self._new_episode()
        out = {"final_obs": final_obs, "_final_obs": np.ones(self.num_envs, dtype=bool),
               "final_info": _masked(info, self.num_envs),
               "_final_info": np.ones(self.num_envs, dtype=bool)}
        out.update(self._reset_info())
        return self.model.observe(self._gains), rewards, terminated, truncated, out

    def render(self) -> tuple[str, ...] | None:
        """Text summary of the last step (``render_mode="ansi"``)."""
        if self.render_mode == "ansi":
            return (self._last or "no step yet",)
        return None

    # ------------------------------------------------------------------ frames
    def _reset_info(self) -> dict[str, Any]:
        return _masked({"gains": self._gains.copy(),
                        "frame": np.zeros(self.num_envs, dtype=np.int64)}, self.num_envs)

    def _new_episode(self) -> None:
        self._t = 0
        if self.model.data is not None:
            k = self.model.data.shape[0]
            self._start = np.array([int(g.integers(k)) for g in self._generators()],
                                   dtype=np.int64)
        self._set_frames()

    def _set_frames(self) -> None:
        """The current frames, drawn per sub-environment in the blocks of the single
        environment (:func:`~aigc_opt.gym.wpmec.block_rows`)."""
        k = self._t - self._block_t0
        if self._t == 0 or k >= self._block.shape[1]:
            size = block_rows(self._t, self.episode_length, self.label_block)
            if self.model.data is None:
                self._block = np.stack([self.model.draw(g, size) for g in self._generators()])
            else:
                idx = (self._start[:, None] + self._t + np.arange(size)) % self.model.data.shape[0]
                self._block = self.model.data[idx]
            self._block_t0, k = self._t, 0
        self._gains = self._block[:, k]

    # ------------------------------------------------------------------ scoring and labels
    def evaluate_actions(self, actions: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """``(rewards, info)`` of ``actions`` (num_envs, N) on the current frames (no state
        change)."""
        if not self._ready:
            raise not_reset()
        off = binary_action(actions, (self.num_envs, self.n_users), field="actions")
        L, g, W = self.model.coefficients(self._gains)
        rate, a, tau, _ = solve_inner(L, g, W, off)
        info = {"rate_bps": rate, "gains": self._gains.copy(), "mode": off.astype(np.int8),
                "wpt_fraction": a, "tau": tau}
        return rate * self.reward_scale, info

    def labels(self) -> dict[str, np.ndarray]:
        """Certified optimum of every current frame: ``optimal_action`` (int8), reward, bound,
        gap and ``label_status`` (arrays over sub-environments)."""
        if not self._ready:
            raise not_reset()
        L, g, W = self.model.coefficients(self._gains)
        sol = exact_batch(L, g, W, rel_gap=self.rel_gap)
        off = np.asarray(sol.offload, dtype=bool)
        value = solve_inner(L, g, W, off)[0]
        bound = np.maximum(sol.bound, value)
        gap = (bound - value) / np.maximum(np.abs(value), 1e-300)
        status = np.where(gap <= self.rel_gap, "optimal", "limit").astype(object)
        return {"optimal_action": off.astype(np.int8), "optimal_reward": value * self.reward_scale,
                "bound": bound * self.reward_scale, "gap": gap, "label_status": status}

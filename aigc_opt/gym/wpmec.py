r"""Wireless-powered MEC offloading per frame (DROO model) as a Gymnasium environment.

Model (:mod:`aigc_opt.problems.wpmec`, Bi & Zhang 2018; Huang, Bi & Zhang 2020 "DROO"): each
step is one frame with i.i.d. Rayleigh-faded channel gains ``h_i = hbar_i alpha_i``,
``alpha_i ~ Exp(1)`` around DROO's free-space means ``hbar`` (:func:`~aigc_opt.problems.wpmec.
mean_gains`), or the rows of a given gain matrix (e.g. DROO's ``data_N.mat``). The agent picks
the binary offloading mode of every device; the environment completes it by the **exact inner
solver** (optimal WPT fraction ``a`` and slots ``tau`` for those modes,
:func:`~aigc_opt.problems.wpmec.inner.solve_inner_1`), exactly as DROO's critic does.

Spaces
    ``observation``: ``Box(0, 1e6, (N,), float32)``, the normalised gains ``h_i / hbar_i``
    (the fading power, mean 1; with a gain matrix ``hbar`` is its column mean; clipped at
    1e6). Raw gains (-) are in ``info["gains"]``.
    ``action``: ``MultiBinary(N)`` (1 = offload) or, with ``action_type="relaxed"``,
    ``Box(0, 1, (N,), float32)`` quantised by DROO's order-preserving quantisation into
    ``quantise_k`` modes of which the best (by the exact inner value) is applied. Scores
    must be finite numbers in [0, 1] (others, bools and strings are refused, not clipped).
Reward
    ``reward_scale * sum_i w_i r_i`` of the completed allocation, the weighted sum computation
    rate (``reward_scale = 1e-6``: Mbit/s; ``info["rate_bps"]`` is in bit/s).
Labels (``label=True``)
    The frame's certified optimum by the Lagrangian branch and bound
    (:func:`~aigc_opt.problems.wpmec.exact_batch`, ``rel_gap``): ``optimal_action``,
    ``optimal_reward``, ``regret``, ``bound``, ``gap`` (see :mod:`aigc_opt.gym._common`).
Episodes
    ``episode_length`` frames, then ``truncated=True`` (frames are independent; there is no
    terminal state). ``step`` before ``reset`` or after the end of the episode raises a
    :class:`~aigc_opt.errors.ValidationError` (``"not reset: call reset() first"``,
    ``"episode over: call reset()"``), as in every environment of :mod:`aigc_opt.gym`.
Cost under a shorter time limit
    Frames are drawn, and with labels solved, in blocks of ``min(label_block,
    episode_length - t)``. A :class:`gymnasium.wrappers.TimeLimit` (``max_episode_steps``)
    that ends episodes earlier than ``episode_length`` does not shorten the blocks: every
    episode still draws and labels up to ``label_block`` frames (N = 10, 2-step episodes:
    about 4-6x the time per episode). Set ``episode_length`` to the horizon instead (or lower
    ``label_block``). Episodes run to ``episode_length`` draw the same frames for a seed
    whatever ``label_block``; an episode cut short discards the rest of its block.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.gym._need import gymnasium as gym  # names the [gym] extra if missing
from aigc_opt.gym._need import spaces
from aigc_opt.problems.online.lyapunov import order_preserving_modes
from aigc_opt.problems.wpmec import (
    CHANNEL_PROFILES,
    WpmecBatch,
    WpmecParams,
    default_weights,
    mean_gains,
)
from aigc_opt.problems.wpmec.exact import BatchSolution, exact_batch
from aigc_opt.problems.wpmec.inner import solve_inner_1
from aigc_opt.validate import check_bool, check_name, check_scalar

from ._common import (
    Label,
    binary_action,
    certificate,
    check_choice,
    check_live,
    check_positive_int,
    check_render_mode,
    check_reward_scale,
    unit_scores,
)

logger = logging.getLogger(__name__)

#: Devices N of the WPMEC environments when neither ``n_users`` nor ``gains`` is given.
DEFAULT_USERS = 10

#: Upper end of the normalised observations (gains / mean gains are clipped to it).
OBS_HIGH = 1e6


class WpmecModel:
    """Shared frame model of the WPMEC environments (single and batched).

    Parameters
    ----------
    n_users : int, optional
        Devices N (default 10; with ``gains``, their columns, which an explicit ``n_users``
        must equal).
    weights : array_like, optional
        Rate weights (default DROO's :func:`~aigc_opt.problems.wpmec.default_weights`).
    params : WpmecParams, optional
        Physical parameters (DROO defaults).
    gains : array_like, shape (K, N), optional
        Frames to replay instead of generating Rayleigh draws.
    channel_profile : str
        Channel profile of the generated draws (a
        :data:`~aigc_opt.problems.wpmec.CHANNEL_PROFILES` name; ``"droo_data"`` matches DROO's
        published data sets); checked also when ``gains`` make it unused.
    """

    def __init__(self, n_users: int | None, weights: Any = None,
                 params: WpmecParams | None = None, gains: Any = None,
                 channel_profile: str = "droo_code") -> None:
        # by its own name (mean_gains named it 'profile'), and also when gains are given
        check_name("channel_profile", channel_profile, CHANNEL_PROFILES)
        if gains is not None:
            batch = WpmecBatch.from_array(gains, weights=weights, params=params)
            self.data: np.ndarray | None = np.asarray(batch.gains)
            if n_users is not None and check_positive_int("n_users", n_users, 100_000) \
                    != batch.n_users:  # (was silently replaced by the gains' N)
                raise ValidationError("gains", "-", f"array of shape {self.data.shape}",
                                      f"has {batch.n_users} device column(s) but n_users = "
                                      f"{n_users}; leave n_users out to take N from the gains")
            n_users = batch.n_users
            self.scale = self.data.mean(axis=0)
        else:
            n_users = check_positive_int("n_users", DEFAULT_USERS if n_users is None
                                         else n_users, 100_000)
            batch = WpmecBatch.from_array(np.ones((1, n_users)), weights=weights, params=params)
            self.data = None
            self.scale = mean_gains(n_users, profile=channel_profile)
        self.n_users = n_users
        self.weights = np.asarray(batch.weights if weights is not None
                                  else default_weights(n_users))
        self.params = batch.params

    def draw(self, rng: np.random.Generator, count: int, start: int = 0) -> np.ndarray:
        """``count`` frames of gains, shape (count, N): fresh draws, or rows ``start, ...``
        (cyclic) of the gain matrix."""
        if self.data is None:
            return self.scale[None, :] * rng.exponential(1.0, size=(count, self.n_users))
        idx = (start + np.arange(count)) % self.data.shape[0]
        return self.data[idx]

    def coefficients(self, gains: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(L, g, W)`` of the inner problem for gains of any shape (..., N)."""
        L, g, W = self.params.coefficients(gains, self.weights)
        return L, g, np.broadcast_to(W, np.shape(gains)).copy()

    def observe(self, gains: np.ndarray) -> np.ndarray:
        """Normalised gains ``h / hbar`` as float32."""
        return np.asarray(np.minimum(gains / self.scale, OBS_HIGH), dtype=np.float32)


def block_rows(t: int, episode_length: int, label_block: int) -> int:
    """Frames drawn at frame ``t`` when a new block starts: ``min(label_block, episode_length
    - t)``, at least 1 (the frame after the last one, the truncated episode's final
    observation). The single and the batched environment draw on this schedule, so a
    sub-environment of :class:`~aigc_opt.gym.wpmec_vector.WpmecBatchVectorEnv` consumes its
    generator exactly as a single environment does."""
    return max(min(label_block, episode_length - t), 1)


class WpmecOffloadEnv(gym.Env):
    """One WPMEC frame per step; see the module docstring for spaces, reward and labels.

    Parameters
    ----------
    n_users : int, optional
        Devices N (default 10; with ``gains``, their columns, which an explicit ``n_users``
        must equal).
    episode_length : int
        Frames per episode (then ``truncated``).
    action_type : {"binary", "relaxed"}
        ``MultiBinary(N)`` modes or a ``Box(0, 1)`` score quantised by the environment.
    quantise_k : int
        Modes tried from a relaxed action (DROO's K; 1 = threshold at 0.5).
    label : bool
        Compute the exact label of every frame (off: faster, no label keys in ``info``).
    rel_gap : float
        Relative gap at which the exact method stops (the certificate in ``info["gap"]``).
    reward_scale : float
        Reward = ``reward_scale`` x weighted sum rate in bit/s (default 1e-6: Mbit/s).
    weights, params, gains, channel_profile
        See :class:`WpmecModel`.
    label_block : int
        Frames drawn (and, with labels, solved) together; see :meth:`current_label`.
    render_mode : {None, "ansi"}
        ``"ansi"``: :meth:`render` returns a text line per frame.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, n_users: int | None = None, *, episode_length: int = 100,
                 action_type: str = "binary", quantise_k: int = 1, label: bool = True,
                 rel_gap: float = 1e-6, reward_scale: float = 1e-6, weights: Any = None,
                 params: WpmecParams | None = None, gains: Any = None, label_block: int = 64,
                 render_mode: str | None = None, channel_profile: str = "droo_code") -> None:
        self.model = WpmecModel(n_users, weights, params, gains, channel_profile)
        self.n_users = n = self.model.n_users
        self.episode_length = check_positive_int("episode_length", episode_length, 10**9)
        self.action_type = check_choice("action_type", action_type, ("binary", "relaxed"))
        self.quantise_k = check_positive_int("quantise_k", quantise_k, n)
        self.label = check_bool("label", label)
        self.rel_gap = float(check_scalar("rel_gap", rel_gap, "-", 0.0, 1.0))
        self.reward_scale = check_reward_scale(reward_scale)
        self.render_mode = check_render_mode(render_mode)
        self.observation_space = spaces.Box(0.0, OBS_HIGH, (n,), np.float32)
        if self.action_type == "binary":
            self.action_space: spaces.Space[Any] = spaces.MultiBinary(n)
        else:
            self.action_space = spaces.Box(0.0, 1.0, (n,), np.float32)
        self._gains = np.ones(n)
        self._coef: tuple[list[float], list[float], list[float]] = ([], [], [])
        self._t = 0
        self._start = 0
        self._label: Label | None = None
        self.label_block = check_positive_int("label_block", label_block, 1_000_000)
        self._block = np.ones((1, n))
        self._block_t0 = 0
        self._block_sol: BatchSolution | None = None
        self._ready = False
        self._last: str = ""

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: draw the first frame (``seed`` re-seeds ``np_random``)."""
        super().reset(seed=seed)
        self._last = ""  # render() showed the previous episode's last decision
        self._t = 0
        self._ready = True
        if self.model.data is not None:
            self._start = int(self.np_random.integers(self.model.data.shape[0]))
        self._set_frame()
        return self.model.observe(self._gains), {"gains": self._gains.copy(), "frame": 0}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Score ``action`` on the current frame, then move to the next frame."""
        reward, info = self.evaluate_action(action)  # refuses a step before reset / after end
        if self.label:
            info.update(self.current_label().to_info(reward))
        self._last = (f"frame {self._t}: modes {''.join('1' if m else '0' for m in info['mode'])}"
                      f" rate {info['rate_bps']:.6g} bit/s"
                      + (f" regret {info['regret']:.3g}" if self.label else ""))
        self._t += 1
        truncated = self._t >= self.episode_length
        self._set_frame()
        info["frame"] = self._t
        return self.model.observe(self._gains), reward, False, truncated, info

    def render(self) -> str | None:
        """The last frame's decision as text (``render_mode="ansi"``), else None."""
        if self.render_mode == "ansi":
            return self._last or f"frame {self._t}: no decision yet\n"
        return None

    # ------------------------------------------------------------------ labels and scoring
    def mode_of(self, action: Any) -> np.ndarray:
        """The binary modes an action means (relaxed actions are quantised, best of K)."""
        n = self.n_users
        if self.action_type == "binary":
            return binary_action(action, n)
        modes = order_preserving_modes(unit_scores(action, n), self.quantise_k)
        if modes.shape[0] == 1:
            return modes[0]
        self._check_live()  # the best of K modes is judged on the current frame
        values = [self._inner(m)[0] for m in modes]
        return modes[int(np.argmax(values))]

    def _check_live(self) -> None:
        check_live(self._ready, self._t, self.episode_length)

    def _inner(self, mode: np.ndarray) -> tuple[float, float, list[float]]:
        L, g, W = self._coef
        value, a, tau, _ = solve_inner_1(L, g, W, [bool(x) for x in mode])
        return value, a, tau

    def evaluate_action(self, action: Any) -> tuple[float, dict[str, Any]]:
        """``(reward, info)`` of ``action`` on the current frame, without changing state."""
        self._check_live()
        mode = self.mode_of(action)
        rate, a, tau = self._inner(mode)
        info = {"rate_bps": rate, "gains": self._gains.copy(), "mode": mode.astype(np.int8),
                "wpt_fraction": a, "tau": np.asarray(tau)}
        return rate * self.reward_scale, info

    def current_label(self) -> Label:
        """The certified optimum of the current frame (cached per frame).

        Frames are drawn in blocks of ``label_block`` and the exact method labels a whole
        block in one vectorised call the first time a label of the block is asked for (about
        ten times cheaper per frame than one call per frame at N = 10)."""
        self._check_live()
        if self._label is None:
            if self._block_sol is None:
                L, g, W = self.model.coefficients(self._block)
                self._block_sol = exact_batch(L, g, W, rel_gap=self.rel_gap)
            k = self._t - self._block_t0
            mode = np.asarray(self._block_sol.offload[k], dtype=bool)
            value = self._inner(mode)[0]
            bound, gap = certificate(value, float(self._block_sol.bound[k]))
            action = (mode.astype(np.int8) if self.action_type == "binary"
                      else mode.astype(np.float32))
            self._label = Label(action, value * self.reward_scale, bound * self.reward_scale,
                                gap, "optimal" if gap <= self.rel_gap else "limit")
        return self._label

    def _set_frame(self) -> None:
        k = self._t - self._block_t0
        if self._t == 0 or k >= self._block.shape[0]:
            size = block_rows(self._t, self.episode_length, self.label_block)
            self._block = self.model.draw(self.np_random, size, self._start + self._t)
            self._block_t0, self._block_sol, k = self._t, None, 0
        self._gains = self._block[k]
        L, g, W = self.model.coefficients(self._gains)
        self._coef = (L.tolist(), g.tolist(), W.tolist())
        self._label = None

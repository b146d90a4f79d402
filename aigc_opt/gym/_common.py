"""Shared plumbing of the Gymnasium environments: label records, seeds, argument checks.

Every environment of :mod:`aigc_opt.gym` reports, when labelling is on, the same ``info``
keys for the decision it has just scored (see :class:`Label`):

``optimal_action``
    An optimal action for the state the agent acted on (same encoding as the action space).
``optimal_reward``
    The environment's own reward for ``optimal_action`` (computed by the same code path as the
    reward of any action, so taking it reproduces this number exactly).
``regret``
    ``optimal_reward - reward`` (>= ``-certificate slack``; 0 for an optimal action).
``bound``
    Proven upper bound on the best reward of any action (reward units), from the exact method.
``gap``
    The exact method's relative certificate: ``(bound - optimal_reward) / |optimal_reward|``
    (WPMEC, offloading MILP; ``<= rel_gap`` / ``mip_gap``), :func:`aigc_opt.result.relative_gap`
    (Lyapunov frame solver), 0 for AGOD's per-step enumeration.
``label_status``
    ``"optimal"`` (certified), ``"limit"`` (a node/time limit left the gap open) or
    ``"infeasible"`` (no feasible action; the numbers are NaN).
``labelled``
    True when the keys above are present.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.validate import check_array, check_scalar

logger = logging.getLogger(__name__)

#: Keys written by :meth:`Label.to_info`.
LABEL_KEYS = ("optimal_action", "optimal_reward", "regret", "bound", "gap", "label_status",
              "labelled")


@dataclass(frozen=True, eq=False)
class Label:
    """The exact label of one decision state (reward units of its environment).

    Parameters
    ----------
    action : ndarray or int
        An optimal action (action-space encoding).
    reward : float
        Environment reward of ``action``.
    bound : float
        Proven upper bound on the reward of every action.
    gap : float
        ``(bound - reward) / max(|reward|, 1e-300)``.
    status : str
        ``"optimal"`` (certified), ``"limit"`` (node/time limit: gap open) or
        ``"infeasible"`` (no feasible action exists; reward, bound and gap are NaN).
    """

    action: Any
    reward: float
    bound: float
    gap: float
    status: str = "optimal"

    def to_info(self, reward: float) -> dict[str, Any]:
        """The ``info`` entries for a decision that earned ``reward``."""
        action = np.array(self.action, copy=True) if np.ndim(self.action) else self.action
        return {"optimal_action": action, "optimal_reward": float(self.reward),
                "regret": float(self.reward - reward), "bound": float(self.bound),
                "gap": float(self.gap), "label_status": self.status, "labelled": True}


def certificate(reward: float, bound: float) -> tuple[float, float]:
    """``(bound, gap)`` with the bound lifted to at least ``reward`` (a bound below the value it
    certifies is rounding) and the relative gap ``(bound - reward) / max(|reward|, 1e-300)``."""
    if not (math.isfinite(reward) and math.isfinite(bound)):
        return float(bound), math.nan
    b = max(bound, reward)
    return b, (b - reward) / max(abs(reward), 1e-300)


def check_positive_int(name: str, value: Any, high: int = 1_000_000) -> int:
    """An ``int`` in ``[1, high]`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not (
            1 <= int(value) <= high):
        raise ValidationError(name, "-", value, f"must be an integer in [1, {high}]")
    return int(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise ValidationError(name, "-", value, f"must be one of {', '.join(choices)}")
    return str(value)


def check_render_mode(render_mode: Any, modes: tuple[str, ...] = ("ansi",)) -> str | None:
    """None or one of ``modes``."""
    if render_mode is not None and render_mode not in modes:
        raise ValidationError("render_mode", "-", render_mode,
                              f"must be None or one of {', '.join(modes)}")
    return render_mode


#: Largest ``reward_scale`` (-): rewards times it stay finite up to ``|reward| ~ 1e208``. At
#: ``1e308`` a WPMEC reward of 3 became ``inf`` and the regret ``inf - inf = nan``.
REWARD_SCALE_MAX = 1e100


def check_reward_scale(value: Any) -> float:
    """A positive reward scale (-) up to :data:`REWARD_SCALE_MAX`: a number, never a string or
    a bool (``float()`` had taken ``'3'`` as 3.0 and ``True`` as 1.0)."""
    return float(check_scalar("reward_scale", value, "-", 0.0, REWARD_SCALE_MAX, strict=True))


def sub_seed(rng: np.random.Generator) -> int:
    """A fresh 31-bit seed drawn from ``rng`` (for generators that take an int seed)."""
    return int(rng.integers(0, 2**31 - 1))


def not_reset() -> ValidationError:
    """The error of a step (or evaluation) before the first :meth:`reset`."""
    return ValidationError("env", "-", "not reset", "call reset() first")


def episode_over() -> ValidationError:
    """The error of a step after the episode ended (terminated or truncated by the
    environment's own horizon): the environment does not run past its end (gymnasium's
    vector environments reset a finished sub-environment before stepping it again)."""
    return ValidationError("env", "-", "episode over", "call reset()")


def check_live(started: bool, t: int, length: int) -> None:
    """Refuse a step (or a label) before the first reset (:func:`not_reset`) or at step ``t``
    of an episode of ``length`` steps that has ended (:func:`episode_over`)."""
    if not started:
        raise not_reset()
    if t >= length:
        raise episode_over()


def _checked(what: str, **kw: Any) -> np.ndarray:
    """:func:`aigc_opt.validate.check_array` with the action's meaning (``what``) in its
    message: strings (also ``"1"``), complex numbers, None, ragged sequences, NaN and, unless
    the array is boolean, bools are refused by the core's one array check."""
    try:
        return check_array(**kw)
    except ValidationError as exc:
        raise exc.with_note(what) from None


def binary_action(action: Any, n: int | tuple[int, ...], field: str = "action") -> np.ndarray:
    """A MultiBinary action of length ``n`` (or shape ``n``) as a bool array.

    Entries must be 0/1 numbers or bools; strings, complex numbers and NaN are refused."""
    shape = (n,) if isinstance(n, int) else tuple(n)
    return _checked(f"must be 0/1 values of shape {shape}", name=field, unit="-", value=action,
                    shape=shape, dtype=bool)


def unit_scores(action: Any, n: int) -> np.ndarray:
    """A ``Box(0, 1, (n,))`` action as float64 scores: finite numbers in ``[0, 1]`` (bools,
    strings, complex numbers, NaN and values outside the box are refused)."""
    return _checked(f"must be {n} finite scores in [0, 1]", name="action", unit="-",
                    value=action, shape=(n,), low=0.0, high=1.0)


def integer_action(action: Any, shape: tuple[int, ...], high: int, what: str) -> np.ndarray:
    """A Discrete (``shape == ()``) or MultiDiscrete action as int64 values in ``[0, high]``.

    Every entry must be an integer value: ``2.5`` is refused, not truncated to 2, and so are
    NaN, None, strings (also ``"3"``), complex numbers and bools (``True`` is not provider 1;
    gymnasium's Discrete space would accept it) -- a :class:`ValidationError` on ``action``
    saying ``what`` it must be."""
    return _checked(what, name="action", unit="-", value=action, shape=shape, low=0,
                    high=high, dtype=np.int64)


class BranchableMixin:
    """``copy.deepcopy(env)`` branches an environment: mutable state (queues, generator, step
    counter) is copied, the immutable problem data named in ``_SHARED`` is shared (frozen
    trajectories and scenarios hold read-only mappings that cannot be deep-copied)."""

    _SHARED: tuple[str, ...] = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        new = object.__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            new.__dict__[key] = value if key in self._SHARED else copy.deepcopy(value, memo)
        return new

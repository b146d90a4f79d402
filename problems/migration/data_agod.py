r"""AGOD online AIGC service-provider selection: instance, spec, allocation and the environment's
formulas, reproduced (not copied) from the public code of

    H. Du, Z. Li, D. Niyato, J. Kang, Z. Xiong, H. Huang, S. Mao, "Diffusion-based
    Reinforcement Learning for Edge-enabled AI-Generated Content Services", IEEE TMC 23(9),
    2024 (arXiv:2303.13052); code github.com/Lizonghang/AGOD, folder ``env/`` (commit 188397a).

Environment (every constant below cites ``env/config.py`` of that code):

* ``NUM_SERVICE_PROVIDERS = 20`` providers; provider p has capacity ``C_p`` (in denoising
  steps) drawn from ``TOTAL_T_RANGE = arange(400, 1000, 100)`` and a reward curve with
  ``a_x`` from ``AX_RANGE = arange(0, 100, 10)``, ``a_y`` from ``AY_RANGE = arange(0, .5, .05)``,
  ``b_x`` from ``BX_RANGE = arange(150, 250, 10)``, ``b_y`` from ``BY_RANGE = arange(.5, 1, .05)``;
* the reward of running a task of ``t`` steps at p (``REWARD``) is
  ``(b_y - a_y) / (b_x - a_x) (t - a_x)`` for ``a_x <= t <= b_x``, 0 below ``a_x`` and
  ``b_y - a_y`` above ``b_x``;
* tasks: ``Poisson(LAMBDA * TOTAL_TIME)`` arrivals with ``LAMBDA = 0.001``,
  ``TOTAL_TIME = 1e6``, at sorted uniform times (integers) plus one at time 0
  (``env/task.py TaskGenerator``); each asks for ``t`` steps from ``T_RANGE = arange(100, 260,
  10)`` and runs for ``RUNTIME(t) = (0.001 t^2 + 2.5 t - 14) 60`` time units;
* assigning task j to p when ``t_j`` exceeds p's free capacity crashes p
  (``env/service_provider.py assign_task``): all its running tasks are lost and the reward is
  ``-c (1 + sum_k (1 - progress_k))`` with ``CRASH_PENALTY_COEF c = 2``; otherwise the reward is
  p's ``REWARD(t_j)``. Finished tasks leave when the next task arrives (``check_finished``).

Random draws use numpy's ``default_rng(seed)`` over the same ranges, so an episode has AGOD's
distribution but not the exact numbers of AGOD's global-seed run.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.schema import bound
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import (
    INT_LIMIT,
    MAX_ENTRIES,
    check_array,
    check_bool,
    check_int,
    check_scalar,
    check_seed,
    check_size,
    check_type,
    derived_from,
)

logger = logging.getLogger(__name__)

#: Most expected tasks (``rate x total_time``) of one generated episode: AGOD's default is about
#: 1,000; the arrays are O(tasks) and the offline MILP O(tasks x providers).
MAX_TASKS = 1_000_000
#: Longest episode (time units): arrival times are int64.
MAX_TIME = float(INT_LIMIT)
#: Largest reward-curve coefficient: an episode's utility (at most :data:`MAX_TASKS` rewards)
#: stays finite (a coefficient of 1e308 made the objective inf, the result 'unverified').
MAX_REWARD_COEF = 1e15

#: AGOD ``env/config.py`` constants.
NUM_SERVICE_PROVIDERS = 20
TOTAL_T_RANGE = np.arange(400, 1000, step=100)
AX_RANGE = np.arange(0, 100, step=10)
AY_RANGE = np.arange(0.0, 0.5, step=0.05)
BX_RANGE = np.arange(150, 250, step=10)
BY_RANGE = np.arange(0.5, 1.0, step=0.05)
LAMBDA = 0.001
TOTAL_TIME = 1_000_000
T_RANGE = np.arange(100, 260, step=10)
CRASH_PENALTY_COEF = 2.0


@dataclass(frozen=True)
class AgodProfile:
    """AGOD's environment parameters (``env/config.py``; the default values are AGOD's).

    Parameters
    ----------
    n_providers : int
        ``NUM_SERVICE_PROVIDERS``.
    capacity : tuple of int
        ``TOTAL_T_RANGE``, provider capacities (steps) drawn uniformly.
    ax, ay, bx, by : tuple of float
        ``AX_RANGE``, ``AY_RANGE``, ``BX_RANGE``, ``BY_RANGE``: reward-curve coefficients.
    rate : float
        ``LAMBDA``, task arrivals per time unit.
    total_time : float
        ``TOTAL_TIME``, episode length (time units).
    steps : tuple of int
        ``T_RANGE``, steps a task asks for.
    crash_penalty : float
        ``CRASH_PENALTY_COEF``.
    """

    n_providers: int = NUM_SERVICE_PROVIDERS
    capacity: tuple[int, ...] = tuple(int(v) for v in TOTAL_T_RANGE)
    ax: tuple[float, ...] = tuple(float(v) for v in AX_RANGE)
    ay: tuple[float, ...] = tuple(float(v) for v in AY_RANGE)
    bx: tuple[float, ...] = tuple(float(v) for v in BX_RANGE)
    by: tuple[float, ...] = tuple(float(v) for v in BY_RANGE)
    rate: float = LAMBDA
    total_time: float = TOTAL_TIME
    steps: tuple[int, ...] = tuple(int(v) for v in T_RANGE)
    crash_penalty: float = CRASH_PENALTY_COEF

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("n_providers", check_int("n_providers", self.n_providers, "-", 1,
                                      int(bound("count"))))
        for name, unit, dtype, low, high in (
                ("capacity", "step", np.int64, 0, bound("steps")),
                ("ax", "step", np.float64, 0.0, bound("steps")),
                ("ay", "-", np.float64, 0.0, bound("weight")),
                ("bx", "step", np.float64, 0.0, bound("steps")),
                ("by", "-", np.float64, 0.0, bound("weight")),
                ("steps", "step", np.int64, 1, bound("steps"))):
            a = check_array(name, unit, getattr(self, name), ndim=1, low=low, high=high,
                            dtype=dtype, nonempty=True)
            set_(name, tuple(int(v) if dtype is np.int64 else float(v) for v in a))
        # each alone; their product (the expected tasks) is checked per episode (episode_rate)
        set_("rate", check_scalar("rate", self.rate, "1/time unit", 0.0, float(MAX_TASKS),
                                  strict=True))
        set_("total_time", check_scalar("total_time", self.total_time, "time unit", 0.0,
                                        MAX_TIME, strict=True))
        set_("crash_penalty", check_scalar("crash_penalty", self.crash_penalty, "-", 0.0,
                                           bound("weight")))


#: AGOD's own parameters.
AGOD_PROFILE = AgodProfile()


def runtime_s(steps: np.ndarray) -> np.ndarray:
    """AGOD ``RUNTIME(t) = (0.001 t^2 + 2.5 t - 14) 60`` (the environment's time unit)."""
    t = np.asarray(steps, dtype=np.float64)
    return (0.001 * t ** 2 + 2.5 * t - 14.0) * 60.0


def reward(coefs: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """AGOD ``REWARD(a_x, a_y, b_x, b_y, t)``, broadcast over ``coefs[..., 4]`` and ``steps``."""
    c = np.asarray(coefs, dtype=np.float64)
    ax, ay, bx, by = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    t = np.asarray(steps, dtype=np.float64)
    ramp = (by - ay) / (bx - ax) * (t - ax)
    return np.where(t < ax, 0.0, np.where(t <= bx, ramp, by - ay))


@dataclass(frozen=True, eq=False)
class AgodInstance:
    """One AGOD episode: providers and the realised task sequence (P providers, J tasks).

    Parameters
    ----------
    provider_capacity : ndarray of int, shape (P,)
        ``C_p``, steps that may run at once.
    provider_reward : ndarray, shape (P, 4)
        Reward-curve coefficients ``(a_x, a_y, b_x, b_y)``.
    arrival_s : ndarray of int, shape (J,)
        Arrival times, nondecreasing (AGOD's time unit).
    task_steps : ndarray of int, shape (J,)
        Steps ``t_j`` each task asks for.
    """

    provider_capacity: np.ndarray
    provider_reward: np.ndarray
    arrival_s: np.ndarray
    task_steps: np.ndarray

    def __post_init__(self) -> None:
        cap = check_array("provider_capacity", "step", self.provider_capacity, ndim=1, low=0,
                          dtype=np.int64, nonempty=True)
        P = cap.shape[0]
        coef = check_array("provider_reward", "-", self.provider_reward, (P, 4), low=0.0,
                           high=MAX_REWARD_COEF, like="provider_capacity")
        if (coef[:, 2] <= coef[:, 0]).any():
            raise ValidationError("provider_reward", "-", coef, "needs b_x > a_x")
        arr = check_array("arrival_s", "s", self.arrival_s, ndim=1, low=0, dtype=np.int64,
                          nonempty=True)
        if (np.diff(arr) < 0).any():
            raise ValidationError("arrival_s", "s", arr, "must be nondecreasing")
        st = check_array("task_steps", "step", self.task_steps, arr.shape, low=1,
                         dtype=np.int64, like="arrival_s")
        if (st < 1).any():
            raise ValidationError("task_steps", "step", st[st < 1][0], "must be >= 1")
        if (cap < 0).any():
            raise ValidationError("provider_capacity", "step", cap[cap < 0][0], "must be >= 0")
        for k, v in (("provider_capacity", cap), ("provider_reward", coef),
                     ("arrival_s", arr), ("task_steps", st)):
            object.__setattr__(self, k, v)

    @property
    def n_tasks(self) -> int:
        """J."""
        return int(self.arrival_s.shape[0])

    @property
    def n_providers(self) -> int:
        """P."""
        return int(self.provider_capacity.shape[0])

    @classmethod
    def generate(cls, seed: int = 0, *, profile: AgodProfile | None = None,
                 n_providers: int | None = None, total_time: float | None = None,
                 rate: float | None = None, **overrides: Any) -> AgodInstance:
        """An episode drawn as AGOD's environment draws it (see the module docstring) from
        ``profile`` (default :data:`AGOD_PROFILE`); ``n_providers`` / ``total_time`` / ``rate``
        override the profile's, ``overrides`` any instance field."""
        pr = AGOD_PROFILE if profile is None else check_type("profile", profile, AgodProfile)
        rng = np.random.default_rng(check_seed("seed", seed))
        P = check_size("n_providers", pr.n_providers if n_providers is None else n_providers,
                       int(bound("count")), raise_with=None)
        lam, horizon = episode_rate(pr, rate, total_time)
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise UnknownNameError("AGOD instance field", unknown[0], known)
        coefs = np.stack([rng.choice(pr.ax, P), rng.choice(pr.ay, P),
                          rng.choice(pr.bx, P), rng.choice(pr.by, P)], axis=1)
        cap = rng.choice(pr.capacity, P)
        n = int(rng.poisson(lam * horizon))
        arrivals = np.hstack([[0.0], np.sort(rng.random(n) * horizon)]).astype(np.int64)
        fields: dict[str, Any] = dict(provider_capacity=cap, provider_reward=coefs,
                                      arrival_s=arrivals,
                                      task_steps=rng.choice(pr.steps, arrivals.shape[0]))
        fields.update(overrides)
        with derived_from(seed=seed, n_providers=P, total_time=horizon, rate=lam):
            return cls(**fields)


def episode_rate(profile: AgodProfile, rate: float | None = None,
                 total_time: float | None = None) -> tuple[float, float]:
    """``(rate, total_time)`` of an episode (the profile's where None), checked: both finite
    and > 0 (per time unit and time units), and at most :data:`MAX_TASKS` expected tasks."""
    horizon = check_scalar("total_time", profile.total_time if total_time is None
                           else total_time, "time unit", 0.0, MAX_TIME, strict=True)
    lam = check_scalar("rate", profile.rate if rate is None else rate, "1/time unit", 0.0,
                       float(MAX_TASKS), strict=True)
    if lam * horizon > MAX_TASKS:
        raise ValidationError("rate", "1/time unit", lam,
                              f"x total_time {horizon:g} gives {lam * horizon:.4g} "
                              f"expected tasks, above the {MAX_TASKS:,} an episode holds")
    return float(lam), float(horizon)


def reward_table(inst: AgodInstance) -> np.ndarray:
    """``R[j, p]``: reward of running task j at provider p, shape (J, P)."""
    return reward(inst.provider_reward[None, :, :], inst.task_steps[:, None])


def active_pairs(inst: AgodInstance) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(j, k)`` with task k still running when task j arrives (``k <= j`` and
    ``arrival_j < arrival_k + runtime_k``), in AGOD's order (k = j included)."""
    end = inst.arrival_s + runtime_s(inst.task_steps)
    last = np.searchsorted(inst.arrival_s, end, side="left") - 1  # last j with arrival_j < end_k
    J = inst.n_tasks
    length = np.maximum(last - np.arange(J) + 1, 1)
    pairs = int(length.sum())
    if pairs > MAX_ENTRIES:  # refused before allocating (1e6 tasks at rate 1 asked for 201 GiB)
        raise ValidationError("n_tasks", "task", J, f"{pairs:,} pairs of overlapping tasks, "
                              f"above the {MAX_ENTRIES:,} the exact methods' rows may hold")
    k = np.repeat(np.arange(J), length)
    first = np.repeat(np.cumsum(length) - length, length)
    j = k + (np.arange(k.shape[0]) - first)
    return j, k


@dataclass(frozen=True)
class AgodSpec(ProblemSpec):
    """AGOD provider selection. Built, it is the offline crash-free MILP (maximise the total
    reward over the realised task sequence, see :mod:`.agod`); its heuristics are AGOD's
    baselines (random, round robin, crash-avoid, prophet).

    Parameters
    ----------
    crash_penalty : float
        ``CRASH_PENALTY_COEF`` (AGOD: 2), utility lost per crash (see the referee).
    crash_free : bool
        True (the offline problem): a crash is a hard violation, so the MILP's optimum (or its
        infeasibility) is exact for the referee, and a crashing heuristic is infeasible (its
        utility with the penalties stays in the metrics). False (AGOD's own scoring): a crash
        only costs the penalty; the MILP then solves a restriction (a crash frees capacity,
        which may pay), so neither it nor the generic backends are offered.
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    crash_penalty: float = CRASH_PENALTY_COEF
    crash_free: bool = True
    problem: str = "agod"
    variant: str = "selection"

    def __post_init__(self) -> None:
        object.__setattr__(self, "crash_penalty", check_scalar(
            "crash_penalty", self.crash_penalty, "-", 0.0, bound("weight")))
        object.__setattr__(self, "crash_free", check_bool("crash_free", self.crash_free))

    @property
    def program_applies(self) -> bool:
        """The crash-free MILP is exact only for ``crash_free`` (see ``crash_free``)."""
        return bool(self.crash_free)


@dataclass(frozen=True, eq=False)
class AgodAllocation:
    """The provider chosen for every task, in arrival order (shape (J,)).

    Entries must be whole numbers (``2.0`` is read as 2; ``1.999``, NaN, inf and values beyond
    the int64 range raise :class:`~aigc_opt.errors.ValidationError`).
    """

    provider: np.ndarray

    def __post_init__(self) -> None:
        # whole numbers only: 0.999999999 must not become provider 0, nor NaN become -2**63;
        # an index that names no provider is the evaluator's ``valid_provider`` violation
        a = check_array("provider", "-", self.provider, dtype=np.int64)
        if a.ndim != 1:
            raise ValidationError("provider", "-", a.shape, "must be 1-D")
        object.__setattr__(self, "provider", a)

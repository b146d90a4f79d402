r"""AIGC service-provider selection in the AGOD style as a Gymnasium environment.

Model (:mod:`aigc_opt.problems.migration`, AGOD: Du et al., IEEE TMC 2024): an episode is an
:class:`~aigc_opt.problems.migration.AgodInstance` drawn as AGOD's environment draws it (P
providers with capacities in denoising steps and reward curves; Poisson task arrivals asking
for ``t_j`` steps). One arriving task per step; the agent picks its provider. The environment
applies AGOD's dynamics (:class:`~aigc_opt.problems.migration.AgodSimulator`): finished tasks
leave, a task that does not fit the chosen provider's free capacity crashes it (all its
running tasks are lost) and costs ``-c (1 + sum_k (1 - progress_k))``, otherwise it runs and
earns the provider's reward ``REWARD(t_j)``. The episode terminates after the last task.

Spaces
    ``action``: ``Discrete(P)``.
    ``observation``: ``Box(0, 1e6, (3 P + 1,), float32)``: free capacity of every provider
    / 1000 steps, capacity / 1000 steps, reward of the arriving task at every provider (AGOD's
    reward units, in [0, 1]), and the task's steps / 1000. Raw values in ``info``
    (``free_capacity``, ``task_steps``, ``arrival``).
Reward
    ``reward_scale`` x AGOD's reward of the assignment (``info["agod_reward"]`` unscaled).
Labels (``label=True``)
    The exact optimum of the step: the provider with the highest reward for the arriving task
    in the current state (all P outcomes -- reward or crash penalty -- are evaluated exactly,
    so ``gap = 0``). This is the per-step (myopic) optimum, the quantity the regret of one
    decision is measured against. With ``offline_label=True`` the reset also solves AGOD's
    offline crash-free MILP over the realised episode (perfect foresight,
    :func:`~aigc_opt.problems.migration.agod.offline_milp`, ``offline_time_limit``) and
    reports ``offline_utility``, ``offline_bound``, ``offline_status`` (the MILP's
    termination) and, every step, ``offline_action`` (the offline plan's provider for this
    task) and ``offline_status``: the long-term yardstick no policy can beat without crashing.
    When the MILP has no plan (``offline_status`` ``"infeasible"``: the tasks cannot all run
    without a crash, e.g. with few providers; or a time limit before any plan) the utility and
    bound are NaN and ``offline_action`` is ``-1`` (no provider).
Episodes
    The episode terminates after its last task; ``step`` after that (or before ``reset``)
    raises a :class:`~aigc_opt.errors.ValidationError` (``"episode over: call reset()"``).
    Actions are provider indices: integer values (``2.0`` is provider 2); bools, strings and
    complex numbers are refused.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

import numpy as np

import aigc_opt
from aigc_opt.backend import SolveOptions
from aigc_opt.errors import ValidationError
from aigc_opt.gym._need import gymnasium as gym  # names the [gym] extra if missing
from aigc_opt.gym._need import spaces
from aigc_opt.problems.migration import AgodInstance, AgodProfile, AgodSimulator, AgodSpec
from aigc_opt.problems.migration.data_agod import episode_rate
from aigc_opt.validate import check_bool, check_scalar

from ._common import (
    BranchableMixin,
    Label,
    check_positive_int,
    check_render_mode,
    check_reward_scale,
    episode_over,
    integer_action,
    not_reset,
    sub_seed,
)

logger = logging.getLogger(__name__)

#: Observation bound (features are clipped to [0, OBS_HIGH]).
OBS_HIGH = 1e6
#: Steps per observation unit.
STEP_UNIT = 1000.0


def _branch(sim: AgodSimulator) -> AgodSimulator:
    """An independent copy of the simulator state (the instance is shared)."""
    new = copy.copy(sim)
    new.alive = sim.alive.copy()
    new.where = sim.where.copy()
    return new


class AgodProviderEnv(BranchableMixin, gym.Env):
    """AGOD provider selection, one task per step (see the module docstring).

    Parameters
    ----------
    n_providers : int
        Providers P (AGOD: 20).
    total_time : float, optional
        Episode horizon in AGOD's time unit (default the profile's, AGOD's 1e6: ~1000 tasks).
    rate : float, optional
        Task arrivals per time unit (default the profile's, AGOD's 1e-3).
    profile : AgodProfile, optional
        AGOD's constants (capacities, reward-curve ranges, task steps, crash penalty).
    label : bool
        Label every step with its exact optimum.
    offline_label : bool
        Also solve the offline MILP of every episode at reset (slow for long episodes).
    offline_time_limit : float
        Time limit of the offline MILP, s.
    reward_scale : float
        Multiplies AGOD's reward.
    render_mode : {None, "ansi"}
        Text line per step.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    _SHARED = ("_inst", "profile", "problem_spec", "spec", "_plan")

    def __init__(self, n_providers: int = 20, *, total_time: float | None = None,
                 rate: float | None = None, profile: AgodProfile | None = None,
                 label: bool = True, offline_label: bool = False,
                 offline_time_limit: float = 60.0, reward_scale: float = 1.0,
                 render_mode: str | None = None) -> None:
        self.n_providers = P = check_positive_int("n_providers", n_providers, 100_000)
        self.profile = AgodProfile() if profile is None else profile
        if not isinstance(self.profile, AgodProfile):
            raise ValidationError("profile", "-", type(self.profile).__name__,
                                  "must be an AgodProfile")
        episode_rate(self.profile, rate, total_time)  # refuses a bad or too large episode
        self.total_time = total_time
        self.rate = rate
        self.problem_spec = AgodSpec(crash_penalty=self.profile.crash_penalty)
        self.label = check_bool("label", label)
        self.offline_label = check_bool("offline_label", offline_label)  # bool() took "no"
        self.offline_time_limit = float(check_scalar("offline_time_limit", offline_time_limit,
                                                     "s", 0.0, strict=True, allow_inf=True))
        self.reward_scale = check_reward_scale(reward_scale)
        self.render_mode = check_render_mode(render_mode)
        self.observation_space = spaces.Box(0.0, OBS_HIGH, (3 * P + 1,), np.float32)
        self.action_space = spaces.Discrete(P)
        self._inst: AgodInstance | None = None
        self._sim: AgodSimulator | None = None
        self._plan: dict[str, Any] | None = None
        self._label: Label | None = None
        self._last = ""

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw a new episode (providers and task sequence) from ``np_random``."""
        super().reset(seed=seed)
        self._last = ""  # render() showed the previous episode's last decision
        self._inst = AgodInstance.generate(sub_seed(self.np_random), profile=self.profile,
                                           n_providers=self.n_providers,
                                           total_time=self.total_time, rate=self.rate)
        self._sim = AgodSimulator(self._inst, self.problem_spec.crash_penalty)
        self._label = None
        self._plan = self._offline() if self.offline_label else None
        info = self._raw()
        if self._plan is not None:
            info.update({k: v for k, v in self._plan.items() if k != "plan"})
        return self._obs(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Assign the arriving task to provider ``action``; move to the next task."""
        reward, info = self.evaluate_action(action)
        if self.label:
            info.update(self.current_label().to_info(reward))
        if self._plan is not None:
            info["offline_action"] = int(self._plan["plan"][self._sim_checked().j])
            info["offline_status"] = self._plan["offline_status"]
        sim = self._sim_checked()
        provider = info["provider"]  # the action as validated by evaluate_action
        sim.step(provider)
        self._label = None
        self._last = (f"task {sim.j - 1}: provider {provider} reward "
                      f"{info['agod_reward']:.4g} utility {sim.utility:.4g} "
                      f"crashes {sim.crashes}")
        terminated = sim.j >= sim.inst.n_tasks
        info["utility"], info["crashes"] = sim.utility, sim.crashes
        return self._obs(), reward, terminated, False, info

    def render(self) -> str | None:
        """The last decision as text (``render_mode="ansi"``)."""
        if self.render_mode == "ansi":
            return self._last or "task 0: no decision yet"
        return None

    # ------------------------------------------------------------------ state, labels
    def _sim_checked(self) -> AgodSimulator:
        if self._sim is None:
            raise not_reset()
        return self._sim

    def _sim_live(self) -> AgodSimulator:
        sim = self._sim_checked()
        if sim.j >= sim.inst.n_tasks:
            raise episode_over()
        return sim

    def _free(self) -> np.ndarray:
        sim = self._sim_checked()
        if sim.j < sim.inst.n_tasks:
            return np.asarray(sim.available(), dtype=np.float64)
        inst = sim.inst  # after the last task: capacity left by the running tasks
        used = np.bincount(sim.where[sim.alive], weights=inst.task_steps[sim.alive],
                           minlength=inst.n_providers)
        return np.asarray(inst.provider_capacity - used, dtype=np.float64)

    def _obs(self) -> np.ndarray:
        sim = self._sim_checked()
        inst = sim.inst
        j = sim.j
        done = j >= inst.n_tasks
        rew = np.zeros(inst.n_providers) if done else sim.reward[j]
        steps = 0.0 if done else float(inst.task_steps[j])
        parts = (self._free() / STEP_UNIT, inst.provider_capacity / STEP_UNIT, rew,
                 [steps / STEP_UNIT])
        return np.asarray(np.clip(np.concatenate(parts), 0.0, OBS_HIGH), dtype=np.float32)

    def _raw(self) -> dict[str, Any]:
        sim = self._sim_checked()
        j = min(sim.j, sim.inst.n_tasks - 1)
        return {"task": sim.j, "free_capacity": self._free(),
                "task_steps": int(sim.inst.task_steps[j]),
                "arrival": int(sim.inst.arrival_s[j]), "n_tasks": sim.inst.n_tasks}

    def evaluate_action(self, action: Any) -> tuple[float, dict[str, Any]]:
        """``(reward, info)`` of assigning the arriving task to ``action`` (no state change)."""
        sim = self._sim_live()
        provider = int(integer_action(action, (), self.n_providers - 1,
                                      f"must be a provider in [0, {self.n_providers - 1}]"))
        info = self._raw()
        trial = _branch(sim)
        r = trial.step(provider)
        info.update({"provider": provider, "agod_reward": r,
                     "crashed": trial.crashes > sim.crashes})
        return r * self.reward_scale, info

    def step_rewards(self) -> np.ndarray:
        """Reward of every provider for the arriving task (each on its own branch)."""
        sim = self._sim_live()
        out = np.empty(self.n_providers)
        for p in range(self.n_providers):
            out[p] = _branch(sim).step(p)
        return out * self.reward_scale

    def current_label(self) -> Label:
        """The exact per-step optimum (all providers evaluated; ``gap = 0``)."""
        if self._label is None:
            rewards = self.step_rewards()
            p = int(np.argmax(rewards))
            best = float(rewards[p])
            self._label = Label(p, best, best, 0.0, "optimal")
        return self._label

    def _offline(self) -> dict[str, Any]:
        """Offline crash-free MILP over the episode (perfect foresight)."""
        res = aigc_opt.run_method(self._inst, self.problem_spec, "offline_milp",
                                  options=SolveOptions(time_limit=self.offline_time_limit))
        inst = self._inst
        assert inst is not None
        if not res.has_solution:  # no plan: offline_action -1 at every step
            return {"plan": np.full(inst.n_tasks, -1, dtype=np.int64), "offline_utility": math.nan,
                    "offline_bound": math.nan, "offline_status": str(res.termination)}
        return {"plan": np.asarray(res.allocation.provider, dtype=np.int64),
                "offline_utility": float(res.objective) * self.reward_scale,
                "offline_bound": float(res.bound) * self.reward_scale,
                "offline_status": str(res.termination)}

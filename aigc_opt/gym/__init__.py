"""Gymnasium environments with exact per-step optima, and certified label data sets.

Importing this package registers (``gymnasium.register``; needs ``pip install
'aigc-opt[gym]'``):

========================================  ==================================================
id                                        model
========================================  ==================================================
``aigc_opt/WpmecOffload-v0``              WPMEC binary offloading per frame (DROO);
                                          native batched ``vector_entry_point``
``aigc_opt/LyapunovOffload-v0``           online offloading with queues (LyDROO)
``aigc_opt/EdgeOffload-v0``               device / edge / cloud assignment (Scenario, MILP)
``aigc_opt/AgodProvider-v0``              AIGC service-provider selection (AGOD)
========================================  ==================================================

Every environment labels each step with the exact optimum of the decision just taken
(``info["optimal_action"]``, ``"optimal_reward"``, ``"regret"``, ``"bound"``, ``"gap"``; see
:mod:`aigc_opt.gym._common`); ``label=False`` turns this off. Label data sets:
:func:`aigc_opt.gym.datasets.wpmec_labels` (CLI ``aigc-opt dataset wpmec``).

Example::

    import gymnasium as gym
    import aigc_opt.gym  # registers the ids

    env = gym.make("aigc_opt/WpmecOffload-v0", n_users=10)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    print(info["regret"], info["gap"])
"""

from __future__ import annotations

import importlib.util

from ._common import LABEL_KEYS, Label

__all__ = ["ENV_IDS", "LABEL_KEYS", "Label", "register_envs"]

#: Registered ids and their entry points (module:class under ``aigc_opt.gym``).
ENV_IDS: dict[str, str] = {
    "aigc_opt/WpmecOffload-v0": "aigc_opt.gym.wpmec:WpmecOffloadEnv",
    "aigc_opt/LyapunovOffload-v0": "aigc_opt.gym.lyapunov:LyapunovOffloadEnv",
    "aigc_opt/EdgeOffload-v0": "aigc_opt.gym.offloading:EdgeOffloadEnv",
    "aigc_opt/AgodProvider-v0": "aigc_opt.gym.agod:AgodProviderEnv",
}

_VECTOR = {"aigc_opt/WpmecOffload-v0": "aigc_opt.gym.wpmec_vector:WpmecBatchVectorEnv"}


def register_envs() -> None:
    """Register every id of :data:`ENV_IDS` with Gymnasium (idempotent; a no-op without
    gymnasium installed, so that :mod:`aigc_opt.gym.datasets` works without it)."""
    if importlib.util.find_spec("gymnasium") is None:
        return
    import gymnasium

    for env_id, entry in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry,
                               vector_entry_point=_VECTOR.get(env_id))


register_envs()

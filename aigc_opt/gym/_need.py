"""Gymnasium for the environment modules, or an error that says how to install it.

Gymnasium is the optional ``[gym]`` extra: without it ``from aigc_opt.gym.wpmec import ...``
failed with a bare ``No module named 'gymnasium'``; the environment modules import it from
here, which names the extra to install (:mod:`aigc_opt.gym` itself and
:mod:`aigc_opt.gym.datasets` work without it).
"""

from __future__ import annotations

try:
    import gymnasium
    from gymnasium import spaces
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a venv without the extra
    if exc.name != "gymnasium":
        raise
    raise ModuleNotFoundError(
        "the aigc_opt Gymnasium environments need Gymnasium >= 1.1: "
        "pip install 'aigc-opt[gym]'", name="gymnasium") from exc

__all__ = ["gymnasium", "spaces"]

"""Steps per second of the Gymnasium environments, with and without exact labels.

For every environment and size N (devices / requests / providers) the environment is reset
with seed 0 and stepped ``--steps`` times with seeded random actions; the table reports steps
per second and milliseconds per step with labels (the exact optimum of every step) and without.
The native batched WPMEC environment (``wpmec_batch``) steps ``--batch`` frames at once; its
rates are frames per second and its times milliseconds **per frame**.

Run either way::

    python -m aigc_opt.benchmarks.gym_bench --sizes 10 30 100 --steps 20
    python benchmarks/gym_bench.py --envs wpmec wpmec_batch --csv gym.csv
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _make(name: str, n: int, label: bool, steps: int, batch: int) -> Any:
    from aigc_opt.gym.lyapunov import LyapunovOffloadEnv
    from aigc_opt.gym.offloading import EdgeOffloadEnv
    from aigc_opt.gym.wpmec import WpmecOffloadEnv
    from aigc_opt.gym.wpmec_vector import WpmecBatchVectorEnv

    makers: dict[str, Callable[[], Any]] = {
        "wpmec": lambda: WpmecOffloadEnv(n, episode_length=steps + 1, label=label),
        "wpmec_batch": lambda: WpmecBatchVectorEnv(batch, n, episode_length=steps + 1,
                                                   label=label),
        "lyapunov": lambda: LyapunovOffloadEnv(n, episode_length=steps + 1, label=label),
        "edge": lambda: EdgeOffloadEnv(n, episode_length=steps + 1, label=label),
    }
    if name == "agod":
        from aigc_opt.gym.agod import AgodProviderEnv

        return AgodProviderEnv(n_providers=n, label=label)
    return makers[name]()


def run(name: str, n: int, label: bool, steps: int, batch: int) -> dict[str, Any]:
    """Time ``steps`` steps of environment ``name`` at size ``n``; one result row."""
    env = _make(name, n, label, steps, batch)
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    done = 0
    regret = []
    for a in actions:
        _, _, term, trunc, info = env.step(a)
        done += 1
        if label and "regret" in info:
            regret.append(float(np.mean(info["regret"])))
        if np.any(term) or np.any(trunc):
            env.reset()
    dt = time.perf_counter() - t0
    frames = done * (batch if name == "wpmec_batch" else 1)
    return {"env": name, "n": n, "label": label, "steps": done, "frames": frames,
            "seconds": dt, "per_s": frames / dt, "ms_per_frame": 1e3 * dt / frames,
            "mean_regret": float(np.mean(regret)) if regret else math.nan}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", nargs="+",
                   default=["wpmec", "wpmec_batch", "lyapunov", "edge", "agod"])
    p.add_argument("--sizes", nargs="+", type=int, default=[10, 30, 100])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=256, help="frames per step of wpmec_batch")
    p.add_argument("--csv", default=None)
    args = p.parse_args(argv)
    rows = []
    for name in args.envs:
        for n in args.sizes:
            for label in (True, False):
                try:
                    rows.append(run(name, n, label, args.steps, args.batch))
                except ImportError as exc:  # e.g. an environment whose family is missing
                    print(f"skip {name}: {exc}", file=sys.stderr)
                    break
    print("| env | N | labels | steps/s (frames/s) | ms per step (frame) | mean regret |")
    print("|---|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['env']} | {r['n']} | {'on' if r['label'] else 'off'} | "
              f"{r['per_s']:.1f} | {r['ms_per_frame']:.3f} | {r['mean_regret']:.4g} |")
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

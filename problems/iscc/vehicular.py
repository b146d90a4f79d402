r"""Case study (b) of GainNet (arXiv 2401.02662): ISCC orchestration in an intelligent vehicular
network, QoS versus pool size and under the loss of one edge site.

Mobility (*assumed*, a simple highway model): ``S`` roadside units (RSUs, the edge sites) sit
every ``spacing_m`` metres along a straight road at lateral offset ``offset_m``; each covers
``radius_m`` metres of road. Vehicle i starts at ``x_i ~ U(0, S spacing)`` with speed
``v_i ~ U(15, 35)`` m/s and direction ``+-1``. Its links are the (at most ``links_per_task``)
nearest RSUs covering it; the rate per RB follows a log-distance path loss,
``SNR(d) = SNR_0 - 10 alpha log10(d / d_0)`` dB (``SNR_0 = 30`` dB at ``d_0 = 50`` m,
``alpha = 3``) and Shannon over a 180 kHz RB; the dwell time is the time until the vehicle
leaves the RSU's coverage, ``(x_s + R - x_i) / v_i`` (forward) or ``(x_i - x_s + R) / v_i``
(backward), so sensing and upload must end before the vehicle drives out
(``t^sense + t^tx <= dwell``). The other fields (tasks, models, pools) are those of
:meth:`~.data.IsccInstance.generate`.

:func:`vehicular_study` returns rows (dicts) with utility, deadline satisfaction and served
ratio of the decoupled optimum, the static per-service partition and the greedy baseline for
every pool scale, with all sites and with one site lost (its pools 0 and its links cut).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from aigc_opt.backend import SolveOptions
from aigc_opt.cases import CaseKind, register_case
from aigc_opt.errors import UnknownNameError
from aigc_opt.metrics import evaluate
from aigc_opt.schema import bound
from aigc_opt.solve import run_method
from aigc_opt.validate import MAX_ENTRIES, check_int, check_scalar, check_size

from .data import RB_HZ, IsccInstance, IsccSpec

logger = logging.getLogger(__name__)

#: Sizes of :meth:`~.data.IsccInstance.generate` that :func:`vehicular_instance` sets from its
#: own: generate's name -> vehicular_instance's name.
_MAPPED_SIZES = {"n_tasks": "n_vehicles", "n_sites": "n_rsus"}


def vehicular_instance(seed: int = 0, n_vehicles: int = 60, n_rsus: int = 4, *,
                       links_per_task: int = 2, spacing_m: float = 400.0,
                       radius_m: float = 300.0, offset_m: float = 20.0, pool_scale: float = 1.0,
                       lost_site: int = -1, **kw: Any) -> IsccInstance:
    """Highway instance (module docstring); ``pool_scale`` (in ``[0, 1e6]``) multiplies every
    pool and ``lost_site`` in ``0..n_rsus-1`` removes that RSU (-1: none). Distances are in m
    (``spacing_m``, ``radius_m`` > 0, ``offset_m`` >= 0); ``kw`` go to
    :meth:`~.data.IsccInstance.generate`, except the sizes this function sets itself from its
    own (``n_tasks`` = ``n_vehicles``, ``n_sites`` = ``n_rsus``): those are refused with an
    :class:`~aigc_opt.errors.UnknownNameError` naming the size to use."""
    for name in sorted(set(kw) & set(_MAPPED_SIZES)):
        raise UnknownNameError("vehicular_instance size", name, _MAPPED_SIZES.values(),
                               f" ({name} is set by {_MAPPED_SIZES[name]})")
    me = kw.get("max_entries")
    limit = MAX_ENTRIES if me is None else check_int("max_entries", me, "-", 1)
    N = check_size("n_vehicles", n_vehicles, limit)  # max_entries (to generate) raises both
    S = check_size("n_rsus", n_rsus, limit)
    seed = check_int("seed", seed, "-", 0, 2**63 - 1)
    K = check_int("links_per_task", links_per_task, "link", 1)
    spacing_m, radius_m = (check_scalar(nm, v, "m", 0.0, bound("position_m"), strict=True)
                           for nm, v in (("spacing_m", spacing_m), ("radius_m", radius_m)))
    offset_m = check_scalar("offset_m", offset_m, "m", 0.0, bound("position_m"))
    pool_scale = check_scalar("pool_scale", pool_scale, "-", 0.0, bound("factor"))
    lost_site = check_int("lost_site", lost_site, "-", -1, S - 1)
    rng = np.random.default_rng([seed, 7])
    base = IsccInstance.generate(N, S, kw.pop("n_classes", 3), seed=seed, links_per_task=1, **kw)
    rsu = (np.arange(S) + 0.5) * spacing_m
    x = rng.uniform(0.0, S * spacing_m, N)
    v = rng.uniform(15.0, 35.0, N)
    heading = rng.choice([-1.0, 1.0], N)
    along = rsu[None, :] - x[:, None]  # (N, S)
    covered = np.abs(along) <= radius_m
    dist = np.hypot(along, offset_m)
    K = min(K, S)
    order = np.argsort(np.where(covered, dist, np.inf), axis=1, kind="stable")[:, :K]
    ok = np.take_along_axis(covered, order, axis=1)
    d = np.take_along_axis(dist, order, axis=1)
    snr_db = 30.0 - 30.0 * np.log10(np.maximum(d, 1.0) / 50.0)
    rate = RB_HZ * np.log2(1 + 10 ** (snr_db / 10))
    edge = rsu[order] + heading[:, None] * radius_m  # exit point of coverage
    dwell = np.maximum((edge - x[:, None]) * heading[:, None], 0.0) / v[:, None]
    inst = replace(base, link_site=np.where(ok, order, -1), link_rate_per_rb_bps=rate,
                   link_dwell_s=dwell)
    if pool_scale != 1.0:
        inst = inst.scaled(pool_scale)
    if lost_site >= 0:
        inst = inst.without_site(lost_site)
    return inst


def vehicular_study(*, n_vehicles: int = 60, n_rsus: int = 4,
                    pool_scales: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
                    seeds: Sequence[int] = (0,), lost_site: int = 1,
                    methods: Sequence[str] = ("highs", "static_partition", "greedy_density"),
                    spec: IsccSpec | None = None,
                    options: SolveOptions | None = None) -> list[dict[str, Any]]:
    """QoS of each method vs pool scale, intact and with RSU ``lost_site`` lost.

    Returns
    -------
    list of dict
        One row per (seed, pool scale, network state, method): ``utility``,
        ``deadline_satisfaction`` (tasks served within their deadline / all tasks),
        ``served_ratio``, ``feasible``, ``seconds`` and, for the decoupled optimum, ``gap``.
    """
    spec = spec or IsccSpec()
    opts = options or SolveOptions(mip_gap=1e-6)
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for scale in pool_scales:
            for state, lost in (("intact", -1), ("site_lost", lost_site)):
                inst = vehicular_instance(seed, n_vehicles, n_rsus, pool_scale=scale,
                                          lost_site=lost)
                for method in methods:
                    t0 = time.perf_counter()
                    res = run_method(inst, spec, method, options=opts, seed=seed)
                    secs = time.perf_counter() - t0
                    met = evaluate(inst, res.allocation, spec) if res.allocation is not None \
                        else None
                    rows.append({
                        "seed": seed, "pool_scale": float(scale), "state": state,
                        "method": method, "termination": res.termination.value,
                        "utility": met.objective if met else float("nan"),
                        "deadline_satisfaction": met.totals["deadline_satisfaction"] if met
                        else 0.0,
                        "served_ratio": met.totals["served_ratio"] if met else 0.0,
                        "feasible": bool(met.feasible) if met else False,
                        "gap": float(res.gap), "seconds": secs})
    return rows


register_case(CaseKind(
    name="iscc.vehicular", sense="max",
    make_instance=lambda seed, n_vehicles=60, n_rsus=4, **kw: vehicular_instance(
        seed, n_vehicles, n_rsus, **kw),
    make_spec=lambda **p: IsccSpec(**p),
    default_methods=("highs", "greedy_density", "random", "static_partition"),
    reference="highs",
    description="ISCC for vehicles on a highway: RSU pools, coverage dwell time, lost RSU"))

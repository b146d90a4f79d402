r"""Multi-cell offloading with edge-to-edge forwarding: allocation type and evaluator.

A request uploads to its radio server ``r`` (``radio_server``) and is processed at server
``s`` (``placement``); when ``s != r`` its input and output cross the inter-server link
``r -> s`` (and back) at the rate ``forward_bps`` given to it, which adds

    ``t_fw = (D_in + D_out) / forward_bps``

to the latency of :func:`aigc_opt.metrics.offloading.link_times` (whose other terms are used
unchanged: uplink/downlink on the radio server's channel, compute at ``s``, cloud backhaul).
Forwarding energy is not modelled. Constraints are those of the single-cell evaluator, with the
radio resources (band, subchannels, backhaul) summed per radio server and compute, GPU slots
and cached models per processing server, plus the link capacity: the forwarding rates on each
directed link ``r -> s`` sum to at most its capacity (given by the spec's ``forward_bps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..allocation import OffloadAllocation, _ro
from ..scenario import Scenario
from . import Metrics, register_evaluator, relative_excess
from .offloading import _objective_of, _safe_div, offloading_metrics, valid_masks


@dataclass(frozen=True, eq=False)
class MulticellAllocation(OffloadAllocation):
    """An :class:`OffloadAllocation` whose edge requests may run away from their radio server.

    Parameters
    ----------
    forward_bps : ndarray, shape (N,)
        Rate given on the inter-server link ``radio_server -> placement``, bit/s (0 when the
        request is not forwarded). Other fields as in :class:`OffloadAllocation`; for an edge
        request ``radio_server`` may differ from ``placement``.
    """

    forward_bps: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "forward_bps", _ro(self.forward_bps, np.float64,
                                                    "forward_bps", "bit/s", (self.n_users,)))

    @property
    def forwarded(self) -> np.ndarray:
        """True for edge requests processed away from their radio server."""
        return (self.placement >= 0) & (self.radio_server != self.placement)


def link_capacity(forward_bps: Any, n_servers: int) -> np.ndarray:
    """The (S, S) link-capacity matrix from a scalar or an (S, S) array, bit/s."""
    cap = np.asarray(forward_bps, dtype=float)
    if cap.ndim == 0:
        cap = np.full((n_servers, n_servers), float(cap))
    return cap


def evaluate_multicell(scn: Scenario, alloc: MulticellAllocation, objective: Any = None
                       ) -> Metrics:
    """Metrics of a multi-cell allocation (module docstring); ``objective`` may be the spec,
    whose ``forward_bps`` gives the link capacities (without it they are not checked)."""
    S = scn.n_servers
    fwd = alloc.forwarded
    t_fw = np.where(fwd, _safe_div(scn.request_input_bits + scn.request_output_bits,
                                   alloc.forward_bps), 0.0)
    extra: dict[str, np.ndarray] = {}
    spec_cap = getattr(objective, "forward_bps", None)
    if spec_cap is not None:
        _, _, ok, okc = valid_masks(scn, alloc, forwarding=True)
        okf = fwd & ok & okc
        key = np.where(okf, alloc.radio_server * S + alloc.placement, 0)
        used = np.bincount(key, weights=np.where(okf, alloc.forward_bps, 0.0), minlength=S * S)
        extra["link_capacity"] = relative_excess(used, link_capacity(spec_cap, S).reshape(-1))
    totals = {"frac_forwarded": float(fwd.mean()),
              "link_capacity_checked": float(spec_cap is not None)}
    return offloading_metrics(scn, alloc, _objective_of(objective),
                              family="offloading.multicell", forward_s=t_fw,
                              extra_violations=extra, extra_totals=totals)


register_evaluator(MulticellAllocation, evaluate_multicell)

r"""AIGC life-cycle orchestration: instance, weights, spec, allocation and the shared physics.

The survey's AIGC service life cycle (data collection, pre-training, fine-tuning, inference)
is placed across a cloud, edge servers and devices: foundation models in the cloud, domain models
fine-tuned at the edge, light models on devices, trading cost, latency, energy, quality and
privacy. GainNet (Chen et al., "GainNet: Coordinates the Odd Couple of Generative AI and 6G
Networks", IEEE Network 2024, arXiv:2401.02662) closes the loop: data -> fine-tuning -> better
models -> better services -> more data. Its full text is not available; this module is the
exact, documented counterpart we build from the abstract and the survey's description. Every
number of the seeded profile that is not a well-known hardware figure is marked *assumed*.

Entities (axes)
---------------
* services ``s`` (S): an AIGC service (e.g. medical summarisation) with demand per region;
* regions ``u`` (U): user regions; each region's devices are aggregated into one device node;
* nodes ``n`` (N): kind 0 = device (aggregated per region), 1 = edge server, 2 = cloud;
* models ``m`` (M): base models (parameter count ``P_m``, hidden size ``d_m``, layers);
* options ``o`` (O): (base model, fine-tuning mode, LoRA rank); a service picks exactly one;
* slots ``t`` (T): demand slots of one epoch (T = 1 for the single-timescale problem).

Fine-tuning modes (``MODES``)
-----------------------------
``none``
    base model as is; no training, nothing delivered.
``full``
    all ``P`` weights trained where the raw data is sent.
``lora``
    LoRA (Hu et al., ICLR 2022) of rank r on ``n_a`` adapted ``d x d`` matrices (q and v of every
    layer: ``n_a = 2 L``): ``2 r d n_a`` trainable parameters; raw data sent to the trainer.
``split_lora``
    split learning of the LoRA model (SplitLoRA-like; Vepakomma et al. 2018): the first fraction
    ``phi`` of the layers runs on the devices of every region holding data, the rest on the
    server node; raw data never leaves the devices, only the cut-layer activations (forward) and
    their gradients (backward) cross the link: ``4 d`` bytes per token per epoch (2 bytes each).

Compute and memory model (per epoch window)
-------------------------------------------
With ``D_s = sum_u data_tokens[s, u]`` training tokens and ``E`` epochs:

* full fine-tuning: ``6 P D E`` FLOP (forward 2P + backward 4P per token; Kaplan et al. 2020);
* LoRA / split LoRA: ``4 P D E + 6 P_a D E`` FLOP: forward 2P and the backward pass through
  the frozen weights for activation gradients only (2P, no weight gradients), plus the full
  6-FLOP cost of the ``P_a = 2 r d n_a`` adapter parameters (our documented choice);
* memory (bytes): weights ``b_w P`` (``b_w = 2``, fp16); full fine-tuning adds gradients
  ``b_w P`` and Adam states ``12 P`` (fp32 master copy, m and v; Rajbhandari et al., ZeRO 2020),
  16 bytes/param in total; LoRA adds ``(b_w + b_w + 12) P_a`` for the adapters only; activations
  ``34 d L B`` for a micro-batch of ``B`` tokens (Korthikanti et al. 2023, the ``sbh * 34`` term
  without the attention-score term); split LoRA puts the fraction ``phi`` of all of this on every
  device of a region with data and ``1 - phi`` on the server;
* inference: ``2 P tokens_s`` FLOP per request (forward pass, merged adapter: no extra cost);
  latency from region u at node n: ``lat[u, n] + bits_s / bw[u, n] + flop / request_flops[n]``.

Node capacities: ``node_memory_bytes`` is the memory of *one replica* of the node (one phone
for a device node, since every device of the region holds a copy of each model hosted there; the
server's or the cloud fleet's memory otherwise) and ``node_flops`` the node's aggregate compute
(sum over the region's devices). Inference and training share a node's compute over the window:
``window * inference_rate + training_FLOP <= utilisation * node_flops * window`` in every slot.

Quality
-------
``quality_table[s, o, :]`` gives the quality (ROUGE-L-like, in [0, 1]) of service s under option
o at the data volumes ``quality_data_tokens`` (strictly increasing, from 0); the quality at
``D_s`` is the linear interpolation, constant beyond the last point (``np.interp``). The table is
data, and ``D_s`` is fixed within one epoch, so the quality of every option is a constant and the
MILP's quality term is exact for any table shape (concave, S-shaped, non-monotone). The closed
loop (:mod:`.loop`) changes ``D_s`` between rounds.

Further modelling choices
-------------------------
* Pre-training is outside the epoch: base models are given (pre-trained) and their weights are
  pre-staged at every node, so hosting a base model (mode ``none``) delivers nothing; a
  fine-tuned model (full) or adapter (LoRA) is delivered from the trainer to every other hosting
  node, to each of its replicas (devices), at ``node_backhaul_bps`` per replica.
* Data collection: fine-tuning data sits on the devices of the region that produced it; the
  closed loop (:mod:`.loop`) adds data from served requests between rounds.
* A service uses one option (one base model) for all its requests; its fine-tuned model is
  hosted as its own copy (no base-weight sharing between LoRA adapters of different services).
* Training and inference share the window: the training load is spread evenly over it.
* Latency is propagation + upload + compute at the per-request speed; no queueing term (the
  compute rows keep every node below ``utilisation``).

The formulas above are implemented once, in :mod:`.data_physics`, and shared by the builder,
the baselines and the referee.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from aigc_opt.errors import UnknownNameError, ValidationError
from aigc_opt.schema import bound, check_floor
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import (
    MAX_ENTRIES,
    check_array,
    check_entries,
    check_int,
    check_scalar,
    check_seed,
    check_size,
    check_type,
)

from .data_checks import axis as _axis
from .data_checks import check_fields
from .data_checks import names as _names
from .data_checks import scalar as _scalar

logger = logging.getLogger(__name__)

#: Fine-tuning modes by code.
MODES: tuple[str, ...] = ("none", "full", "lora", "split_lora")
NONE, FULL, LORA, SPLIT = 0, 1, 2, 3
#: Node kinds by code.
NODE_KINDS: tuple[str, ...] = ("device", "edge", "cloud")
DEVICE, EDGE, CLOUD = 0, 1, 2
GB = 1e9


#: Upper bound of an array field by unit (:data:`aigc_opt.schema.BOUNDS`); other units (model
#: sizes, demand rates, counts, FLOP/s: a cloud node may stand for "unlimited" with 1e20)
#: are bounded by 1e30, which keeps every product of the MILP finite.
_ARRAY_HIGH = {"J/FLOP": bound("j_per_flop"), "cost/FLOP": bound("cost_per_flop"),
               "byte": bound("bytes"), "bit/s": bound("bps"), "s": bound("time_s"),
               "token": bound("tokens")}
_ARRAY_HIGH_OTHER = 1e30


#: Key of :data:`aigc_opt.schema.LOWER_BOUNDS` (the physical floor) of a capacity by unit.
_FLOOR_KEY = {"FLOP/s": "flops", "bit/s": "bps", "byte": "bytes"}

#: Smallest positive demand of a group, request/s (one request in about 30 years).
MIN_DEMAND_RPS = 1e-9
#: Largest demand of a group, request/s (a billion requests per second).
MAX_DEMAND_RPS = 1e9


def _arr(value: Any, name: str, unit: str, shape: tuple[int, ...], **kw: Any) -> np.ndarray:
    kw.setdefault("low", 0.0)
    if kw.get("dtype") is not bool:
        kw.setdefault("high", _ARRAY_HIGH.get(unit, _ARRAY_HIGH_OTHER))
    return check_array(name, unit, value, shape, **kw)


@dataclass(frozen=True, eq=False)
class LifecycleInstance:
    """Services, regions, nodes, base models and fine-tuning options of one epoch.

    Parameters
    ----------
    demand_rps : ndarray, shape (T, S, U)
        Requests/s of service s from region u in demand slot t (T = 1: one timescale).
    data_tokens : ndarray, shape (S, U)
        Fine-tuning data of service s held on the devices of region u, token.
    service_tokens : ndarray, shape (S,)
        Tokens processed per request (prompt + output), token.
    service_request_bits : ndarray, shape (S,)
        Upload size of one request, bit.
    service_allowed : ndarray of bool, shape (S, O)
        Options service s may use.
    quality_data_tokens : ndarray, shape (D,)
        Breakpoints of the quality table, token; strictly increasing from 0.
    quality_table : ndarray, shape (S, O, D)
        Quality of service s under option o at each breakpoint, in [0, 1].
    model_params, model_hidden, model_layers : ndarray, shape (M,)
        Parameter count ``P``, hidden size ``d`` and layer count ``L`` of each base model.
    model_lora_matrices : ndarray, shape (M,)
        ``n_a``: number of ``d x d`` matrices LoRA adapts (2 L for q and v).
    option_model, option_mode, option_rank : ndarray of int, shape (O,)
        Base model, mode code (index into ``MODES``) and LoRA rank (0 unless LoRA) of each option.
    node_kind : ndarray of int, shape (N,)
        0 device (aggregated region), 1 edge, 2 cloud.
    node_region : ndarray of int, shape (N,)
        Region of a device node (-1 for servers).
    node_replicas : ndarray, shape (N,)
        Devices aggregated in a device node (1 for servers): delivered models go to each.
    node_memory_bytes : ndarray, shape (N,)
        GPU memory of one replica, byte.
    node_flops : ndarray, shape (N,)
        Aggregate compute, FLOP/s.
    node_request_flops : ndarray, shape (N,)
        Compute speed one request sees, FLOP/s.
    node_energy_per_flop : ndarray, shape (N,)
        J/FLOP.
    node_cost_per_flop : ndarray, shape (N,)
        Price of compute, cost unit per FLOP (= per FLOP/s rented for one second).
    node_backhaul_bps : ndarray, shape (N,)
        Rate at which a fine-tuned model or adapter is delivered to the node, bit/s.
    link_latency_s : ndarray, shape (U, N)
        Propagation + access latency from region u to node n, s (``inf``: unreachable).
    link_bandwidth_bps : ndarray, shape (U, N)
        Uplink bandwidth from region u to node n, bit/s.
    window_s : float
        Epoch (slow timescale) length, s: fine-tuning must finish within it.
    epochs : float
        Passes over the fine-tuning data.
    token_bytes : float
        Raw bytes per data token, byte/token.
    batch_tokens : float
        Tokens per training micro-batch (activation memory).
    utilisation : float
        Fraction of a node's compute usable, in (0, 1].
    split_fraction : float
        ``phi``: fraction of layers (compute and memory) on the devices in split LoRA.
    transfer_cost_per_byte : float
        Price of moving a byte over the network (data, activations, delivery), cost unit/byte.
    bytes_per_param : float
        Weight precision, byte/param (2: fp16).
    optimizer_bytes_per_param : float
        Adam states per trainable parameter, byte/param (12).
    """

    demand_rps: np.ndarray
    data_tokens: np.ndarray
    service_tokens: np.ndarray
    service_request_bits: np.ndarray
    service_allowed: np.ndarray
    quality_data_tokens: np.ndarray
    quality_table: np.ndarray
    model_params: np.ndarray
    model_hidden: np.ndarray
    model_layers: np.ndarray
    model_lora_matrices: np.ndarray
    option_model: np.ndarray
    option_mode: np.ndarray
    option_rank: np.ndarray
    node_kind: np.ndarray
    node_region: np.ndarray
    node_replicas: np.ndarray
    node_memory_bytes: np.ndarray
    node_flops: np.ndarray
    node_request_flops: np.ndarray
    node_energy_per_flop: np.ndarray
    node_cost_per_flop: np.ndarray
    node_backhaul_bps: np.ndarray
    link_latency_s: np.ndarray
    link_bandwidth_bps: np.ndarray
    window_s: float = 21600.0
    epochs: float = 3.0
    token_bytes: float = 4.0
    batch_tokens: float = 4096.0
    utilisation: float = 0.8
    split_fraction: float = 0.1
    transfer_cost_per_byte: float = 5e-11
    bytes_per_param: float = 2.0
    optimizer_bytes_per_param: float = 12.0

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        dem = check_array("demand_rps", "request/s", self.demand_rps, ndim=3, low=0.0,
                          high=MAX_DEMAND_RPS)
        T, S, U = dem.shape
        if min(T, S, U) < 1:
            raise ValidationError("demand_rps", "request/s", dem.shape, "every axis needs >= 1")
        tiny = (dem > 0) & (dem < MIN_DEMAND_RPS)
        if tiny.any():  # certify seed 143001307: 1e-21 req/s groups came back unrouted
            raise ValidationError("demand_rps", "request/s", float(dem[tiny][0]),
                                  f"a positive demand must be >= {MIN_DEMAND_RPS:g} request/s "
                                  "(one request in 30 years; 0 for none): below it the "
                                  "routing costs fall under the solvers' tolerances")
        set_("demand_rps", dem)
        n_opt = _axis(self.option_model, "option_model", "-")
        M = _axis(self.model_params, "model_params", "-")
        N = _axis(self.node_kind, "node_kind", "-")
        set_("data_tokens", _arr(self.data_tokens, "data_tokens", "token", (S, U),
                                 like="demand_rps"))
        set_("service_tokens", _arr(self.service_tokens, "service_tokens", "token", (S,),
                                    strict=True, like="demand_rps"))
        set_("service_request_bits", _arr(self.service_request_bits, "service_request_bits",
                                          "bit", (S,), like="demand_rps"))
        set_("service_allowed", _arr(self.service_allowed, "service_allowed", "-", (S, n_opt),
                                     low=None, dtype=bool, like="demand_rps and option_model"))
        if not self.service_allowed.any(axis=1).all():
            s = int(np.nonzero(~self.service_allowed.any(axis=1))[0][0])
            raise ValidationError("service_allowed", "-", s, "a service allows no option")
        qd = check_array("quality_data_tokens", "token", self.quality_data_tokens, ndim=1,
                         low=0.0, nonempty=True)
        if qd[0] != 0 or (np.diff(qd) <= 0).any():
            raise ValidationError("quality_data_tokens", "token", qd,
                                  "must start at 0 and be strictly increasing")
        set_("quality_data_tokens", qd)
        qt = _arr(self.quality_table, "quality_table", "-", (S, n_opt, qd.shape[0]),
                  like="services, options and quality_data_tokens")
        if (qt > 1).any():
            raise ValidationError("quality_table", "-", qt[qt > 1][0], "must be in [0, 1]")
        set_("quality_table", qt)
        for name in ("model_params", "model_hidden", "model_layers", "model_lora_matrices"):
            set_(name, _arr(getattr(self, name), name, "-", (M,), strict=True,
                            like="model_params"))
        for name, hi in (("option_model", M - 1), ("option_mode", len(MODES) - 1),
                         ("option_rank", None)):
            a = _arr(getattr(self, name), name, "-", (n_opt,), dtype=np.int64, low=None,
                     like="option_model")
            if (a < 0).any() or (hi is not None and (a > hi).any()):
                raise ValidationError(name, "-", a, f"must be in 0..{hi}")
            set_(name, a)
        lora = np.isin(self.option_mode, (LORA, SPLIT))
        if (self.option_rank[lora] < 1).any():
            raise ValidationError("option_rank", "-", self.option_rank, "LoRA needs rank >= 1")
        kind = _arr(self.node_kind, "node_kind", "-", (N,), dtype=np.int64, low=None)
        if (kind < 0).any() or (kind > CLOUD).any():
            raise ValidationError("node_kind", "-", kind, "must be 0 (device), 1 (edge), 2 (cloud)")
        set_("node_kind", kind)
        reg = _arr(self.node_region, "node_region", "-", (N,), dtype=np.int64, low=None,
                   like="node_kind")
        if ((kind == DEVICE) & ((reg < 0) | (reg >= U))).any() or ((kind != DEVICE) & (reg != -1)
                                                                    ).any():
            raise ValidationError("node_region", "-", reg,
                                  "device nodes need a region in 0..U-1, servers -1")
        dev_reg = reg[kind == DEVICE]
        if np.unique(dev_reg).size != dev_reg.size:
            raise ValidationError("node_region", "-", reg, "at most one device node per region")
        set_("node_region", reg)
        set_("node_replicas", _arr(self.node_replicas, "node_replicas", "device", (N,),
                                   low=1.0, integer=True, like="node_kind"))
        for name, unit in (("node_memory_bytes", "byte"), ("node_energy_per_flop", "J/FLOP"),
                           ("node_cost_per_flop", "cost/FLOP")):
            set_(name, _arr(getattr(self, name), name, unit, (N,), like="node_kind"))
        check_floor("node_memory_bytes", "byte", self.node_memory_bytes, "bytes", zero_ok=True)
        for name, unit in (("node_flops", "FLOP/s"), ("node_request_flops", "FLOP/s"),
                           ("node_backhaul_bps", "bit/s")):
            set_(name, _arr(getattr(self, name), name, unit, (N,), strict=True, like="node_kind"))
            check_floor(name, unit, getattr(self, name), _FLOOR_KEY[unit])
        set_("link_latency_s", _arr(self.link_latency_s, "link_latency_s", "s", (U, N),
                                    allow_inf=True, like="demand_rps and node_kind"))
        set_("link_bandwidth_bps", _arr(self.link_bandwidth_bps, "link_bandwidth_bps", "bit/s",
                                        (U, N), strict=True, like="demand_rps and node_kind"))
        check_floor("link_bandwidth_bps", "bit/s", self.link_bandwidth_bps, "bps")
        devs = np.nonzero(kind == DEVICE)[0]
        own = self.link_latency_s[reg[devs], devs]
        if np.isinf(own).any():
            raise ValidationError("link_latency_s", "s", own, "a region must reach its devices")
        for name, unit, strict in (("window_s", "s", True), ("epochs", "-", True),
                                   ("token_bytes", "byte/token", True),
                                   ("batch_tokens", "token", True),
                                   ("transfer_cost_per_byte", "cost/byte", False),
                                   ("bytes_per_param", "byte/param", True),
                                   ("optimizer_bytes_per_param", "byte/param", False)):
            set_(name, _scalar(getattr(self, name), name, unit, strict=strict))
        set_("utilisation", _scalar(self.utilisation, "utilisation", "-", strict=True, high=1.0))
        set_("split_fraction", _scalar(self.split_fraction, "split_fraction", "-", high=1.0))

    # ------------------------------------------------------------------ sizes
    @property
    def shape(self) -> dict[str, int]:
        """Axis sizes: T, S, U, N, M, O, D."""
        T, S, U = self.demand_rps.shape
        return {"T": T, "S": S, "U": U, "N": int(self.node_kind.shape[0]),
                "M": int(self.model_params.shape[0]), "O": int(self.option_model.shape[0]),
                "D": int(self.quality_data_tokens.shape[0])}

    def option_names(self) -> list[str]:
        """Readable option names, e.g. ``m1/lora8``."""
        return [f"m{m}/{MODES[k]}" + (str(r) if k in (LORA, SPLIT) else "")
                for m, k, r in zip(self.option_model, self.option_mode, self.option_rank,
                                   strict=True)]

    def device_of_region(self) -> np.ndarray:
        """Device node of every region, (U,), -1 where a region has none."""
        out = np.full(self.demand_rps.shape[2], -1, dtype=np.int64)
        devs = np.nonzero(self.node_kind == DEVICE)[0]
        out[self.node_region[devs]] = devs
        return out

    def replace(self, **changes: Any) -> LifecycleInstance:
        """A validated copy with ``changes`` applied."""
        return replace(self, **changes)

    def fields(self) -> dict[str, Any]:
        """Field name -> value (for building variants)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def generate(cls, n_services: int = 4, n_regions: int = 3, n_edge: int = 2, *,
                 n_slots: int = 1, seed: int = 0, max_entries: int | None = None,
                 **overrides: Any) -> LifecycleInstance:
        """Seeded instance (profile ``cloud_edge_device``; see :mod:`.profile` notes below).

        Models: light 1.3e9 (d 2048, 24 layers), domain 7e9 (d 4096, 32 layers), foundation
        70e9 (d 8192, 80 layers) parameters, Llama/OPT-like shapes. Options: every model with
        ``none``, ``full``, ``lora`` r = 8 and ``split_lora`` r = 8. Hardware: device 8 GB,
        2 TFLOP/s per request, 100 devices per region (*assumed*), 4 pJ/FLOP; edge 160 GB
        (2 x 80 GB), 6e14 FLOP/s aggregate, 1.5e-18 $/FLOP (*assumed*); cloud 100 GB per
        service of fleet memory and 2e14 FLOP/s per service (*assumed* provisioning),
        1e15 FLOP/s per request, 2.5e-18 $/FLOP (~$3.6/h per 4e14 FLOP/s, *assumed*).
        Links: own devices 1 ms / 1 Gbit/s, edge 5-15 ms / 0.2-1 Gbit/s (each region reaches
        every edge), cloud 40-80 ms / 50-200 Mbit/s. Demand 0.05-0.5 request/s per (service,
        region) with slot factors 0.5-1.5 (*assumed*); data 1e5-5e6 tokens per (service,
        region) (*assumed*); 500-1500 tokens per request. Quality (*assumed*, ROUGE-L-like):
        base 0.40 / 0.50 / 0.62 (light / domain / foundation), fine-tuning gain ``g (1 -
        exp(-D / D0))`` with (g, D0) = (0.16, 3e6) full, (0.13, 1e6) LoRA, (0.12, 1e6) split.

        The sizes are integers (``n_edge >= 0``, the others ``>= 1``); the generated arrays may
        hold at most ``max_entries`` entries (default :data:`aigc_opt.validate.MAX_ENTRIES`);
        ``overrides`` replace fields (unknown names are refused).
        """
        limit = MAX_ENTRIES if max_entries is None else check_int("max_entries", max_entries,
                                                                  "-", 1)
        S = check_size("n_services", n_services, limit)
        U = check_size("n_regions", n_regions, limit)
        E = check_size("n_edge", n_edge, limit, lo=0)
        T = check_size("n_slots", n_slots, limit)
        check_entries("n_slots*n_services*n_regions", T * S * U, limit)
        check_entries("n_regions*(n_regions+n_edge+1)", U * (U + E + 1), limit)
        check_entries("n_services*options*breakpoints", S * 12 * 6, limit)
        rng = np.random.default_rng(check_seed("seed", seed))
        params = np.array([1.3e9, 7e9, 70e9])
        hidden = np.array([2048.0, 4096.0, 8192.0])
        layers = np.array([24.0, 32.0, 80.0])
        M = 3
        om = np.repeat(np.arange(M), 4)
        ok = np.tile(np.arange(4), M)
        orank = np.where(np.isin(ok, (LORA, SPLIT)), 8, 0)
        n_opt = om.size
        kind = np.r_[np.full(U, DEVICE), np.full(E, EDGE), CLOUD]
        region = np.r_[np.arange(U), np.full(E + 1, -1)]
        N = kind.size
        lat = np.full((U, N), np.inf)
        bw = np.full((U, N), 1e9)
        lat[np.arange(U), np.arange(U)] = 1e-3
        lat[:, U:U + E] = rng.uniform(5e-3, 15e-3, size=(U, E))
        bw[:, U:U + E] = rng.uniform(2e8, 1e9, size=(U, E))
        lat[:, -1] = rng.uniform(0.04, 0.08, size=U)
        bw[:, -1] = rng.uniform(5e7, 2e8, size=U)
        slot = rng.uniform(0.5, 1.5, size=(T, 1, 1)) if T > 1 else np.ones((1, 1, 1))
        demand = slot * rng.uniform(0.05, 0.5, size=(1, S, U))
        data = rng.uniform(1e5, 5e6, size=(S, U))
        qd = np.array([0.0, 1e5, 1e6, 3e6, 1e7, 3e7])
        base = np.array([0.40, 0.50, 0.62])[om] + 0.03 * rng.standard_normal((S, 1))
        gain = np.select([ok == FULL, ok == LORA, ok == SPLIT], [0.16, 0.13, 0.12], 0.0)
        d0 = np.select([ok == FULL, ok == LORA, ok == SPLIT], [3e6, 1e6, 1e6], 1.0)
        qt = base[:, :, None] + (gain * rng.uniform(0.8, 1.2, size=(S, n_opt)))[:, :, None] * (
            1.0 - np.exp(-qd[None, None, :] / d0[None, :, None]))
        fields_: dict[str, Any] = dict(
            demand_rps=demand,
            data_tokens=data,
            service_tokens=rng.uniform(500, 1500, size=S).round(),
            service_request_bits=rng.uniform(500, 1500, size=S).round() * 32.0,
            service_allowed=np.ones((S, n_opt), dtype=bool),
            quality_data_tokens=qd,
            quality_table=np.clip(qt, 0.0, 1.0),
            model_params=params,
            model_hidden=hidden,
            model_layers=layers,
            model_lora_matrices=2 * layers,
            option_model=om,
            option_mode=ok,
            option_rank=orank,
            node_kind=kind,
            node_region=region,
            node_replicas=np.r_[np.full(U, 100.0), np.ones(E + 1)],
            node_memory_bytes=np.r_[np.full(U, 8 * GB), np.full(E, 160 * GB), 100 * GB * S],
            node_flops=np.r_[np.full(U, 100 * 2e12), np.full(E, 6e14), 2e14 * S],
            node_request_flops=np.r_[np.full(U, 2e12), np.full(E, 3e14), 1e15],
            node_energy_per_flop=np.r_[np.full(U, 4e-12), np.full(E, 1.2e-12), 1.0e-12],
            node_cost_per_flop=np.r_[np.zeros(U), np.full(E, 1.5e-18), 2.5e-18],
            node_backhaul_bps=np.r_[np.full(U, 5e7), np.full(E, 1e9), 1e10],
            link_latency_s=lat,
            link_bandwidth_bps=bw,
        )
        check_fields(cls, overrides)
        fields_.update(overrides)
        return cls(**fields_)


# ---------------------------------------------------------------------- weights, spec, allocation
@dataclass(frozen=True)
class LifecycleWeights:
    r"""Weights of the minimised objective (per epoch window)

    .. math:: J = w_c C + w_l \Lambda + w_e E + w_p \Pi + w_d \Delta + w_r R + w_q (n - Q)

    with C the cost (compute of training and inference, bytes moved), Lambda the latency summed
    over all requests of the window (request-seconds), E the energy (J), Pi the raw bytes that
    leave the devices, Delta the delivery time of fine-tuned models/adapters (s, summed over
    receiving nodes), R the rejected requests (only when the spec allows rejection), n the
    window's requests and Q their summed quality: quality enters as the loss ``1 - q`` per
    request, so J >= 0 and ratios to the optimum are meaningful. Q counts every demanded
    request, rejected ones included (rejection is priced by the spec's ``reject_penalty``).

    Defaults (*assumed*): cost unit = $, 1e-4 $ per request-second, 1e-7 $/J, 1e-7 $/byte of raw
    data exposed, 5e-3 $ per unit of quality per request, delivery time free.

    Parameters
    ----------
    cost : float
        w_c, cost unit per cost unit ("-").
    latency : float
        w_l, cost unit per request-second ("cost/(request*s)").
    energy : float
        w_e, cost unit per joule ("cost/J").
    privacy : float
        w_p, cost unit per raw byte leaving the devices ("cost/byte").
    quality : float
        w_q, cost unit per unit of quality loss per request ("cost/request").
    delivery_time : float
        w_d, cost unit per second of delivery ("cost/s").

    Every weight is a finite number in ``[0, 1e9]``.
    """

    cost: float = 1.0
    latency: float = 1e-4
    energy: float = 1e-7
    privacy: float = 1e-7
    quality: float = 5e-3
    delivery_time: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _scalar(getattr(self, f.name), f.name,
                                                     _WEIGHT_UNITS[f.name], high=bound("weight")))


_WEIGHT_UNITS = {"cost": "-", "latency": "cost/(request*s)", "energy": "cost/J",
                 "privacy": "cost/byte", "quality": "cost/request", "delivery_time": "cost/s"}


def weights_of(value: Any, default: LifecycleWeights | None = None) -> Any:
    """Objective weights from None (``default``), a :class:`LifecycleWeights` or a dict of
    weight name -> value (applied over ``default``; unknown names are refused). Anything else
    is returned unchanged, for :class:`LifecycleSpec` to reject."""
    base = default if default is not None else LifecycleWeights()
    if value is None:
        return base
    if isinstance(value, dict):
        names = [f.name for f in fields(LifecycleWeights)]
        for k in value:
            if not isinstance(k, str) or k not in names:
                raise UnknownNameError("weights", k if isinstance(k, str) else repr(k), names)
        return replace(base, **value)
    return value


@dataclass(frozen=True)
class LifecycleSpec(ProblemSpec):
    """Fine-tuning placement, inference hosting and routing, solved exactly as one MILP.

    On an instance with T > 1 demand slots this is the single-stage problem (placement and every
    slot's routing jointly); :func:`aigc_opt.problems.lifecycle.timescale.rolling` is the
    two-timescale counterpart.

    Parameters
    ----------
    weights : LifecycleWeights
        Objective weights.
    reject_penalty : float or None
        Cost per rejected request, cost unit/request, ``>= 0`` (None: every request must be
        served).
    cost_budget : float
        Upper bound on the window's cost C, cost unit, ``>= 0`` (inf: none).
    quality_floor : float
        Lower bound on the window's quality Q (summed over requests), request (-inf: none).
    privacy_limit_bytes : float
        Upper bound on the raw bytes leaving devices, byte, ``>= 0`` (inf: none).
    modes : tuple of str or None
        Fine-tuning modes allowed (None: all of ``MODES``; not empty, ``"none"`` is one).
    train_kinds, host_kinds : tuple of str
        Node kinds allowed to fine-tune (may be empty) / to host inference (``NODE_KINDS``).
    """

    weights: LifecycleWeights = field(default_factory=LifecycleWeights)
    reject_penalty: float | None = None
    cost_budget: float = math.inf
    quality_floor: float = -math.inf
    privacy_limit_bytes: float = math.inf
    modes: tuple[str, ...] | None = None
    train_kinds: tuple[str, ...] = NODE_KINDS
    host_kinds: tuple[str, ...] = NODE_KINDS
    problem: str = "lifecycle"
    variant: str = "placement"

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        check_type("weights", self.weights, LifecycleWeights)
        if self.modes is not None:
            set_("modes", _names("modes", self.modes, MODES, nonempty=True))
        set_("train_kinds", _names("train_kinds", self.train_kinds, NODE_KINDS))
        set_("host_kinds", _names("host_kinds", self.host_kinds, NODE_KINDS, nonempty=True))
        if self.reject_penalty is not None:
            set_("reject_penalty", _scalar(self.reject_penalty, "reject_penalty", "cost/request"))
        set_("cost_budget", float(check_scalar("cost_budget", self.cost_budget, "cost", 0.0,
                                               bound("money"), allow_inf=True)))
        set_("privacy_limit_bytes", float(check_scalar(
            "privacy_limit_bytes", self.privacy_limit_bytes, "byte", 0.0, bound("bytes"),
            allow_inf=True)))
        q = self.quality_floor  # -inf: no floor
        if not (isinstance(q, (float, np.floating)) and q == -math.inf):
            q = check_scalar("quality_floor", q, "request", -bound("money"), bound("money"))
        set_("quality_floor", float(q))


def spec_of(objective: Any) -> LifecycleSpec:
    """The spec from None, a spec, or weights."""
    if objective is None:
        return LifecycleSpec()
    if isinstance(objective, LifecycleSpec):
        return objective
    if isinstance(objective, LifecycleWeights):
        return LifecycleSpec(weights=objective)
    raise ValidationError("objective", "-", type(objective).__name__,
                          "expected None, a LifecycleSpec or LifecycleWeights")


@dataclass(frozen=True, eq=False)
class LifecycleAllocation:
    """Fine-tuning choice, hosting and routing.

    Parameters
    ----------
    option : ndarray of int, shape (S,)
        Option (base model, mode) of each service.
    train_node : ndarray of int, shape (S,)
        Node that fine-tunes (the server side for split LoRA); -1 for mode ``none``.
    host : ndarray of bool, shape (S, N)
        Nodes hosting service s's (fine-tuned) model for inference.
    route : ndarray, shape (T, S, U, N)
        Share of region u's requests for s served at n in slot t.
    reject : ndarray, shape (T, S, U)
        Share rejected (0 unless the spec allows rejection).
    """

    option: np.ndarray
    train_node: np.ndarray
    host: np.ndarray
    route: np.ndarray
    reject: np.ndarray

    def __post_init__(self) -> None:
        r = check_array("route", "-", self.route, ndim=4, low=None)
        T, S, U, N = r.shape
        if r.size == 0:
            raise ValidationError("route", "-", r.shape, "every axis needs >= 1")
        object.__setattr__(self, "route", r)
        object.__setattr__(self, "option", _arr(self.option, "option", "-", (S,), dtype=np.int64))
        object.__setattr__(self, "train_node", _arr(self.train_node, "train_node", "-", (S,),
                                                    dtype=np.int64, low=-1))
        object.__setattr__(self, "host", _arr(self.host, "host", "-", (S, N), low=None,
                                              dtype=bool))
        if np.shape(self.reject) != (T, S, U):  # name route too: either may be the wrong one
            raise ValidationError("reject", "-", np.shape(self.reject),
                                  f"must have route's first three axes (T, S, U) = {(T, S, U)}"
                                  f" (route has shape {r.shape})")
        object.__setattr__(self, "reject", _arr(self.reject, "reject", "-", (T, S, U),
                                                low=None))

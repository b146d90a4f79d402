r"""Physics shared by the builder, the baselines and the referee (see :mod:`.data` for the model):
training FLOPs, memory, bytes and quality per (service, option), inference FLOPs and latency,
which trainers an option can use, privacy and wire bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aigc_opt.metrics import fits

from .data import (
    DEVICE,
    FULL,
    LORA,
    MODES,
    NODE_KINDS,
    NONE,
    SPLIT,
    LifecycleInstance,
)


@dataclass(frozen=True)
class OptionPhysics:
    """Per (service, option) training quantities of one epoch window (all arrays (S, O)).

    ``flops`` total training FLOP; ``mem`` training memory on the trainer (server side for
    split LoRA); ``mem_device`` per-device memory of split LoRA; ``deliver_bytes`` size of what
    is delivered to a hosting node other than the trainer; ``quality`` at the service's data
    volume; ``wire_bytes_region`` (S, O, U) bytes each region sends to the trainer (raw data for
    full/LoRA, activations and gradients for split LoRA).
    """

    flops: np.ndarray
    mem: np.ndarray
    mem_device: np.ndarray
    deliver_bytes: np.ndarray
    quality: np.ndarray
    wire_bytes_region: np.ndarray
    trainable: np.ndarray


def option_physics(inst: LifecycleInstance) -> OptionPhysics:
    """Training FLOPs, memory, bytes and quality of every (service, option); see module notes."""
    m = inst.option_model
    mode = inst.option_mode
    P = inst.model_params[m]
    d = inst.model_hidden[m]
    L = inst.model_layers[m]
    Pa = 2.0 * inst.option_rank * d * inst.model_lora_matrices[m]
    Pa = np.where(np.isin(mode, (LORA, SPLIT)), Pa, 0.0)
    trainable = np.where(mode == FULL, P, Pa)
    Ds = inst.data_tokens.sum(axis=1)  # (S,)
    E = inst.epochs
    bw, bo = inst.bytes_per_param, inst.optimizer_bytes_per_param
    per_tok = np.select([mode == FULL, np.isin(mode, (LORA, SPLIT))],
                        [6.0 * P, 4.0 * P + 6.0 * Pa], 0.0)  # FLOP per token per epoch
    flops = Ds[:, None] * E * per_tok[None, :]
    act = 34.0 * d * L * inst.batch_tokens
    mem_o = np.where(mode == NONE, 0.0, bw * P + (bw + bw + bo) * trainable + act)
    phi = inst.split_fraction
    mem = np.where(mode == SPLIT, (1.0 - phi) * mem_o, mem_o)
    mem_dev = np.where(mode == SPLIT, phi * mem_o, 0.0)
    deliver = np.where(mode == NONE, 0.0, bw * trainable)
    S = Ds.shape[0]
    quality = np.empty((S, m.shape[0]))
    for s in range(S):  # one interpolation per service (D_s differs)
        quality[s] = [np.interp(Ds[s], inst.quality_data_tokens, row)
                      for row in inst.quality_table[s]]
    raw = inst.data_tokens * inst.token_bytes  # (S, U)
    act_bytes = 4.0 * d[None, :, None] * inst.data_tokens[:, None, :] * E  # (S, O, U)
    wire = np.where((mode == SPLIT)[None, :, None], act_bytes,
                    np.where(np.isin(mode, (FULL, LORA))[None, :, None], raw[:, None, :], 0.0))
    return OptionPhysics(np.broadcast_to(flops, (S, m.size)).copy(),
                         np.broadcast_to(mem, (S, m.size)).copy(),
                         np.broadcast_to(mem_dev, (S, m.size)).copy(),
                         np.broadcast_to(deliver, (S, m.size)).copy(), quality, wire,
                         np.broadcast_to(trainable, (S, m.size)).copy())


def inference_flops(inst: LifecycleInstance) -> np.ndarray:
    """FLOP per request of service s on base model m: ``2 P_m tokens_s``, (S, M)."""
    return 2.0 * inst.service_tokens[:, None] * inst.model_params[None, :]


def request_latency(inst: LifecycleInstance) -> np.ndarray:
    """Latency of one request of s with model m from region u at node n, (S, U, M, N), s
    (``inf`` where unreachable): ``lat[u,n] + bits_s / bw[u,n] + flop[s,m] / request_flops[n]``."""
    f = inference_flops(inst)
    tx = inst.service_request_bits[:, None, None] / inst.link_bandwidth_bps[None, :, :]
    net = inst.link_latency_s[None, :, :] + tx  # (S, U, N)
    comp = f[:, :, None] / inst.node_request_flops[None, None, :]  # (S, M, N)
    return net[:, :, None, :] + comp[:, None, :, :]


def wire_ok(inst: LifecycleInstance, phys: OptionPhysics) -> np.ndarray:
    """``ok[s, o, n]``: option o of service s can train at node n (ignoring shared capacities).

    Full/LoRA: every region with data reaches n (or n is that region's device node, where the
    data already is) and its raw data uploads within the window. Split LoRA: n is a server, every
    region with data has a device node and reaches n, and the activation traffic fits the window.
    Mode ``none`` is never trained (its column has no node).
    """
    mode = inst.option_mode
    dev = inst.device_of_region()
    U = dev.shape[0]
    N = inst.node_kind.shape[0]
    local = dev[:, None] == np.arange(N)[None, :]  # (U, N): n is region u's device node
    t_up = 8.0 * phys.wire_bytes_region[..., None] / inst.link_bandwidth_bps[None, None, :, :]
    reach = np.isfinite(inst.link_latency_s)[None, None, :, :]
    has = (inst.data_tokens > 0)[:, None, :, None]  # (S, 1, U, 1)
    in_time = fits(t_up, inst.window_s)  # the referee's rule: rounding only forgiven
    ok_u = ~has | ((reach & in_time) | local[None, None])
    split = (mode == SPLIT)[None, :, None, None]
    ok_u = np.where(split, ~has | (reach & in_time & (dev >= 0)[None, None, :, None]), ok_u)
    ok = ok_u.all(axis=2)  # (S, O, N)
    server = inst.node_kind != DEVICE
    ok &= np.where((mode == SPLIT)[None, :, None], server[None, None, :], True)
    ok &= (mode != NONE)[None, :, None]
    del U
    return np.asarray(ok)


def privacy_bytes(inst: LifecycleInstance, phys: OptionPhysics) -> np.ndarray:
    """Raw bytes leaving devices if option o of s trains at n, (S, O, N): the data of every region
    whose device node is not n, for full/LoRA; 0 for none and split LoRA."""
    dev = inst.device_of_region()
    N = inst.node_kind.shape[0]
    away = dev[:, None] != np.arange(N)[None, :]  # (U, N)
    raw = np.where(np.isin(inst.option_mode, (FULL, LORA))[None, :, None],
                   (inst.data_tokens * inst.token_bytes)[:, None, :], 0.0)  # (S, O, U)
    return np.asarray(np.einsum("sou,un->son", raw, away.astype(float)))


def wire_bytes(inst: LifecycleInstance, phys: OptionPhysics) -> np.ndarray:
    """Bytes moved from the regions to trainer n for option o of s, (S, O, N) (nothing from a
    region whose device node is n itself)."""
    dev = inst.device_of_region()
    N = inst.node_kind.shape[0]
    away = (dev[:, None] != np.arange(N)[None, :]).astype(float)
    return np.asarray(np.einsum("sou,un->son", phys.wire_bytes_region, away))


def device_train_share(inst: LifecycleInstance) -> np.ndarray:
    """Share of service s's training tokens held by region u, (S, U) (0 where no data)."""
    D = inst.data_tokens
    tot = D.sum(axis=1, keepdims=True)
    return np.where(tot > 0, D / np.where(tot > 0, tot, 1.0), 0.0)


def mode_codes(names: tuple[str, ...] | None) -> np.ndarray:
    """Mode codes of ``names`` (all when None)."""
    return np.arange(len(MODES)) if names is None else np.array([MODES.index(k) for k in names])


def kind_codes(names: tuple[str, ...]) -> np.ndarray:
    """Node-kind codes of ``names``."""
    return np.array([NODE_KINDS.index(k) for k in names], dtype=np.int64)

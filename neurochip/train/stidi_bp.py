"""STiDi-BP (Mirsadeghi et al.) for the chip's single-spike ``ttfs`` neurons (§6.1).

The forward pass **is** the chip's integer forward pass, not an approximation of it: the
inputs are the latency encoder's spike times (§11), every weight the trainer uses in the
forward pass is the integer the weight memory holds (binary: the sign of a real shadow
weight; w bits: the shadow weight rounded and clipped, in units of one LSB), every
threshold an integer, and a layer computes, per time step t = 0 … T−1,

    I[t] = Σ_i w_i · 1[t_i ≤ t]          (psp = ramp; psp = step: 1[t_i = t])
    V[t] = Σ_{t' ≤ t} I[t']               fire at the first t with V[t] > θ, once

which is §6.1 as long as nothing overflows; the exported membrane width B is chosen from
a bound on |V| so that nothing can. Pools are first-spike pools (a ``pool`` of ``ttfs``
neurons with θ = 0: the earliest spike of the window). The decision is §6.1's: the first
output to fire (lowest index on a tie), else the largest V after step T−1.

Learning is layer-local, from desired firing times (seed-algorithms §2.3 P-S5 … P-S7):
* output targets as in S4NN: the correct class should fire first, the others at least
  ``gamma`` steps after it (if nothing fired: the correct class at T − gamma);
* the hidden displacement D_j = ρ · Σ_k D_k w_kj 1[t_j ≤ t_k] / Σ_k |w_kj| 1[t_j ≤ t_k],
  with the real-valued (shadow) weights, so no gradient is propagated through membranes;
* the update of every layer, with the linear latency derivative ∂t_j/∂V_j ≈ −1:
  Δw_ji = −η · e_j · ε(t_j − t_i), e = D / T L2-normalised per layer and image, and
  ε the PWL PSP at the neuron's firing time (ramp: (t_j − t_i + 1)/T; step: 1), with a
  neuron that did not fire taken at T−1 (S4NN's forced spike at T).
The batched form sums these per-image updates (mean over the batch).
``--lr`` (the shell's common option) is in half weight ranges per update (binary: in
units of the shadow's init scale): one value, or one per weighted layer. A convolution's
kernel update is the mean over its H·W output positions (the sum overshoots) and its error
is L2-normalised over the whole C·H·W map, so at one common rate a convolution moves far
more slowly than an fc layer: at ``--lr 3`` the Fashion-MNIST CNN's convolutions kept 98 %
of their initial signs. The MNIST recipes give them their own rate (``--lr 100,100,3``);
each epoch's ``weights changed`` (per weighted layer, the share of the chip's integer
weights that changed during the epoch; ``changed`` in the checkpoint's history) shows a
layer that does not learn.

Options beside the proposal (off by default): ``--hidden-error s4nn`` forms the hidden
error as S4NN/BS4NN's code does (Σ_k w_kj e_k over causal k, no division by Σ|w|, no
clipping to [0, T]); ``--theta-lr`` learns BS4NN's per-layer threshold scale f (θ = θ0/f,
rounded to the integer the chip stores, f moved by the update's projection on the integer
weights); ``--dead-reset`` is S4NN's dead-neuron reset. ``--validation-images N`` (the
shell's split) holds out the last N training images so that choices are made without the
test split. Ours: ``--average F`` evaluates and writes an exponential moving average of the
shadow weights (factor F per update; its sign for binary weights) instead of the current
ones, which swing from update to update; ``--keep best`` writes the first epoch with the
most held-out images right instead of the last (the checkpoint records ``kept_epoch``).

Torch is imported only when training runs (the ``[train]`` extra).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurochip.description.model import MAX_ADDRESS
from neurochip.train.arch import ArchError, chip_layer, layer_names, parse_arch
from neurochip.train.checkpoint import write_checkpoint
from neurochip.train.widths import saturating_bits
from neurochip.train.shell import Data, command_line, lr_values, out_paths, out_prefix
from neurochip.neurons.ttfs import PSPS, TtfsNeuron


CHECKPOINT_FORMAT = "neurochip-stidi-checkpoint"


@dataclass(frozen=True)
class LayerPlan:
    kind: str  # conv | pool | fc
    size: int  # conv: channels, pool: window, fc: neurons
    kernel: int = 0
    in_shape: tuple[int, int, int] = (1, 1, 1)  # (H, W, C) of its input
    out_shape: tuple[int, int, int] = (1, 1, 1)

    @property
    def entry(self) -> dict[str, Any]:
        """The layer as an architecture entry (:mod:`neurochip.train.arch`)."""
        if self.kind == "conv":
            return {"type": "conv", "channels": self.size, "kernel": self.kernel,
                    "pad": self.kernel // 2}
        return {"type": "pool", "window": self.size} if self.kind == "pool" else \
            {"type": "fc", "neurons": self.size}


def same_padded(text: str) -> str:
    """A stidi-bp ``--arch`` of the grammar before the shared one (``16c5`` = a size-keeping
    convolution) in the shared grammar (``16c5p2``); a string already written so is kept."""
    return ",".join(f"{t}p{int(m[2]) // 2}" if (m := re.fullmatch(r"\s*(\d+)c(\d+)\s*", t)) else t
                    for t in text.split(",")) if text.strip() else text


def layer_plans(text: str, classes: int = 10, in_shape=(28, 28, 1)) -> list[LayerPlan]:
    """``--arch`` in the shared grammar (:mod:`neurochip.train.arch`) → the layer plans,
    the ``classes``-neuron fc output layer appended. stidi-bp's convolutions keep the map
    size (pad = k // 2, odd k): any other padding is refused with the spelling to use."""
    entries = parse_arch(text, tuple(in_shape))
    for e in entries:
        if e["type"] == "conv" and (e["kernel"] % 2 == 0 or e["pad"] != e["kernel"] // 2):
            raise ArchError(f"--arch {text!r}: stidi-bp's convolutions keep the map size (an odd "
                            "kernel k padded by k // 2), and a convolution without p<pad> is "
                            f"unpadded in every trainer: write --arch {same_padded(text)} "
                            "(docs/training.md)")
    plans: list[LayerPlan] = []
    shape = tuple(in_shape)
    for e in [*entries, {"type": "fc", "neurons": classes}]:
        if e["type"] == "conv":
            if not 1 <= e["channels"] <= 512 or e["kernel"] > min(shape[:2]):
                raise ArchError(f"--arch {text!r}: {e['channels']}c{e['kernel']} on a "
                                f"{shape[0]}x{shape[1]} map; stidi-bp takes 1..512 channels and a "
                                "kernel no larger than the map")
            plans.append(LayerPlan("conv", e["channels"], e["kernel"], shape,
                                   (shape[0], shape[1], e["channels"])))
        elif e["type"] == "pool":
            if e["window"] < 2:
                raise ArchError(f"--arch {text!r}: p{e['window']}: use a pooling window of 2 or more")
            plans.append(LayerPlan("pool", e["window"], 0, shape,
                                   (shape[0] // e["window"], shape[1] // e["window"], shape[2])))
        else:
            plans.append(LayerPlan("fc", e["neurons"], 0, shape, (1, 1, e["neurons"])))
        shape = plans[-1].out_shape
        if math.prod(shape) > MAX_ADDRESS:
            raise ArchError(f"--arch {text!r}: a layer of {math.prod(shape)} neurons "
                            f"{list(shape)}; a core addresses at most {MAX_ADDRESS} (fewer "
                            "channels or pool first)")
    return plans


def latency_times(images: np.ndarray, T: int) -> np.ndarray:
    """§11 latency encoder as spike times: floor((255 − x)·T/256), T (never) for x = 0."""
    x = images.reshape(len(images), -1).astype(np.int64)
    return np.where(x >= 1, ((255 - x) * T) // 256, T)


# ----------------------------------------------------------------------------- the network

class TtfsNet:
    """Shadow weights, integer thresholds and the chip-exact forward pass (torch)."""

    def __init__(self, torch, plans: list[LayerPlan], T: int, psp: str, weight_bits: int,
                 rng: np.random.Generator, init_mean: float, init_std: float):
        self.torch, self.plans, self.T, self.psp, self.bits = torch, plans, T, psp, weight_bits
        self.init_mean, self.init_std = init_mean, init_std
        self.qmax = 1 if weight_bits == 1 else (1 << (weight_bits - 1)) - 1
        self.scale = max(1.0, self.qmax / 2)  # the shadow's unit: half the range, in LSBs
        self.weights: list[Any] = []  # per weighted layer: real shadow, in LSB units
        self.theta: list[int] = []  # per weighted layer
        for p in plans:
            if p.kind == "pool":
                self.weights.append(None)
                self.theta.append(0)
                continue
            fan_in = p.kernel * p.kernel * p.in_shape[2] if p.kind == "conv" else math.prod(p.in_shape)
            shape = (p.size, p.in_shape[2], p.kernel, p.kernel) if p.kind == "conv" else (fan_in, p.size)
            w = rng.normal(init_mean * self.scale, init_std * self.scale, size=shape)
            self.weights.append(torch.tensor(w, dtype=torch.float32))
            self.theta.append(0)
        self._restart_threshold_scale()

    def _restart_threshold_scale(self) -> None:
        """θ0 = the thresholds as they are now (calibrated); θ = θ0 / fact from fact = 1."""
        self.theta0 = list(self.theta)
        self.fact = [1.0] * len(self.theta)

    def state(self) -> tuple:
        """A copy of everything training changes (shadow weights, θ, the threshold scale)."""
        return ([None if w is None else w.clone() for w in self.weights], list(self.theta),
                list(self.theta0), list(self.fact))

    def restore(self, state: tuple) -> None:
        """Back to a :meth:`state` copy."""
        weights, theta, theta0, fact = state
        self.weights = [None if w is None else w.clone() for w in weights]
        self.theta, self.theta0, self.fact = list(theta), list(theta0), list(fact)

    def fired_images(self, records) -> list[Any]:
        """Per hidden weighted layer: in how many of the batch's images each neuron (fc) or
        each channel's map (conv) fired; None for pools and the output layer."""
        out: list[Any] = []
        for j, (_, t_out, _, _) in enumerate(records):
            p = self.plans[j]
            if p.kind == "pool" or j == len(self.plans) - 1:
                out.append(None)
            elif p.kind == "conv":
                out.append((t_out < self.T).flatten(2).any(2).sum(0))
            else:
                out.append((t_out < self.T).sum(0))
        return out

    def reinit_dead(self, counts: list[Any], images: int, fraction: float,
                    rng: np.random.Generator) -> list[int]:
        """S4NN's dead-neuron reset: redraw the incoming shadow weights (the init
        distribution) of every hidden neuron, or conv channel, that fired in fewer than
        ``fraction`` of ``images``. Returns how many were redrawn per layer."""
        torch, redrawn = self.torch, []
        for j, c in enumerate(counts):
            if c is None:
                redrawn.append(0)
                continue
            dead = np.flatnonzero(c.numpy() < fraction * images)
            w = self.weights[j]
            units = w if self.plans[j].kind == "conv" else w.t()  # a view: row n = unit n
            for n in dead:
                units[n] = torch.tensor(rng.normal(self.init_mean * self.scale,
                                                   self.init_std * self.scale,
                                                   size=units[n].shape), dtype=w.dtype)
            redrawn.append(len(dead))
        return redrawn

    def int_weight(self, j: int):
        """The integer weights the chip stores: sign (±1, sign(0) = +1) or round + clip."""
        w = self.weights[j]
        if self.bits == 1:
            return self.torch.where(w >= 0, 1.0, -1.0)
        return self.torch.clamp(self.torch.round(w), -self.qmax, self.qmax)

    def int_weights(self) -> list[Any]:
        """Per layer the integer weights the chip would store now (None for pools)."""
        return [None if w is None else self.int_weight(j) for j, w in enumerate(self.weights)]

    def changed_since(self, before: list[Any]) -> list[float | None]:
        """Per layer the share of the chip's integer weights that differ from ``before``
        (an :meth:`int_weights` copy); None for pools. A layer whose share stays near 0
        is not learning (its rate is too small for it)."""
        return [None if b is None else int((self.int_weight(j) != b).sum()) / b.numel()
                for j, b in enumerate(before)]

    # one layer ------------------------------------------------------------------------
    def _spikes(self, t_in):
        """(B, T, …) float one-hot of the spike times (T = never)."""
        torch = self.torch
        steps = torch.arange(self.T).view(1, self.T, *([1] * (t_in.dim() - 1)))
        return (t_in.unsqueeze(1) == steps).float()

    def _trace(self, s):
        """ε summed per input at every step: step psp 1[t_i ≤ t]; ramp (t − t_i + 1)."""
        c = s.cumsum(1)
        return c.cumsum(1) if self.psp == "ramp" else c

    def _synapse(self, j: int, x):
        """x: (B·T, …) per-step input → (B·T, …) per-step add into V (linear)."""
        torch, p = self.torch, self.plans[j]
        w = self.int_weight(j)
        if p.kind == "conv":
            return torch.nn.functional.conv2d(x, w, padding=p.kernel // 2)
        return x @ w

    def layer(self, j: int, t_in):
        """t_in: (B, C, H, W) or (B, N) spike times → (t_out, V (B, T, …), trace (B, T, …))."""
        torch, p, T = self.torch, self.plans[j], self.T
        B = t_in.shape[0]
        if p.kind == "pool":
            k = p.size
            t = -torch.nn.functional.max_pool2d(-t_in.float(), k, k)
            return t.long(), None, None
        trace = self._trace(self._spikes(t_in))  # (B, T, …)
        flat = trace.reshape(B * T, *trace.shape[2:])
        v = self._synapse(j, flat).reshape(B, T, *self._out_tail(j))
        above = v > self.theta[j]
        fired = above.any(1)
        first = above.float().argmax(1)
        t_out = torch.where(fired, first, torch.full_like(first, T)).long()
        return t_out, v, trace

    def _out_tail(self, j: int) -> tuple[int, ...]:
        p = self.plans[j]
        if p.kind == "fc":
            return (p.size,)
        h, w, c = p.out_shape
        return (c, h, w)

    def forward(self, t0):
        """Input times (B, 784) → per layer (t_in, t_out, V, trace)."""
        records = []
        t = t0
        for j, p in enumerate(self.plans):
            if p.kind in ("conv", "pool"):
                h, w, c = p.in_shape
                if t.dim() == 2:  # address order (y·W + x)·C + c → (B, C, H, W)
                    t = t.view(-1, h, w, c).permute(0, 3, 1, 2)
            elif t.dim() == 4:  # (B, C, H, W) → chip address order (y·W + x)·C + c
                t = t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
            t_out, v, trace = self.layer(j, t)
            records.append((t, t_out, v, trace))
            t = t_out
        return records

    def decide(self, t_out, v):
        """§6.1: first output to fire (lowest index on a tie), else argmax of the last V."""
        torch, T = self.torch, self.T
        first = t_out.min(1).values
        # lowest index among the earliest: argmax of a boolean picks the first True
        winner = (t_out == first.unsqueeze(1)).float().argmax(1)
        fallback = v[:, -1].float().argmax(1)  # torch argmax: first maximal index
        return torch.where(first < T, winner, fallback)

    # calibration ------------------------------------------------------------------------
    def calibrate(self, t0, quantile: float, step_frac: float) -> None:
        """Set each weighted layer's θ so that a ``quantile`` of its neurons that receive
        input (V > 0) has V > θ by step ``step_frac``·T on a batch (seed-algorithms P-S8: a
        good share fires)."""
        torch = self.torch
        t = t0
        for j, p in enumerate(self.plans):
            if p.kind in ("conv", "pool") and t.dim() == 2:
                h, w, c = p.in_shape
                t = t.view(-1, h, w, c).permute(0, 3, 1, 2)
            elif p.kind == "fc" and t.dim() == 4:
                t = t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
            if p.kind != "pool":
                self.theta[j] = 0
                _, v, _ = self.layer(j, t)
                at = min(self.T - 1, max(0, int(step_frac * self.T)))
                vals = v[:, at].reshape(-1).float()
                vals = vals[vals > 0]  # neurons that see input (conv: not the background)
                if len(vals):
                    idx = torch.randperm(len(vals), generator=torch.Generator().manual_seed(0))
                    self.theta[j] = int(torch.quantile(vals[idx[:200000]], 1 - quantile).item())
            t, _, _ = self.layer(j, t)
        self._restart_threshold_scale()


# ----------------------------------------------------------------------------- learning

def _normalise(e, torch):
    """Per image, L2 over the layer (S4NN): the direction of the displacement."""
    flat = e.reshape(e.shape[0], -1)
    n = flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (flat / n).reshape(e.shape)


def output_targets(t_out, labels, T: int, gamma: int, torch):
    """S4NN relative targets: the correct class at the earliest time, every other class
    at least ``gamma`` steps later; if nothing fired, the correct class at T − gamma."""
    t = t_out.float()
    t_min = t.min(1, keepdim=True).values
    target = t.clone()
    close = t < t_min + gamma
    target = torch.where(close, torch.clamp(t_min + gamma, max=T), target)
    none = (t_min >= T).squeeze(1)
    correct = torch.where(none, torch.full_like(t_min.squeeze(1), T - gamma), t_min.squeeze(1))
    target[torch.arange(len(labels)), labels] = correct
    return target - t  # D = t^d − t


@dataclass(frozen=True)
class Learning:
    """The learning rule's choices (each a command-line option)."""
    gamma: int = 2
    rho: float = 1.0
    hidden_error: str = "displacement"  # displacement (P-S6) | s4nn
    theta_lr: float = 0.0  # BS4NN's learned threshold scale; 0 = fixed thresholds


def train_step(net: TtfsNet, t0, labels, lr: list[float], rule: Learning) -> dict:
    torch, T = net.torch, net.T
    gamma, rho = rule.gamma, rule.rho
    recs = net.forward(t0)
    t_out, v = recs[-1][1], recs[-1][2]
    pred = net.decide(t_out, v)
    D = output_targets(t_out, labels, T, gamma, torch)
    loss = float((0.5 * (D / T) ** 2).sum(1).mean())
    for j in reversed(range(len(net.plans))):
        p = net.plans[j]
        t_in, t_o, _, trace = recs[j]
        if D.dim() == 2 and t_o.dim() == 4:  # from an fc above: chip order → (B, C, H, W)
            h, w_, c = p.out_shape
            D = D.view(-1, h, w_, c).permute(0, 3, 1, 2)
        if p.kind == "pool":  # the window's earliest input carries the window's D
            k = p.size
            up = torch.nn.functional.interpolate(D, scale_factor=k, mode="nearest")
            tout_up = torch.nn.functional.interpolate(t_o.float(), scale_factor=k, mode="nearest")
            h, w = up.shape[2:]
            win = (t_in[:, :, :h, :w].float() == tout_up) & (t_in[:, :, :h, :w] < T)
            Dn = torch.zeros_like(t_in, dtype=torch.float32)
            Dn[:, :, :h, :w] = up * win
            D = Dn
            continue
        B = t_in.shape[0]
        fire_at = torch.clamp(t_o, max=T - 1)  # a silent neuron: its forced spike at T
        onehot = (fire_at.unsqueeze(1) == torch.arange(T).view(1, T, *([1] * (t_o.dim() - 1)))).float()
        e = _normalise(D / T, torch)
        grad_out = (onehot * e.unsqueeze(1)).reshape(B * T, *t_o.shape[1:])
        x = trace.reshape(B * T, *trace.shape[2:])
        if net.psp == "ramp":
            x = x / T
        w = net.weights[j]
        if p.kind == "conv":
            dw = torch.nn.grad.conv2d_weight(x, w.shape, grad_out, padding=p.kernel // 2)
            # a shared kernel weight collects one update per position: average them, so a
            # kernel moves like one fc neuron's weights (the sum overshoots by ~H·W)
            dw = dw * (p.out_shape[2] / math.prod(p.out_shape))
        else:
            dw = x.t() @ grad_out
        # the displacement of the layer below, from the real weights (P-S6, P-S7)
        if j > 0:
            causal = (t_o.unsqueeze(1) >= torch.arange(T).view(1, T, *([1] * (t_o.dim() - 1))))
            up = e if rule.hidden_error == "s4nn" else D
            later = (causal.float() * up.unsqueeze(1)).reshape(B * T, *t_o.shape[1:])
            mask = causal.float().reshape(B * T, *t_o.shape[1:])
            if p.kind == "conv":
                shape = (B * T, *t_in.shape[1:])
                num = torch.nn.grad.conv2d_input(shape, w, later, padding=p.kernel // 2)
                den = torch.nn.grad.conv2d_input(shape, w.abs(), mask, padding=p.kernel // 2)
            else:
                num, den = later @ w.t(), mask @ w.abs().t()
            num = num.reshape(B, T, *t_in.shape[1:])
            den = den.reshape(B, T, *t_in.shape[1:])
            t_pick = torch.clamp(t_in, max=T - 1).unsqueeze(1)
            num = num.gather(1, t_pick).squeeze(1)
            if rule.hidden_error == "s4nn":  # S4NN: Σ_k w_kj e_k over causal k, no clamp
                D = num
            else:
                den = den.gather(1, t_pick).squeeze(1)
                D_below = rho * num / den.clamp_min(1e-6)
                D = torch.clamp(t_in.float() + D_below, 0, T) - t_in.float()
        with torch.no_grad():
            if rule.theta_lr:  # θ = θ0 / f: f moves like a common gain on the weights
                w_int = net.int_weight(j) / net.scale
                net.fact[j] -= rule.theta_lr * float((dw * w_int).sum() / B / w_int.numel())
                net.fact[j] = min(max(net.fact[j], 0.25), 4.0)
                net.theta[j] = int(round(net.theta0[j] / net.fact[j]))
            w -= lr[j] * net.scale * dw / B
            if net.bits > 1:  # keep the shadow in the representable range (+½ LSB)
                w.clamp_(-net.qmax - 0.5, net.qmax + 0.5)
    return {"loss": loss, "correct": int((pred == labels).sum()), "records": recs}


# ----------------------------------------------------------------------------- export

def to_description(net: TtfsNet, name: str, lanes: int, fifo_depth: int, provenance: dict):
    """The chip's core description: conv2d / pool / fc layers of ttfs neurons, B from a
    bound on |V| (no add can overflow, so the trainer's forward is the chip's)."""
    from neurochip.description import CoreDescription, CoreMapping, Encoder, validate

    layers = []
    prev = "input"
    entries = [p.entry for p in net.plans]
    for j, (p, entry, name_j) in enumerate(zip(net.plans, entries, layer_names(entries))):
        channels = p.in_shape[2] if p.kind == "pool" else p.size
        core = CoreMapping(lanes=min(lanes, channels), index=j, fifo_depth=fifo_depth)
        if p.kind == "pool":
            lay = chip_layer(entry, name_j, prev, p.in_shape, p.out_shape, core,
                             neuron=TtfsNeuron(psp="step"),
                             threshold=np.zeros(channels, np.int64), bias=np.zeros(0, np.int64))
        else:
            w = net.int_weight(j).numpy().astype(np.int64)
            if p.kind == "conv":  # (C_out, C_in, kh, kw) → rows (c·kh + ky)·kw + kx
                w = w.transpose(1, 2, 3, 0).reshape(-1, p.size)
            reach = int(np.abs(w).sum(axis=0).max())
            bound = reach * (net.T if net.psp == "ramp" else 1)
            lay = chip_layer(entry, name_j, prev, p.in_shape, p.out_shape, core,
                             neuron=TtfsNeuron(psp=net.psp), weight=w,
                             threshold=np.full(p.size, net.theta[j], np.int64),
                             bias=np.zeros(0, np.int64), weight_bits=net.bits,
                             membrane_bits=saturating_bits(max(bound, abs(net.theta[j]) + 1)))
        layers.append(lay)
        prev = lay.name
    desc = CoreDescription(name=name, input_shape=(28, 28), encoder=Encoder("latency", 0),
                           time_steps=net.T, clock_hz=100e6, count_bits=1, layers=layers,
                           provenance=provenance)
    validate(desc)
    return desc


# ----------------------------------------------------------------------------- CLI

DEFAULTS = dict(time_steps=32, psp="ramp", weight_bits=1, gamma=2, rho=1.0,
                calib_quantile=0.5, calib_step=0.5, init_mean=0.1, init_std=1.0, lanes=64,
                fifo_depth=64, lr_decay=0.9, hidden_error="displacement", theta_lr=0.0,
                decay_every=0, dead_reset=0.0, keep="last", average=0.0)


def _add_own_arguments(p) -> None:
    """stidi-bp's own options (the common ones are the shell's)."""
    d = DEFAULTS
    p.add_argument("--time-steps", type=int, default=d["time_steps"], help=f"T (default {d['time_steps']})")
    p.add_argument("--psp", choices=PSPS, default=d["psp"],
                   help=f"ramp (linear PSP) or step (S4NN instantaneous) (default {d['psp']})")
    p.add_argument("--weight-bits", type=int, default=d["weight_bits"],
                   help=f"1: binary (sign of the shadow); 2..8: multi-bit (default {d['weight_bits']})")
    p.add_argument("--lr-decay", type=float, default=d["lr_decay"],
                   help="learning rate factor per epoch, or per --decay-every images "
                        f"(default {d['lr_decay']})")
    p.add_argument("--decay-every", type=int, default=d["decay_every"],
                   help="apply --lr-decay after every N training images (0: once per epoch), so "
                        "that a large training set can keep a small set's schedule (default 0)")
    p.add_argument("--gamma", type=int, default=d["gamma"],
                   help=f"S4NN margin in steps between the correct class and the others (default {d['gamma']})")
    p.add_argument("--rho", type=float, default=d["rho"],
                   help=f"gain of the hidden displacement (default {d['rho']})")
    p.add_argument("--hidden-error", choices=("displacement", "s4nn"), default=d["hidden_error"],
                   help="how a hidden layer's error is formed: displacement (desired times, "
                        "seed-algorithms P-S6) or s4nn (S4NN/BS4NN: Σ_k w_kj e_k over causal k) "
                        f"(default {d['hidden_error']})")
    p.add_argument("--theta-lr", type=float, default=d["theta_lr"],
                   help="learning rate of BS4NN's per-layer threshold scale f (θ = θ0/f, f "
                        f"from 1, kept in [1/4, 4]); 0 keeps θ fixed (default {d['theta_lr']})")
    p.add_argument("--dead-reset", type=float, default=d["dead_reset"],
                   help="S4NN's dead-neuron reset: after each epoch redraw the incoming "
                        "weights of every hidden neuron (conv: channel) that fired on fewer "
                        f"than this share of the training images; 0: off (default {d['dead_reset']})")
    p.add_argument("--average", type=float, default=d["average"],
                   help="keep an exponential moving average of the shadow weights, this "
                        "factor per update, and evaluate and write it instead of the current "
                        "weights (binary: its sign); 0: off (ours) (default 0)")
    p.add_argument("--keep", choices=("last", "best"), default=d["keep"],
                   help="which epoch's network is written: last, or best: the first epoch with "
                        "the most held-out images right (needs --validation-images; ours) "
                        f"(default {d['keep']})")
    p.add_argument("--calib-quantile", type=float, default=d["calib_quantile"],
                   help="share of neurons above threshold at --calib-step·T at init "
                        f"(default {d['calib_quantile']})")
    p.add_argument("--calib-step", type=float, default=d["calib_step"],
                   help=f"(default {d['calib_step']})")
    p.add_argument("--init-mean", type=float, default=d["init_mean"],
                   help=f"shadow init mean, in half ranges (default {d['init_mean']})")
    p.add_argument("--init-std", type=float, default=d["init_std"],
                   help=f"shadow init std, in half ranges (default {d['init_std']})")
    p.add_argument("--lanes", type=int, default=d["lanes"], help=f"(default {d['lanes']})")
    p.add_argument("--fifo-depth", type=int, default=d["fifo_depth"], help=f"(default {d['fifo_depth']})")


def update_average(average: list[Any], weights: list[Any], factor: float) -> None:
    """``--average``: every layer's average ← factor · average + (1 − factor) · weights,
    in place (pools have neither: None)."""
    for a, w in zip(average, weights):
        if a is not None:
            a.mul_(factor).add_(w, alpha=1.0 - factor)


def evaluate(net: TtfsNet, times: np.ndarray, batch: int = 100) -> np.ndarray:
    torch = net.torch
    out = []
    with torch.no_grad():
        for s in range(0, len(times), batch):
            recs = net.forward(torch.tensor(times[s:s + batch]))
            out.append(net.decide(recs[-1][1], recs[-1][2]).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


class StidiBp:
    """``neurochip train stidi-bp``: its own options and the rule; the rest is the shell's."""

    name = "stidi-bp"
    help = ("Mirsadeghi et al.: single-spike (ttfs) networks, layer-local updates from desired "
            "firing times; the forward pass is the chip's (§6.1)")
    needs_torch = True

    def add_arguments(self, parser) -> None:
        _add_own_arguments(parser)

    def check(self, args: argparse.Namespace) -> None:
        if not 1 <= args.weight_bits <= 8:
            raise ValueError("--weight-bits must be in 1..8")
        if not 2 <= args.time_steps <= 4096:
            raise ValueError("--time-steps must be in 2..4096")
        if not 0 < args.calib_quantile <= 1 or not 0 <= args.calib_step <= 1:
            raise ValueError("--calib-quantile must be in (0, 1] and --calib-step in [0, 1]")
        if not 0 <= args.dead_reset < 1:
            raise ValueError("--dead-reset must be a share in [0, 1)")
        if not math.isfinite(args.theta_lr) or args.theta_lr < 0:
            raise ValueError("--theta-lr must be finite and >= 0")
        if args.gamma < 0 or not math.isfinite(args.rho) or not math.isfinite(args.lr_decay) \
                or args.lr_decay <= 0:
            raise ValueError("--gamma must be >= 0, --rho finite, --lr-decay finite and > 0")
        if not 1 <= args.lanes <= 256 or not 1 <= args.fifo_depth <= 65536:
            raise ValueError("--lanes must be in 1..256 and --fifo-depth in 1..65536")
        if args.decay_every < 0:
            raise ValueError("--decay-every must be >= 0")
        if not math.isfinite(args.average) or not 0 <= args.average < 1:
            raise ValueError("--average must be a factor in [0, 1)")
        if args.keep == "best" and args.validation_images <= 0:
            raise ValueError("--keep best chooses on held-out images: give --validation-images N "
                             "(the test split is never used for a choice)")
        if not (math.isfinite(args.init_mean) and math.isfinite(args.init_std)) or args.init_std < 0:
            raise ValueError("--init-mean must be finite and --init-std finite and >= 0")
        args.plans = layer_plans(args.arch)
        rates = iter(lr_values(args, sum(p.kind != "pool" for p in args.plans)))
        args.lrs = [0.0 if p.kind == "pool" else next(rates) for p in args.plans]  # per plan

    def train(self, args: argparse.Namespace, data: Data) -> int:
        return train(args, data)


TRAINER = StidiBp()


def train(args: argparse.Namespace, data: Data) -> int:
    """Train on the shell's split, write OUT.npz and OUT.ckpt.npz; return the exit code."""
    import torch
    from tqdm import tqdm

    plans, lrs = args.plans, args.lrs
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_tr, y_tr, x_va, y_va = data.train_x, data.train_y, data.validation_x, data.validation_y
    x_te, y_te = data.test_x, data.test_y
    T = args.time_steps
    t_tr, t_te = latency_times(x_tr, T), latency_times(x_te, T)
    held, t_held, y_held = (("validation", latency_times(x_va, T), y_va) if len(x_va)
                            else ("test", t_te, y_te))  # what each epoch reports
    net = TtfsNet(torch, plans, T, args.psp, args.weight_bits, rng, args.init_mean, args.init_std)
    with torch.no_grad():
        net.calibrate(torch.tensor(t_tr[:64]), args.calib_quantile, args.calib_step)
    print(f"stidi-bp: {len(x_tr)} train / {len(x_te)} test images, T = {T}, psp {args.psp}, "
          f"{args.weight_bits}-bit weights, thresholds {net.theta}, {args.threads} thread(s)"
          f"{' (default; --threads N to change)' if args.threads_default else ''}",
          file=sys.stderr)
    decay_every = args.decay_every or len(x_tr)
    rule = Learning(gamma=args.gamma, rho=args.rho, hidden_error=args.hidden_error,
                    theta_lr=args.theta_lr)
    t_start = time.perf_counter()
    labels = torch.tensor(y_tr.astype(np.int64))
    history = []
    kept = None  # --keep best: (epoch, held-out accuracy, the network's state then)
    average = net.state()[0] if args.average else None  # --average: from the initial weights
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_tr))
        correct = 0
        loss = 0.0
        fired: list[Any] = [0 if p.kind != "pool" else None for p in net.plans]
        before = net.int_weights()
        bar = tqdm(range(0, len(order), args.batch_size), desc=f"epoch {epoch + 1}/{args.epochs}",
                   file=sys.stderr, leave=False)
        with torch.no_grad():
            for s in bar:
                idx = order[s:s + args.batch_size]
                seen = epoch * len(order) + s  # images before this batch
                lr = [v * args.lr_decay ** (seen // decay_every) for v in lrs]
                st = train_step(net, torch.tensor(t_tr[idx]), labels[idx], lr, rule)
                if average is not None:
                    update_average(average, net.weights, args.average)
                correct += st["correct"]
                loss += st["loss"] * len(idx)
                if args.dead_reset:
                    fired = [None if c is None else f + c
                             for f, c in zip(fired, net.fired_images(st["records"]))]
        row = {"epoch": epoch + 1, "train_acc": correct / len(x_tr), "loss": loss / len(x_tr),
               "thresholds": list(net.theta), "changed": net.changed_since(before)}
        if args.dead_reset:
            row["redrawn"] = net.reinit_dead(fired, len(x_tr), args.dead_reset, rng)
        live = net.weights
        if average is not None:  # the averaged network is the one evaluated (and kept)
            net.weights = average
        row[f"{held}_acc"] = float((evaluate(net, t_held) == y_held).mean())
        history.append(row)
        if args.keep == "best" and (kept is None or row[f"{held}_acc"] > kept[1]):
            kept = (epoch + 1, row[f"{held}_acc"], net.state())
        net.weights = live  # training goes on from its own weights
        print(f"epoch {epoch + 1}: train {100 * correct / len(x_tr):.2f} % (on the fly), "
              f"loss {loss / len(x_tr):.4f}, {held} {100 * row[f'{held}_acc']:.2f} %, "
              f"thresholds {net.theta}, weights changed "
              + " / ".join(f"{100 * c:.2f} %" for c in row["changed"] if c is not None)
              + (f", redrawn {row['redrawn']}" if args.dead_reset else ""), file=sys.stderr,
              flush=True)
    wall = time.perf_counter() - t_start
    kept_epoch = args.epochs
    if kept is not None:
        kept_epoch = kept[0]
        net.restore(kept[2])
        print(f"kept epoch {kept_epoch} ({held} {100 * kept[1]:.2f} %)", file=sys.stderr)
    elif average is not None:
        net.weights = average  # the last epoch's average
    pred = evaluate(net, t_te)
    from neurochip.description import save

    model_path, ckpt_path = out_paths(args)
    meta = {"format": CHECKPOINT_FORMAT, "trainer": "neurochip.train.stidi_bp",
            "command": command_line("stidi-bp"),
            "args": {k: v for k, v in vars(args).items() if k not in ("func", "plans", "lrs")},
            **data.provenance(),
            "thresholds": net.theta, "history": history, "kept_epoch": kept_epoch,
            "train_seconds": round(wall, 1),
            "test_accuracy_trainer": float((pred == y_te).mean())}
    desc = to_description(net, out_prefix(args).name, args.lanes, args.fifo_depth,
                          {"checkpoint": meta})
    model_path.parent.mkdir(parents=True, exist_ok=True)
    save(desc, model_path)
    write_checkpoint(ckpt_path, meta, {f"w{j}": w.numpy() for j, w in enumerate(net.weights)
                                       if w is not None})
    print(json.dumps({"test_accuracy_trainer": meta["test_accuracy_trainer"],
                      "train_seconds": meta["train_seconds"], "model": str(model_path)}))
    return 0

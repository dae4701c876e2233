"""ReLU networks that convert to the chip (BSNN, docs/architecture.md §6.2, §11.1): their
architecture as data, the checkpoint format, batch-norm folding and a NumPy forward pass
in the chip's layout (no torch: conversion and SIN measurement run without it).

An architecture is a list of nodes in topological order; every node reads ``src`` (a
node name or ``"input"``; ``add`` reads [main, shortcut]):

* ``conv``: ``channels``, ``kernel`` k, ``stride``, ``pad``; followed by batch norm and ReLU;
* ``avgpool``: ``window`` w, stride w (linear, so it converts exactly to an
  average-pooling IF core);
* ``add``: main + shortcut, both already ≥ 0 (the main path ends in conv → BN → ReLU, so
  this is the chip's ``add`` of two spike streams; the ReLU after a standard ResNet add is
  the identity here);
* ``fc``: the output layer (logits, no ReLU), reading a map flattened in address order
  (y, x, c), channel fastest.

Maps are NHWC everywhere (the chip's address order, §3); torch's weights (O, I, kh, kw) are
kept in the checkpoint as torch writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "neurochip-ann-checkpoint"
VERSION = 1
BN_EPS = 1e-5
INPUT = "input"

# small, chip-sized networks (28×28×1 input); neuron counts stay far below 32768 per layer
ARCHS: dict[str, list[dict[str, Any]]] = {
    "vgg": [
        {"name": "c0", "op": "conv", "src": INPUT, "channels": 8, "kernel": 3, "stride": 1, "pad": 1},
        {"name": "p0", "op": "avgpool", "src": "c0", "window": 2},
        {"name": "c1", "op": "conv", "src": "p0", "channels": 16, "kernel": 3, "stride": 1, "pad": 1},
        {"name": "p1", "op": "avgpool", "src": "c1", "window": 2},
        {"name": "c2", "op": "conv", "src": "p1", "channels": 32, "kernel": 3, "stride": 1, "pad": 1},
        {"name": "fc", "op": "fc", "src": "c2", "neurons": 10},
    ],
    "resnet": [
        {"name": "c0", "op": "conv", "src": INPUT, "channels": 16, "kernel": 3, "stride": 2, "pad": 1},
        {"name": "c1", "op": "conv", "src": "c0", "channels": 16, "kernel": 3, "stride": 1, "pad": 1},
        {"name": "c2", "op": "conv", "src": "c1", "channels": 16, "kernel": 3, "stride": 1, "pad": 1},
        {"name": "a0", "op": "add", "src": ["c2", "c0"]},
        {"name": "c3", "op": "conv", "src": "a0", "channels": 16, "kernel": 3, "stride": 1, "pad": 1},
        {"name": "c4", "op": "conv", "src": "c3", "channels": 16, "kernel": 3, "stride": 1, "pad": 1},
        {"name": "a1", "op": "add", "src": ["c4", "a0"]},
        {"name": "p0", "op": "avgpool", "src": "a1", "window": 2},
        {"name": "fc", "op": "fc", "src": "p0", "neurons": 10},
    ],
}


class AnnCheckpointError(ValueError):
    """A malformed ANN checkpoint; the message names the field and the fix."""


def sources(node: dict[str, Any]) -> list[str]:
    return list(node["src"]) if isinstance(node["src"], list) else [node["src"]]


def shapes(arch: list[dict[str, Any]], input_shape: tuple[int, int, int]) -> dict[str, tuple]:
    """(H, W, C) of every node's output (fc: (1, 1, N))."""
    out: dict[str, tuple] = {INPUT: tuple(input_shape)}
    for node in arch:
        h, w, c = out[sources(node)[0]]
        if node["op"] == "conv":
            k, s, p = node["kernel"], node["stride"], node["pad"]
            out[node["name"]] = ((h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1, node["channels"])
        elif node["op"] == "avgpool":
            out[node["name"]] = (h // node["window"], w // node["window"], c)
        elif node["op"] == "add":
            a, b = (out[s] for s in sources(node))
            if a != b:
                raise AnnCheckpointError(f"node {node['name']!r}: add of maps {a} and {b}; both "
                                         "sources must have the same shape")
            out[node["name"]] = a
        elif node["op"] == "fc":
            out[node["name"]] = (1, 1, node["neurons"])
        else:
            raise AnnCheckpointError(f"node {node['name']!r}: unknown op {node['op']!r}; use "
                                     "conv, avgpool, add or fc")
    return out


@dataclass
class AnnCheckpoint:
    """A trained ReLU network: manifest and float arrays (``<node>.weight``, ``<node>.bias``,
    ``<node>.bn_weight``/``bn_bias``/``bn_mean``/``bn_var`` for conv nodes)."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def arch(self) -> list[dict[str, Any]]:
        return self.meta["arch"]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.meta["input_shape"])

    def save(self, path: str | Path) -> None:
        from neurochip.train.checkpoint import write_checkpoint

        write_checkpoint(path, self.meta, self.arrays)

    @classmethod
    def load(cls, path: str | Path) -> "AnnCheckpoint":
        from neurochip.train.checkpoint import CheckpointFileError, read_checkpoint

        try:
            meta, raw = read_checkpoint(path)
        except (OSError, CheckpointFileError) as exc:
            raise AnnCheckpointError(f"{exc}; pass a checkpoint written by `neurochip train "
                                     "ann`") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise AnnCheckpointError(f"{path}: field 'manifest.format' is not {FORMAT!r}; pass "
                                     "a checkpoint written by `neurochip train ann`")
        if meta.get("version") != VERSION:
            raise AnnCheckpointError(f"{path}: field 'manifest.version' = {meta.get('version')!r}; "
                                     f"this neurochip reads version {VERSION}")
        ckpt = cls(meta, raw)
        ckpt.check(str(path))
        return ckpt

    def check(self, origin: str) -> None:
        """Every array present, with the shape the architecture implies, and finite."""
        shp = shapes(self.arch, self.input_shape)
        for node in self.arch:
            name, op = node["name"], node["op"]
            if op == "conv":
                c_in = shp[sources(node)[0]][2]
                want = {"weight": (node["channels"], c_in, node["kernel"], node["kernel"])}
                want.update({f"bn_{k}": (node["channels"],) for k in ("weight", "bias", "mean", "var")})
            elif op == "fc":
                h, w, c = shp[sources(node)[0]]
                want = {"weight": (node["neurons"], h * w * c), "bias": (node["neurons"],)}
            else:
                continue
            for key, shape in want.items():
                arr = self.arrays.get(f"{name}.{key}")
                if arr is None:
                    raise AnnCheckpointError(f"{origin}: array '{name}.{key}' is missing; the "
                                             "checkpoint does not match its manifest's arch")
                if arr.shape != shape:
                    raise AnnCheckpointError(f"{origin}: array '{name}.{key}' has shape "
                                             f"{arr.shape}; the arch needs {shape}")
                if not np.isfinite(arr).all():
                    raise AnnCheckpointError(f"{origin}: array '{name}.{key}' holds NaN or "
                                             "infinity; retrain or fix the checkpoint")


def folded(ckpt: AnnCheckpoint) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Batch norm folded into every conv: (W (C_in·k·k, C_out) with row (c·k + ky)·k + kx —
    the chip's kernel-memory layout —, b (C_out,)); fc: (W (inputs, N), b). float64."""
    out = {}
    for node in ckpt.arch:
        name = node["name"]
        if node["op"] == "conv":
            a = ckpt.arrays
            w = a[f"{name}.weight"].astype(np.float64)  # (O, I, kh, kw)
            gamma, beta = a[f"{name}.bn_weight"], a[f"{name}.bn_bias"]
            mean, var = a[f"{name}.bn_mean"], a[f"{name}.bn_var"]
            scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
            w = w * scale[:, None, None, None]
            b = beta - mean * scale
            out[name] = (w.transpose(1, 2, 3, 0).reshape(-1, w.shape[0]), b.astype(np.float64))
        elif node["op"] == "fc":
            out[name] = (ckpt.arrays[f"{name}.weight"].T.astype(np.float64),
                         ckpt.arrays[f"{name}.bias"].astype(np.float64))
    return out


def conv_nhwc(x: np.ndarray, w: np.ndarray, b: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    """Convolution of (n, H, W, C_in) with a chip-layout kernel (C_in·k·k, C_out)."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    n, ho, wo = win.shape[:3]  # (n, H_out, W_out, C_in, ky, kx): rows (c·k + ky)·k + kx
    return (win.reshape(n * ho * wo, -1) @ w + b).reshape(n, ho, wo, -1)


def forward(ckpt: AnnCheckpoint, pixels: np.ndarray, weights=None, chunk: int = 500
            ) -> dict[str, np.ndarray]:
    """Every node's output on uint8 images (n, H·W·C) scaled to [0, 1], NHWC, float64; for
    conv nodes also ``<name>.pre``, the pre-activation (after BN, before ReLU)."""
    weights = weights or folded(ckpt)
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, len(pixels), chunk):
        x = pixels[start:start + chunk].reshape(-1, *ckpt.input_shape).astype(np.float64) / 255.0
        acts: dict[str, np.ndarray] = {INPUT: x}
        for node in ckpt.arch:
            name, src = node["name"], [acts[s] for s in sources(node)]
            if node["op"] == "conv":
                pre = conv_nhwc(src[0], *weights[name], node["kernel"], node["stride"], node["pad"])
                acts[f"{name}.pre"], acts[name] = pre, np.maximum(pre, 0)
            elif node["op"] == "avgpool":
                p = node["window"]
                n, h, w, c = src[0].shape
                s = src[0][:, :h // p * p, :w // p * p]
                acts[name] = s.reshape(n, h // p, p, w // p, p, c).mean(axis=(2, 4))
            elif node["op"] == "add":
                acts[name] = src[0] + src[1]
            else:
                acts[name] = src[0].reshape(len(src[0]), -1) @ weights[name][0] + weights[name][1]
        parts.append(acts)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

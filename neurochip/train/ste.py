"""The straight-through primitives of the ste-bp trainer (Yin et al., BioCAS 2017): the
binary activation ``1[x > 1]`` and the quantized forward weight, each with its
straight-through gradient, and the NumPy split of latent weights into the integers and
scales the chip stores. The MLP (:mod:`neurochip.train.ste_bp`), the CNN
(:mod:`neurochip.train.ste_bp_cnn`), the latent-weight mixin and the quantizer use them.

Torch is imported only when a torch function is called."""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from neurochip.train.shell import require_torch

if TYPE_CHECKING:
    import torch

THRESHOLD = 1.0


def _import_torch() -> Any:
    return require_torch("ste-bp")


def _check_bits(bits: int) -> None:
    if not 1 <= bits <= 8:
        raise ValueError(f"weight bits must be in 1..8, got {bits}")


def effective_weight_numpy(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Split latent weights W (fan_in, fan_out) into integer weights and a scale per output neuron.

    ``int * scale`` is the trainer's forward weight W_eff (same float32 arithmetic), so a
    quantizer can put the integers in the weight SRAM and fold the scale into threshold and bias.
    bits == 1: int = sign(W) (sign(0) = +1), scale = mean_i |W[i, j]|.
    bits >= 2: scale = max_i |W[i, j]| / qmax (1.0 if 0), int = clip(round_half_even(W / scale), ±qmax).
    """
    _check_bits(bits)
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"weights must have shape (fan_in, fan_out), got {w.shape}")
    if bits == 1:
        scale = np.abs(w).mean(axis=0, dtype=np.float32)
        ints = np.where(w >= 0, 1, -1).astype(np.int8)
        return ints, scale
    qmax = 2 ** (bits - 1) - 1
    scale = np.abs(w).max(axis=0) / np.float32(qmax)
    scale[scale == 0] = np.float32(1.0)
    ints = np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int8)
    return ints, scale


@lru_cache(maxsize=None)
def _ops() -> SimpleNamespace:
    """Build the autograd functions once torch is known to be importable."""
    torch = _import_torch()

    class BinaryActivation(torch.autograd.Function):
        """s = 1[x > 1]; backward: 0.5 * grad_s inside the window 0 < x < 2."""

        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x)
            return (x > THRESHOLD).to(x.dtype)

        @staticmethod
        def backward(ctx: Any, grad_s: torch.Tensor) -> torch.Tensor:
            (x,) = ctx.saved_tensors
            window = (x > THRESHOLD - 1.0) & (x < THRESHOLD + 1.0)
            return 0.5 * grad_s * window.to(grad_s.dtype)

    class QuantizeWeight(torch.autograd.Function):
        """Forward: W_eff exactly as effective_weight_numpy; backward: straight through to W."""

        @staticmethod
        def forward(ctx: Any, w: torch.Tensor, bits: int) -> torch.Tensor:
            if bits == 1:
                return torch.where(w >= 0, 1.0, -1.0).to(w.dtype) * w.abs().mean(dim=0)
            qmax = 2 ** (bits - 1) - 1
            scale = w.abs().amax(dim=0) / qmax
            scale = torch.where(scale == 0, torch.ones_like(scale), scale)
            return torch.clamp(torch.round(w / scale), -qmax, qmax) * scale

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
            return grad, None

    return SimpleNamespace(binary_activation=BinaryActivation.apply, quantize_weight=QuantizeWeight.apply)


def binary_activation(x: torch.Tensor) -> torch.Tensor:
    """Spike ``1[x > 1]`` with the straight-through gradient ``0.5 * 1[0 < x < 2]``."""
    return _ops().binary_activation(x)


def effective_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Forward weight W_eff of latent weights ``w`` (torch twin of :func:`effective_weight_numpy`)."""
    _check_bits(bits)
    return _ops().quantize_weight(w, bits)

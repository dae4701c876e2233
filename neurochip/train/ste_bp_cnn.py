"""Convolutional networks for the ste-bp trainer (Yin et al., BioCAS 2017, binary CNN).

The same straight-through estimator as the MLP of :mod:`neurochip.train.ste_bp`, with
discontinuous integration: a convolution computes ``x = conv(s, W_eff) + b`` per output
channel (W_eff = ±1 · a per-output-channel scale mean |W| for 1-bit weights) and spikes
``s = 1[x > 1]``; spike max-pooling of a binary map is a logical OR. Convolutions are
"valid" (``pad`` 0) unless a padding is given, stride 1; pooling windows are square with
stride = window (floor mode: a ragged edge is dropped, as the chip's pool core does).

Layouts (the chip's, docs/architecture.md §12): a stream of shape (H, W, C) gives
(y, x, c) the address (y·W + x)·C + c, channel fastest. The latent weights of a
convolution are stored as the chip's kernel memory, a (C_in·kh·kw, C_out) matrix whose
row (c·kh + ky)·kw + kx holds W[:, c, ky, kx], so :func:`effective_weight_numpy` of the
MLP applies unchanged (scale = mean over the C_in·kh·kw rows of a column). The first fc
layer after a convolutional stage reads the map flattened in address order (torch's (C, H,
W) maps are permuted to (H, W, C) first), so its weight rows are already the chip's.

Pooling directly after a convolution is trained as ``1[maxpool(x) > 1]``: identical in the
forward pass to OR-pooling the spikes ``1[x > 1]`` (the maximum exceeds 1 iff one element
does), but the straight-through gradient then reaches the window's most excited neuron
rather than an arbitrary one of a window of equal spikes.

Architecture strings (``--arch``) are the grammar of :mod:`neurochip.train.arch`, shared
by every trainer; ``cnn`` is Yin et al.'s network, ``12c5,p2,64c5,p2,512`` (28×28 → 24×24×12
→ 12×12×12 → 8×8×64 → 4×4×64 → 512 → 10).

Checkpoint (``save_checkpoint`` of ste_bp): the manifest records ``arch`` (one entry per
layer, output layer included: ``{"type": "conv", "channels", "kernel", "pad"}``,
``{"type": "pool", "window"}``, ``{"type": "fc", "neurons"}``), ``input_shape`` [H, W, C] and
``layer_sizes`` = the size of every stream (input first); the arrays of the layer at position
i of ``arch`` (conv and fc only) are ``layer{i}.weight`` (fan_in, fan_out) and
``layer{i}.bias`` (fan_out,), float32.

Torch is imported only when a network is built; the architecture helpers need numpy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurochip.train.arch import WEIGHTED, check_arch, stream_sizes, weighted_shapes
from neurochip.train.latent import LatentBinaryNet

if TYPE_CHECKING:
    import torch


class SpikingCNN(LatentBinaryNet):
    """Latent weights and biases of a binary spiking CNN (discontinuous integration).

    ``arch`` includes the output fc layer. ``weights[j]``/``biases[j]`` belong to the j-th
    conv or fc layer, which sits at ``arch[array_index[j]]``."""

    def __init__(self, arch: list[dict[str, Any]], input_shape: tuple[int, int, int],
                 weight_bits: int, generator: torch.Generator) -> None:
        from neurochip.train.ste import _import_torch

        torch = _import_torch()
        self.arch = arch
        self.input_shape = tuple(input_shape)
        self.shapes = check_arch(arch, self.input_shape, "arch")
        self.layer_sizes = stream_sizes(arch, self.input_shape)
        self.weight_bits = weight_bits
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        self.array_index: list[int] = []
        for i, (fan_in, fan_out) in weighted_shapes(arch, self.input_shape):
            # as the MLP: uniform in ±4/sqrt(fan_in), fan_in = C_in·kh·kw for a convolution
            bound = 4.0 / fan_in**0.5
            w = (torch.rand(fan_in, fan_out, generator=generator) * 2.0 - 1.0) * bound
            self.weights.append(w.requires_grad_())
            self.biases.append(torch.zeros(fan_out, requires_grad=True))
            self.array_index.append(i)
        # dropout: on every hidden spike map that feeds a conv or fc layer (after pooling)
        first = self.array_index[0]
        self.mask_after = [i for i in range(first, len(arch) - 1)
                           if arch[i + 1]["type"] in WEIGHTED]
        self.dropout_sizes = [self.layer_sizes[i + 1] for i in self.mask_after]

    @property
    def array_prefixes(self) -> list[str]:
        return [f"layer{i}" for i in self.array_index]


    def step_discontinuous(self, s: torch.Tensor, w_eff: list[torch.Tensor],
                           masks: list[torch.Tensor] | None) -> torch.Tensor:
        """One independent time step on input spikes (N, H·W·C) in address order: return the
        output layer's pre-threshold x."""
        from neurochip.train.ste import _import_torch, binary_activation

        torch = _import_torch()
        functional = torch.nn.functional
        n = s.shape[0]
        h, w, c = self.input_shape
        s = s.reshape(n, h, w, c).permute(0, 3, 1, 2)  # (N, C, H, W)
        j = m = 0
        i, last = 0, len(self.arch) - 1
        while True:
            layer = self.arch[i]
            if layer["type"] == "conv":
                k, c_in = layer["kernel"], s.shape[1]
                kernel = w_eff[j].t().reshape(layer["channels"], c_in, k, k)
                x = functional.conv2d(s, kernel, self.biases[j], padding=layer["pad"])
                j += 1
                if i < last and self.arch[i + 1]["type"] == "pool":  # 1[max x > 1] = OR of spikes
                    i += 1
                    x = functional.max_pool2d(x, self.arch[i]["window"])
                s = binary_activation(x)
            elif layer["type"] == "pool":
                s = functional.max_pool2d(s, layer["window"])
            else:
                if s.dim() == 4:  # (N, C, H, W) → address order (y·W + x)·C + c
                    s = s.permute(0, 2, 3, 1).reshape(n, -1)
                x = s @ w_eff[j] + self.biases[j]
                j += 1
                if i == last:
                    return x
                s = binary_activation(x)
            if masks is not None and m < len(self.mask_after) and self.mask_after[m] == i:
                s = s * masks[m].view(s.shape)
                m += 1
            i += 1

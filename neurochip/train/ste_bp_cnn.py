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

Architecture strings (``--arch``): comma-separated tokens, convolution and pooling first,
then fully connected layers; the 10-class output layer is implied.

* ``<C>c<k>``: convolution with C output channels and a k×k kernel, no padding
  (``<C>c<k>p<pad>``: zero padding ``pad`` on every side, e.g. ``32c5p2`` keeps the size);
* ``p<w>``: OR (spike max) pooling over w×w windows with stride w;
* ``<N>``: fully connected layer of N neurons;
* ``cnn``: Yin et al.'s network, ``12c5,p2,64c5,p2,512`` (28×28 → 24×24×12 → 12×12×12 →
  8×8×64 → 4×4×64 → 512 → 10).

Checkpoint (``save_checkpoint`` of ste_bp): the manifest records ``arch`` (one entry per
layer, output layer included: ``{"type": "conv", "channels", "kernel", "pad"}``,
``{"type": "pool", "window"}``, ``{"type": "fc", "neurons"}``), ``input_shape`` [H, W, C] and
``layer_sizes`` = the size of every stream (input first); the arrays of the layer at position
i of ``arch`` (conv and fc only) are ``layer{i}.weight`` (fan_in, fan_out) and
``layer{i}.bias`` (fan_out,), float32.

Torch is imported only when a network is built; the architecture helpers need numpy only.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from neurochip.train.latent import LatentBinaryNet
if TYPE_CHECKING:
    import torch

YIN_CNN = "12c5,p2,64c5,p2,512"
ARCH_ALIASES = {"cnn": YIN_CNN}
WEIGHTED = ("conv", "fc")
MAX_CHANNELS = 4096
MAX_KERNEL = 16  # the conv2d kind's limits (neurochip/kinds/conv2d.py, pool.py)
MAX_WINDOW = 16
MAX_NEURONS = 1 << 15  # a stream address is 15 bits (§2)

_CONV = re.compile(r"^(\d+)c(\d+)(?:p(\d+))?$")
_POOL = re.compile(r"^p(\d+)$")
_FC = re.compile(r"^(\d+)$")


class ArchError(ValueError):
    """An architecture string or manifest entry that cannot describe a chip network."""


def parse_arch(text: str) -> list[dict[str, Any]]:
    """``--arch`` text → architecture entries without the output layer (ArchError if bad)."""
    spec = ARCH_ALIASES.get(text.strip().lower(), text)
    layers: list[dict[str, Any]] = []
    for raw in spec.split(","):
        token = raw.strip().lower()
        if m := _CONV.match(token):
            layers.append({"type": "conv", "channels": int(m[1]), "kernel": int(m[2]),
                           "pad": int(m[3] or 0)})
        elif m := _POOL.match(token):
            layers.append({"type": "pool", "window": int(m[1])})
        elif m := _FC.match(token):
            layers.append({"type": "fc", "neurons": int(m[1])})
        else:
            raise ArchError(f"--arch {text!r}: token {raw.strip()!r} is not <C>c<k> (convolution), "
                            "<C>c<k>p<pad> (padded convolution), p<w> (pooling) or <N> (fully "
                            f"connected), e.g. {YIN_CNN}")
    if not any(layer["type"] == "conv" for layer in layers):
        raise ArchError(f"--arch {text!r}: has no convolution; for a fully connected network "
                        "leave --arch out and set --hidden")
    check_arch(layers, (28, 28, 1), f"--arch {text!r}", output=False)
    return layers


def format_arch(arch: list[dict[str, Any]]) -> str:
    """The ``--arch`` string of architecture entries (output layer included or not)."""
    out = []
    for layer in arch:
        if layer["type"] == "conv":
            pad = f"p{layer['pad']}" if layer["pad"] else ""
            out.append(f"{layer['channels']}c{layer['kernel']}{pad}")
        elif layer["type"] == "pool":
            out.append(f"p{layer['window']}")
        else:
            out.append(str(layer["neurons"]))
    return ",".join(out)


def _int_in(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def check_arch(arch: Any, input_shape: Any, where: str, output: bool = True
               ) -> list[tuple[int, ...]]:
    """Check architecture entries against an input shape (H, W, C); return the output
    shape of every entry ((H, W, C) for conv/pool, (N,) for fc).

    ``where`` names the source in messages (``--arch '…'`` or a checkpoint's manifest key);
    ``output``: the last entry must be the fc output layer."""
    if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 3
            and all(_int_in(v, 1, MAX_NEURONS) for v in input_shape)):
        raise ArchError(f"{where}: 'input_shape' is {input_shape!r}; use [H, W, C] (positive "
                        "integers)")
    if not (isinstance(arch, list) and arch and all(isinstance(e, dict) for e in arch)):
        raise ArchError(f"{where}: 'arch' is {arch!r}; use a non-empty list of layer objects "
                        "({\"type\": \"conv\"|\"pool\"|\"fc\", ...})")
    shapes: list[tuple[int, ...]] = []
    shape: tuple[int, ...] = tuple(input_shape)
    for i, layer in enumerate(arch):
        at = f"{where}: 'arch[{i}]'"
        kind = layer.get("type")
        fields = {"conv": (("channels", 1, MAX_CHANNELS), ("kernel", 1, MAX_KERNEL),
                           ("pad", 0, MAX_KERNEL - 1)),
                  "pool": (("window", 1, MAX_WINDOW),),
                  "fc": (("neurons", 1, MAX_NEURONS),)}.get(kind)
        if fields is None:
            raise ArchError(f"{at}.type is {kind!r}; use 'conv', 'pool' or 'fc'")
        for key, lo, hi in fields:
            if not _int_in(layer.get(key), lo, hi):
                raise ArchError(f"{at}.{key} is {layer.get(key)!r}; use an integer in {lo} … {hi}")
        if kind == "fc":
            shape = (layer["neurons"],)
        elif len(shape) != 3:
            raise ArchError(f"{at} is a {kind} layer after a fully connected one; put "
                            "convolutions and pooling before the fc layers")
        elif kind == "conv":
            k, pad = layer["kernel"], layer["pad"]
            if pad >= k:
                raise ArchError(f"{at}.pad is {pad}; a padding must be smaller than the "
                                f"kernel ({k})")
            h, w = shape[0] + 2 * pad - k + 1, shape[1] + 2 * pad - k + 1
            if h < 1 or w < 1:
                raise ArchError(f"{at}: a {k}×{k} kernel does not fit the {shape[0]}×{shape[1]} "
                                "map; use a smaller kernel, padding or fewer pooling layers")
            shape = (h, w, layer["channels"])
        else:
            win = layer["window"]
            if shape[0] < win or shape[1] < win:
                raise ArchError(f"{at}: a {win}×{win} pooling window does not fit the "
                                f"{shape[0]}×{shape[1]} map")
            shape = (shape[0] // win, shape[1] // win, shape[2])
        if math.prod(shape) > MAX_NEURONS:
            raise ArchError(f"{at}: its output has {math.prod(shape)} neurons "
                            f"({'×'.join(map(str, shape))}); the chip addresses at most "
                            f"{MAX_NEURONS} per stream: use fewer channels or pool earlier")
        shapes.append(shape)
    if output and arch[-1].get("type") != "fc":
        raise ArchError(f"{where}: the last 'arch' entry must be the fc output layer, got "
                        f"{arch[-1].get('type')!r}")
    return shapes


def weighted_shapes(arch: list[dict[str, Any]], input_shape: tuple[int, ...]
                    ) -> list[tuple[int, tuple[int, int]]]:
    """(arch index, (fan_in, fan_out)) of every conv and fc layer, in order."""
    shapes = check_arch(arch, input_shape, "arch", output=False)
    out, prev = [], tuple(input_shape)
    for i, (layer, shape) in enumerate(zip(arch, shapes)):
        if layer["type"] == "conv":
            out.append((i, (prev[2] * layer["kernel"] ** 2, layer["channels"])))
        elif layer["type"] == "fc":
            out.append((i, (math.prod(prev), layer["neurons"])))
        prev = shape
    return out


def stream_sizes(arch: list[dict[str, Any]], input_shape: tuple[int, ...]) -> list[int]:
    """Sizes of the input stream and of every layer's output stream."""
    shapes = check_arch(arch, input_shape, "arch", output=False)
    return [math.prod(input_shape), *(math.prod(s) for s in shapes)]


class SpikingCNN(LatentBinaryNet):
    """Latent weights and biases of a binary spiking CNN (discontinuous integration).

    ``arch`` includes the output fc layer. ``weights[j]``/``biases[j]`` belong to the j-th
    conv or fc layer, which sits at ``arch[array_index[j]]``."""

    def __init__(self, arch: list[dict[str, Any]], input_shape: tuple[int, int, int],
                 weight_bits: int, generator: torch.Generator) -> None:
        from neurochip.train.ste_bp import _import_torch

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
        from neurochip.train.ste_bp import _import_torch, binary_activation

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

"""The architecture grammar of every trainer's ``--arch`` (docs/training.md, "Architecture
strings"): one parser, one meaning per string, whatever the trainer.

Tokens are comma-separated, from the input on; the 10-class output layer is implied:

* ``<C>c<k>``: convolution with C output channels and a k×k kernel, stride 1, **no padding**
  (``16c5`` turns a 28×28 map into 24×24);
* ``<C>c<k>p<q>``: the same with q zero pixels on every side (``16c5p2`` keeps 28×28);
* ``p<w>``: pooling over w×w windows with stride w (a ragged edge is dropped, as the
  chip's pool core does);
* ``<N>``: fully connected layer of N neurons;
* a named network: ``cnn`` = Yin et al.'s ``12c5,p2,64c5,p2,512``; ``''``: no layer before
  the output.

Convolutions and pooling come before the fully connected layers. Each token maps onto a
registered kind (:data:`KINDS`: conv → ``conv2d``, pool → ``pool``, fc → ``fc``). The
parsed form is a list of entries, the one the float checkpoints record under ``arch``:
``{"type": "conv", "channels", "kernel", "pad"}``, ``{"type": "pool", "window"}``,
``{"type": "fc", "neurons"}``. A trainer may take less than the grammar says (stidi-bp:
size-keeping convolutions only) and then refuses the rest in one line naming what it takes.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

YIN_CNN = "12c5,p2,64c5,p2,512"
NAMED = {"cnn": YIN_CNN}
KINDS = {"conv": "conv2d", "pool": "pool", "fc": "fc"}  # entry type → registered kind
WEIGHTED = ("conv", "fc")
MAX_CHANNELS = 4096
MAX_KERNEL = 16  # the conv2d kind's limits (neurochip/kinds/conv2d.py, pool.py)
MAX_WINDOW = 16
MAX_NEURONS = 1 << 15  # a stream address is 15 bits (§2)
INPUT_SHAPE = (28, 28, 1)

_CONV = re.compile(r"^(\d+)c(\d+)(?:p(\d+))?$")
_POOL = re.compile(r"^p(\d+)$")
_FC = re.compile(r"^(\d+)$")


class ArchError(ValueError):
    """An architecture string or manifest entry that cannot describe a chip network."""


def parse_arch(text: str, input_shape: tuple[int, int, int] = INPUT_SHAPE
               ) -> list[dict[str, Any]]:
    """``--arch`` text → architecture entries without the output layer (ArchError if bad)."""
    spec = NAMED.get(text.strip().lower(), text)
    layers: list[dict[str, Any]] = []
    for raw in spec.split(",") if spec.strip() else []:
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
                            f"connected), e.g. {YIN_CNN} (docs/training.md)")
    if layers:
        check_arch(layers, input_shape, f"--arch {text!r}", output=False)
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


def with_output(arch: list[dict[str, Any]], classes: int = 10) -> list[dict[str, Any]]:
    """Architecture entries with the fc output layer of ``classes`` neurons appended."""
    return [*arch, {"type": "fc", "neurons": classes}]


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


def layer_names(arch: list[dict[str, Any]]) -> list[str]:
    """The core names of architecture entries (output layer included): conv1, pool1, fc1 …
    in order of each type, the last entry ``out``."""
    counts = {"conv": 0, "pool": 0, "fc": 0}
    names = []
    for entry in arch:
        counts[entry["type"]] += 1
        names.append(f"{entry['type']}{counts[entry['type']]}")
    names[-1] = "out"
    return names


def chip_layer(entry: dict[str, Any], name: str, source: str, in_shape: tuple[int, ...],
               out_shape: tuple[int, ...], core: Any, *, neuron: Any, weight: Any = None,
               threshold: Any, bias: Any, weight_bits: int = 1,
               membrane_bits: int | None = None) -> Any:
    """The :class:`~neurochip.description.Layer` of one architecture entry: its registered
    kind (:data:`KINDS`), sizes and geometry from the entry and the shapes; the numbers
    (weights, thresholds, bias, neuron model, membrane width) are the trainer's. A pool's
    membrane counts at most w·w spikes a step, so its width follows from the window."""
    from neurochip.description import Layer
    from neurochip.train.widths import saturating_bits

    kind = entry["type"]
    geometry: dict[str, Any] = {}
    if kind == "conv":
        k = entry["kernel"]
        geometry = {"in_shape": list(in_shape), "channels": entry["channels"], "kernel": [k, k],
                    "stride": 1, "pad": entry["pad"]}
    elif kind == "pool":
        win = entry["window"]
        geometry = {"in_shape": list(in_shape), "window": win, "stride": win,
                    "emit": "every_step"}
        membrane_bits = saturating_bits(win * win)
        weight = np.zeros((0, 0), np.int64)
    return Layer(name=name, kind=KINDS[kind], source=source, inputs=math.prod(in_shape),
                 neurons=math.prod(out_shape), weight_bits=weight_bits,
                 membrane_bits=membrane_bits, overflow="saturate", neuron=neuron, core=core,
                 weight=weight, threshold=threshold, bias=bias, geometry=geometry)

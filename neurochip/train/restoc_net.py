"""ReStoCNet's topology as a chip core description (docs/architecture.md §3, §5).

``input 28×28 → conv1 (C@k1, pad k1//2) → conv2 (C@k2) → … → convL`` with ±1 (1-bit)
kernels and LIF neurons (zero reset, shift leak, continuous), then, with ``residual``, an
``add`` core that sums convL's spikes with conv(L−2)'s (the identity shortcut of P-R6: same
padding, equal channel counts), then 2×2 unit-weight average pooling followed by IF
neurons (``pool``, θ = 3, subtract reset: it fires once per four input spikes, P-R7), then
the ``fc`` readout (int8 weights, subtract reset, no leak) whose spike counts decide;
with ``hidden`` > 0 an ``fc`` core of that many LIF neurons of the same kind (int8
weights, per-neuron threshold and per-step bias, subtract reset, no leak) sits between
the pool and the readout.

The add core's neurons combine the two paths per step: with gains +1 and θ = ``res_theta``
(default 0: it fires if either path spiked at that position in that step; 1: only if
both did) and discontinuous integration, the residual is summed into a fresh membrane
every step. The conv layer itself cannot have two sources on this chip (§5.2), so this is
the chip's form of "residual input summed with the direct input".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurochip.description.model import CoreDescription, CoreMapping, Encoder, Layer
from neurochip.neurons.lif import LifNeuron
from neurochip.train.widths import bits_for, saturating_bits

POOL_THETA = 3  # 2×2 unit weights: fires at the 4th input spike (average pooling + IF)
HIDDEN_LANES = 64  # lanes of the hidden fc core: K = ⌈H / 64⌉ weight words per event


@dataclass(frozen=True)
class Topology:
    """The sizes and neuron settings of a ReStoCNet (everything but learnt values)."""

    input_shape: tuple[int, int] = (28, 28)
    channels: int = 16
    kernels: tuple[int, ...] = (5, 3, 3)
    residual: bool = True
    res_theta: int = 0
    time_steps: int = 16
    leak_shift: int = 5
    membrane_bits: int = 12
    pool: int = 2
    classes: int = 10
    encoder: str = "bernoulli_lfsr"
    encoder_seed: int = 1
    lanes: int = 16
    hidden: int = 0
    fifo_depth: int = 64
    clock_hz: float = 1e8

    @property
    def conv_shape(self) -> tuple[int, int, int]:
        return (*self.input_shape, self.channels)

    @property
    def pool_shape(self) -> tuple[int, int, int]:
        h, w = self.input_shape
        return h // self.pool, w // self.pool, self.channels

    @property
    def features(self) -> int:
        return math.prod(self.pool_shape)

    def conv_in_channels(self, i: int) -> int:
        return 1 if i == 0 else self.channels

    def check(self) -> None:
        """ValueError naming the option when the topology cannot be built."""
        if any(k < 1 or k % 2 == 0 or k > 15 for k in self.kernels):
            raise ValueError(f"--kernels {self.kernels}: use odd kernel sizes 1 … 15 (same "
                             "padding)")
        if self.residual and len(self.kernels) < 3:
            raise ValueError("--residual needs at least 3 conv layers (--kernels k1,k2,k3)")
        if math.prod(self.conv_shape) > 32768:
            raise ValueError(f"--channels {self.channels}: a conv map of "
                             f"{math.prod(self.conv_shape)} neurons exceeds the chip's 32768")
        if not 0 <= self.hidden <= 32768:
            raise ValueError(f"--hidden {self.hidden}: use 0 (no hidden layer) … 32768")
        if not 2 <= self.membrane_bits <= 32 or not 1 <= self.leak_shift < self.membrane_bits:
            raise ValueError("--membrane-bits must be 2..32 and --leak-shift 1..membrane_bits-1")


def conv_lif() -> LifNeuron:
    return LifNeuron(reset="zero", leak="shift", leak_amount=0, integration="continuous")


def conv_layers(top: Topology, kernels: list[np.ndarray], thetas: list[np.ndarray]
                ) -> list[Layer]:
    """The conv layers (trained kernels (C_in·k·k, C) ±1 and per-channel thresholds)."""
    layers, prev = [], "input"
    h, w = top.input_shape
    for i, (k, weight, theta) in enumerate(zip(top.kernels, kernels, thetas)):
        c_in = top.conv_in_channels(i)
        name = f"conv{i + 1}"
        layers.append(Layer(
            name=name, kind="conv2d", source=prev, inputs=h * w * c_in,
            neurons=math.prod(top.conv_shape), weight_bits=1, membrane_bits=top.membrane_bits,
            overflow="saturate",
            neuron=LifNeuron(reset="zero", leak="shift", leak_amount=top.leak_shift,
                             integration="continuous"),
            core=CoreMapping(index=i, lanes=min(top.lanes, top.channels),
                             fifo_depth=top.fifo_depth),
            weight=np.asarray(weight, np.int64), threshold=np.asarray(theta, np.int64),
            bias=np.zeros(top.channels, np.int64),
            geometry={"in_shape": [h, w, c_in], "channels": top.channels, "kernel": [k, k],
                      "stride": 1, "pad": k // 2}))
        prev = name
    return layers


Readout = tuple[np.ndarray, np.ndarray, np.ndarray]


def fc_membrane_bits(weight: np.ndarray, theta: np.ndarray | np.integer, bias: np.ndarray,
                     time_steps: int) -> int:
    """Membrane width of an fc core that holds θ plus T steps of its largest input and
    bias without saturating (at most 32)."""
    bound = int(np.max(theta)) + time_steps * int(
        np.max(np.abs(weight).sum(axis=0) + np.abs(bias)))
    return saturating_bits(bound)


def fc_layer(name: str, source: str, weight: np.ndarray, theta: np.ndarray | np.integer,
             bias: np.ndarray, time_steps: int, index: int, lanes: int, fifo_depth: int
             ) -> Layer:
    """An int8 ``fc`` core of IF neurons (subtract reset, no leak, continuous) whose
    membrane holds θ plus T steps of the largest input and bias without saturating."""
    n_in, n = weight.shape
    return Layer(
        name=name, kind="fc", source=source, inputs=n_in, neurons=n, weight_bits=8,
        membrane_bits=fc_membrane_bits(weight, theta, bias, time_steps), overflow="saturate",
        neuron=LifNeuron(reset="subtract", leak="none", leak_amount=0,
                         integration="continuous"),
        core=CoreMapping(index=index, lanes=min(lanes, n), fifo_depth=fifo_depth),
        weight=np.asarray(weight, np.int64),
        threshold=np.full(n, int(theta), np.int64) if np.ndim(theta) == 0
        else np.asarray(theta, np.int64),
        bias=np.asarray(bias, np.int64))


def tail_layers(top: Topology, first_index: int, readout: Readout | None,
                hidden: Readout | None = None) -> list[Layer]:
    """The residual add (if any), the pool, (given ``hidden`` = (W int, θ, b)) the hidden
    fc and (given ``readout`` = (W int, θ, b)) the output fc."""
    c = top.channels
    n_conv = len(top.kernels)
    last = f"conv{n_conv}"
    layers: list[Layer] = []
    index = first_index
    n = math.prod(top.conv_shape)
    if top.residual:
        # the FIFO of source 1 must hold one whole step of it (§7 deadlock rule)
        layers.append(Layer(
            name="res", kind="add", source=(last, f"conv{n_conv - 2}"), inputs=n, neurons=n,
            weight_bits=1, membrane_bits=3, overflow="saturate",
            neuron=LifNeuron(reset="zero", leak="none", leak_amount=0,
                             integration="discontinuous"),
            core=CoreMapping(index=index, lanes=min(top.lanes, c), fifo_depth=n + 1),
            weight=np.ones((2, c), np.int64), threshold=np.full(c, top.res_theta, np.int64),
            bias=np.zeros(c, np.int64), geometry={"in_shape": list(top.conv_shape)}))
        last, index = "res", index + 1
    layers.append(Layer(
        name="pool", kind="pool", source=last, inputs=n, neurons=top.features,
        weight_bits=1, membrane_bits=bits_for(POOL_THETA + top.pool ** 2), overflow="saturate",
        neuron=LifNeuron(reset="subtract", leak="none", leak_amount=0, integration="continuous"),
        core=CoreMapping(index=index, lanes=min(top.lanes, c), fifo_depth=top.fifo_depth),
        weight=np.zeros((0, 0), np.int64), threshold=np.full(c, POOL_THETA, np.int64),
        bias=np.zeros(c, np.int64),
        geometry={"in_shape": list(top.conv_shape), "window": top.pool, "stride": top.pool,
                  "emit": "every_step"}))
    src = "pool"
    if hidden is not None:
        index += 1
        layers.append(fc_layer("hid", "pool", *hidden, top.time_steps, index, HIDDEN_LANES,
                               top.fifo_depth))
        src = "hid"
    if readout is not None:
        layers.append(fc_layer("out", src, *readout, top.time_steps, index + 1, top.classes,
                               top.fifo_depth))
    return layers


def build(top: Topology, kernels: list[np.ndarray], thetas: list[np.ndarray],
          readout: Readout | None, name: str, provenance: dict | None = None,
          hidden: Readout | None = None) -> CoreDescription:
    """The whole description; without ``readout`` (and ``hidden``) it ends at the pool
    (feature extractor, for the trainer's own forward pass only)."""
    if (hidden is not None) != (top.hidden > 0) and readout is not None:
        raise ValueError(f"topology.hidden = {top.hidden} but hidden weights "
                         f"{'given' if hidden is not None else 'missing'}")
    layers = conv_layers(top, kernels, thetas)
    layers += tail_layers(top, len(layers), readout, hidden)
    T = top.time_steps
    return CoreDescription(
        name=name, input_shape=top.input_shape, encoder=Encoder(top.encoder, top.encoder_seed),
        time_steps=T, clock_hz=top.clock_hz, count_bits=max(1, T.bit_length()),
        layers=layers, provenance=provenance or {})

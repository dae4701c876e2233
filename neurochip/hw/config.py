"""Hardware view of a core description: per-core constants (K, lane enables, widths)
and the debug readback address map, shared by the generator, the testbenches and
``docs/rtl-interface.md`` so the three cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neurochip.counters import CORE_COUNTERS
from neurochip.description import CoreDescription, Layer
from neurochip.graph import Topology
from neurochip.neurons import get_model

ITEM_BITS = 16
EOS_BIT = 15
COUNTER_BITS = 48  # every §10 counter; read back as two 32-bit words (lo, hi)
DATA_BITS = 32  # debug readback data width

# debug address = {space[31:29], core[28:24], offset[23:0]}
SPACE_CHIP, SPACE_COUNTER, SPACE_MEMBRANE, SPACE_TRACE, SPACE_COUNT = range(5)
SPACE_STATE = 5  # declared state word i of the core's model in space 5 + i (§6.3), addressed
# like SPACE_MEMBRANE (ttfs: V in space 5); at most MAX_STATE_WORDS, so 5 + i <= 7
SPACE_SHIFT, CORE_SHIFT = 29, 24
OFFSET_BITS = 24
MAX_CORES = 32

# offsets in the chip space
CHIP_CYCLES, CHIP_HOST_PUSHES, CHIP_HOST_STALLS = 0, 2, 4  # lo word; hi at +1
CHIP_PREDICTION, CHIP_STATUS, CHIP_HASH, CHIP_LAYERS = 8, 9, 10, 11


def ceil_log2(n: int) -> int:
    """Bits needed to index ``n`` things (0 for a single thing)."""
    return max(0, (n - 1).bit_length())


def addr_bits(n: int) -> int:
    """Address width of a memory of depth ``n``; at least 1 so ports are never empty."""
    return max(1, ceil_log2(n))


# core counter space: counter j at offsets 2j (bits 31:0) and 2j+1 (bits 47:32)
WORDS_PER_COUNTER = -(-COUNTER_BITS // DATA_BITS)


def counter_select_bits(counters: int = len(CORE_COUNTERS)) -> int:
    """Offset bits that select a counter word in the core counter space (at least 1)."""
    return addr_bits(WORDS_PER_COUNTER * counters)


def check_counter_space(counters: int = len(CORE_COUNTERS)) -> None:
    """Refuse a counter table whose words the 24-bit offset cannot address."""
    if counter_select_bits(counters) > OFFSET_BITS:
        raise ValueError(f"{counters} core counters need {WORDS_PER_COUNTER * counters} "
                         f"readback words, more than the {1 << OFFSET_BITS} of the address map")


check_counter_space()


@dataclass(frozen=True)
class CoreConfig:
    """Constants of one core (§3), derived once from its layer. ``kind`` selects the
    sequencer (``neurochip.hw.kinds``), ``model`` the neuron unit (``neurochip.hw.neurons``),
    which reads its settings from ``neuron`` (the layer's model settings, e.g. ``LifNeuron``)."""

    index: int
    name: str
    kind: str
    model: str
    neuron: Any
    inputs: int
    neurons: int
    lanes: int
    words: int
    weight_bits: int
    membrane_bits: int
    param_bits: int  # bits of one neuron's param word (one lane of a param-memory word)
    saturate: bool
    fifo_depth: int
    is_output: bool
    time_steps: int
    channels: int = 0  # C: neurons per output position (fc: N)
    positions: int = 1  # P: output positions (fc: 1)
    wpp: int = 0  # K_c = ceil(C / L): lane words per position (fc: K)
    sources: int = 1  # input FIFOs, drained in this order (§4)
    geometry: tuple[tuple[str, Any], ...] = ()  # the kind's fields (lists as tuples)
    in_shape: tuple[int, int, int] = (1, 1, 1)  # (H, W, C) of the input stream(s)
    out_shape: tuple[int, int, int] = (1, 1, 1)  # (H, W, C) of the output stream

    def __post_init__(self):
        if not self.channels:  # a bare fc config: one position of N channels
            object.__setattr__(self, "channels", self.neurons)
            object.__setattr__(self, "wpp", self.words)
            object.__setattr__(self, "out_shape", (1, 1, self.neurons))

    @classmethod
    def from_layer(cls, lay: Layer, index: int, is_output: bool, time_steps: int,
                   in_shape: tuple[int, int, int] | None = None) -> "CoreConfig":
        from neurochip.kinds import get_kind

        kind = get_kind(lay.kind)
        geometry = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                for k, v in lay.geometry.items()))
        if in_shape is None:
            in_shape = (tuple(lay.geometry["in_shape"]) if "in_shape" in lay.geometry
                        else (1, 1, lay.inputs))
        return cls(index=index, name=lay.name, kind=lay.kind, model=lay.neuron.model,
                   neuron=lay.neuron, inputs=lay.inputs, neurons=lay.neurons,
                   lanes=lay.core.lanes, words=lay.words, weight_bits=lay.weight_bits,
                   membrane_bits=lay.membrane_bits,
                   param_bits=get_model(lay.neuron.model).param_word_bits(lay),
                   saturate=lay.overflow == "saturate", fifo_depth=lay.core.fifo_depth,
                   is_output=is_output, time_steps=time_steps,
                   channels=kind.channels(lay), positions=kind.positions(lay),
                   wpp=kind.words_per_position(lay), sources=len(lay.sources),
                   geometry=geometry, in_shape=tuple(in_shape),
                   out_shape=tuple(kind.output_shape(lay)))

    def geo(self, key: str) -> Any:
        """A field of the kind's geometry (``in_shape``, ``kernel``, ``stride``, …)."""
        return dict(self.geometry)[key]

    def enabled_lanes(self, word: int) -> int:
        """Lanes of word ``word`` (a group g or a word k of a position: only k = g mod K_c
        matters) that hold a real channel: only the last word of a position may be partial."""
        k = word % self.wpp
        return min(self.lanes, self.channels - k * self.lanes)

    def lane_mask(self, word: int) -> int:
        return (1 << self.enabled_lanes(word)) - 1

    def neuron_word(self, neuron: int) -> tuple[int, int]:
        """(word g, lane) of neuron n = pos·C + ch: g = pos·K_c + ch div L, lane ch mod L (§3)."""
        pos, ch = divmod(neuron, self.channels)
        k, lane = divmod(ch, self.lanes)
        return pos * self.wpp + k, lane

    def word_neuron(self, word: int, lane: int) -> int:
        """Neuron n of lane ``lane`` of word g (−1 for a disabled lane)."""
        pos, k = divmod(word, self.wpp)
        ch = k * self.lanes + lane
        return pos * self.channels + ch if ch < self.channels else -1

    @property
    def weight_width(self) -> int:
        """Bits of a weight word: one weight per lane."""
        return self.lanes * self.weight_bits

    @property
    def membrane_width(self) -> int:
        return self.lanes * self.membrane_bits

    @property
    def param_width(self) -> int:
        """Bits of a param word (one per channel word k = g mod K_c; lif: L·2B)."""
        return self.lanes * self.param_bits

    @property
    def param_words(self) -> int:
        """Words of the param memory: K_c, one per channel word (parameters are per channel)."""
        return self.wpp

    @property
    def weight_file(self) -> str:
        """``$readmemh`` image of the weight memory, next to the Verilog."""
        return f"{self.name}_weights.hex"

    @property
    def param_file(self) -> str:
        """``$readmemh`` image of the param memory (the param words)."""
        return f"{self.name}_params.hex"

    @property
    def lane_bits(self) -> int:
        """Width of the lane field in membrane readback offsets."""
        return ceil_log2(self.lanes)

    @property
    def trace_depth(self) -> int:
        """Rows of the spike-trace bitmap: one per (time step, group)."""
        return self.time_steps * self.words

    @property
    def trace_slices(self) -> int:
        """32-bit slices per trace row."""
        return -(-self.lanes // DATA_BITS)

    @property
    def slice_bits(self) -> int:
        return ceil_log2(self.trace_slices)


@dataclass(frozen=True)
class ChipConfig:
    """The whole chip: cores in layer order, the FIFO table and readout constants."""

    name: str
    content_hash: str
    cores: tuple[CoreConfig, ...]
    topology: Topology
    time_steps: int
    count_bits: int
    input_size: int

    @classmethod
    def from_description(cls, desc: CoreDescription) -> "ChipConfig":
        topo = Topology.from_description(desc)
        cores = tuple(CoreConfig.from_layer(lay, i, i == topo.output_core, desc.time_steps,
                                            topo.input_shapes(i)[0][1])
                      for i, lay in enumerate(desc.layers))
        cfg = cls(name=desc.name, content_hash=desc.content_hash(), cores=cores,
                  topology=topo, time_steps=desc.time_steps, count_bits=desc.count_bits,
                  input_size=desc.input_size)
        cfg.check()
        return cfg

    @property
    def output(self) -> CoreConfig:
        return self.cores[self.topology.output_core]

    @property
    def classes(self) -> int:
        return self.output.neurons

    @property
    def hash32(self) -> int:
        """First 32 bits of the content hash: the chip's ID register."""
        return int(self.content_hash[:8], 16)

    def check(self) -> None:
        """Refuse configurations whose readback would not fit the 32-bit address map."""
        if len(self.cores) > MAX_CORES:
            raise ValueError(f"{len(self.cores)} layers; the readback map addresses at most "
                             f"{MAX_CORES} cores")
        check_counter_space()
        for c in self.cores:
            for what, span in (("membrane", c.words << c.lane_bits),
                               ("spike trace", c.trace_depth << c.slice_bits),
                               ("counts", c.neurons)):
                if span > 1 << OFFSET_BITS:
                    raise ValueError(f"layer {c.name}: {what} readback needs {span} words, "
                                     f"more than the {1 << OFFSET_BITS} of the address map")


def address(space: int, core: int, offset: int) -> int:
    """A debug readback address (see docs/rtl-interface.md, "Debug readback")."""
    return (space << SPACE_SHIFT) | (core << CORE_SHIFT) | offset


def membrane_address(core: CoreConfig, neuron: int) -> int:
    """Neuron n = pos·C + ch lives in word pos·K_c + ch div L, lane ch mod L (§3)."""
    word, lane = core.neuron_word(neuron)
    return address(SPACE_MEMBRANE, core.index, (word << core.lane_bits) | lane)


def state_address(core: CoreConfig, index: int, neuron: int) -> int:
    """State word ``index`` of the core's model (§6.3) of neuron n: the word and lane of its
    membrane, in space SPACE_STATE + index."""
    word, lane = core.neuron_word(neuron)
    return address(SPACE_STATE + index, core.index, (word << core.lane_bits) | lane)


def trace_address(core: CoreConfig, step: int, word: int, slice_: int) -> int:
    row = step * core.words + word
    return address(SPACE_TRACE, core.index, (row << core.slice_bits) | slice_)

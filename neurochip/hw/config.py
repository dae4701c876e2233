"""Hardware view of a core description: per-core constants (K, lane enables, widths)
and the debug readback address map, shared by the generator, the testbenches and
``docs/rtl-interface.md`` so the three cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass

from neurochip.description import CoreDescription, Layer

ITEM_BITS = 16
EOS_BIT = 15
COUNTER_BITS = 48  # every §10 counter; read back as two 32-bit words (lo, hi)
DATA_BITS = 32  # debug readback data width

# debug address = {space[31:29], core[28:24], offset[23:0]}
SPACE_CHIP, SPACE_COUNTER, SPACE_MEMBRANE, SPACE_TRACE, SPACE_COUNT = range(5)
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


@dataclass(frozen=True)
class CoreConfig:
    """Constants of one core (§3), derived once from its layer."""

    index: int
    name: str
    inputs: int
    neurons: int
    lanes: int
    words: int
    weight_bits: int
    membrane_bits: int
    saturate: bool
    reset: str
    leak: str
    leak_amount: int
    discontinuous: bool
    fifo_depth: int
    is_output: bool
    time_steps: int

    @classmethod
    def from_layer(cls, lay: Layer, index: int, is_output: bool, time_steps: int) -> "CoreConfig":
        p = lay.neuron
        return cls(index=index, name=lay.name, inputs=lay.inputs, neurons=lay.neurons,
                   lanes=lay.core.lanes, words=lay.words, weight_bits=lay.weight_bits,
                   membrane_bits=lay.membrane_bits, saturate=lay.overflow == "saturate",
                   reset=p.reset, leak=p.leak, leak_amount=p.leak_amount,
                   discontinuous=p.integration == "discontinuous",
                   fifo_depth=lay.core.fifo_depth, is_output=is_output,
                   time_steps=time_steps)

    def enabled_lanes(self, word: int) -> int:
        """Lanes of word ``word`` that hold a real neuron (only the last may be partial)."""
        return min(self.lanes, self.neurons - word * self.lanes)

    def lane_mask(self, word: int) -> int:
        return (1 << self.enabled_lanes(word)) - 1

    @property
    def weight_depth(self) -> int:
        return self.inputs * self.words

    @property
    def weight_width(self) -> int:
        return self.lanes * self.weight_bits

    @property
    def membrane_width(self) -> int:
        return self.lanes * self.membrane_bits

    @property
    def param_width(self) -> int:
        return self.lanes * 2 * self.membrane_bits

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
    """The whole chip: cores in chain order plus readout constants."""

    name: str
    content_hash: str
    cores: tuple[CoreConfig, ...]
    time_steps: int
    count_bits: int
    input_size: int

    @classmethod
    def from_description(cls, desc: CoreDescription) -> "ChipConfig":
        n = len(desc.layers)
        cores = tuple(CoreConfig.from_layer(lay, i, i == n - 1, desc.time_steps)
                      for i, lay in enumerate(desc.layers))
        cfg = cls(name=desc.name, content_hash=desc.content_hash(), cores=cores,
                  time_steps=desc.time_steps, count_bits=desc.count_bits,
                  input_size=desc.input_size)
        cfg.check()
        return cfg

    @property
    def output(self) -> CoreConfig:
        return self.cores[-1]

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
    k, lane = divmod(neuron, core.lanes)
    return address(SPACE_MEMBRANE, core.index, (k << core.lane_bits) | lane)


def trace_address(core: CoreConfig, step: int, word: int, slice_: int) -> int:
    row = step * core.words + word
    return address(SPACE_TRACE, core.index, (row << core.slice_bits) | slice_)

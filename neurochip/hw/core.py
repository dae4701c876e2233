"""A core = the shell (``neurochip.hw.shell``) + its layer kind's sequencer
(``neurochip.hw.kinds``) + its neuron model's unit (``neurochip.hw.neurons``), looked up
by name; and the memories and ``$readmemh`` images of a core, for ``neurochip rtl``."""

from __future__ import annotations

from neurochip.description import Layer
from neurochip.hw.config import CoreConfig
from neurochip.hw.kinds import sequencer, weight_image
from neurochip.hw.memory import MemoryShape
from neurochip.hw.neurons import PARAM_IMAGES, neuron_unit
from neurochip.hw.pack import as_ints
from neurochip.hw.shell import CoreShell, shell_memories


def core_images(lay: Layer, cfg: CoreConfig) -> dict[str, list[str]]:
    """The read-only memories' images as hex words, by file name (no weight image for a
    kind without weight memory)."""
    weights = weight_image(lay, cfg)
    images = {} if weights is None else {cfg.weight_file: weights}
    images[cfg.param_file] = PARAM_IMAGES[cfg.model](lay, cfg)
    return images


def core_memories(cfg: CoreConfig) -> list[MemoryShape]:
    """Every memory a core instantiates: the sequencer's weights (if any), then the shell's."""
    weights = sequencer(cfg.kind).weight_shape(cfg)
    return [*([] if weights is None else [weights]), *shell_memories(cfg).values()]


def build_core(cfg: CoreConfig, lay: Layer, count_bits: int, blackbox: bool,
               inputs: int = 1, outputs: int = 1) -> CoreShell:
    """The core of layer ``lay``. With ``blackbox`` the memories load their images from
    files (Verilog); otherwise they are initialised here (Amaranth simulation)."""
    CoreShell.check_streams(cfg, inputs, outputs)
    weights = [] if blackbox else as_ints(weight_image(lay, cfg) or [])
    param_words = [] if blackbox else as_ints(PARAM_IMAGES[cfg.model](lay, cfg))
    seq = sequencer(cfg.kind)(cfg, weights, blackbox)
    unit = neuron_unit(cfg.model).for_core(cfg)
    return CoreShell(cfg, count_bits, seq, unit, param_words, blackbox, inputs, outputs)

"""The event counters of §10: one table that the simulator, the reference, the RTL, the
readback, the energy model and the docs all read (LiteX's declared CSRs).

Each counter names the technology-table entry its event costs and how many bits one event
moves (a function of the layer); ``energy_report`` is a loop over this table, the RTL
readback width follows from its length, and ``make docs`` renders the §10 and energy
tables from it. Every core has the same (superset) counter vector: a kind that never has
an event leaves its counter 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

FIFO_ITEM_BITS = 16  # §2


def _lanes_w(lay) -> int:
    return lay.core.lanes * lay.weight_bits


def _lanes_b(lay) -> int:
    return lay.core.lanes * lay.membrane_bits


def _b(lay) -> int:
    return lay.membrane_bits


def _param_word(lay) -> int:
    from neurochip.neurons import get_model

    return lay.core.lanes * get_model(lay.neuron.model).param_word_bits(lay)


def _item(lay) -> int:
    return FIFO_ITEM_BITS


def _one(lay) -> int:
    return 1


def _lanes(lay) -> int:
    return lay.core.lanes


@dataclass(frozen=True)
class Counter:
    """One §10 counter. ``energy`` is the technology-table key of one event's energy per
    bit (or per event when ``bits`` is 1), ``bucket`` the energy-report component."""

    name: str
    doc: str
    section: str = "§10"
    energy: str | None = None
    bits: Callable | None = None  # layer -> bits per event (None: no energy)
    bits_text: str = ""  # the same in words, for the docs
    bucket: str | None = None


CORE_TABLE: tuple[Counter, ...] = (
    Counter("pops", "items popped from the core's input FIFOs (events and tokens)", "§7, §10",
            "fifo_access_per_bit", _item, "16", "fifo"),
    Counter("pushes", "items pushed downstream (spikes + tokens); 0 for the output core",
            "§7, §10", "fifo_access_per_bit", _item, "16", "fifo"),
    Counter("weight_word_reads", "weight-memory words read (K per fc event)", "§5, §8",
            "weight_sram_read_per_bit", _lanes_w, "L·w", "weight_sram"),
    Counter("synaptic_ops", "lane adds of enabled lanes, per event: fc N; conv2d C_out per "
            "touched position; pool 1 per touched window; add 1", "§5, §8",
            "add_per_bit", _b, "B", "accumulate"),
    Counter("membrane_word_reads", "membrane words read (K per event; K·(1 + the model's "
            "state words) per token: ttfs and lif_refractory 2K)", "§5, §6, §6.3",
            "membrane_read_per_bit", _lanes_b, "L·B", "membrane"),
    Counter("membrane_word_writes", "membrane words written (K per event; K·(1 + the model's "
            "state words) per token: ttfs and lif_refractory 2K)", "§5, §6, §6.3", "membrane_write_per_bit", _lanes_b, "L·B", "membrane"),
    Counter("param_word_reads", "parameter-memory words read (K per token)", "§6",
            "param_read_per_bit", _param_word, "L · parameter-word bits (lif: 2B, ttfs: B)", "neuron_update"),
    Counter("neuron_updates", "enabled neurons updated (N per token)", "§6",
            "neuron_update_per_bit", _b, "B", "neuron_update"),
    Counter("spikes", "neurons that fired and went out (a pool with emit = once and a model "
            "that emits once, ttfs, count only a neuron's first)", "§6, §5.3, §6.3"),
    Counter("busy_cycles", "pop, accumulation, update and accepted push cycles", "§8",
            "core_busy_cycle", _one, "1 (per cycle)", "clock_control"),
    Counter("stall_cycles", "cycles a push waited on a full FIFO", "§7, §8",
            "core_busy_cycle", _one, "1 (per cycle)", "clock_control"),
    Counter("idle_cycles", "cycles the core waited on an empty FIFO", "§7, §8",
            "core_waiting_cycle", _one, "1 (per cycle)", "clock_control"),
    Counter("address_steps", "output positions the address generator visited (conv2d, pool: "
            "one per touched position)", "§5.2, §5.3", "address_step", _one,
            "1 (per position)", "address_generation"),
    Counter("bitmap_reads", "sent-bitmap words read (pool with emit = once, a model that emits "
            "once: K per token)", "§5.3, §6.3", "bitmap_read_per_bit", _lanes, "L", "neuron_update"),
    Counter("bitmap_writes", "sent-bitmap words written (pool with emit = once, a model that "
            "emits once: K per token)", "§5.3, §6.3", "bitmap_write_per_bit", _lanes, "L", "neuron_update"),
)

CHIP_TABLE: tuple[Counter, ...] = (
    Counter("cycles", "cycles_per_image: cycles 0 … done−1 of the image", "§8, §10",
            bucket="static"),
    Counter("host_pushes", "items the host pushed into the input FIFO (events + T tokens)",
            "§8, §10", "fifo_access_per_bit", _item, "16", "fifo"),
    Counter("host_stall_cycles", "cycles the host's push was refused by a full input FIFO",
            "§7, §8"),
)

CORE_COUNTERS: tuple[str, ...] = tuple(c.name for c in CORE_TABLE)
CHIP_COUNTERS: tuple[str, ...] = tuple(c.name for c in CHIP_TABLE)

CORE = {name: i for i, name in enumerate(CORE_COUNTERS)}
CHIP = {name: i for i, name in enumerate(CHIP_COUNTERS)}

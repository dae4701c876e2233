"""What the core shell expects of a neuron model's unit (§6): one group of L neurons
updated in one cycle from their membranes and param words."""

from __future__ import annotations

from amaranth import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurochip.hw.config import CoreConfig
from neurochip.neurons import get_model


def unit_signature(lanes: int, membrane_bits: int, param_bits: int) -> wiring.Signature:
    return wiring.Signature({
        "membrane": In(lanes * membrane_bits), "param_word": In(lanes * param_bits),
        "enable": In(lanes), "result": Out(lanes * membrane_bits), "fire": Out(lanes),
    })


def decode_param_word(model: str, lane_word: Value, membrane_bits: int) -> dict[str, Value]:
    """One lane of a param word split into the model's ``param_fields``: field i is the
    signed B-bit value at bits [i·B, (i+1)·B) (the layout ``neurochip.hw.pack.param_hex``
    writes)."""
    names = get_model(model).param_fields
    B = membrane_bits
    return {name: lane_word[i * B:(i + 1) * B].as_signed() for i, name in enumerate(names)}


class NeuronUnit(wiring.Component):
    """A neuron model's update unit, purely combinational. Ports (L lanes):

    * ``membrane`` (in, L·B): the group's membrane word;
    * ``param_word`` (in, L·P): the group's param word, lane l at bits [l·P, (l+1)·P);
    * ``enable`` (in, L): lanes holding a real neuron;
    * ``result`` (out, L·B): the new membrane word (disabled lanes 0);
    * ``fire`` (out, L): the lanes that spike (never a disabled lane).
    """

    model: str = ""
    second_register = False  # also has ``potential`` / ``potential_result`` ports (§6.1)

    def __init__(self, lanes: int, membrane_bits: int, param_bits: int):
        self.lanes, self.membrane_bits, self.param_bits = lanes, membrane_bits, param_bits
        super().__init__(unit_signature(lanes, membrane_bits, param_bits))

    @classmethod
    def for_core(cls, cfg: CoreConfig) -> "NeuronUnit":
        """The unit of a core, its settings read from ``cfg.neuron``."""
        raise NotImplementedError

"""What the core shell expects of a neuron model's unit (§6): one group of L neurons
updated in one cycle from their membranes, param words and declared state words (§6.3)."""

from __future__ import annotations

from typing import Any

from amaranth import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurochip.hw.config import CoreConfig
from neurochip.neurons import get_model


def state_ports(model: str, membrane_bits: int, settings: Any = None) -> dict[str, int]:
    """The model's declared state words (§6.3) as {name: bits of one lane}."""
    return {w.name: w.width(membrane_bits, settings) for w in get_model(model).state_words}


def result_port(name: str) -> str:
    """The unit's output port of state word ``name``: its new word."""
    return f"{name}_result"


def unit_signature(lanes: int, membrane_bits: int, param_bits: int,
                   state: dict[str, int] | None = None) -> wiring.Signature:
    members = {"membrane": In(lanes * membrane_bits), "param_word": In(lanes * param_bits),
               "enable": In(lanes), "result": Out(lanes * membrane_bits), "fire": Out(lanes)}
    for name, bits in (state or {}).items():
        members[name] = In(lanes * bits)
        members[result_port(name)] = Out(lanes * bits)
    return wiring.Signature(members)


def decode_param_word(model: str, lane_word: Value, membrane_bits: int) -> dict[str, Value]:
    """One lane of a param word split into the model's ``param_fields``: field i is the
    signed B-bit value at bits [i·B, (i+1)·B) (the layout ``neurochip.hw.pack.param_hex``
    writes)."""
    names = get_model(model).param_fields
    B = membrane_bits
    return {name: lane_word[i * B:(i + 1) * B].as_signed() for i, name in enumerate(names)}


class NeuronUnit(wiring.Component):
    """A neuron model's update unit, purely combinational (a model may add registers of
    its own, as bistable's phase counter). Ports (L lanes):

    * ``membrane`` (in, L·B): the group's membrane word;
    * ``param_word`` (in, L·P): the group's param word, lane l at bits [l·P, (l+1)·P);
    * ``enable`` (in, L): lanes holding a real neuron;
    * ``result`` (out, L·B): the new membrane word (disabled lanes 0);
    * ``fire`` (out, L): the lanes that spike (never a disabled lane);
    * per declared state word ``w`` of width b (§6.3): ``w`` (in, L·b), the group's word,
      and ``w_result`` (out, L·b), the new word (disabled lanes 0).
    """

    model: str = ""

    def __init__(self, lanes: int, membrane_bits: int, param_bits: int, settings: Any = None,
                 extra: dict | None = None):
        self.lanes, self.membrane_bits, self.param_bits = lanes, membrane_bits, param_bits
        self.state_bits = state_ports(self.model, membrane_bits, settings)
        sig = unit_signature(lanes, membrane_bits, param_bits, self.state_bits)
        super().__init__(wiring.Signature({**sig.members, **(extra or {})}))

    @classmethod
    def for_core(cls, cfg: CoreConfig) -> "NeuronUnit":
        """The unit of a core, its settings read from ``cfg.neuron``."""
        raise NotImplementedError

"""What a layer keeps per neuron, from its kind and its model's declaration (§6.3): read by
the reference, the simulator's packer and the energy model (the RTL shell asks the same
of its core config)."""

from __future__ import annotations

from neurochip.neurons import get_model


def kind_keeps_sent(layer) -> bool:
    """A pool with emit = once keeps the sent bitmap for its kind (§5.3)."""
    return layer.kind == "pool" and layer.geometry.get("emit") == "once"


def keeps_sent_bitmap(layer) -> bool:
    """The core keeps a sent / fired bit per neuron: for its kind, or because its model
    emits once (§5.3, §6.3); one bitmap serves both."""
    return kind_keeps_sent(layer) or get_model(layer.neuron.model).emits_once


def fired_bits(layer) -> int:
    """Bits of the sent bitmap the model adds to the core (K·L), none where the kind keeps
    one already or the model emits every step: its static memory (docs/energy.md)."""
    model = get_model(layer.neuron.model)
    return layer.words * layer.core.lanes if model.emits_once and not kind_keeps_sent(layer) else 0

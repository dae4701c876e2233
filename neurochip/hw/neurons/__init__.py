"""RTL backends of the neuron models (``neurochip.neurons``), registered against the
model's name: the neuron unit the core shell instantiates and the packer of the param
words (``neurochip rtl``'s param-memory image; the Amaranth simulation loads it too).
Both read the model's ``param_fields`` declaration for the param-word layout."""

from __future__ import annotations

from typing import Callable

from neurochip.description import Layer
from neurochip.hw.config import CoreConfig
from neurochip.hw.neurons import bistable, lif, lif_refractory, ttfs
from neurochip.hw.neurons.base import NeuronUnit
from neurochip.hw.pack import param_hex

NEURON_UNITS: dict[str, type[NeuronUnit]] = {"lif": lif.NeuronUpdate, "ttfs": ttfs.TtfsUpdate,
                                              "bistable": bistable.BistableUpdate,
                                              "lif_refractory": lif_refractory.LifRefractoryUpdate}
PARAM_IMAGES: dict[str, Callable[[Layer, CoreConfig], list[str]]] = {
    "lif": param_hex, "ttfs": param_hex, "bistable": param_hex, "lif_refractory": param_hex}


def neuron_unit(model: str) -> type[NeuronUnit]:
    try:
        return NEURON_UNITS[model]
    except KeyError:
        raise NotImplementedError(f"neuron model {model!r} has no RTL neuron unit; this "
                                  f"generator knows {sorted(NEURON_UNITS)}") from None

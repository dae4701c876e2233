"""Registry of neuron models (the ``neuron.model`` axis of a layer; §6, §12).

Each model has one definition module; backends (reference, Numba, RTL, readback, bench
peers) register their implementation against the model's ``name``, and
``tests/test_registry_complete.py`` fails, naming model and backend, when one is missing."""

from __future__ import annotations

from neurochip.neurons import bistable, lif, ttfs
from neurochip.neurons.base import NeuronModel, unknown

MODELS: dict[str, NeuronModel] = {m.name: m for m in (lif.MODEL, ttfs.MODEL, bistable.MODEL)}


def get_model(name: str) -> NeuronModel:
    try:
        return MODELS[name]
    except KeyError:
        raise unknown("neuron model", name, sorted(MODELS)) from None

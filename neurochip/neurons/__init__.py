"""Registry of neuron models (the ``neuron.model`` axis of a layer; §6, §12).

Each model has one definition module; backends (reference, Numba, RTL, readback, bench
peers) register their implementation against the model's ``name``, and
``tests/test_registry_complete.py`` fails, naming model and backend, when one is missing."""

from __future__ import annotations

from neurochip.neurons import bistable, lif, lif_refractory, ttfs
from neurochip.neurons.base import NeuronModel, StateWord, unknown

MODELS: dict[str, NeuronModel] = {m.name: m for m in (lif.MODEL, ttfs.MODEL, bistable.MODEL,
                                                       lif_refractory.MODEL)}


def get_model(name: str) -> NeuronModel:
    try:
        return MODELS[name]
    except KeyError:
        raise unknown("neuron model", name, sorted(MODELS)) from None


def state_fields() -> tuple[StateWord, ...]:
    """Every state word some model declares, once each, in registration order: the
    ``Observation`` fields beyond the accumulation register (a layer whose model lacks a
    word reads 0 there). Models that share a name share its meaning (checked by a test)."""
    out: dict[str, StateWord] = {}
    for model in MODELS.values():
        for word in model.state_words:
            out.setdefault(word.name, word)
    return tuple(out.values())

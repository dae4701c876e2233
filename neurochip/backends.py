"""Where every backend registers its implementation of each layer kind and neuron model.

A backend keeps two tables (dicts keyed by kind name and by model name) in its own
module; this list says where they are. ``tests/test_registry_complete.py`` fails, naming
the kind or model and the backend, when an entry is missing, and ``neurochip kinds`` shows
the matrix. An entry may also be an explicit :class:`NotExpressible` (a peer that cannot
run a model says why instead of being silently incomplete)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class NotExpressible:
    """A backend's declared "cannot do this", with the reason shown to users."""

    reason: str


@dataclass(frozen=True)
class Backend:
    name: str
    doc: str
    kinds: str  # "module:attribute" of its table keyed by kind name
    models: str  # same, keyed by neuron-model name
    optional: bool = False  # lives outside the installed package or needs an extra


BACKENDS: tuple[Backend, ...] = (
    Backend("reference", "golden NumPy model (neurochip.golden.reference)",
            "neurochip.golden.reference:KINDS", "neurochip.golden.reference:MODELS"),
    Backend("numba", "cycle-accurate simulator: kernel codes and packers (neurochip.sim.pack)",
            "neurochip.sim.pack:KIND_PACKERS", "neurochip.sim.pack:MODEL_PACKERS"),
    Backend("energy", "energy model: counters and memories (neurochip.energy.model)",
            "neurochip.energy.model:KIND_ENERGY", "neurochip.energy.model:MODEL_ENERGY"),
    Backend("rtl", "Amaranth hardware: sequencer / neuron unit (neurochip.hw)",
            "neurochip.hw.kinds:SEQUENCERS", "neurochip.hw.neurons:NEURON_UNITS"),
    Backend("readback", "verification readback of observable state (neurochip.verify.readback)",
            "neurochip.verify.readback:KIND_READBACK", "neurochip.verify.readback:MODEL_READBACK"),
    Backend("nir", "NIR export/import entries (neurochip.interchange; the 'nir' extra)",
            "neurochip.interchange.nir_kinds:KIND_NIR",
            "neurochip.interchange.nir_neurons:MODEL_NIR"),
    Backend("snntorch", "benchmark peer (bench/peers/snntorch_peer.py)",
            "bench.peers.snntorch_peer:KIND_LAYERS", "bench.peers.snntorch_peer:NEURON_MODELS",
            optional=True),
    Backend("brian2", "benchmark peer (bench/peers/brian2_peer.py)",
            "bench.peers.brian2_peer:KIND_SYNAPSES", "bench.peers.brian2_peer:NEURON_MODELS",
            optional=True),
)


def table(spec: str) -> dict:
    """Import ``module:attribute`` and return the table."""
    module, attr = spec.split(":")
    return getattr(importlib.import_module(module), attr)


def support(backend: Backend) -> tuple[dict, dict] | str:
    """(kinds table, models table) of ``backend``, or why it cannot be loaded here."""
    try:
        return table(backend.kinds), table(backend.models)
    except ImportError as exc:
        return f"not importable here ({exc.name or exc})"
    except AttributeError as exc:  # the module exists but does not declare the table (yet)
        return f"table not declared ({exc})"


def status(entry) -> str:
    """'yes' for an implementation, 'no: reason' for a declared NotExpressible (or a peer's
    duck-typed equivalent with a ``reason``: peers import no neurochip)."""
    reason = getattr(entry, "reason", None)
    return f"no: {reason}" if reason is not None else "yes"

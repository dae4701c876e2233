"""Every registered layer kind and neuron model has an entry in every backend, and the
Numba kernel's literal codes equal the registries' (hls4ml: a layer a backend does not
implement fails a test by name, never as a KeyError in the middle of a run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from neurochip.backends import BACKENDS, NotExpressible, support
from neurochip.counters import CORE_TABLE
from neurochip.kinds import KINDS
from neurochip.neurons import MODELS

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the bench peers live outside the package


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_every_kind_and_model_has_an_entry_in_every_backend(backend):
    tables = support(backend)
    assert not isinstance(tables, str), f"backend {backend.name}: {tables}"
    kinds, models = tables
    missing = [f"layer kind {k!r}" for k in KINDS if k not in kinds]
    missing += [f"neuron model {m!r}" for m in MODELS if m not in models]
    assert not missing, f"backend {backend.name} has no entry for {', '.join(missing)}"
    unknown = sorted(set(kinds) - set(KINDS)) + sorted(set(models) - set(MODELS))
    assert not unknown, f"backend {backend.name} registers unknown names {unknown}"
    for name, entry in {**kinds, **models}.items():
        if isinstance(entry, NotExpressible):
            assert entry.reason, f"backend {backend.name}: {name} is NotExpressible without a reason"


def test_kernel_codes_equal_the_registries():
    from neurochip.sim import kernel
    from neurochip.sim.pack import KIND_PACKERS, MODEL_PACKERS

    for name, kind in KINDS.items():
        assert getattr(kernel, f"KIND_{name.upper()}") == kind.code, f"kind {name}"
        assert KIND_PACKERS[name][0] == kind.code, f"kind {name}"
    for name, model in MODELS.items():
        assert getattr(kernel, f"MODEL_{name.upper()}") == model.code, f"model {name}"
        assert MODEL_PACKERS[name][0] == model.code, f"model {name}"
    assert len({k.code for k in KINDS.values()}) == len(KINDS)
    assert len({m.code for m in MODELS.values()}) == len(MODELS)


def test_energy_covers_every_counter_a_kind_or_model_bumps():
    from neurochip.energy.model import KIND_ENERGY, MODEL_ENERGY, STATIC_KEYS
    from neurochip.random_networks import random_description

    costed = {c.name for c in CORE_TABLE if c.energy} | {"spikes"}  # a spike itself is free
    for name, entry in {**KIND_ENERGY, **MODEL_ENERGY}.items():
        assert set(entry.counters) <= costed, f"{name}: {set(entry.counters) - costed} have no energy"
    for name, kind in KINDS.items():
        lay = next(lay for s in range(50) for lay in random_description(s).layers if lay.kind == name)
        for memory in kind.memory_bits(lay):
            assert memory in KIND_ENERGY[name].memories, f"kind {name}: memory {memory} has no static entry"
            assert KIND_ENERGY[name].memories[memory] in STATIC_KEYS


def test_every_kind_and_model_documents_itself():
    for reg in (KINDS, MODELS):
        for name, entry in reg.items():
            assert entry.name == name and entry.doc and entry.section.startswith("§")
            for f in entry.fields:
                assert f.doc and f.values_text(), f"{name}.{f.path}"


def test_readback_reads_every_observable_a_model_declares():
    from neurochip.random_networks import random_description
    from neurochip.verify.readback import MODEL_READBACK, OBSERVABLES

    lay = random_description(0).layers[0]
    for name, model in MODELS.items():
        declared = set(model.observables(lay, 2))
        assert declared == set(MODEL_READBACK[name]), f"model {name}: readback {MODEL_READBACK[name]}"
        decoded = set(OBSERVABLES) | {w.name for w in model.state_words}
        assert declared <= decoded, f"model {name}: no decoder for {declared - decoded}"


def test_state_declarations_fit_every_backend():
    """§6.3: a model's state words fit the readback spaces 5 … 7 and 32-bit scratch, their
    names are identifiers that no shell memory, unit port or Observation field uses, a
    name two models share means one thing, and a first-spike decision names a word."""
    from dataclasses import fields

    from neurochip.hw.config import SPACE_STATE
    from neurochip.neurons import state_fields
    from neurochip.neurons.base import EMITS, MAX_STATE_WORDS
    from neurochip.observe import Observation

    assert SPACE_STATE + MAX_STATE_WORDS - 1 == 7  # the 3-bit space field
    taken = {f.name for f in fields(Observation)} | {"param_words", "membranes", "trace",
                                                     "sent", "membrane", "param_word",
                                                     "enable", "result", "fire", "step_done"}
    shared = {w.name: w for w in state_fields()}
    for name, model in MODELS.items():
        assert len(model.state_words) <= MAX_STATE_WORDS, name
        assert model.emit in EMITS, name
        names = [w.name for w in model.state_words]
        assert len(set(names)) == len(names), name
        for w in model.state_words:
            assert w.name.isidentifier() and w.name not in taken, f"{name}: {w.name}"
            assert shared[w.name] == w, f"{name}: {w.name} means something else in another model"
            for bits in range(2, 33):
                assert 1 <= w.width(bits, model.settings()) <= 32, f"{name}: {w.name}, B = {bits}"
        if model.decision.first_spike:
            assert model.decision.fallback in names, name
        else:
            assert model.decision.rule == "count", name

"""What a neuron model declares once, for every backend to read (hls4ml's declared layer
attributes, NIR's equation-in-the-docstring).

Besides its settings and parameter words, a model declares its **per-neuron state**: the
words it keeps beside the accumulation register every kind writes (``state_words``), its
**emit rule** (``emit``: every spike goes out, or a neuron goes out once per image through
the core's sent bitmap) and its **decision** on an output core (``decision``: the largest
spike count, or the first spike with a state word's argmax when none fired). The
simulator's scratch, the RTL shell's register files and neuron-unit ports, the debug
readback, the ``Observation`` fields, the energy model's static memory and the docs tables
all follow from these declarations (docs/architecture.md §6.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from neurochip.description.fields import DescriptionError, Field, Reader

MAX_STATE_WORDS = 3  # debug readback spaces 5, 6, 7 (docs/rtl-interface.md)
EMITS = ("every_step", "once")  # as a pool's ``emit`` (§5.3)


def membrane_width(membrane_bits: int, settings: Any) -> int:
    """Width rule of a word as wide as the membrane: B bits."""
    return membrane_bits


@dataclass(frozen=True)
class StateWord:
    """One per-neuron state word of a model (§6.3): kept in a register file of K words of
    L lanes (laid out like the membranes), reset to ``reset`` at the start of every image,
    read and written in every update cycle (counted as a membrane-word read and write,
    §10), read back in debug space 5 + its index and compared as ``Observation`` field
    ``name``. ``width(B, settings)`` is its width rule in bits (1 … 32); ``signed``
    whether a lane is two's complement."""

    name: str  # a Python identifier: Observation field, RTL memory and port name
    words: str  # what one value is, in a mismatch report ("final potential")
    doc: str  # what it holds, for the docs tables
    width: Callable[[int, Any], int] = membrane_width
    width_text: str = "B"
    signed: bool = True
    reset: int = 0

    def bits(self, layer) -> int:
        """Bits of one lane of this word in ``layer`` (a Layer or a CoreConfig)."""
        return self.width(layer.membrane_bits, layer.neuron)


@dataclass(frozen=True)
class Decision:
    """How an output core of the model predicts (§6): ``count``: the largest spike count,
    lowest index on a tie; ``first_spike``: the class that went out first (lowest index on
    a tie), else the largest final ``fallback`` state word (lowest index on a tie)."""

    rule: str = "count"
    fallback: str = ""  # the state word whose argmax decides when no class went out

    @property
    def first_spike(self) -> bool:
        return self.rule == "first_spike"


BY_COUNT = Decision()


class NeuronModel:
    """A neuron model: its settings, per-neuron parameter words, validation and the state a
    verification run can observe. Subclasses set the class attributes and override the
    hooks; the update rule itself lives in each backend (reference, Numba, RTL), which
    register against ``name``."""

    name: str = ""
    code: int = -1  # equals neurochip.sim.kernel.MODEL_<NAME> (checked by a test)
    doc: str = ""
    section: str = ""
    settings: type = object  # frozen dataclass stored as ``layer.neuron``
    fields: tuple[Field, ...] = ()  # inside the layer's "neuron" object (besides "model")
    # per-neuron arrays kept in the parameter memory, each B bits, lowest bits first (§3)
    param_fields: tuple[str, ...] = ()
    # per-neuron state beside the accumulation register, and the emit and decision rules
    state_words: tuple[StateWord, ...] = ()
    emit: str = "every_step"  # "once": a fired bit per neuron, the core's sent bitmap (§5.3)
    decision: Decision = BY_COUNT

    @property
    def emits_once(self) -> bool:
        return self.emit == "once"

    def state_word(self, name: str) -> StateWord:
        return next(w for w in self.state_words if w.name == name)

    def parse(self, reader: Reader) -> Any:
        return self.settings(model=self.name, **{f.key: f.read(reader) for f in self.fields})

    def arrays(self, layer) -> dict[str, tuple[int, ...]]:
        """One value per channel (per neuron for fc, whose channels are its neurons)."""
        from neurochip.kinds import get_kind

        return {name: (get_kind(layer.kind).channels(layer),) for name in self.param_fields}

    def param_word_bits(self, layer) -> int:
        """Bits of one neuron's parameter word (one lane of a parameter-memory word)."""
        return len(self.param_fields) * layer.membrane_bits

    def validate(self, layer, where: str, origin: str) -> None:
        """Cross-field rules of the settings; raise DescriptionError naming field and fix."""
        for f in self.fields:
            f.check(getattr(layer.neuron, f.key), f"{where}.neuron", origin)

    def observables(self, layer, time_steps: int) -> dict[str, tuple[int, ...]]:
        """Per-image state a verification run reads back and compares, with shapes: the
        accumulation register, each declared state word, the spike trace."""
        return {"membranes": (layer.neurons,),
                **{w.name: (layer.neurons,) for w in self.state_words},
                "spikes": (time_steps, layer.neurons)}

    def register_bound(self, layer, step_input: np.ndarray, time_steps: int | None) -> int | None:
        """A bound on |m| at every add into the layer's accumulation register, and on the
        model's own sums with it (lif: |m + b|), over one image from the reset, given
        ``step_input`` (per channel, the most one step's events bring: the kind's
        ``step_input_bound``) and T (None: unknown); None where the model proves none.
        Reads ``layer.threshold``, ``layer.bias`` and ``layer.neuron``'s settings. The
        no-overflow proofs use it (docs/simulator.md, bench/netspec.py)."""
        return None

    def random_settings(self, rng: np.random.Generator, membrane_bits: int) -> Any:
        raise NotImplementedError

    def random_params(self, rng: np.random.Generator, layer_bits: int, weight_span: tuple[int, int],
                      neurons: int, extremes: bool) -> dict[str, np.ndarray]:
        raise NotImplementedError


def steps_with_bias(layer, step_input: np.ndarray, steps: int) -> int:
    """max over channels of steps · (step input + |b|): the bound of a register that, per
    step, takes the step's events and the bias and whose other changes (a reset, a leak, a
    threshold subtracted where θ ≥ 0) never move it away from 0."""
    per_step = np.asarray(step_input, dtype=np.int64) + np.abs(np.asarray(layer.bias, dtype=np.int64))
    return int((steps * per_step).max(initial=0))


def unknown(kind: str, name: str, known: list[str]) -> DescriptionError:
    return DescriptionError(f"unknown {kind} {name!r}; this neurochip knows {known}")

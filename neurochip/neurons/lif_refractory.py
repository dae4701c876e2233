r"""``lif_refractory``: integrate-and-fire with an absolute refractory period (§6.4).

The neuron keeps, beside its membrane m (the accumulation register every kind writes), a
refractory counter c (a declared state word, §6.3: r = bit length of R bits, unsigned,
reset 0 at the start of every image). Per EOS token, for every enabled neuron n (B-bit
two's complement, ovf of §2), R the layer's ``refractory`` setting::

    if c[n] > 0:   fire ← 0;   m[n] ← 0;   c[n] ← c[n] − 1      # refractory: the step's
                                                               # input is discarded
    else:          v ← ovf(m[n] + b[n]);   fire ← v > θ[n]      # as lif
                   if fire:  m[n] ← 0;   c[n] ← R
                   else:     m[n] ← v;   c[n] ← 0

A neuron that fires in step t ignores steps t + 1 … t + R (its membrane is held at 0,
whatever arrives) and integrates again from step t + R + 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip.description.fields import DescriptionError, Field
from neurochip.neurons.base import NeuronModel, StateWord, steps_with_bias

MAX_REFRACTORY = 2**15 - 1  # R < 2^(B−1) also bounds it by the layer's B (see validate)


@dataclass(frozen=True)
class LifRefractoryNeuron:
    """Settings of a ``lif_refractory`` layer (the manifest's ``neuron`` object)."""

    model: str = "lif_refractory"
    refractory: int = 1


def counter_width(membrane_bits: int, settings: LifRefractoryNeuron | None) -> int:
    """Width rule of the refractory counter: the bit length of R (holds 0 … R)."""
    return (settings.refractory if settings is not None else 1).bit_length()


class LifRefractoryModel(NeuronModel):
    name = "lif_refractory"
    code = 3
    doc = "integrate-and-fire with bias, strict threshold and reset to 0, then R refractory " \
          "steps in which the membrane is held at 0 and input discarded (a counter per neuron)"
    section = "§6.4"
    settings = LifRefractoryNeuron
    fields = (
        Field("refractory", int, "R: steps after a spike in which the neuron ignores its input",
              "§6.4", 1, MAX_REFRACTORY, range_text="1 … 2^(B−1) − 1"),
    )
    param_fields = ("threshold", "bias")  # θ in bits [0, B), b in [B, 2B) of a lane, as lif
    state_words = (StateWord("refractory_left", "final refractory count",
                             "refractory steps left (0: integrating)", counter_width,
                             "bit length of R", signed=False, reset=0),)

    def validate(self, layer, where: str, origin: str) -> None:
        super().validate(layer, where, origin)
        hi = (1 << (layer.membrane_bits - 1)) - 1
        if not 1 <= layer.neuron.refractory <= hi:
            raise DescriptionError(f"{origin}: field '{where}.neuron.refractory' = "
                                   f"{layer.neuron.refractory}; the refractory period must be "
                                   f"in 1 … {hi} (2^(B−1) − 1) for membrane_bits = "
                                   f"{layer.membrane_bits}")

    def register_bound(self, layer, step_input, time_steps):
        """m + b, or 0 (refractory, or a spike): after t steps |m| ≤ t·(input + |b|)."""
        if time_steps is None:
            return None
        return steps_with_bias(layer, step_input, time_steps)

    def random_settings(self, rng: np.random.Generator, membrane_bits: int,
                        leak_amount_max: int | None = None) -> LifRefractoryNeuron:
        """Short periods (1 … 3 steps, at most 2^(B−1) − 1), so a few-step image sees a
        neuron come back."""
        hi = min(3, (1 << (membrane_bits - 1)) - 1)
        return LifRefractoryNeuron(refractory=int(rng.integers(1, hi + 1)))

    def random_params(self, rng: np.random.Generator, membrane_bits: int,
                      weight_span: tuple[int, int], neurons: int,
                      extremes: bool) -> dict[str, np.ndarray]:
        """As lif's: thresholds and biases that make neurons fire sometimes."""
        from neurochip.neurons.lif import MODEL as LIF

        return LIF.random_params(rng, membrane_bits, weight_span, neurons, extremes)


MODEL = LifRefractoryModel()

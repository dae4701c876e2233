r"""``bistable``: the two-phase integrate/fire neuron of BSNN conversion (§6.2).

A layer alternates between two global phases of ``phase_steps`` (N) time steps each.
Step t of the image is in position u = (t + phase) mod 2N of the layer's cycle; u < N is
the INTEGRATE phase, u ≥ N the FIRE phase. Per EOS token, for every enabled neuron n::

    INTEGRATE: m[n] ← ovf(m[n] + b[n])                         never fires
    FIRE:      fire ← m[n] ≥ θ[n]                               at most one spike per step
               if fire: m[n] ← ovf(m[n] − θ[n])                 soft reset

A neuron therefore emits nothing while its packet of input is still arriving, and at
most N spikes (an N-level quantisation of what it integrated) once it is complete: a
net negative packet never fires (no spikes of inactivated neurons), and the residue
carries over. The *synchronous neuron* is this model on an identity layer (``pool`` with
window 1, stride 1, threshold 1): it delays a shortcut by one phase without weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip.description.fields import DescriptionError, Field
from neurochip.neurons.base import NeuronModel, steps_with_bias

MAX_PHASE_STEPS = 32768  # 2N − 1 fits the 16-bit phase counter of the RTL


@dataclass(frozen=True)
class BistableNeuron:
    """Settings of a ``bistable`` layer (the manifest's ``neuron`` object)."""

    model: str = "bistable"
    phase_steps: int = 8
    phase: int = 0


def fires_in(settings: BistableNeuron, t: int) -> bool:
    """Whether step t is a FIRE step of a layer with these settings (§6.2)."""
    n = settings.phase_steps
    return (t + settings.phase) % (2 * n) >= n


class BistableModel(NeuronModel):
    name = "bistable"
    code = 2
    doc = "two-phase neuron: integrates (with bias) for N steps, then may fire once per step " \
          "for N steps with threshold ≥ θ and soft reset (BSNN; a synchronous neuron on an " \
          "identity pool)"
    section = "§6.2"
    settings = BistableNeuron
    fields = (
        Field("phase_steps", int, "N: steps per phase (integrate N, then fire N)", "§6.2",
              1, MAX_PHASE_STEPS),
        Field("phase", int, "offset of the layer's cycle: step t is at (t + phase) mod 2N",
              "§6.2", 0, 2 * MAX_PHASE_STEPS - 1, range_text="0 … 2·phase_steps − 1"),
    )
    param_fields = ("threshold", "bias")  # θ in bits [0, B), b in [B, 2B) of a lane, as lif

    def validate(self, layer, where: str, origin: str) -> None:
        super().validate(layer, where, origin)
        p = layer.neuron
        if not 0 <= p.phase < 2 * p.phase_steps:
            raise DescriptionError(f"{origin}: field '{where}.neuron.phase' = {p.phase}; the "
                                   f"phase must be in 0 … {2 * p.phase_steps - 1} "
                                   f"(2·phase_steps − 1)")

    def register_bound(self, layer, step_input, time_steps):
        """INTEGRATE adds the bias; FIRE keeps m − θ ∈ [0, m) where m ≥ θ ≥ 0: after t steps
        |m| ≤ t·(input + |b|), when every θ ≥ 0."""
        if time_steps is None or (np.asarray(layer.threshold) < 0).any():
            return None
        return steps_with_bias(layer, step_input, time_steps)

    def random_settings(self, rng: np.random.Generator, membrane_bits: int,
                        leak_amount_max: int | None = None) -> BistableNeuron:
        """Short phases (1 … 3 steps), so a few-step image sees both phases."""
        n = int(rng.integers(1, 4))
        return BistableNeuron(phase_steps=n, phase=int(rng.integers(0, 2 * n)))

    def random_params(self, rng: np.random.Generator, membrane_bits: int,
                      weight_span: tuple[int, int], neurons: int,
                      extremes: bool) -> dict[str, np.ndarray]:
        """As lif's: thresholds and biases that make neurons fire sometimes, a fifth on the
        B-bit bounds with ``extremes``."""
        from neurochip.neurons.lif import MODEL as LIF

        return LIF.random_params(rng, membrane_bits, weight_span, neurons, extremes)


MODEL = BistableModel()

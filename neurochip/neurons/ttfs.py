r"""``ttfs``: the single-spike (time-to-first-spike) neuron of §6.1 with a piecewise-linear
PSP realised by a current register I beside the membrane V.

Events of §5 add their weights to I (the accumulation register every kind writes). Per EOS
token, for every enabled neuron n (B-bit two's complement, ovf of §2)::

    v    ← ovf(V[n] + I[n])                 # the membrane integrates the current
    fire ← v > θ[n]  and  not fired[n]      # strictly greater; once per image
    fired[n] ← fired[n] or (v > θ[n])
    I[n] ← I[n]  (psp = ramp: a linear ramp per input spike, ReL-PSP, τ_r = ∞)
           0     (psp = step: an instantaneous step per input spike, S4NN, τ_r = 1)
    V[n] ← v

The fired bit is the core's sent bitmap (§5.3), so a neuron goes out at most once per
image. On the output core the prediction is the first class to fire (lowest index on a
tie); if none fired, the largest final V (lowest index on a tie).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip.description.fields import Field
from neurochip.neurons.base import Decision, NeuronModel, StateWord

PSPS = ("ramp", "step")


@dataclass(frozen=True)
class TtfsNeuron:
    """Settings of a ``ttfs`` layer (the manifest's ``neuron`` object)."""

    model: str = "ttfs"
    psp: str = "ramp"


class TtfsModel(NeuronModel):
    name = "ttfs"
    code = 1
    doc = "single spike per image (fired bit), current register I ramps the membrane V"
    section = "§6.1"
    settings = TtfsNeuron
    fields = (
        Field("psp", str, "ramp: I carries over (linear ramp PSP); step: I cleared every "
              "step (instantaneous PSP)", "§6.1", choices=PSPS),
    )
    param_fields = ("threshold",)  # θ in bits [0, B) of a lane
    # the membrane V beside the current I (the accumulation register)
    state_words = (StateWord("potentials", "final potential",
                             "the membrane V (the accumulation register holds the current I)"),)
    emit = "once"  # the fired bit is the core's sent bitmap (§5.3, §6.1)
    decision = Decision("first_spike", fallback="potentials")

    def register_bound(self, layer, step_input, time_steps):
        """The register holds I, which the update clears (step: one step's input) or keeps
        (ramp: T steps' input). V = V + I is the update's own saturating sum."""
        psp = getattr(layer.neuron, "psp", None)
        steps = 1 if psp == "step" else time_steps if psp == "ramp" else None
        if steps is None:
            return None
        return int((steps * np.asarray(step_input, dtype=np.int64)).max(initial=0))

    def random_settings(self, rng: np.random.Generator, membrane_bits: int,
                        leak_amount_max: int | None = None) -> TtfsNeuron:
        return TtfsNeuron(psp=str(rng.choice(PSPS)))

    def random_params(self, rng: np.random.Generator, membrane_bits: int,
                      weight_span: tuple[int, int], neurons: int,
                      extremes: bool) -> dict[str, np.ndarray]:
        """Thresholds that make some neurons fire at different steps; with ``extremes`` a
        fifth sit on the B-bit bounds or around 0."""
        lo, hi = -(1 << (membrane_bits - 1)), (1 << (membrane_bits - 1)) - 1
        wlo, whi = weight_span
        span = max(1, min(hi, 8 * (whi - wlo)))
        threshold = rng.integers(max(lo, -span // 8), min(hi, span) + 1, size=neurons)
        if extremes:
            corners = np.array([lo, hi, 0, -1, 1])
            pick = rng.random(neurons) < 0.2
            threshold = np.where(pick, rng.choice(corners, neurons), threshold)
        return {"threshold": threshold.astype(np.int64)}


MODEL = TtfsModel()

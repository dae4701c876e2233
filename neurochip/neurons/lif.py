r"""``lif``: the integrate-and-fire neuron of §6 with reset, leak and integration modes.

Per EOS token, for every enabled neuron n (B-bit two's complement, ovf of §2)::

    v    ← ovf(m[n] + b[n])                 # bias, once per time step
    fire ← v > θ[n]                         # strictly greater
    if fire:  reset = subtract: v ← ovf(v − θ[n]);   reset = zero: v ← 0
    leak:     none: v;  subtract: towards 0 by λ, never past it;  shift: v − (v >> λ)
    integration = continuous: m[n] ← v;   discontinuous: m[n] ← 0

With ``leak = none`` it is the plain IF neuron the shipped models use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip.description.fields import DescriptionError, Field
from neurochip.neurons.base import NeuronModel, steps_with_bias

RESETS = ("subtract", "zero")
LEAKS = ("none", "subtract", "shift")
INTEGRATIONS = ("continuous", "discontinuous")


@dataclass(frozen=True)
class LifNeuron:
    """Settings of a ``lif`` layer (the manifest's ``neuron`` object)."""

    model: str = "lif"
    reset: str = "subtract"
    leak: str = "none"
    leak_amount: int = 0
    integration: str = "continuous"


class LifModel(NeuronModel):
    name = "lif"
    code = 0
    doc = "integrate-and-fire with bias, strict threshold, subtract/zero reset, optional leak"
    section = "§6"
    settings = LifNeuron
    fields = (
        Field("reset", str, "what a spike does to the membrane", "§6", choices=RESETS),
        Field("leak", str, "leak towards 0 once per step", "§6", choices=LEAKS),
        Field("leak_amount", int, "λ of the leak", "§6", 0, 2**31 - 1,
              range_text="`subtract`: 0 … 2^(B−1)−1; `shift`: 1 … B−1; `none`: ignored"),
        Field("integration", str, "whether the membrane carries over to the next step", "§6",
              choices=INTEGRATIONS),
    )
    param_fields = ("threshold", "bias")  # θ in bits [0, B), b in [B, 2B) of a lane

    def validate(self, layer, where: str, origin: str) -> None:
        super().validate(layer, where, origin)
        p, bits = layer.neuron, layer.membrane_bits
        hi = (1 << (bits - 1)) - 1
        if p.leak == "subtract" and not 0 <= p.leak_amount <= hi:
            raise DescriptionError(f"{origin}: field '{where}.neuron.leak_amount' = "
                                   f"{p.leak_amount}; a subtractive leak must be in "
                                   f"0 … {hi} for membrane_bits = {bits}")
        if p.leak == "shift" and not 1 <= p.leak_amount <= bits - 1:
            raise DescriptionError(f"{origin}: field '{where}.neuron.leak_amount' = "
                                   f"{p.leak_amount}; a shift leak must be in 1 … {bits - 1}")

    def register_bound(self, layer, step_input, time_steps):
        """Discontinuous: every step starts from 0, so one step's input and bias bound it.
        Continuous with θ ≥ 0: neither a reset (subtract: 0 ≤ v − θ < v when v > θ ≥ 0;
        zero: 0) nor a leak (towards 0) increases |v|, so after t steps |m| ≤ t·(input +
        |b|). The threshold needs no room: v > θ is a compare, and v − θ lies in [0, v)."""
        if layer.neuron.integration == "discontinuous":
            return steps_with_bias(layer, step_input, 1)
        if time_steps is None or (np.asarray(layer.threshold) < 0).any():
            return None
        return steps_with_bias(layer, step_input, time_steps)

    def random_settings(self, rng: np.random.Generator, membrane_bits: int,
                        leak_amount_max: int | None = None) -> LifNeuron:
        hi = (1 << (membrane_bits - 1)) - 1
        leak = str(rng.choice(LEAKS))
        top = hi if leak_amount_max is None else min(hi, leak_amount_max)
        amount = {"none": 0, "subtract": int(rng.integers(0, top + 1)),
                  "shift": int(rng.integers(1, membrane_bits))}[leak]
        return LifNeuron(reset=str(rng.choice(RESETS)), leak=leak, leak_amount=amount,
                         integration=str(rng.choice(INTEGRATIONS)))

    def random_params(self, rng: np.random.Generator, membrane_bits: int,
                      weight_span: tuple[int, int], neurons: int,
                      extremes: bool) -> dict[str, np.ndarray]:
        """Thresholds and biases that make neurons fire sometimes; with ``extremes`` a
        fifth of them sit on the B-bit bounds (where saturation and wrap differ)."""
        lo, hi = -(1 << (membrane_bits - 1)), (1 << (membrane_bits - 1)) - 1
        wlo, whi = weight_span
        span = max(1, min(hi, 4 * (whi - wlo)))
        threshold = rng.integers(max(lo, -span // 4), min(hi, span) + 1, size=neurons)
        bias = rng.integers(max(lo, -span // 2), min(hi, span // 2) + 1, size=neurons)
        if extremes:
            corners = np.array([lo, hi, 0, -1, 1])
            pick = rng.random((2, neurons)) < 0.2
            threshold = np.where(pick[0], rng.choice(corners, neurons), threshold)
            bias = np.where(pick[1], rng.choice(corners, neurons), bias)
        return {"threshold": threshold.astype(np.int64), "bias": bias.astype(np.int64)}


MODEL = LifModel()

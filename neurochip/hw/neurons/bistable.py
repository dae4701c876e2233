"""``bistable`` (neurochip/neurons/bistable.py) neuron unit (§6.2): L lanes in one cycle,
plus the core's phase counter u = (t + phase) mod 2N, one register of ceil(log2 2N) bits
that starts at ``phase`` after ``clear``/``rst`` and advances when the shell strobes
``step_done`` (the update cycle of the last group of a token). Every group of a token
therefore sees the same phase: u < N integrates (bias add), u ≥ N fires (m ≥ θ, m − θ)."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Module, Mux, Signal, Value
from amaranth.lib.wiring import In

from neurochip.hw.arith import overflow
from neurochip.hw.config import CoreConfig
from neurochip.hw.neurons.base import NeuronUnit, decode_param_word
from neurochip.neurons.bistable import MODEL


@dataclass(frozen=True)
class BistableMode:
    """The per-layer constants of §6.2."""

    membrane_bits: int
    saturate: bool
    phase_steps: int
    phase: int

    @classmethod
    def from_config(cls, cfg: CoreConfig) -> "BistableMode":
        p = cfg.neuron  # neurochip.neurons.bistable.BistableNeuron
        return cls(cfg.membrane_bits, cfg.saturate, p.phase_steps, p.phase)


def update_lane(v0: Value, bias: Value, theta: Value, fire_phase: Value,
                mode: BistableMode) -> tuple[Value, Value]:
    """§6.2 for one neuron: returns (fire, new membrane) as expressions."""
    B = mode.membrane_bits
    integrated = overflow(v0 + bias, B, mode.saturate)
    fire = fire_phase & (v0 >= theta)
    fired = Mux(fire, overflow(v0 - theta, B, mode.saturate), v0)
    return fire, Mux(fire_phase, fired, integrated)


class BistableUpdate(NeuronUnit):
    """L lanes of :func:`update_lane` and the phase counter; disabled lanes never fire and
    keep 0. The extra port ``step_done`` (in, 1) advances the phase counter."""

    model = MODEL.name

    def __init__(self, lanes: int, mode: BistableMode):
        self.mode = mode
        B = mode.membrane_bits
        super().__init__(lanes, B, len(MODEL.param_fields) * B, extra={"step_done": In(1)})

    @classmethod
    def for_core(cls, cfg: CoreConfig) -> "BistableUpdate":
        return cls(cfg.lanes, BistableMode.from_config(cfg))

    def elaborate(self, platform) -> Module:
        m = Module()
        B, P = self.membrane_bits, self.param_bits
        period = 2 * self.mode.phase_steps
        u = Signal(range(period), init=self.mode.phase)  # position in the cycle (§6.2)
        with m.If(self.step_done):
            m.d.sync += u.eq(Mux(u == period - 1, 0, u + 1))
        fire_phase = u >= self.mode.phase_steps
        for lane in range(self.lanes):
            v0 = self.membrane.word_select(lane, B).as_signed()
            p = decode_param_word(self.model, self.param_word.word_select(lane, P), B)
            fire, v = update_lane(v0, p["bias"], p["threshold"], fire_phase, self.mode)
            en = self.enable[lane]
            m.d.comb += [self.fire[lane].eq(en & fire),
                         self.result.word_select(lane, B).eq(Mux(en, v, 0))]
        return m

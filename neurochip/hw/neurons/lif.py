"""``lif`` (neurochip/neurons/lif.py) neuron unit (§6): bias, threshold, reset, leak and
integration for L lanes in one cycle. The layer's modes are generation-time constants,
so only the selected logic is built; every mode of the spec is available."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Const, Module, Mux, Value, signed

from neurochip.hw.arith import overflow
from neurochip.hw.config import CoreConfig
from neurochip.hw.neurons.base import NeuronUnit, decode_param_word
from neurochip.neurons.lif import MODEL


@dataclass(frozen=True)
class NeuronMode:
    """The per-layer constants of §6."""

    membrane_bits: int
    saturate: bool
    reset: str  # "subtract" | "zero"
    leak: str  # "none" | "subtract" | "shift"
    leak_amount: int
    discontinuous: bool

    @classmethod
    def from_config(cls, cfg: CoreConfig) -> "NeuronMode":
        p = cfg.neuron  # neurochip.neurons.lif.LifNeuron
        return cls(cfg.membrane_bits, cfg.saturate, p.reset, p.leak, p.leak_amount,
                   p.integration == "discontinuous")


def update_lane(v0: Value, bias: Value, theta: Value, mode: NeuronMode) -> tuple[Value, Value]:
    """§6 for one neuron: returns (fire, new membrane) as expressions."""
    B = mode.membrane_bits
    zero = Const(0, signed(B))
    v = overflow(v0 + bias, B, mode.saturate)
    fire = v > theta
    if mode.reset == "subtract":
        v = Mux(fire, overflow(v - theta, B, mode.saturate), v)
    elif mode.reset == "zero":
        v = Mux(fire, zero, v)
    else:
        raise ValueError(f"reset {mode.reset!r} is not in the v1 spec")
    lam = mode.leak_amount
    if mode.leak == "subtract":
        # towards 0, never past it (§6); v ± λ stays in B+1 bits, the result in B bits
        v = Mux(v > lam, (v - lam)[:B].as_signed(),
                Mux(v < -lam, (v + lam)[:B].as_signed(), zero))
    elif mode.leak == "shift":
        v = (v - (v >> lam))[:B].as_signed()
    elif mode.leak != "none":
        raise ValueError(f"leak {mode.leak!r} is not in the v1 spec")
    if mode.discontinuous:
        v = zero
    return fire, v


class NeuronUpdate(NeuronUnit):
    """L lanes of :func:`update_lane`; disabled lanes never fire and keep 0. Each lane's
    param word holds the model's ``param_fields`` (threshold, bias), B bits each."""

    model = MODEL.name

    def __init__(self, lanes: int, mode: NeuronMode):
        self.mode = mode
        B = mode.membrane_bits
        super().__init__(lanes, B, len(MODEL.param_fields) * B)

    @classmethod
    def for_core(cls, cfg: CoreConfig) -> "NeuronUpdate":
        return cls(cfg.lanes, NeuronMode.from_config(cfg))

    def elaborate(self, platform) -> Module:
        m = Module()
        B, P = self.membrane_bits, self.param_bits
        for lane in range(self.lanes):
            v0 = self.membrane.word_select(lane, B).as_signed()
            p = decode_param_word(self.model, self.param_word.word_select(lane, P), B)
            fire, v = update_lane(v0, p["bias"], p["threshold"], self.mode)
            en = self.enable[lane]
            m.d.comb += [self.fire[lane].eq(en & fire),
                         self.result.word_select(lane, B).eq(Mux(en, v, 0))]
        return m

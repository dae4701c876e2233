"""``pool`` (neurochip/kinds/pool.py, §5.3, §8): the window walk of
:mod:`neurochip.hw.kinds.window` with one accumulation cycle per window holding the event:
membrane word (oy·W_out + ox)·K_c + c div L, lane c mod L only, adding the implicit unit
weight (a constant weight word of +1 in every lane; there is no weight memory). An event
costs 1 + T cycles. The ``emit = once`` sent bitmap belongs to the core shell."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Const, Module, Signal, Value

from neurochip.hw.config import CoreConfig
from neurochip.hw.kinds.window import WindowSequencer, div, mod


class PoolSequencer(WindowSequencer):
    """One cycle per window, oy then ox ascending; one lane of one word."""

    reads_weights = False

    @classmethod
    def window(cls, cfg: CoreConfig) -> tuple[int, int, int, int]:
        p = cfg.geo("window")
        return p, p, cfg.geo("stride"), 0

    @classmethod
    def visit_words(cls, cfg: CoreConfig) -> int:
        return 1

    @classmethod
    def weight_shape(cls, cfg: CoreConfig) -> None:
        return None

    @classmethod
    def sent_bitmap(cls, cfg: CoreConfig) -> bool:
        return cfg.geo("emit") == "once"

    def word_offset(self, c: Value) -> Value:
        return div(c, self.cfg.lanes)

    def weights_logic(self, m: Module, w: SimpleNamespace) -> None:
        cfg = self.cfg
        L, wb = cfg.lanes, cfg.weight_bits
        lane = Signal(range(max(2, L)))  # c mod L of the event
        with m.If(self.start):
            m.d.sync += lane.eq(mod(w.c, L))
        # +1 in every lane: bit 1 for w = 1 (§2), two's complement 1 otherwise
        m.d.comb += [self.weights.eq(Const(sum(1 << (i * wb) for i in range(L)), L * wb)),
                     self.enable.eq(1 << lane), self.ops.eq(1)]

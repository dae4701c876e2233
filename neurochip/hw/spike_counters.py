"""Output spike counters (§6): one saturating ``count_bits`` counter per class, the
prediction (largest count, lowest index on ties) and a read port for the readback."""

from __future__ import annotations

from amaranth import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class SpikeCounters(wiring.Component):
    """Updated in the output core's update cycles: group ``word``'s fired lanes count +1.
    Class n = pos·C + ch lives in group pos·K_c + ch div L, lane ch mod L (§3; fc: C = N,
    K_c = K, so group n div L, lane n mod L)."""

    def __init__(self, classes: int, lanes: int, words: int, count_bits: int,
                 channels: int = 0, wpp: int = 0):
        self.classes, self.lanes, self.words, self.count_bits = classes, lanes, words, count_bits
        self.channels = channels or classes
        self.wpp = wpp or -(-self.channels // lanes)
        super().__init__({
            "fire": In(lanes), "word": In(range(max(2, words))), "strobe": In(1),
            "counts": Out(classes * count_bits),
            "prediction": Out(range(max(2, classes))),
            "read_index": In(range(max(2, classes))), "read_data": Out(count_bits),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        C = self.count_bits
        top = (1 << C) - 1
        regs = [Signal(C, name=f"count{n}") for n in range(self.classes)]
        for n, reg in enumerate(regs):
            pos, ch = divmod(n, self.channels)
            k, lane = pos * self.wpp + ch // self.lanes, ch % self.lanes
            with m.If(self.strobe & (self.word == k) & self.fire[lane] & (reg != top)):
                m.d.sync += reg.eq(reg + 1)
            m.d.comb += self.counts.word_select(n, C).eq(reg)
        m.d.comb += self.read_data.eq(Array(regs)[self.read_index])
        # argmax tree: the right candidate wins only if strictly larger (lowest index on ties)
        level = [(reg, n) for n, reg in enumerate(regs)]
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level) - 1, 2):
                (lv, li), (rv, ri) = level[i], level[i + 1]
                v = Signal(C, name=f"max_v{len(level)}_{i}")
                ix = Signal(range(max(2, self.classes)), name=f"max_i{len(level)}_{i}")
                with m.If(rv > lv):
                    m.d.comb += [v.eq(rv), ix.eq(ri)]
                with m.Else():
                    m.d.comb += [v.eq(lv), ix.eq(li)]
                nxt.append((v, ix))
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        m.d.comb += self.prediction.eq(level[0][1])
        return m

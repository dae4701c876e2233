"""Spike FIFO of §7: first-word-fall-through, depth D (any 1..65536), 16-bit items.

push accepted iff level < D at the start of the cycle; pop iff level > 0; an item
pushed in cycle c is visible at the head in cycle c+1; a full FIFO does not accept a
push in the cycle it is popped (``w.ready`` looks only at the registered level).

Both sides are ``amaranth.lib.stream`` interfaces: ``w`` (write: payload/valid in, ready
out; an item is pushed when valid & ready) and ``r`` (read, first-word-fall-through:
payload/valid out, ready in; an item is popped when valid & ready).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from neurochip.hw.config import ITEM_BITS, addr_bits


class SpikeFifo(wiring.Component):
    """Ring buffer with a combinational head read (a register file, not an SRAM)."""

    def __init__(self, depth: int):
        if not 1 <= depth <= 65536:
            raise ValueError(f"FIFO depth {depth} outside 1 … 65536 (§3)")
        self.depth = depth
        super().__init__({
            "w": In(stream.Signature(ITEM_BITS)), "r": Out(stream.Signature(ITEM_BITS)),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        D = self.depth
        aw = addr_bits(D)
        # depth >= 2 keeps the address port non-empty; a depth-1 FIFO only ever uses entry 0
        m.submodules.mem = mem = memory.Memory(shape=ITEM_BITS, depth=max(2, D), init=[])
        wp = mem.write_port()
        rp = mem.read_port(domain="comb")
        head = Signal(aw)
        tail = Signal(aw)
        push = Signal()
        pop = Signal()

        def nxt(p: Signal):
            return Mux(p == D - 1, 0, p + 1)[:aw]

        m.d.comb += [
            self.w.ready.eq(self.level < D),
            self.r.valid.eq(self.level > 0),
            push.eq(self.w.valid & self.w.ready),
            pop.eq(self.r.ready & self.r.valid),
            rp.addr.eq(head),
            self.r.payload.eq(rp.data),
            wp.addr.eq(tail),
            wp.data.eq(self.w.payload),
            wp.en.eq(push),
        ]
        with m.If(push):
            m.d.sync += tail.eq(nxt(tail))
        with m.If(pop):
            m.d.sync += head.eq(nxt(head))
        with m.If(push & ~pop):
            m.d.sync += self.level.eq(self.level + 1)
        with m.Elif(pop & ~push):
            m.d.sync += self.level.eq(self.level - 1)
        return m

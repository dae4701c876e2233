"""``conv2d`` (neurochip/kinds/conv2d.py, §5.2, §8): the window walk of
:mod:`neurochip.hw.kinds.window` with V = K_c words per touched position, adding kernel
row r = (c·kh + ky)·kw + kx (ky = y + p − oy·s, kx = x + p − ox·s) word k, weight address
r·K_c + k. The weight memory holds the kernel: C_in·kh·kw rows × K_c words of L·w bits,
lane l of word k of row r = the weight of row r to output channel k·L + l. An event costs
1 + T·K_c cycles (T touched positions; just the pop cycle when T = 0).

The weight address steps by constants like the membrane word: +1 inside a position,
−(K_c − 1) − s·K_c to the next ox (kx drops by s), and the row start − s·kw·K_c to the next
oy (ky drops by s)."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Module, Mux, Signal

from neurochip.description import Layer
from neurochip.hw.config import CoreConfig, addr_bits
from neurochip.hw.kinds.window import WindowSequencer
from neurochip.hw.memory import MemoryShape, SyncRom
from neurochip.hw.pack import channel_words_hex


def weight_hex(lay: Layer, cfg: CoreConfig) -> list[str]:
    """Kernel row r, word k at address r·K_c + k (§3)."""
    return channel_words_hex(lay.weight, cfg)


def kernel_rows(cfg: CoreConfig) -> int:
    kh, kw = cfg.geo("kernel")
    return cfg.in_shape[2] * kh * kw


class Conv2dSequencer(WindowSequencer):
    """K_c accumulation cycles per touched output position, oy then ox ascending."""

    @classmethod
    def window(cls, cfg: CoreConfig) -> tuple[int, int, int, int]:
        kh, kw = cfg.geo("kernel")
        return kh, kw, cfg.geo("stride"), cfg.geo("pad")

    @classmethod
    def visit_words(cls, cfg: CoreConfig) -> int:
        return cfg.wpp

    @classmethod
    def weight_shape(cls, cfg: CoreConfig) -> MemoryShape:
        rows = kernel_rows(cfg)
        return MemoryShape("sram", rows * cfg.wpp, cfg.weight_width, rows=rows)

    def weights_logic(self, m: Module, w: SimpleNamespace) -> None:
        cfg = self.cfg
        Kc = cfg.wpp
        kh, kw, s, p = w.window
        shape = self.weight_shape(cfg)
        m.submodules.weights = mem = SyncRom(shape, self.weight_init, cfg.weight_file,
                                             self.blackbox)
        aw = addr_bits(shape.depth)
        ky = (w.y + p - w.oy_lo * s)[:addr_bits(kh)]  # in 0 … kh−1 unless the event is empty
        kx = (w.x + p - w.ox_lo * s)[:addr_bits(kw)]
        first = Signal(aw)  # r·K_c of the first touched position
        addr, row_addr, addr_next = Signal(aw), Signal(aw), Signal(aw)
        m.d.comb += [
            first.eq(((w.c * kh + ky) * kw + kx) * Kc),
            addr_next.eq(Mux(w.in_visit, addr + 1,
                             Mux(w.in_row, addr - (Kc - 1 + s * Kc), row_addr - s * kw * Kc))),
            mem.addr.eq(Mux(self.step, addr_next, first)),
            self.weights.eq(mem.data),
            self.enable.eq(Mux(w.k_last, cfg.lane_mask(Kc - 1), cfg.lane_mask(0))),
            self.ops.eq(Mux(w.k_last, cfg.enabled_lanes(Kc - 1), cfg.enabled_lanes(0))),
        ]
        with m.If(self.start):
            m.d.sync += [addr.eq(first), row_addr.eq(first)]
        with m.If(self.step):
            m.d.sync += addr.eq(addr_next)
            with m.If(w.new_row):
                m.d.sync += row_addr.eq(row_addr - s * kw * Kc)

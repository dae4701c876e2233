"""The address generator shared by the kinds on (H, W, C) maps whose events touch a window
of output positions: ``conv2d`` (§5.2) and ``pool`` (§5.3).

At the pop of an event a = (y, x, c) (y = a div (W·C_in), x = (a div C_in) mod W,
c = a mod C_in, constant divisions) it computes the touched ranges of both axes,

    oy_lo = max(0, ceil((y + p − kh + 1) / s)),  oy_hi = min(H_out − 1, floor((y + p) / s))

(ox likewise with x, kw, W_out), and then counts (oy, ox) through them, oy then ox
ascending, spending V accumulation cycles per position (conv2d: V = K_c lane words k;
pool: V = 1, the word of channel c). The membrane word of position (oy, ox) and word k is
(oy·W_out + ox)·K_c + o + k (o = c div L for pool, 0 for conv2d), kept in registers and
stepped by constants: +1 inside a position, +K_c − (V − 1) to the next ox, and the row
start + W_out·K_c to the next oy. An event with an empty range (possible when s > kh)
raises ``empty`` and costs only its pop cycle."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Const, Module, Mux, Signal, Value

from neurochip.hw.config import CoreConfig, addr_bits
from neurochip.hw.kinds.base import Sequencer


def div(v: Value, d: int) -> Value:
    """v div d for a constant d ≥ 1 (yosys builds constant dividers)."""
    return v if d == 1 else v // d


def mod(v: Value, d: int) -> Value:
    return Const(0, 1) if d == 1 else v % d


def decode(address: Value, shape: tuple[int, int, int]) -> tuple[Value, Value, Value]:
    """(y, x, c) of an address of a stream of ``shape`` = (H, W, C) (§3)."""
    _, w, c = shape
    return div(address, w * c), mod(div(address, c), w), mod(address, c)


def axis_range(m: Module, v: Value, pad: int, kernel: int, stride: int, n_out: int,
               name: str) -> tuple[Signal, Signal]:
    """(lo, hi) of the output coordinates o with 0 ≤ v + pad − o·stride < kernel, clipped to
    0 … n_out − 1 (lo > hi when there is none)."""
    lo = Signal(range(n_out + 1), name=f"{name}_lo")  # lo ≤ n_out always (see module doc)
    hi = Signal(range(max(2, n_out)), name=f"{name}_hi")
    u = v + (pad + stride)  # ceil((v + pad − kernel + 1) / s) = floor((u − kernel) / s)
    if pad + stride >= kernel:
        m.d.comb += lo.eq(div(u - kernel, stride))
    else:
        m.d.comb += lo.eq(Mux(u >= kernel, div((u - kernel)[:len(u)], stride), 0))
    top = div(v + pad, stride)
    m.d.comb += hi.eq(Mux(top > n_out - 1, n_out - 1, top))
    return lo, hi


class WindowSequencer(Sequencer):
    """Walks the output positions an event touches (see the module doc); subclasses give
    the geometry, V, the word offset and the weights."""

    # --- what a subclass defines
    @classmethod
    def window(cls, cfg: CoreConfig) -> tuple[int, int, int, int]:
        """(kh, kw, stride, pad)."""
        raise NotImplementedError

    @classmethod
    def visit_words(cls, cfg: CoreConfig) -> int:
        """V: accumulation cycles per touched position."""
        raise NotImplementedError

    @classmethod
    def cycles(cls, cfg: CoreConfig) -> int:
        kh, kw, s, _ = cls.window(cfg)
        return -(-kh // s) * -(-kw // s) * cls.visit_words(cfg)

    def word_offset(self, c: Value) -> Value:
        """o: the word inside a position of the event's first cycle there."""
        return Const(0, 1)

    def weights_logic(self, m: Module, w: SimpleNamespace) -> None:
        """Drive ``weights``, ``enable`` and ``ops`` (and a weight memory's address)."""
        raise NotImplementedError

    # --- the walk
    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        K, Kc, V = cfg.words, cfg.wpp, self.visit_words(cfg)
        kh, kw, s, p = self.window(cfg)
        h_out, w_out, _ = cfg.out_shape
        y, x, c = decode(self.address, cfg.in_shape)
        oy_lo, oy_hi = axis_range(m, y, p, kh, s, h_out, "oy")
        ox_lo, ox_hi = axis_range(m, x, p, kw, s, w_out, "ox")
        first = Signal(addr_bits(K))  # membrane word of the event's first cycle
        m.d.comb += [first.eq((oy_lo * w_out + ox_lo) * Kc + self.word_offset(c)),
                     self.empty.eq((oy_lo > oy_hi) | (ox_lo > ox_hi))]

        k = Signal(range(max(2, V)))  # word of this cycle inside its position
        oy, oy_end = Signal.like(oy_hi), Signal.like(oy_hi)
        ox, ox_start, ox_end = Signal.like(ox_hi), Signal.like(ox_hi), Signal.like(ox_hi)
        word, row_word = Signal(addr_bits(K)), Signal(addr_bits(K))  # row: (oy, ox_lo)
        word_next = Signal(addr_bits(K))
        k_last = (k == V - 1) if V > 1 else Const(1, 1)
        ox_last, oy_last = ox == ox_end, oy == oy_end
        w = SimpleNamespace(y=y, x=x, c=c, oy_lo=oy_lo, ox_lo=ox_lo, k=k, k_last=k_last,
                            in_visit=~k_last, in_row=k_last & ~ox_last,
                            new_row=k_last & ox_last, window=(kh, kw, s, p))
        m.d.comb += [
            word_next.eq(Mux(w.in_visit, word + 1,
                             Mux(w.in_row, word + (Kc - (V - 1)), row_word + w_out * Kc))),
            self.word.eq(word), self.last.eq(k_last & ox_last & oy_last),
            self.visit.eq(k == 0),
            self.next_word.eq(Mux(self.step, word_next, first)),
        ]
        with m.If(self.start):
            m.d.sync += [k.eq(0), oy.eq(oy_lo), oy_end.eq(oy_hi), ox.eq(ox_lo),
                         ox_start.eq(ox_lo), ox_end.eq(ox_hi), word.eq(first),
                         row_word.eq(first)]
        with m.If(self.step):
            m.d.sync += word.eq(word_next)
            with m.If(w.in_visit):
                m.d.sync += k.eq(k + 1)
            with m.Elif(w.in_row):
                m.d.sync += [k.eq(0), ox.eq(ox + 1)]
            with m.Else():
                m.d.sync += [k.eq(0), ox.eq(ox_start), oy.eq(oy + 1),
                             row_word.eq(row_word + w_out * Kc)]
        self.weights_logic(m, w)
        return m

"""One core (§3, §8): FIFO consumer FSM, weight SRAM, membrane register file, parameter
ROM, accumulator lanes, neuron-update unit, push sequencer, §10 event counters, spike
trace and readback. The output core also owns the spike counters.

Cycle plan (K words):
* IDLE: pop if the FIFO is non-empty (pop cycle), presenting word 0's read addresses.
* ACC k = 0 … K-1: read data of word k arrives (addressed one cycle earlier), add, write.
* UPD g: update group g, write it back and into the trace; fired lanes go to ``pending``.
* PUSH: one cycle per pending lane, lowest first, stalling while the next FIFO is full.
* EOS: push the token (stalling likewise), then IDLE.
Memories read synchronously, so every state presents the address of the word the next
cycle works on; a word is never read and written in the same cycle.
"""

from __future__ import annotations

from amaranth import Array, C, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurochip.hw.arith import popcount
from neurochip.hw.config import (COUNTER_BITS, DATA_BITS, EOS_BIT, ITEM_BITS, OFFSET_BITS,
                                 SPACE_COUNT, SPACE_COUNTER, SPACE_MEMBRANE, SPACE_TRACE,
                                 CoreConfig, addr_bits)
from neurochip.hw.lanes import AccumulatorLanes
from neurochip.hw.memory import MemoryShape, RegFile, SyncRom
from neurochip.hw.neuron import NeuronMode, NeuronUpdate
from neurochip.hw.spike_counters import SpikeCounters
from neurochip.counters import CORE_COUNTERS


class Core(wiring.Component):
    """A layer's core. ``weights``/``params`` are the memory init words (ints) for the
    Amaranth simulation; with ``blackbox`` they come from ``<name>_*.hex`` instead."""

    def __init__(self, cfg: CoreConfig, count_bits: int, weights: list[int], params: list[int],
                 blackbox: bool):
        self.cfg, self.count_bits, self.blackbox = cfg, count_bits, blackbox
        self.weights, self.params = weights, params
        classes = cfg.neurons if cfg.is_output else 1
        super().__init__({
            "in_data": In(ITEM_BITS), "in_rdy": In(1), "pop": Out(1),
            "out_data": Out(ITEM_BITS), "out_valid": Out(1), "out_rdy": In(1),
            "count_en": In(1), "last_token": Out(1),
            "rb_active": In(1), "rb_space": In(3), "rb_offset": In(OFFSET_BITS),
            "rb_data": Out(DATA_BITS),
            "counts": Out(classes * count_bits), "prediction": Out(range(max(2, classes))),
        })

    def elaborate(self, platform) -> Module:  # noqa: C901 - one FSM, kept in one place
        m = Module()
        cfg = self.cfg
        K, L, B = cfg.words, cfg.lanes, cfg.membrane_bits
        T = cfg.time_steps

        # ---- memories
        m.submodules.weights = wrom = SyncRom(
            MemoryShape("sram", cfg.weight_depth, cfg.weight_width, rows=cfg.inputs),
            self.weights, f"{cfg.name}_weights.hex", self.blackbox)
        m.submodules.params = prom = SyncRom(MemoryShape("rom", K, cfg.param_width),
                                             self.params, f"{cfg.name}_params.hex", self.blackbox)
        m.submodules.membranes = mrf = RegFile(MemoryShape("regfile", K, cfg.membrane_width),
                                               self.blackbox)
        m.submodules.trace = trf = RegFile(MemoryShape("regfile", cfg.trace_depth, L),
                                           self.blackbox)
        m.submodules.acc = acc = AccumulatorLanes(L, cfg.weight_bits, B, cfg.saturate)
        m.submodules.upd = upd = NeuronUpdate(L, NeuronMode(
            B, cfg.saturate, cfg.reset, cfg.leak, cfg.leak_amount, cfg.discontinuous))

        # ---- state
        word = Signal(range(max(2, K)))
        word_next = Signal.like(word)
        row_base = Signal(range(max(2, cfg.weight_depth)))
        pending = Signal(L)
        push_base = Signal(range(max(2, cfg.neurons)))
        grp_base = Signal(range(max(2, cfg.neurons + L)))
        last_group = Signal()
        trace_row = Signal(range(max(2, cfg.trace_depth)))
        tokens = Signal(range(T + 1))
        mvalid = Signal(max(1, K))  # membrane word written since clear (else it reads 0)
        mvalid_q = Signal()
        is_eos = self.in_data[EOS_BIT]
        address = self.in_data[:EOS_BIT]
        m.d.comb += word_next.eq(Mux(word == K - 1, 0, word + 1))

        enable = Signal(L)
        full_mask, last_mask = cfg.lane_mask(0), cfg.lane_mask(K - 1)
        m.d.comb += enable.eq(Mux(word == K - 1, last_mask, full_mask))

        # ---- datapath wiring
        mem_word = Signal(cfg.membrane_width)
        m.d.comb += [
            mem_word.eq(Mux(mvalid_q, mrf.rdata, 0)),
            acc.membrane.eq(mem_word), acc.weights.eq(wrom.data), acc.enable.eq(enable),
            upd.membrane.eq(mem_word), upd.params.eq(prom.data), upd.enable.eq(enable),
            mrf.waddr.eq(word), trf.waddr.eq(trace_row), trf.wdata.eq(upd.fire),
        ]
        raddr = Signal(addr_bits(K))  # membrane / parameter word of the next cycle
        m.d.comb += [prom.addr.eq(raddr)]
        with m.If(self.rb_active):
            m.d.comb += mrf.raddr.eq(self.rb_offset >> cfg.lane_bits)
        with m.Else():
            m.d.comb += mrf.raddr.eq(raddr)
        m.d.sync += mvalid_q.eq(mvalid.bit_select(mrf.raddr, 1))

        # ---- counters of §10 (48 bits, count only inside the image window)
        ctr = {name: Signal(COUNTER_BITS, name=f"ctr_{name}") for name in CORE_COUNTERS}
        inc = {name: Signal(range(max(2, L + 1)), name=f"inc_{name}") for name in CORE_COUNTERS}
        with m.If(self.count_en):
            for name in CORE_COUNTERS:
                m.d.sync += ctr[name].eq(ctr[name] + inc[name])
        n_enabled = Mux(word == K - 1, cfg.enabled_lanes(K - 1), cfg.enabled_lanes(0))

        # ---- output core: spike counters
        if cfg.is_output:
            m.submodules.counters = sc = SpikeCounters(cfg.neurons, L, K, self.count_bits)
            m.d.comb += [sc.fire.eq(upd.fire), sc.word.eq(word), self.counts.eq(sc.counts),
                         self.prediction.eq(sc.prediction)]

        # ---- FSM
        with m.FSM(name="state"):
            with m.State("IDLE"):
                m.d.comb += [raddr.eq(0), wrom.addr.eq(address * K)]
                with m.If(self.in_rdy):
                    m.d.comb += [self.pop.eq(1), inc["pops"].eq(1), inc["busy_cycles"].eq(1)]
                    m.d.sync += word.eq(0)
                    with m.If(is_eos):
                        m.d.sync += grp_base.eq(0)
                        m.next = "UPD"
                    with m.Else():
                        m.d.sync += row_base.eq(address * K)
                        m.next = "ACC"
                with m.Else():
                    m.d.comb += inc["idle_cycles"].eq(1)
            with m.State("ACC"):
                m.d.comb += [raddr.eq(word_next), wrom.addr.eq(row_base + word_next),
                             mrf.wdata.eq(acc.result), mrf.we.eq(1),
                             inc["busy_cycles"].eq(1), inc["weight_word_reads"].eq(1),
                             inc["synaptic_ops"].eq(n_enabled),
                             inc["membrane_word_reads"].eq(1), inc["membrane_word_writes"].eq(1)]
                m.d.sync += [word.eq(word_next), mvalid.bit_select(word, 1).eq(1)]
                with m.If(word == K - 1):
                    m.next = "IDLE"
            with m.State("UPD"):
                m.d.comb += [raddr.eq(word_next), wrom.addr.eq(0),
                             mrf.wdata.eq(upd.result), mrf.we.eq(1), trf.we.eq(1),
                             inc["busy_cycles"].eq(1), inc["membrane_word_reads"].eq(1),
                             inc["membrane_word_writes"].eq(1), inc["param_word_reads"].eq(1),
                             inc["neuron_updates"].eq(n_enabled),
                             inc["spikes"].eq(popcount(upd.fire))]
                m.d.sync += [word.eq(word_next), mvalid.bit_select(word, 1).eq(1),
                             trace_row.eq(trace_row + 1), grp_base.eq(grp_base + L),
                             push_base.eq(grp_base), pending.eq(upd.fire),
                             last_group.eq(word == K - 1)]
                if cfg.is_output:
                    m.d.comb += sc.strobe.eq(1)
                    with m.If(word == K - 1):
                        m.d.sync += tokens.eq(tokens + 1)
                        m.d.comb += self.last_token.eq(tokens == T - 1)
                        m.next = "IDLE"
                else:
                    with m.If(upd.fire != 0):
                        m.next = "PUSH"
                    with m.Elif(word == K - 1):
                        m.next = "EOS"
            if not cfg.is_output:
                with m.State("PUSH"):
                    lowest = Signal(range(max(2, L)))
                    for lane in reversed(range(L)):
                        with m.If(pending[lane]):
                            m.d.comb += lowest.eq(lane)
                    remaining = pending & (pending - 1)
                    m.d.comb += [raddr.eq(word), wrom.addr.eq(0), self.out_valid.eq(1),
                                 self.out_data.eq(push_base + lowest)]
                    with m.If(self.out_rdy):
                        m.d.comb += [inc["pushes"].eq(1), inc["busy_cycles"].eq(1)]
                        m.d.sync += pending.eq(remaining)
                        with m.If(remaining == 0):
                            with m.If(last_group):
                                m.next = "EOS"
                            with m.Else():
                                m.next = "UPD"
                    with m.Else():
                        m.d.comb += inc["stall_cycles"].eq(1)
                with m.State("EOS"):
                    m.d.comb += [raddr.eq(word), wrom.addr.eq(0), self.out_valid.eq(1),
                                 self.out_data.eq(C(1 << EOS_BIT, ITEM_BITS))]
                    with m.If(self.out_rdy):
                        m.d.comb += [inc["pushes"].eq(1), inc["busy_cycles"].eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += inc["stall_cycles"].eq(1)

        self._readback(m, cfg, ctr, mrf, trf, mvalid_q)
        return m

    def _readback(self, m: Module, cfg: CoreConfig, ctr: dict, mrf: RegFile, trf: RegFile,
                  mvalid_q: Signal) -> None:
        """Debug read port: address in cycle c, ``rb_data`` in cycle c+1 (docs/rtl-interface.md)."""
        B, L = cfg.membrane_bits, cfg.lanes
        off = self.rb_offset
        space_q = Signal(3)
        sel_q = Signal(range(max(2, L)))  # lane (membranes) or slice (trace)
        ctr_q = Signal(DATA_BITS)
        m.d.sync += space_q.eq(self.rb_space)
        with m.If(self.rb_space == SPACE_MEMBRANE):
            m.d.sync += sel_q.eq(off[:cfg.lane_bits] if cfg.lane_bits else 0)
        with m.Else():
            m.d.sync += sel_q.eq(off[:cfg.slice_bits] if cfg.slice_bits else 0)
        m.d.comb += trf.raddr.eq(off >> cfg.slice_bits)
        halves = []
        for name in CORE_COUNTERS:
            halves += [ctr[name][:DATA_BITS], ctr[name][DATA_BITS:]]
        m.d.sync += ctr_q.eq(Array(halves)[off[:5]])
        lane_value = Mux(mvalid_q, mrf.rdata, 0).word_select(sel_q, B).as_signed()
        slices = cfg.trace_slices
        padded = Signal(slices * DATA_BITS)
        m.d.comb += padded.eq(trf.rdata)
        trace_word = padded.word_select(sel_q[:max(1, cfg.slice_bits)], DATA_BITS) \
            if slices > 1 else padded
        with m.Switch(space_q):
            with m.Case(SPACE_COUNTER):
                m.d.comb += self.rb_data.eq(ctr_q)
            with m.Case(SPACE_MEMBRANE):
                m.d.comb += self.rb_data.eq(lane_value)  # sign-extended to 32 bits
            with m.Case(SPACE_TRACE):
                m.d.comb += self.rb_data.eq(trace_word)
            if cfg.is_output:
                count_q = Signal(self.count_bits)
                sc = m.submodules.counters
                m.d.comb += sc.read_index.eq(off)
                m.d.sync += count_q.eq(sc.read_data)
                with m.Case(SPACE_COUNT):
                    m.d.comb += self.rb_data.eq(count_q)

"""The core shell (§3, §8): everything of a core that is the same for every layer kind and
neuron model. It pops the input stream, runs the kind's sequencer for an address event
and the model's neuron unit for an EOS token, pushes the fired neurons and the token
downstream, and owns the membrane register file (with its valid bits), the param memory,
the accumulator lanes, the spike trace, the §10 event counters, the output core's spike
counters and the debug readback.

Cycle plan (K membrane words = K groups of L lanes):
* IDLE: pop if the input stream is valid (pop cycle), presenting the reads of the next
  cycle (the sequencer's first word for an address event, group 0 for a token).
* ACC: one accumulation cycle of the sequencer: the read data of its word arrives
  (addressed one cycle earlier), add, write; after its last cycle, IDLE.
* UPD g: update group g, write it back and into the trace; fired lanes go to ``pending``.
* PUSH: one cycle per pending lane, lowest first, stalling while the output stream is
  not ready.
* EOS: push the token (stalling likewise), then IDLE.
Memories read synchronously, so every state presents the address of the word the next
cycle works on; a word is never read and written in the same cycle.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Array, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from neurochip.counters import CORE_COUNTERS
from neurochip.hw.arith import popcount
from neurochip.hw.config import (COUNTER_BITS, DATA_BITS, EOS_BIT, ITEM_BITS, OFFSET_BITS,
                                 SPACE_COUNT, SPACE_COUNTER, SPACE_MEMBRANE, SPACE_TRACE,
                                 CoreConfig, addr_bits, counter_select_bits)
from neurochip.hw.kinds.base import Sequencer
from neurochip.hw.lanes import AccumulatorLanes
from neurochip.hw.memory import MemoryShape, RegFile, SyncRom
from neurochip.hw.neurons.base import NeuronUnit
from neurochip.hw.spike_counters import SpikeCounters

ITEM = stream.Signature(ITEM_BITS)  # a FIFO item: bit 15 = EOS, bits 14:0 = address


def shell_memories(cfg: CoreConfig) -> dict[str, MemoryShape]:
    """The shell's own memories: param words, membranes, spike trace."""
    return {"param_words": MemoryShape("rom", cfg.words, cfg.param_width),
            "membranes": MemoryShape("regfile", cfg.words, cfg.membrane_width),
            "trace": MemoryShape("regfile", cfg.trace_depth, cfg.lanes)}


class CoreShell(wiring.Component):
    """One core: the kind- and model-independent part around ``seq`` (the layer kind's
    :class:`~neurochip.hw.kinds.base.Sequencer`) and ``unit`` (the neuron model's
    :class:`~neurochip.hw.neurons.base.NeuronUnit`).

    ``ins[i]`` are the input streams (one per input FIFO, in drain order), ``outs[o]`` the
    output streams (one per output FIFO); this shell drains one input and feeds at most
    one output (the output core none). ``param_words`` are the param-memory init words
    (ints) for the Amaranth simulation; with ``blackbox`` they come from ``cfg.param_file``.
    """

    def __init__(self, cfg: CoreConfig, count_bits: int, seq: Sequencer, unit: NeuronUnit,
                 param_words: list[int], blackbox: bool, inputs: int = 1, outputs: int = 1):
        self.check_streams(cfg, inputs, outputs)
        if (unit.lanes, unit.membrane_bits, unit.param_bits) != \
                (cfg.lanes, cfg.membrane_bits, cfg.param_bits):
            raise ValueError(f"layer {cfg.name}: neuron unit does not match the core's lanes, "
                             "membrane bits or param-word bits")
        self.cfg, self.count_bits, self.blackbox = cfg, count_bits, blackbox
        self.seq, self.unit, self.param_words = seq, unit, param_words
        members = {
            "ins": In(ITEM).array(inputs), "outs": Out(ITEM).array(outputs),
            "count_en": In(1),
            "rb_active": In(1), "rb_space": In(3), "rb_offset": In(OFFSET_BITS),
            "rb_data": Out(DATA_BITS),
        }
        if cfg.is_output:
            classes = cfg.neurons
            members.update({"last_token": Out(1), "counts": Out(classes * count_bits),
                            "prediction": Out(range(max(2, classes)))})
        super().__init__(members)

    @staticmethod
    def check_streams(cfg: CoreConfig, inputs: int, outputs: int) -> None:
        """Refuse what the shell does not implement (yet): fan-in and fan-out."""
        if inputs != 1:
            raise NotImplementedError(f"layer {cfg.name}: a core with {inputs} input FIFOs; "
                                      "the RTL core shell drains exactly one")
        if outputs > 1:
            raise NotImplementedError(f"layer {cfg.name}: a core with {outputs} output FIFOs "
                                      "(fan-out); the RTL core shell feeds at most one")
        if outputs != (0 if cfg.is_output else 1):
            raise NotImplementedError(f"layer {cfg.name}: {outputs} output FIFOs; the RTL core "
                                      "shell feeds one, and none from the output core")

    def elaborate(self, platform) -> Module:
        m = Module()
        s = self._datapath(m)
        with m.FSM(name="state"):
            self._pop_states(m, s)
            self._update_state(m, s)
            if not self.cfg.is_output:
                self._push_states(m, s)
        self._readback(m, s)
        return m

    def _datapath(self, m: Module) -> SimpleNamespace:
        """Memories, units, state registers, counters and the wiring the states share."""
        cfg = self.cfg
        K, L = cfg.words, cfg.lanes
        s = SimpleNamespace(src=self.ins[0], dst=None if cfg.is_output else self.outs[0])

        # ---- memories and datapath units
        mems = shell_memories(cfg)
        m.submodules.seq = s.seq = seq = self.seq
        m.submodules.unit = s.unit = unit = self.unit
        m.submodules.param_words = pmem = SyncRom(mems["param_words"], self.param_words,
                                                  cfg.param_file, self.blackbox)
        m.submodules.membranes = s.mrf = mrf = RegFile(mems["membranes"], self.blackbox)
        m.submodules.trace = s.trf = trf = RegFile(mems["trace"], self.blackbox)
        m.submodules.acc = s.acc = acc = AccumulatorLanes(L, cfg.weight_bits,
                                                          cfg.membrane_bits, cfg.saturate)

        # ---- state
        s.group = group = Signal(addr_bits(K))  # group of the next update cycle
        s.group_next = Signal.like(group)
        s.last = group == K - 1
        s.pending = Signal(L)
        s.push_base = Signal(range(max(2, cfg.neurons)))
        s.grp_base = Signal(range(max(2, cfg.neurons + L)))
        s.last_group = Signal()
        s.trace_row = Signal(range(max(2, cfg.trace_depth)))
        s.tokens = Signal(range(cfg.time_steps + 1))
        s.mvalid = Signal(max(1, K))  # membrane word written since clear (else it reads 0)
        s.mvalid_q = Signal()
        s.is_eos = s.src.payload[EOS_BIT]
        m.d.comb += [s.group_next.eq(Mux(s.last, 0, group + 1)),
                     seq.address.eq(s.src.payload[:EOS_BIT])]
        s.group_lanes = Mux(s.last, cfg.enabled_lanes(K - 1), cfg.enabled_lanes(0))

        # ---- datapath wiring
        mem_word = Signal(cfg.membrane_width)
        s.waddr = Signal(addr_bits(K))  # membrane word written this cycle
        s.raddr = Signal(addr_bits(K))  # membrane / param word of the next cycle
        m.d.comb += [
            mem_word.eq(Mux(s.mvalid_q, mrf.rdata, 0)),
            acc.membrane.eq(mem_word), acc.weights.eq(seq.weights), acc.enable.eq(seq.enable),
            unit.membrane.eq(mem_word), unit.param_word.eq(pmem.data),
            unit.enable.eq(Mux(s.last, cfg.lane_mask(K - 1), cfg.lane_mask(0))),
            s.waddr.eq(group), mrf.waddr.eq(s.waddr), pmem.addr.eq(s.raddr),
            trf.waddr.eq(s.trace_row), trf.wdata.eq(unit.fire),
        ]
        with m.If(self.rb_active):
            m.d.comb += mrf.raddr.eq(self.rb_offset >> cfg.lane_bits)
        with m.Else():
            m.d.comb += mrf.raddr.eq(s.raddr)
        m.d.sync += s.mvalid_q.eq(s.mvalid.bit_select(mrf.raddr, 1))

        # ---- counters of §10 (48 bits, count only inside the image window)
        s.ctr = {name: Signal(COUNTER_BITS, name=f"ctr_{name}") for name in CORE_COUNTERS}
        s.inc = {name: Signal(range(max(2, L + 1)), name=f"inc_{name}")
                 for name in CORE_COUNTERS}
        with m.If(self.count_en):
            for name in CORE_COUNTERS:
                m.d.sync += s.ctr[name].eq(s.ctr[name] + s.inc[name])

        # ---- output core: spike counters
        if cfg.is_output:
            m.submodules.counters = s.sc = sc = SpikeCounters(cfg.neurons, L, K,
                                                              self.count_bits)
            m.d.comb += [sc.fire.eq(unit.fire), sc.word.eq(group), self.counts.eq(sc.counts),
                         self.prediction.eq(sc.prediction)]
        return s

    def _pop_states(self, m: Module, s: SimpleNamespace) -> None:
        """IDLE (pop) and ACC (the sequencer's accumulation cycles of an address event)."""
        seq, inc = s.seq, s.inc
        with m.State("IDLE"):
            m.d.comb += s.src.ready.eq(1)
            with m.If(s.is_eos):
                m.d.comb += s.raddr.eq(0)
            with m.Else():
                m.d.comb += s.raddr.eq(seq.next_word)
            with m.If(s.src.valid):
                m.d.comb += [inc["pops"].eq(1), inc["busy_cycles"].eq(1)]
                with m.If(s.is_eos):
                    m.d.sync += [s.group.eq(0), s.grp_base.eq(0)]
                    m.next = "UPD"
                with m.Else():
                    m.d.comb += seq.start.eq(1)
                    m.next = "ACC"
            with m.Else():
                m.d.comb += inc["idle_cycles"].eq(1)
        with m.State("ACC"):
            m.d.comb += [seq.step.eq(1), s.raddr.eq(seq.next_word), s.waddr.eq(seq.word),
                         s.mrf.wdata.eq(s.acc.result), s.mrf.we.eq(1),
                         inc["busy_cycles"].eq(1), inc["weight_word_reads"].eq(1),
                         inc["synaptic_ops"].eq(seq.ops),
                         inc["membrane_word_reads"].eq(1), inc["membrane_word_writes"].eq(1)]
            m.d.sync += s.mvalid.bit_select(seq.word, 1).eq(1)
            with m.If(seq.last):
                m.next = "IDLE"

    def _update_state(self, m: Module, s: SimpleNamespace) -> None:
        """UPD g: the neuron unit updates group g; the output core counts, the others push."""
        unit, inc = s.unit, s.inc
        with m.State("UPD"):
            m.d.comb += [s.raddr.eq(s.group_next),
                         s.mrf.wdata.eq(unit.result), s.mrf.we.eq(1), s.trf.we.eq(1),
                         inc["busy_cycles"].eq(1), inc["membrane_word_reads"].eq(1),
                         inc["membrane_word_writes"].eq(1), inc["param_word_reads"].eq(1),
                         inc["neuron_updates"].eq(s.group_lanes),
                         inc["spikes"].eq(popcount(unit.fire))]
            m.d.sync += [s.group.eq(s.group_next), s.mvalid.bit_select(s.group, 1).eq(1),
                         s.trace_row.eq(s.trace_row + 1),
                         s.grp_base.eq(s.grp_base + self.cfg.lanes),
                         s.push_base.eq(s.grp_base), s.pending.eq(unit.fire),
                         s.last_group.eq(s.last)]
            if self.cfg.is_output:
                m.d.comb += s.sc.strobe.eq(1)
                with m.If(s.last):
                    m.d.sync += s.tokens.eq(s.tokens + 1)
                    m.d.comb += self.last_token.eq(s.tokens == self.cfg.time_steps - 1)
                    m.next = "IDLE"
            else:
                with m.If(unit.fire != 0):
                    m.next = "PUSH"
                with m.Elif(s.last):
                    m.next = "EOS"

    def _push_states(self, m: Module, s: SimpleNamespace) -> None:
        """PUSH (fired neurons of the group, lowest lane first) and EOS (the token)."""
        dst, inc, pending = s.dst, s.inc, s.pending
        with m.State("PUSH"):
            lowest = Signal(range(max(2, self.cfg.lanes)))
            for lane in reversed(range(self.cfg.lanes)):
                with m.If(pending[lane]):
                    m.d.comb += lowest.eq(lane)
            remaining = pending & (pending - 1)
            m.d.comb += [s.raddr.eq(s.group), dst.valid.eq(1),
                         dst.payload.eq(s.push_base + lowest)]
            with m.If(dst.ready):
                m.d.comb += [inc["pushes"].eq(1), inc["busy_cycles"].eq(1)]
                m.d.sync += pending.eq(remaining)
                with m.If(remaining == 0):
                    with m.If(s.last_group):
                        m.next = "EOS"
                    with m.Else():
                        m.next = "UPD"
            with m.Else():
                m.d.comb += inc["stall_cycles"].eq(1)
        with m.State("EOS"):
            m.d.comb += [s.raddr.eq(s.group), dst.valid.eq(1),
                         dst.payload.eq(Const(1 << EOS_BIT, ITEM_BITS))]
            with m.If(dst.ready):
                m.d.comb += [inc["pushes"].eq(1), inc["busy_cycles"].eq(1)]
                m.next = "IDLE"
            with m.Else():
                m.d.comb += inc["stall_cycles"].eq(1)

    def _readback(self, m: Module, s: SimpleNamespace) -> None:
        """Debug read port: address in cycle c, ``rb_data`` in cycle c+1 (docs/rtl-interface.md)."""
        cfg = self.cfg
        ctr, mrf, trf = s.ctr, s.mrf, s.trf
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
        words = []  # counter j: word 2j = bits 31:0, 2j+1 = bits 47:32
        for name in CORE_COUNTERS:
            words += [ctr[name][lo:min(lo + DATA_BITS, COUNTER_BITS)]
                      for lo in range(0, COUNTER_BITS, DATA_BITS)]
        m.d.sync += ctr_q.eq(Array(words)[off[:counter_select_bits(len(CORE_COUNTERS))]])
        lane_value = Mux(s.mvalid_q, mrf.rdata, 0).word_select(sel_q, B).as_signed()
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

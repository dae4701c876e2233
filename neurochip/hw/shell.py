"""The core shell (§3, §4, §8): everything of a core that is the same for every layer kind
and neuron model. It drains the input streams in source order, runs the kind's sequencer
(address generator) for an address event and the model's neuron unit for the EOS token of
the last source, pushes the neurons that go out and the token into every output stream
(fan-out), and owns the membrane register file (with its valid bits), the param memory,
the accumulator lanes, the sent bitmap (a ``pool`` with ``emit = once``, a model that
emits once), a register file per state word the model declares (§6.3), the spike trace,
the §10 event counters, the output core's spike counters and decision, and the debug
readback.

Cycle plan (K membrane words = K update groups of L lanes; group g = pos·K_c + k):
* IDLE: pop the head of the current source's stream if it is valid (pop cycle),
  presenting the reads of the next cycle (the sequencer's first word for an address
  event, group 0 for a token). The EOS token of a source that is not the last moves on to
  the next source and costs only its pop cycle; an address event that touches nothing
  (``empty``) likewise.
* ACC: one accumulation cycle of the sequencer: the read data of its word arrives
  (addressed one cycle earlier), add into the enabled lanes, write; after its last, IDLE.
* UPD g: update group g (param word k = g mod K_c; sent-bitmap word g for emit = once),
  write it back and into the trace; the lanes that go out (``fire & ~sent``) go to
  ``pending``, with push addresses pos·C + k·L + lane.
* PUSH: one cycle per pending lane and output stream (lowest lane first, each item into
  the streams in consumer order), stalling while that stream is not ready.
* EOS: push the token into every output stream likewise, then IDLE.
Memories read synchronously, so every state presents the address of the word the next
cycle works on; a word is never read and written in the same cycle.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from neurochip.counters import CORE_COUNTERS
from neurochip.hw.arith import popcount
from neurochip.hw.config import (COUNTER_BITS, DATA_BITS, EOS_BIT, ITEM_BITS, OFFSET_BITS,
                                 SPACE_COUNT, SPACE_COUNTER, SPACE_MEMBRANE, SPACE_STATE,
                                 SPACE_TRACE,
                                 CoreConfig, addr_bits, counter_select_bits)
from neurochip.hw.kinds.base import Sequencer
from neurochip.hw.lanes import AccumulatorLanes
from neurochip.hw.memory import MemoryShape, RegFile, SyncRom
from neurochip.hw.neurons.base import NeuronUnit, result_port
from neurochip.hw.spike_counters import SpikeCounters
from neurochip.neurons import get_model
from neurochip.neurons.base import StateWord

ITEM = stream.Signature(ITEM_BITS)  # a FIFO item: bit 15 = EOS, bits 14:0 = address


def has_sent_bitmap(cfg: CoreConfig) -> bool:
    """§5.3, §6.3: one sent bit per neuron, for the kind (a ``pool`` with ``emit = once``)
    or as the fired bit of a model that emits once (``ttfs``); one bitmap serves both."""
    from neurochip.hw.kinds import sequencer

    return sequencer(cfg.kind).sent_bitmap(cfg) or get_model(cfg.model).emits_once


def state_words(cfg: CoreConfig) -> tuple[StateWord, ...]:
    """§6.3: the per-neuron state words the core's model declares (ttfs: V)."""
    return get_model(cfg.model).state_words


def reset_word(cfg: CoreConfig, word: StateWord) -> int:
    """A register-file word of ``word``'s reset value in every lane."""
    bits = word.bits(cfg)
    lane = word.reset & ((1 << bits) - 1)
    return sum(lane << (bits * i) for i in range(cfg.lanes))


def shell_memories(cfg: CoreConfig) -> dict[str, MemoryShape]:
    """The shell's own memories: param words (K_c, one per channel word), membranes, the
    spike trace, the sent bitmap (K words of L bits) if the core keeps one, and one
    register file per declared state word (K words of L lanes of its width)."""
    mems = {"param_words": MemoryShape("rom", cfg.param_words, cfg.param_width),
            "membranes": MemoryShape("regfile", cfg.words, cfg.membrane_width),
            "trace": MemoryShape("regfile", cfg.trace_depth, cfg.lanes)}
    if has_sent_bitmap(cfg):
        mems["sent"] = MemoryShape("regfile", cfg.words, cfg.lanes)
    for word in state_words(cfg):
        mems[word.name] = MemoryShape("regfile", cfg.words, cfg.lanes * word.bits(cfg))
    return mems


class CoreShell(wiring.Component):
    """One core: the kind- and model-independent part around ``seq`` (the layer kind's
    :class:`~neurochip.hw.kinds.base.Sequencer`) and ``unit`` (the neuron model's
    :class:`~neurochip.hw.neurons.base.NeuronUnit`).

    ``ins[i]`` are the input streams (one per input FIFO, in drain order, §4), ``outs[o]``
    the output streams (one per output FIFO, in push order; none for the output core).
    ``param_words`` are the param-memory init words (ints) for the Amaranth simulation;
    with ``blackbox`` they come from ``cfg.param_file``.
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
        self.inputs, self.outputs = inputs, outputs
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
        """Refuse stream counts that do not fit the core: at least one input; the output
        core feeds no FIFO, every other core at least one."""
        if inputs < 1:
            raise ValueError(f"layer {cfg.name}: a core needs at least one input FIFO")
        if cfg.is_output and outputs:
            raise ValueError(f"layer {cfg.name}: the output core drives the spike counters "
                             f"and feeds no FIFO, but {outputs} output FIFOs were given")
        if not cfg.is_output and outputs < 1:
            raise ValueError(f"layer {cfg.name}: a core that is not the output core needs at "
                             "least one output FIFO")

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

    def _streams(self, m: Module, s: SimpleNamespace) -> None:
        """The head of the current source's stream (``src_sel``) and the push port of the
        current consumer's stream (``dst_sel``)."""
        n_in, n_out = self.inputs, self.outputs
        s.src_sel = Signal(range(max(2, n_in)))  # source being drained (§4)
        s.src_last = (s.src_sel == n_in - 1) if n_in > 1 else Const(1, 1)
        s.src_valid, s.src_payload, s.pop = Signal(), Signal(ITEM_BITS), Signal()
        for i, port in enumerate(self.ins):
            sel = (s.src_sel == i) if n_in > 1 else Const(1, 1)
            m.d.comb += port.ready.eq(s.pop & sel)
            with m.If(sel):
                m.d.comb += [s.src_valid.eq(port.valid), s.src_payload.eq(port.payload)]
        s.dst_sel = Signal(range(max(2, n_out)))  # consumer of the next push (§4 fan-out)
        s.dst_last = (s.dst_sel == n_out - 1) if n_out > 1 else Const(1, 1)
        s.dst_valid, s.dst_ready, s.dst_payload = Signal(), Signal(), Signal(ITEM_BITS)
        for o, port in enumerate(self.outs):
            sel = (s.dst_sel == o) if n_out > 1 else Const(1, 1)
            m.d.comb += [port.valid.eq(s.dst_valid & sel), port.payload.eq(s.dst_payload)]
            with m.If(sel):
                m.d.comb += s.dst_ready.eq(port.ready)

    def _datapath(self, m: Module) -> SimpleNamespace:
        """Memories, units, state registers, counters and the wiring the states share."""
        cfg = self.cfg
        K, L, C, Kc = cfg.words, cfg.lanes, cfg.channels, cfg.wpp
        s = SimpleNamespace()
        self._streams(m, s)

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
        s.k = k = Signal(range(max(2, Kc)))  # its word inside its position: g mod K_c
        s.k_next = Signal.like(k)
        s.k_last = (k == Kc - 1) if Kc > 1 else Const(1, 1)
        s.pending = Signal(L)
        s.push_base = Signal(range(max(2, cfg.neurons)))
        s.grp_base = Signal(range(max(2, cfg.neurons + L)))  # pos·C + k·L of ``group``
        s.last_group = Signal()
        s.trace_row = Signal(range(max(2, cfg.trace_depth)))
        s.tokens = Signal(range(cfg.time_steps + 1))
        s.mvalid = Signal(max(1, K))  # membrane word written since clear (else it reads 0)
        s.mvalid_q = Signal()
        s.is_eos = s.src_payload[EOS_BIT]
        s.upd_strobe = Signal()  # an update cycle (UPD)
        m.d.comb += [s.group_next.eq(Mux(s.last, 0, group + 1)),
                     s.k_next.eq(Mux(s.k_last, 0, k + 1)),
                     seq.address.eq(s.src_payload[:EOS_BIT]), seq.source.eq(s.src_sel)]
        s.base_next = Mux(s.k_last, s.grp_base + (C - (Kc - 1) * L), s.grp_base + L)
        s.group_lanes = Mux(s.k_last, cfg.enabled_lanes(Kc - 1), cfg.enabled_lanes(0))

        # ---- datapath wiring
        mem_word = Signal(cfg.membrane_width)
        s.waddr = Signal(addr_bits(K))  # membrane word written this cycle
        s.raddr = Signal(addr_bits(K))  # membrane (and sent-bitmap) word of the next cycle
        s.praddr = Signal(addr_bits(Kc))  # param word of the next cycle
        m.d.comb += [
            mem_word.eq(Mux(s.mvalid_q, mrf.rdata, 0)),
            acc.membrane.eq(mem_word), acc.weights.eq(seq.weights), acc.enable.eq(seq.enable),
            unit.membrane.eq(mem_word), unit.param_word.eq(pmem.data),
            unit.enable.eq(Mux(s.k_last, cfg.lane_mask(Kc - 1), cfg.lane_mask(0))),
            s.waddr.eq(group), mrf.waddr.eq(s.waddr), pmem.addr.eq(s.praddr),
            trf.waddr.eq(s.trace_row),
        ]
        with m.If(self.rb_active):
            m.d.comb += mrf.raddr.eq(self.rb_offset >> cfg.lane_bits)
        with m.Else():
            m.d.comb += mrf.raddr.eq(s.raddr)
        m.d.sync += s.mvalid_q.eq(s.mvalid.bit_select(mrf.raddr, 1))

        # ---- §5.3 emit = once: the sent bitmap (valid bits like the membranes')
        s.out = Signal(L)  # the lanes of the group being updated that go out
        if has_sent_bitmap(cfg):
            m.submodules.sent = s.brf = brf = RegFile(mems["sent"], self.blackbox)
            bvalid = Signal(max(1, K))
            bvalid_q = Signal()
            sent = Signal(L)
            s.sent_write = [bvalid.bit_select(group, 1).eq(1)]
            m.d.sync += bvalid_q.eq(bvalid.bit_select(s.raddr, 1))
            m.d.comb += [brf.raddr.eq(s.raddr), brf.waddr.eq(group),
                         sent.eq(Mux(bvalid_q, brf.rdata, 0)),
                         brf.wdata.eq(sent | unit.fire),
                         s.out.eq(unit.fire & ~sent)]
        else:
            s.brf, s.sent_write = None, []
            m.d.comb += s.out.eq(unit.fire)
        m.d.comb += trf.wdata.eq(s.out)

        # ---- §6.3 the model's state words: a register file each, read and written in
        # update cycles only; every group's word is written in every step, so one flag (a
        # step has been updated since clear) replaces per-word valid bits: before it, a
        # word reads its reset value
        s.state = {}  # state word name -> (its declaration, its register file)
        s.state_valid = Signal()
        for word in state_words(cfg):
            m.submodules[word.name] = rf = RegFile(mems[word.name], self.blackbox)
            s.state[word.name] = (word, rf)
            with m.If(self.rb_active):
                m.d.comb += rf.raddr.eq(self.rb_offset >> cfg.lane_bits)
            with m.Else():
                m.d.comb += rf.raddr.eq(s.raddr)
            m.d.comb += [getattr(unit, word.name).eq(self._state_word(s, word.name)),
                         rf.waddr.eq(group), rf.wdata.eq(getattr(unit, result_port(word.name)))]

        # ---- counters of §10 (48 bits, count only inside the image window)
        s.ctr = {name: Signal(COUNTER_BITS, name=f"ctr_{name}") for name in CORE_COUNTERS}
        s.inc = {name: Signal(range(max(3, L + 1)), name=f"inc_{name}")
                 for name in CORE_COUNTERS}
        with m.If(self.count_en):
            for name in CORE_COUNTERS:
                m.d.sync += s.ctr[name].eq(s.ctr[name] + s.inc[name])

        # ---- output core: spike counters
        if cfg.is_output:
            m.submodules.counters = s.sc = sc = SpikeCounters(cfg.neurons, L, K,
                                                              self.count_bits, C, Kc)
            m.d.comb += [sc.fire.eq(s.out), sc.word.eq(group), self.counts.eq(sc.counts)]
            decision = get_model(cfg.model).decision
            if decision.first_spike:
                self._first_spike_decision(m, s, decision.fallback)
            else:
                m.d.comb += self.prediction.eq(sc.prediction)
        return s

    def _state_word(self, s: SimpleNamespace, name: str):
        """The register-file word of state word ``name`` at the read address: its reset
        value in every lane until the first step's update has written it."""
        word, rf = s.state[name]
        return Mux(s.state_valid, rf.rdata, reset_word(self.cfg, word))

    def _first_spike_decision(self, m: Module, s: SimpleNamespace, fallback: str) -> None:
        """§6.3 first-spike decision of an output core, built in its update cycles:
        ``winner`` latches the first class that goes out (groups run in ascending class
        order, lowest lane first, so a tie goes to the lowest index); ``best`` is the
        running argmax of the new ``fallback`` state word (ttfs: V) over the enabled lanes
        of a step (strictly greater replaces: lowest index on a tie), restarted at group 0,
        so after the image it is the last step's. The prediction is ``winner`` if any
        class went out, else ``best``."""
        cfg, unit = self.cfg, s.unit
        word = s.state[fallback][0]
        B, L = word.bits(cfg), cfg.lanes
        new_word = getattr(unit, result_port(fallback))
        idx = range(max(2, cfg.neurons))
        s.winner, s.winner_valid = Signal(idx), Signal()
        best_v, best_i = Signal(signed(B) if word.signed else B), Signal(idx)
        with m.If(s.upd_strobe & ~s.winner_valid & (s.out != 0)):
            lowest = Signal(range(max(2, L)))
            for lane in reversed(range(L)):
                with m.If(s.out[lane]):
                    m.d.comb += lowest.eq(lane)
            m.d.sync += [s.winner.eq(s.grp_base + lowest), s.winner_valid.eq(1)]
        group_zero = s.group == 0  # a new step: lane 0 (always enabled) starts the scan
        # the group's argmax as a tree of pairwise compares (depth log2 L, not L: this
        # path limited the core's Fmax), the right side only if strictly greater, so the
        # lowest enabled lane of the largest V wins, as the lane-by-lane scan it replaces
        lanes = [(self._lane(new_word, lane, word), s.grp_base + lane,
                  unit.enable[lane] if lane else Const(1, 1)) for lane in range(L)]
        while len(lanes) > 1:
            pairs = [(a, b) for a, b in zip(lanes[0::2], lanes[1::2])]
            merged = []
            for (av, ai, aok), (bv, bi, bok) in pairs:
                take_b = bok & (~aok | (bv > av))
                merged.append((Mux(take_b, bv, av), Mux(take_b, bi, ai), aok | bok))
            lanes = merged + lanes[2 * len(pairs):]
        group_v, group_i, _ = lanes[0]
        take = group_zero | (group_v > best_v)  # equal to the running best: keep it
        cur_v, cur_i = Mux(take, group_v, best_v), Mux(take, group_i, best_i)
        with m.If(s.upd_strobe):
            m.d.sync += [best_v.eq(cur_v), best_i.eq(cur_i)]
        m.d.comb += self.prediction.eq(Mux(s.winner_valid, s.winner, best_i))

    def _lane(self, value, lane, word: StateWord):
        """Lane ``lane`` (an int or a signal) of a register-file word of ``word``, signed
        if the word is."""
        lane_value = value.word_select(lane, word.bits(self.cfg))
        return lane_value.as_signed() if word.signed else lane_value

    def _pop_states(self, m: Module, s: SimpleNamespace) -> None:
        """IDLE (pop) and ACC (the sequencer's accumulation cycles of an address event)."""
        seq, inc = s.seq, s.inc
        with m.State("IDLE"):
            m.d.comb += [s.pop.eq(1), s.praddr.eq(0)]
            with m.If(s.is_eos):
                m.d.comb += s.raddr.eq(0)
            with m.Else():
                m.d.comb += s.raddr.eq(seq.next_word)
            with m.If(s.src_valid):
                m.d.comb += [inc["pops"].eq(1), inc["busy_cycles"].eq(1)]
                with m.If(s.is_eos):
                    with m.If(s.src_last):  # the step's last token: update (§6)
                        m.d.sync += [s.src_sel.eq(0), s.group.eq(0), s.k.eq(0),
                                     s.grp_base.eq(0)]
                        m.next = "UPD"
                    with m.Else():  # drain the next source (§4): the pop cycle only
                        m.d.sync += s.src_sel.eq(s.src_sel + 1)
                with m.Else():
                    m.d.comb += seq.start.eq(1)
                    with m.If(~seq.empty):
                        m.next = "ACC"
            with m.Else():
                m.d.comb += inc["idle_cycles"].eq(1)
        with m.State("ACC"):
            m.d.comb += [seq.step.eq(1), s.raddr.eq(seq.next_word), s.waddr.eq(seq.word),
                         s.mrf.wdata.eq(s.acc.result), s.mrf.we.eq(1),
                         inc["busy_cycles"].eq(1),
                         inc["weight_word_reads"].eq(int(type(seq).reads_weights)),
                         inc["synaptic_ops"].eq(seq.ops), inc["address_steps"].eq(seq.visit),
                         inc["membrane_word_reads"].eq(1), inc["membrane_word_writes"].eq(1)]
            m.d.sync += s.mvalid.bit_select(seq.word, 1).eq(1)
            with m.If(seq.last):
                m.next = "IDLE"

    def _update_state(self, m: Module, s: SimpleNamespace) -> None:
        """UPD g: the neuron unit updates group g; the output core counts, the others push."""
        unit, inc = s.unit, s.inc
        with m.State("UPD"):
            m.d.comb += [s.raddr.eq(s.group_next), s.praddr.eq(s.k_next),
                         s.mrf.wdata.eq(unit.result), s.mrf.we.eq(1), s.trf.we.eq(1),
                         inc["busy_cycles"].eq(1), inc["membrane_word_reads"].eq(1),
                         inc["membrane_word_writes"].eq(1), inc["param_word_reads"].eq(1),
                         inc["neuron_updates"].eq(s.group_lanes),
                         inc["spikes"].eq(popcount(s.out))]
            if s.brf is not None:
                m.d.comb += [s.brf.we.eq(1), inc["bitmap_reads"].eq(1),
                             inc["bitmap_writes"].eq(1)]
                m.d.sync += s.sent_write
            if s.state:  # §6.3: each state word too, counted as membrane words
                m.d.comb += [rf.we.eq(1) for _, rf in s.state.values()]
                m.d.comb += [inc["membrane_word_reads"].eq(1 + len(s.state)),
                             inc["membrane_word_writes"].eq(1 + len(s.state))]
                with m.If(s.last):
                    m.d.sync += s.state_valid.eq(1)
            m.d.comb += s.upd_strobe.eq(1)
            if "step_done" in unit.signature.members:  # a model with a step counter (§6.2)
                m.d.comb += unit.step_done.eq(s.last)
            m.d.sync += [s.group.eq(s.group_next), s.k.eq(s.k_next),
                         s.mvalid.bit_select(s.group, 1).eq(1),
                         s.trace_row.eq(s.trace_row + 1),
                         s.grp_base.eq(s.base_next),
                         s.push_base.eq(s.grp_base), s.pending.eq(s.out),
                         s.last_group.eq(s.last)]
            if self.cfg.is_output:
                m.d.comb += s.sc.strobe.eq(1)
                with m.If(s.last):
                    m.d.sync += s.tokens.eq(s.tokens + 1)
                    m.d.comb += self.last_token.eq(s.tokens == self.cfg.time_steps - 1)
                    m.next = "IDLE"
            else:
                with m.If(s.out != 0):
                    m.next = "PUSH"
                with m.Elif(s.last):
                    m.next = "EOS"

    def _push_states(self, m: Module, s: SimpleNamespace) -> None:
        """PUSH (the group's neurons that go out, lowest lane first, each into every output
        stream in consumer order) and EOS (the token, likewise)."""
        inc, pending = s.inc, s.pending
        with m.State("PUSH"):
            lowest = Signal(range(max(2, self.cfg.lanes)))
            for lane in reversed(range(self.cfg.lanes)):
                with m.If(pending[lane]):
                    m.d.comb += lowest.eq(lane)
            remaining = pending & (pending - 1)
            m.d.comb += [s.raddr.eq(s.group), s.praddr.eq(s.k), s.dst_valid.eq(1),
                         s.dst_payload.eq(s.push_base + lowest)]
            with m.If(s.dst_ready):
                m.d.comb += [inc["pushes"].eq(1), inc["busy_cycles"].eq(1)]
                with m.If(s.dst_last):
                    m.d.sync += [pending.eq(remaining), s.dst_sel.eq(0)]
                    with m.If(remaining == 0):
                        with m.If(s.last_group):
                            m.next = "EOS"
                        with m.Else():
                            m.next = "UPD"
                with m.Else():
                    m.d.sync += s.dst_sel.eq(s.dst_sel + 1)
            with m.Else():
                m.d.comb += inc["stall_cycles"].eq(1)
        with m.State("EOS"):
            m.d.comb += [s.raddr.eq(s.group), s.praddr.eq(s.k), s.dst_valid.eq(1),
                         s.dst_payload.eq(Const(1 << EOS_BIT, ITEM_BITS))]
            with m.If(s.dst_ready):
                m.d.comb += [inc["pushes"].eq(1), inc["busy_cycles"].eq(1)]
                with m.If(s.dst_last):
                    m.d.sync += s.dst_sel.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += s.dst_sel.eq(s.dst_sel + 1)
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
        with m.If((self.rb_space == SPACE_MEMBRANE) | (self.rb_space >= SPACE_STATE)):
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
            for index, (name, (word, _)) in enumerate(s.state.items()):
                with m.Case(SPACE_STATE + index):  # sign- or zero-extended to 32 bits
                    m.d.comb += self.rb_data.eq(self._lane(self._state_word(s, name), sel_q,
                                                           word))
            if cfg.is_output:
                count_q = Signal(self.count_bits)
                sc = m.submodules.counters
                m.d.comb += sc.read_index.eq(off)
                m.d.sync += count_q.eq(sc.read_data)
                with m.Case(SPACE_COUNT):
                    m.d.comb += self.rb_data.eq(count_q)

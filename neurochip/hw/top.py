"""Chip top level (§1): the FIFOs and cores of the topology table (``neurochip.graph``:
the host writes its input FIFO, core j drains ``in_fifos[j]`` and feeds ``out_fifos[j]``),
the per-image ``clear`` (§9), ``done``, the chip counters of §10 and the debug readback
mux. Port list and timing: docs/rtl-interface.md."""

from __future__ import annotations

from amaranth import Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurochip.description import CoreDescription
from neurochip.hw.config import (CHIP_CYCLES, CHIP_HASH, CHIP_HOST_PUSHES, CHIP_HOST_STALLS,
                                 CHIP_LAYERS, CHIP_PREDICTION, CHIP_STATUS, CORE_SHIFT,
                                 COUNTER_BITS, DATA_BITS, ITEM_BITS, OFFSET_BITS, SPACE_CHIP,
                                 SPACE_SHIFT, ChipConfig)
from neurochip.hw.core import build_core
from neurochip.hw.fifo import SpikeFifo

TOP_NAME = "neurochip_top"


class Chip(wiring.Component):
    """The whole chip of a core description. ``blackbox=True`` for Verilog (memories are
    size-named modules with ``$readmemh`` files), False for Amaranth simulation."""

    def __init__(self, desc: CoreDescription, blackbox: bool = False):
        self.cfg = cfg = ChipConfig.from_description(desc)
        self.desc, self.blackbox = desc, blackbox
        super().__init__({
            "in_data": In(ITEM_BITS), "in_valid": In(1), "in_ready": Out(1),
            "clear": In(1), "done": Out(1),
            "prediction": Out(range(max(2, cfg.classes))),
            "counts": Out(cfg.classes * cfg.count_bits),
            "dbg_addr": In(32), "dbg_data": Out(DATA_BITS),
        })

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        topo = cfg.topology
        if len(topo.host_fifos) != 1:
            raise NotImplementedError(f"{len(topo.host_fifos)} layers read the input; the "
                                      "host port feeds exactly one FIFO")
        fifos = [SpikeFifo(depth) for depth in topo.depth]
        for f, fifo in enumerate(fifos):
            m.submodules[f"fifo{f}"] = ResetInserter(self.clear)(fifo)
        cores = []
        for j, (c, lay) in enumerate(zip(cfg.cores, self.desc.layers)):
            core = build_core(c, lay, cfg.count_bits, self.blackbox,
                              inputs=len(topo.in_fifos[j]), outputs=len(topo.out_fifos[j]))
            m.submodules[f"core{j}"] = ResetInserter(self.clear)(core)
            cores.append(core)

        done = Signal()
        running = Signal()
        m.d.comb += [running.eq(~done), self.done.eq(done)]
        # host port: no push in the clear cycle
        host = fifos[topo.host_fifos[0]].w
        m.d.comb += [host.payload.eq(self.in_data), host.valid.eq(self.in_valid & ~self.clear),
                     self.in_ready.eq(host.ready & ~self.clear)]
        for j, core in enumerate(cores):
            for i, f in enumerate(topo.in_fifos[j]):
                wiring.connect(m, fifos[f].r, core.ins[i])
            for o, f in enumerate(topo.out_fifos[j]):
                wiring.connect(m, core.outs[o], fifos[f].w)
            m.d.comb += [core.count_en.eq(running), core.rb_active.eq(done)]
        out = cores[topo.output_core]
        m.d.comb += [self.prediction.eq(out.prediction), self.counts.eq(out.counts)]

        # chip counters (§10) and done (§8), all zeroed by clear (§9)
        cycles = Signal(COUNTER_BITS)
        host_pushes = Signal(COUNTER_BITS)
        host_stalls = Signal(COUNTER_BITS)
        with m.If(self.clear):
            m.d.sync += [done.eq(0), cycles.eq(0), host_pushes.eq(0), host_stalls.eq(0)]
        with m.Elif(running):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(out.last_token):
                m.d.sync += done.eq(1)
            with m.If(self.in_valid & self.in_ready):
                m.d.sync += host_pushes.eq(host_pushes + 1)
            with m.If(self.in_valid & ~self.in_ready):
                m.d.sync += host_stalls.eq(host_stalls + 1)

        # debug readback: address sampled at the clock edge, data valid after it
        space = self.dbg_addr[SPACE_SHIFT:]
        core_sel = self.dbg_addr[CORE_SHIFT:SPACE_SHIFT]
        offset = self.dbg_addr[:OFFSET_BITS]
        for core in cores:
            m.d.comb += [core.rb_space.eq(space), core.rb_offset.eq(offset)]
        chip_regs = {
            CHIP_CYCLES: cycles[:32], CHIP_CYCLES + 1: cycles[32:],
            CHIP_HOST_PUSHES: host_pushes[:32], CHIP_HOST_PUSHES + 1: host_pushes[32:],
            CHIP_HOST_STALLS: host_stalls[:32], CHIP_HOST_STALLS + 1: host_stalls[32:],
            CHIP_PREDICTION: out.prediction, CHIP_STATUS: done,
            CHIP_HASH: cfg.hash32, CHIP_LAYERS: len(cores),
        }
        chip_q = Signal(DATA_BITS)
        is_chip_q = Signal()
        core_q = Signal(range(max(2, len(cores))))
        m.d.sync += [is_chip_q.eq(space == SPACE_CHIP), core_q.eq(core_sel)]
        with m.Switch(offset[:4]):
            for off, value in chip_regs.items():
                with m.Case(off):
                    m.d.sync += chip_q.eq(value)
            with m.Default():
                m.d.sync += chip_q.eq(0)
        with m.If(is_chip_q):
            m.d.comb += self.dbg_data.eq(chip_q)
        with m.Else():
            with m.Switch(core_q):
                for i, core in enumerate(cores):
                    with m.Case(i):
                        m.d.comb += self.dbg_data.eq(core.rb_data)
        return m

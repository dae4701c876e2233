"""Chip top level (§1): host port → FIFO0 → core 0 → FIFO1 → … → output core, the
per-image ``clear`` (§9), ``done``, the chip counters of §10 and the debug readback
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
from neurochip.hw.core import Core
from neurochip.hw.fifo import SpikeFifo
from neurochip.hw.pack import as_ints, param_hex, weight_hex

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
        fifos, cores = [], []
        for i, (c, lay) in enumerate(zip(cfg.cores, self.desc.layers)):
            fifo = SpikeFifo(c.fifo_depth)
            if self.blackbox:
                weights, params = [], []
            else:
                weights, params = as_ints(weight_hex(lay, c)), as_ints(param_hex(lay, c))
            core = Core(c, cfg.count_bits, weights, params, self.blackbox)
            m.submodules[f"fifo{i}"] = ResetInserter(self.clear)(fifo)
            m.submodules[f"core{i}"] = ResetInserter(self.clear)(core)
            fifos.append(fifo)
            cores.append(core)

        done = Signal()
        running = Signal()
        m.d.comb += [running.eq(~done), self.done.eq(done)]
        # host port: no push in the clear cycle
        m.d.comb += [fifos[0].w_data.eq(self.in_data),
                     fifos[0].w_en.eq(self.in_valid & ~self.clear),
                     self.in_ready.eq(fifos[0].w_rdy & ~self.clear)]
        for i, core in enumerate(cores):
            m.d.comb += [core.in_data.eq(fifos[i].r_data), core.in_rdy.eq(fifos[i].r_rdy),
                         fifos[i].r_en.eq(core.pop), core.count_en.eq(running),
                         core.rb_active.eq(done)]
            if i + 1 < len(cores):
                m.d.comb += [fifos[i + 1].w_data.eq(core.out_data),
                             fifos[i + 1].w_en.eq(core.out_valid),
                             core.out_rdy.eq(fifos[i + 1].w_rdy)]
        out = cores[-1]
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

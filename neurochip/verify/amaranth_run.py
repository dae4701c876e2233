"""Run the chip in Amaranth's own simulator (no Verilog): plays the host and the
readback exactly like the HDL testbench. Slow (pure Python), for tiny networks in unit
tests; it checks the design before any Verilog exists."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from neurochip.description import CoreDescription
from neurochip.hw.top import Chip
from neurochip.observe import Observation
from neurochip.verify.readback import ReadbackPlan
from neurochip.verify.stimulus import item_streams


def run_amaranth(desc: CoreDescription, images: np.ndarray,
                 max_cycles: int = 1_000_000) -> Observation:
    dut = Chip(desc, blackbox=False)
    plan = ReadbackPlan.for_chip(dut.cfg)
    streams = item_streams(desc, images)
    results: list[tuple[int, list[int]]] = []

    async def testbench(ctx) -> None:
        for items in streams:
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            pos = cycles = 0
            while not ctx.get(dut.done):
                valid = pos < len(items)
                ctx.set(dut.in_valid, valid)
                ctx.set(dut.in_data, int(items[pos]) if valid else 0)
                ready = ctx.get(dut.in_ready)
                await ctx.tick()
                pos += int(valid and ready)
                cycles += 1
                if cycles > max_cycles:
                    raise RuntimeError(f"image {len(results)}: no done after {max_cycles} cycles")
            ctx.set(dut.in_valid, 0)
            words = []
            for a in plan.addresses:
                ctx.set(dut.dbg_addr, a)
                await ctx.tick()
                words.append(ctx.get(dut.dbg_data))
            results.append((cycles, words))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return plan.decode(results)

"""The spike FIFO against §7, cycle by cycle, in Amaranth's simulator."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from amaranth.sim import Simulator

from neurochip.hw.fifo import SpikeFifo


def run_fifo(depth: int, pushes: np.ndarray, pops: np.ndarray) -> list[tuple]:
    """Drive w.valid/r.ready per cycle; return per cycle (w.ready, r.valid, level, r.payload)."""
    dut = SpikeFifo(depth)
    trace: list[tuple] = []

    async def tb(ctx):
        for c, (push, pop) in enumerate(zip(pushes, pops)):
            ctx.set(dut.w.valid, int(push))
            ctx.set(dut.w.payload, c & 0xFFFF)
            ctx.set(dut.r.ready, int(pop))
            trace.append((ctx.get(dut.w.ready), ctx.get(dut.r.valid), ctx.get(dut.level),
                          ctx.get(dut.r.payload)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return trace


def model_fifo(depth: int, pushes: np.ndarray, pops: np.ndarray) -> list[tuple]:
    """§7 written out: decisions on the level at the start of the cycle."""
    q: deque = deque()
    out = []
    for c, (push, pop) in enumerate(zip(pushes, pops)):
        level = len(q)
        w_rdy, r_rdy = level < depth, level > 0
        out.append((int(w_rdy), int(r_rdy), level, q[0] if q else None))
        if pop and r_rdy:
            q.popleft()
        if push and w_rdy:
            q.append(c & 0xFFFF)
    return out


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 64])
@pytest.mark.parametrize("seed", [0, 1])
def test_fifo_matches_section_7(depth, seed):
    rng = np.random.default_rng(seed)
    n = 400
    pushes = rng.random(n) < rng.uniform(0.3, 0.9)
    pops = rng.random(n) < rng.uniform(0.3, 0.9)
    got = run_fifo(depth, pushes, pops)
    exp = model_fifo(depth, pushes, pops)
    for c, (g, e) in enumerate(zip(got, exp)):
        assert g[:3] == e[:3], f"cycle {c}: (w.ready, r.valid, level) RTL {g[:3]}, spec {e[:3]}"
        if e[3] is not None:
            assert g[3] == e[3], f"cycle {c}: head RTL {g[3]}, spec {e[3]}"


def test_full_fifo_refuses_a_push_in_the_cycle_it_is_popped():
    # depth 1: push in cycle 0; cycle 1 pops and pushes: the push must be refused
    got = run_fifo(1, np.array([1, 1, 1, 0]), np.array([0, 1, 0, 1]))
    assert [g[2] for g in got] == [0, 1, 0, 1]
    assert got[1][0] == 0  # not ready while full, even though popped this cycle
    assert got[3][3] == 2  # the item of cycle 2 went in, the one of cycle 1 did not


def test_item_pushed_is_poppable_next_cycle_not_same():
    got = run_fifo(4, np.array([1, 0, 0]), np.array([1, 1, 0]))
    assert got[0][1] == 0 and got[1][1] == 1 and got[1][3] == 0

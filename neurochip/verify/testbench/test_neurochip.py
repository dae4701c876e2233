"""cocotb test of the generated chip: awaits the HDL testbench once per image.

The per-cycle work (host, clock, readback sweep) runs inside ``tb_neurochip.v``; this
test only checks progress with a per-image time budget, so a hang names its image.
Results are compared afterwards by ``neurochip.verify`` (bit-exact, no tolerance).
Environment: NEUROCHIP_IMAGES (count), NEUROCHIP_BUDGET_CYCLES (per image, with the
readback sweep), NEUROCHIP_CLOCK_NS (clock period of the testbench, 10).
"""

from __future__ import annotations

import os

import cocotb
from cocotb.triggers import SimTimeoutError, with_timeout


def _count(signal) -> int:
    value = signal.value
    return int(value) if value.is_resolvable else 0


@cocotb.test()
async def run_images(dut) -> None:
    images = int(os.environ["NEUROCHIP_IMAGES"])
    budget_ns = int(os.environ["NEUROCHIP_BUDGET_CYCLES"]) * int(os.environ.get("NEUROCHIP_CLOCK_NS", "10"))
    for i in range(images):
        while _count(dut.images_done) <= i:
            try:
                await with_timeout(dut.images_done.value_change, budget_ns, "ns")
            except SimTimeoutError:
                raise AssertionError(f"image {i}: no done within {budget_ns} ns of simulated "
                                     "time (the chip hangs or is slower than the simulator)") from None
        got = _count(dut.images_done)
        assert got == i + 1, f"image {i}: testbench reports {got} images done"
    if not int(dut.finished.value):
        await with_timeout(dut.finished.value_change, 100, "ns")

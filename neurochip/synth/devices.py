"""The FPGA parts ``neurochip synth`` places on, with what each has (datasheet figures,
cross-checked against nextpnr's own "available" counts by tests/test_synth.py), and the
yosys/nextpnr options that select them."""

from __future__ import annotations

from dataclasses import dataclass

from neurochip.synth.errors import SynthError

TARGETS = ("ecp5", "ice40", "generic")
RESOURCES = ("luts", "ffs", "brams", "dsps")  # the order `fits` checks them in


@dataclass(frozen=True)
class Device:
    """One part: ``capacity`` maps each of RESOURCES to what the part has."""

    target: str
    name: str
    nextpnr_args: tuple[str, ...]
    luts: int
    ffs: int
    brams: int
    dsps: int
    bram_bits: int  # bits of one block RAM

    @property
    def capacity(self) -> dict[str, int]:
        return {r: getattr(self, r) for r in RESOURCES}


# Lattice ECP5 family data sheet (FPGA-DS-02012), table 1.1: LUT4s (= flip-flops), sysMEM
# EBR blocks of 18 kbit, 18x18 multipliers. iCE40 UltraPlus / LP/HX data sheets: LUT4s (=
# flip-flops), EBR blocks of 4 kbit, SB_MAC16 DSPs.
_DEVICES = [
    Device("ecp5", "LFE5U-12F", ("--12k", "--package", "CABGA381"), 12096, 12096, 32, 28,
           18432),
    Device("ecp5", "LFE5U-25F", ("--25k", "--package", "CABGA381"), 24288, 24288, 56, 28,
           18432),
    Device("ecp5", "LFE5U-45F", ("--45k", "--package", "CABGA381"), 43848, 43848, 108, 72,
           18432),
    Device("ecp5", "LFE5U-85F", ("--85k", "--package", "CABGA381"), 83640, 83640, 208, 156,
           18432),
    Device("ice40", "UP5K", ("--up5k", "--package", "sg48"), 5280, 5280, 30, 8, 4096),
    Device("ice40", "HX8K", ("--hx8k", "--package", "ct256"), 7680, 7680, 32, 0, 4096),
]
DEVICES = {(d.target, d.name.upper()): d for d in _DEVICES}
DEFAULT_DEVICE = {"ecp5": "LFE5U-85F", "ice40": "UP5K"}


def device_for(target: str, name: str | None) -> Device | None:
    """The part of ``target`` called ``name`` (its default when None); None for generic.
    An unknown target or part is a SynthError naming the choices."""
    if target not in TARGETS:
        raise SynthError(f"--target {target}: unknown; choose one of {', '.join(TARGETS)}")
    if target == "generic":
        if name is not None:
            raise SynthError("--device: the generic target has no device; drop --device or "
                             "pick --target ecp5|ice40")
        return None
    key = (target, (name or DEFAULT_DEVICE[target]).upper())
    if key not in DEVICES:
        names = ", ".join(d.name for d in _DEVICES if d.target == target)
        raise SynthError(f"--device {name}: not a known {target} part; choose one of {names}")
    return DEVICES[key]

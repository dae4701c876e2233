"""The two ways ``neurochip synth`` fails (see neurochip.synth)."""

from __future__ import annotations

from pathlib import Path

INSTALL_HINT = "pip install -e '.[synth]'"


class SynthError(ValueError):
    """A user-level problem in one line (unknown target, device or field, a missing extra):
    the CLI exits 2."""


class MissingExtra(SynthError):
    """The open FPGA tools are not installed."""

    def __init__(self, module: str):
        super().__init__(f"neurochip synth needs {module} (the `synth` extra): "
                         f"{INSTALL_HINT}")


class ToolFailure(RuntimeError):
    """Yosys or nextpnr failed (or ran past its timeout): ``tool``, the last lines of its
    output in ``tail`` and the full log at ``log``. The CLI exits 1."""

    def __init__(self, tool: str, log: Path, tail: str, why: str = "failed"):
        self.tool, self.log, self.tail = tool, Path(log), tail
        super().__init__(f"{tool} {why}; log: {log}")

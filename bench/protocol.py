"""The messages between the harness and a task process: a Job (what to run) and a
TaskResult (timings, notes and where the outputs were written), both plain JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Job:
    """One task: a peer (``kind``) on one workload file, written by the harness."""

    kind: str  # neurochip | numpy_ref | snntorch | brian2 | verilator_build | verilator
    workload: str  # .npz from netspec.save_workload (+ images, indices)
    out_dir: str  # where the task writes its outputs .npz files
    reps: int = 3
    images: int = 0  # run the first `images` images of the workload (0: all)
    model_path: str = ""  # the core description (tasks that import neurochip)
    options: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> "Job":
        return cls(**json.loads(Path(path).read_text()))


@dataclass
class RowMeasurement:
    """One line of the table as measured (comparison and ratios are added later)."""

    row: str  # e.g. "snnTorch CPU, batch 128"
    kind: str
    images: int
    seconds: list[float]  # wall time of each repetition for all `images`
    threads: int = 1
    compile_seconds: float | None = None  # JIT / code generation / HDL build, excluded
    setup_seconds: float | None = None  # network construction before the timed runs, excluded
    outputs: str | None = None  # .npz of bench.outputs.Outputs
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskResult:
    """Everything one task process reports."""

    status: str  # ok | not installed | not applicable | failed
    reason: str = ""
    rows: list[RowMeasurement] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> "TaskResult":
        raw = json.loads(Path(path).read_text())
        raw["rows"] = [RowMeasurement(**r) for r in raw.get("rows", [])]
        return cls(**raw)

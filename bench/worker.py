"""Run one benchmark task: ``python -m bench.worker JOB.json RESULT.json``.

Each task runs in its own process so that its peak memory is its own and a peer that is
missing or crashes becomes a row saying so. Imports are lazy: the Brian2 task must work
in an environment without neurochip."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from bench.protocol import Job, TaskResult

# kind -> (module, function)
TASKS: dict[str, tuple[str, str]] = {
    "neurochip": ("bench.peers.neurochip_sim", "run"),
    "numpy_ref": ("bench.peers.numpy_ref", "run"),
    "snntorch": ("bench.peers.snntorch_peer", "run"),
    "brian2": ("bench.peers.brian2_peer", "run"),
    "verilator_build": ("bench.peers.verilator_peer", "build"),
    "verilator": ("bench.peers.verilator_peer", "run"),
}


def run_job(job: Job) -> TaskResult:
    """Dispatch; never raises: failures come back as a TaskResult with the reason."""
    module, func = TASKS[job.kind]
    try:
        return getattr(importlib.import_module(module), func)(job)
    except Exception as exc:  # a peer crashing is a row, not a crashed benchmark
        tail = traceback.format_exc().strip().splitlines()[-3:]
        return TaskResult("failed", f"{type(exc).__name__}: {exc}", memory={"traceback": tail})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.worker JOB.json RESULT.json", file=sys.stderr)
        return 2
    result = run_job(Job.load(Path(args[0])))
    result.save(Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Launch a task in its own process (or in this one, for tests) and collect its result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.config import ROOT
from bench.protocol import Job, TaskResult


def run_task(job: Job, name: str, run_dir: Path, python: str | None = None,
             in_process: bool = False, timeout: float = 3600.0) -> TaskResult:
    """Run ``job``; a crash, a timeout or a missing result becomes a 'failed' TaskResult
    whose reason points at the task's log."""
    if in_process:
        from bench.worker import run_job

        result = run_job(job)
        result.memory = {"method": "not measured (task ran inside the harness process)"}
        return result
    run_dir.mkdir(parents=True, exist_ok=True)
    job_path, result_path = run_dir / f"{name}.job.json", run_dir / f"{name}.result.json"
    log = run_dir / f"{name}.log"
    result_path.unlink(missing_ok=True)
    job.save(job_path)
    cmd = [python or sys.executable, "-m", "bench.worker", str(job_path), str(result_path)]
    try:
        with log.open("w") as fh:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=timeout)
    except subprocess.TimeoutExpired:
        return TaskResult("failed", f"timed out after {timeout:.0f} s; see {log}")
    if proc.returncode != 0 or not result_path.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
        return TaskResult("failed", f"exit {proc.returncode}: {' '.join(tail)} (see {log})")
    return TaskResult.load(result_path)

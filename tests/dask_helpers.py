"""A real Dask deployment on 127.0.0.1 for the tests: `dask scheduler` and `dask worker`
as subprocesses (no nanny, so a worker is one process that a test can kill)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def env() -> dict:
    """The environment of a subprocess that must import this checkout's neurochip."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [e.get("PYTHONPATH")])])
    return e


@contextlib.contextmanager
def dask_deployment(tmp: Path, workers: int = 2):
    """Yields (scheduler address, worker processes)."""
    from dask.distributed import Client

    sched_file = tmp / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file",
                               str(sched_file)], env=env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sched_file.is_file(), "dask scheduler did not start"
        time.sleep(0.3)
        worker_procs = [subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(sched_file),
             "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}"],
            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True) for i in range(workers)]
        procs += worker_procs
        with Client(scheduler_file=str(sched_file), timeout="30s") as client:
            client.wait_for_workers(workers, timeout=90)
            address = client.scheduler.address
        yield address, worker_procs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

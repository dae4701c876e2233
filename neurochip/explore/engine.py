"""Run tasks on Dask distributed: a ``LocalCluster`` of worker processes on this machine by
default, or any running Dask scheduler given by its address (``dask scheduler`` /
``dask worker``, or a Dask deployment). The driver submits the tasks not yet in the store
and writes each row as its result arrives, so the store is the only state: a rerun
recomputes nothing done, and a killed driver loses no finished row. A worker that dies
mid-task has its task rescheduled by the Dask scheduler (up to its allowed failures).
``workers=0`` runs the same tasks in this process without Dask (the baseline)."""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from typing import Callable, Iterator

CONNECT_TIMEOUT_S = 10


class EngineError(ValueError):
    """The scheduler cannot be reached or the cluster cannot start (one line, exit 2)."""


@contextlib.contextmanager
def client_for(scheduler: str | None, workers: int) -> Iterator[object | None]:
    """A Dask client (None for ``workers == 0`` without a scheduler), closed on exit."""
    if scheduler is None and workers == 0:
        yield None
        return
    if workers < 0:
        raise EngineError(f"--workers {workers}: give 0 (in this process) or more workers")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # a declared dependency, but say so plainly if missing
        raise EngineError(f"Dask distributed is not installed ({exc}); "
                          "pip install 'dask[distributed]'") from exc
    for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                 "distributed.worker", "distributed.core", "distributed.comm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise EngineError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there "
                              f"within {CONNECT_TIMEOUT_S} s ({_first_line(exc)}); start one "
                              "with `dask scheduler` or drop --scheduler for a local "
                              "cluster") from exc
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.CRITICAL)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def run_tasks(client, fn: Callable, tasks: list[tuple[str, tuple]], on_result: Callable,
              shared: dict | None = None, label: str = "points") -> list[tuple[str, str]]:
    """Evaluate ``fn(*args, **shared)`` for each ``(key, args)`` and call
    ``on_result(key, value)`` in this process as each finishes (in completion order).
    ``shared`` values are sent to the cluster once. Returns the (key, reason) of tasks
    that failed even after Dask's retries; their rows stay missing, so a rerun retries
    them."""
    from tqdm import tqdm

    failed: list[tuple[str, str]] = []
    bar = tqdm(total=len(tasks), desc=label, unit=label.rstrip("s") or "task", file=sys.stderr,
               disable=None, leave=False)
    try:
        if client is None:
            for key, args in tasks:
                on_result(key, fn(*args, **(shared or {})))
                bar.update()
            return failed
        from dask.distributed import as_completed

        kw = {k: client.scatter(v, broadcast=True) for k, v in (shared or {}).items()}
        run = uuid.uuid4().hex[:12]  # task keys unique to this run on a shared scheduler
        futures = {}
        for key, args in tasks:
            fut = client.submit(fn, *args, **kw, key=f"neurochip-{label}-{run}-{key}", pure=False)
            futures[fut] = key
        for fut in as_completed(futures):
            key = futures.pop(fut)
            try:
                value = fut.result()
            except Exception as exc:  # KilledWorker after the retries, or a task bug
                failed.append((key, f"{type(exc).__name__}: {_first_line(exc)}"))
            else:
                on_result(key, value)
            fut.release()
            bar.update()
        return failed
    finally:
        bar.close()


"""Threads kept between simulate() calls: a call with ``workers`` > 1 reuses the pool of
that size instead of starting (and joining) its threads every time.

Starting two threads and joining them costs ≈ 0.5 ms a call on the bench's 2-core VM; on
the 784-64-10 MLP, whose 1,000 test images take ≈ 6 ms on one worker, keeping the threads
took a 2-worker call from ×1.27-1.31 to ×1.48-1.64 over one (docs/simulator.md,
thirteenth round). Chunks of one call never wait on each other, so
calls from several threads may share a pool: their chunks queue and all of them run.

A forked child gets no threads of its parent, so it forgets the pools it inherited
(``os.register_at_fork``) and starts its own on first use."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait

_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def pool(workers: int) -> ThreadPoolExecutor:
    """The process's pool of ``workers`` threads, started on first use."""
    with _lock:
        found = _pools.get(workers)
        if found is None:
            found = ThreadPoolExecutor(max_workers=workers,
                                       thread_name_prefix=f"neurochip-sim-{workers}")
            _pools[workers] = found
        return found


def map_in_order(workers: int, fn: Callable, items: Iterable) -> Iterator:
    """``fn`` over ``items`` on the pool of ``workers`` threads, results in order (as
    ``Executor.map``). If one raises, or the caller stops early, the items not yet started
    are cancelled and the generator waits for the running ones, so that no ``fn`` still
    runs once it has finished."""
    futures = [pool(workers).submit(fn, item) for item in items]
    try:
        for future in futures:
            yield future.result()
    finally:
        for future in futures:
            future.cancel()
        wait(futures)


def _forget_after_fork() -> None:
    global _lock
    _pools.clear()
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)

"""The simulator's kept worker threads (neurochip.sim.worker_pool): reused between calls,
shared by concurrent callers, cancelled on error, forgotten by a forked child."""

import os
import select
import signal
import threading
import time

import numpy as np
import pytest

from neurochip.random_networks import random_description, random_inputs
from neurochip.sim import worker_pool
from neurochip.sim.simulator import simulate


def test_results_in_order_and_the_pool_is_reused():
    first = worker_pool.pool(2)
    assert list(worker_pool.map_in_order(2, lambda x: x * x, range(20))) == [
        x * x for x in range(20)]
    assert worker_pool.pool(2) is first
    assert worker_pool.pool(3) is not first


def test_an_error_cancels_the_items_not_started_and_waits_for_the_running_ones():
    started, finished = [], []
    gate = threading.Event()

    def work(i):
        started.append(i)
        if i == 0:
            gate.wait(5)
            raise ValueError("chunk 0 failed")
        time.sleep(0.01)
        finished.append(i)
        return i

    items = list(range(40))
    results = worker_pool.map_in_order(2, work, items)
    threading.Timer(0.05, gate.set).start()
    with pytest.raises(ValueError, match="chunk 0 failed"):
        list(results)
    # once the error is out, nothing is still running and nothing starts later
    after = len(started)
    time.sleep(0.1)
    assert len(started) == after < len(items)
    assert sorted(finished) == sorted(set(started) - {0})


def test_concurrent_callers_share_the_pool_and_keep_their_results():
    desc = random_description(12)
    images = random_inputs(12, 40, desc)
    alone = simulate(desc, images, chunk=4)
    results = [None] * 4

    def call(k):
        results[k] = simulate(desc, images, chunk=4, workers=2)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for res in results:
        for field in ("counts", "cycles", "core_counters", "chip_counters", "membranes"):
            np.testing.assert_array_equal(getattr(res, field), getattr(alone, field),
                                          err_msg=field)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_threads():
    desc = random_description(3)
    images = random_inputs(3, 12, desc)
    expected = simulate(desc, images, chunk=2, workers=2)  # the parent's pool now exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the inherited pool has no threads; a call must still finish
        ok = 0
        try:
            got = simulate(desc, images, chunk=2, workers=2)
            ok = int(np.array_equal(got.counts, expected.counts)
                     and np.array_equal(got.cycles, expected.cycles))
        finally:
            os.write(write, bytes([ok]))
            os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 60)
        answer = os.read(read, 1) if ready else b"timed out (the child waited on dead threads)"
    finally:
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert answer == b"\x01"

"""What N workers could reach on this machine: N processes each running the 1-worker
``simulate`` call at the same moment, against one of them running it alone.

Threads in one process cannot beat N independent processes: those share nothing but the
machine (its cores' clocks, caches, memory bandwidth and the host's other guests), so
their speed-up, N × (time alone) ÷ (time of all N at once), is the machine's own ceiling
for the ``workers`` row. Alone and together alternate round by round, which goes first
switching (``bench.measure.interleaved``); the bench measures this right after the
workers row, on the same images, so the two speed-ups saw the same machine."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

from bench.measure import interleaved, paired_ratio


def _child(conn, model_path: str, images: np.ndarray, indices: np.ndarray) -> None:
    from neurochip.description import load
    from neurochip.sim.simulator import simulate, warm_up

    desc = load(model_path)
    warm_up(desc)
    simulate(desc, images, indices, keep_state=False)
    conn.send("ready")
    while conn.recv() == "go":
        t0 = time.perf_counter()
        simulate(desc, images, indices, keep_state=False)
        conn.send(time.perf_counter() - t0)


def measure(model_path: str, images: np.ndarray, indices: np.ndarray, processes: int,
            reps: int) -> dict:
    """N × (one process alone) ÷ (N at once), median, min and max over ``reps`` paired
    rounds (``bench.measure.paired_ratio``), with each side's median seconds. Wall time of
    a side: from the parent's 'go' to the last answer (a pipe round trip, ≈ 0.1 ms, is in
    both)."""
    ctx = mp.get_context("spawn")  # fresh interpreters: no threads or state of the bench
    pipes, procs = [], []
    try:
        for _ in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_child, args=(child, model_path, images, indices),
                               daemon=True)
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        for parent in pipes:
            if parent.recv() != "ready":
                raise RuntimeError("a ceiling process did not start")

        def run(group: list) -> None:
            for parent in group:
                parent.send("go")
            for parent in group:
                parent.recv()

        seconds, _ = interleaved([lambda: run(pipes[:1]), lambda: run(pipes)], reps)
    finally:
        for parent in pipes:
            try:
                parent.send("stop")
            except (BrokenPipeError, OSError):
                pass
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    alone, together = seconds
    return {"processes": processes, "images": int(images.shape[0]),
            "seconds_alone": float(np.median(alone)),
            "seconds_together": float(np.median(together)),
            "speedup": paired_ratio([processes * a for a in alone], together)}

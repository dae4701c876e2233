"""Timing and memory helpers shared by every task (standard library only)."""

from __future__ import annotations

import resource
import statistics
import sys
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Wall seconds of one call, and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def repeat(fn: Callable[[], T], reps: int) -> tuple[list[float], T]:
    """Wall seconds of ``reps`` calls and the last call's result."""
    seconds: list[float] = []
    out = None
    for _ in range(max(1, reps)):
        s, out = timed(fn)
        seconds.append(s)
    return seconds, out  # type: ignore[return-value]


def interleaved(fns: list[Callable[[], object]], reps: int) -> tuple[list[list[float]], list]:
    """Wall seconds of ``reps`` rounds in which every function runs once, the order
    reversed every other round (so no function always goes first), and each function's
    last result. Runs compared within a round saw the same machine, so paired ratios
    (``paired_ratio``) stay honest on a host whose speed drifts between blocks of runs."""
    seconds: list[list[float]] = [[] for _ in fns]
    outs: list = [None] * len(fns)
    for r in range(max(1, reps)):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            s, outs[i] = timed(fns[i])
            seconds[i].append(s)
    return seconds, outs


def paired_ratio(numerator: list[float], denominator: list[float]) -> dict:
    """Median, min and max over rounds of numerator[i] / denominator[i] (``interleaved``)."""
    ratios = sorted(a / b for a, b in zip(numerator, denominator) if b > 0)
    return {"median": float(statistics.median(ratios)), "min": ratios[0], "max": ratios[-1],
            "rounds": len(ratios)}


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def _maxrss_mib(who: int) -> float:
    kib = resource.getrusage(who).ru_maxrss  # KiB on Linux, bytes on macOS
    return kib / (1 << 20) if sys.platform == "darwin" else kib / 1024


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (getrusage ru_maxrss), MiB."""
    return _maxrss_mib(resource.RUSAGE_SELF)


def children_peak_rss_mib() -> float:
    """Largest peak RSS of any waited-for child process (e.g. the Verilator binary), MiB."""
    return _maxrss_mib(resource.RUSAGE_CHILDREN)


def memory_report(rss_before_run_mib: float, children: bool = False) -> dict:
    """Peak RSS of the task process (and of its children when ``children``), with the RSS
    reached before the timed runs (interpreter, imports, data) for scale."""
    out = {"method": "getrusage ru_maxrss of the task process (peak resident set size)",
           "peak_rss_mib": round(peak_rss_mib(), 1),
           "rss_before_runs_mib": round(rss_before_run_mib, 1)}
    if children:
        out["children_peak_rss_mib"] = round(children_peak_rss_mib(), 1)
        out["method"] += "; children: getrusage RUSAGE_CHILDREN (largest child)"
    return out

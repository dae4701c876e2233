"""Plain NumPy reference of the chip: time-stepped function (§4-§6) and a cycle-by-cycle
timing model (§7-§10). Slow on purpose: every line maps to a sentence of the spec, so the
fast simulator and the RTL are checked against something a reader can verify by eye.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from neurochip.description import CoreDescription, Layer, signed_range
from neurochip.counters import CORE_COUNTERS, CHIP_COUNTERS

EOS = -1  # an end-of-time-step token in the FIFO models below


@dataclass
class ReferenceResult:
    """Everything the chip produces for one image."""

    spikes: list[np.ndarray]  # per layer, (T, N) uint8
    membranes: list[np.ndarray]  # per layer, (N,) int64, after the last step
    counts: np.ndarray  # (classes,) int64
    prediction: int
    cycles: int = -1
    core_counters: np.ndarray | None = None  # (layers, len(CORE_COUNTERS)) int64
    chip_counters: np.ndarray | None = None  # (len(CHIP_COUNTERS),) int64


def overflow(v: np.ndarray, layer: Layer) -> np.ndarray:
    """Bring a result back into B bits by saturation or two's-complement wrap (§2)."""
    lo, hi = signed_range(layer.membrane_bits)
    if layer.overflow == "saturate":
        return np.clip(v, lo, hi)
    return ((v - lo) % (1 << layer.membrane_bits)) + lo


def accumulate(m: np.ndarray, layer: Layer, address: int) -> np.ndarray:
    """One address event (§5)."""
    return overflow(m + layer.weight[address], layer)


def neuron_update(m: np.ndarray, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """One EOS token (§6): returns (fired mask, new membranes)."""
    p = layer.neuron
    v = overflow(m + layer.bias, layer)
    fire = v > layer.threshold
    if p.reset == "subtract":
        v = np.where(fire, overflow(v - layer.threshold, layer), v)
    elif p.reset == "zero":
        v = np.where(fire, 0, v)
    if p.leak == "subtract":
        lam = p.leak_amount
        v = np.where(v > 0, np.maximum(v - lam, 0), np.where(v < 0, np.minimum(v + lam, 0), 0))
    elif p.leak == "shift":
        v = v - (v >> p.leak_amount)
    if p.integration == "discontinuous":
        v = np.zeros_like(v)
    return fire, v


def predict(counts: np.ndarray) -> int:
    """Largest count; np.argmax already returns the lowest index on ties (§6)."""
    return int(np.argmax(counts))


def run_functional(desc: CoreDescription, in_spikes: np.ndarray) -> ReferenceResult:
    """Time-stepped model: layer by layer, events in ascending order (§4)."""
    T = desc.time_steps
    membranes = [np.zeros(lay.neurons, dtype=np.int64) for lay in desc.layers]
    spikes = [np.zeros((T, lay.neurons), dtype=np.uint8) for lay in desc.layers]
    counts = np.zeros(desc.classes, dtype=np.int64)
    count_max = (1 << desc.count_bits) - 1
    for t in range(T):
        events = np.flatnonzero(in_spikes[t])
        for i, lay in enumerate(desc.layers):
            for a in events:
                membranes[i] = accumulate(membranes[i], lay, int(a))
            fired, membranes[i] = neuron_update(membranes[i], lay)
            spikes[i][t] = fired
            events = np.flatnonzero(fired)
        counts = np.minimum(counts + spikes[-1][t], count_max)
    return ReferenceResult(spikes, membranes, counts, predict(counts))


def run_timing(desc: CoreDescription, in_spikes: np.ndarray,
               functional: ReferenceResult) -> ReferenceResult:
    """Cycle-by-cycle model of §7-§10, driven by the spike trains of ``functional``.

    Each agent (host, cores) does one thing per cycle. Decisions use FIFO levels at the
    start of the cycle; pushes land at its end.
    """
    T, layers = desc.time_steps, desc.layers
    n_cores = len(layers)
    idx = {name: i for i, name in enumerate(CORE_COUNTERS)}
    cnt = np.zeros((n_cores, len(CORE_COUNTERS)), dtype=np.int64)
    host_items = deque()
    for t in range(T):
        host_items.extend(int(a) for a in np.flatnonzero(in_spikes[t]))
        host_items.append(EOS)
    host_pushes = host_stalls = 0
    fifos = [deque() for _ in range(n_cores)]  # fifos[i] feeds core i
    programs: list[deque] = [deque() for _ in range(n_cores)]
    tokens_seen = [0] * n_cores
    cycle = 0
    done_cycle = -1
    while done_cycle < 0:
        level = [len(f) for f in fifos]
        arrivals: list[tuple[int, int]] = []
        # host
        if host_items:
            if level[0] < layers[0].core.fifo_depth:
                arrivals.append((0, host_items.popleft()))
                host_pushes += 1
            else:
                host_stalls += 1
        for i, lay in enumerate(layers):
            c = cnt[i]
            K = lay.words
            last = i == n_cores - 1
            prog = programs[i]
            if not prog:  # IDLE: try to pop
                if level[i] == 0:
                    c[idx["idle_cycles"]] += 1
                    continue
                item = fifos[i].popleft()
                c[idx["pops"]] += 1
                c[idx["busy_cycles"]] += 1
                if item != EOS:
                    prog.extend(["acc"] * K)
                    c[idx["weight_word_reads"]] += K
                    c[idx["synaptic_ops"]] += lay.neurons
                    c[idx["membrane_word_reads"]] += K
                    c[idx["membrane_word_writes"]] += K
                else:
                    t = tokens_seen[i]
                    tokens_seen[i] += 1
                    fired = np.flatnonzero(functional.spikes[i][t])
                    c[idx["membrane_word_reads"]] += K
                    c[idx["membrane_word_writes"]] += K
                    c[idx["param_word_reads"]] += K
                    c[idx["neuron_updates"]] += lay.neurons
                    c[idx["spikes"]] += fired.size
                    for g in range(K):
                        prog.append("update")
                        if not last:
                            prog.extend(("push", int(n)) for n in fired if n // lay.core.lanes == g)
                    if not last:
                        prog.append(("push", EOS))
                    elif t == T - 1:
                        prog.append("done")
                continue
            action = prog[0]
            if isinstance(action, tuple):  # push into fifos[i + 1]
                if level[i + 1] < layers[i + 1].core.fifo_depth:
                    prog.popleft()
                    arrivals.append((i + 1, action[1]))
                    c[idx["pushes"]] += 1
                    c[idx["busy_cycles"]] += 1
                else:
                    c[idx["stall_cycles"]] += 1
            else:
                prog.popleft()
                c[idx["busy_cycles"]] += 1
                if prog and prog[0] == "done":
                    done_cycle = cycle + 1
        for target, item in arrivals:
            fifos[target].append(item)
        cycle += 1
    chip = np.zeros(len(CHIP_COUNTERS), dtype=np.int64)
    chip[CHIP_COUNTERS.index("cycles")] = done_cycle
    chip[CHIP_COUNTERS.index("host_pushes")] = host_pushes
    chip[CHIP_COUNTERS.index("host_stall_cycles")] = host_stalls
    functional.cycles = done_cycle
    functional.core_counters = cnt
    functional.chip_counters = chip
    return functional


def run_image(desc: CoreDescription, in_spikes: np.ndarray, timing: bool = True) -> ReferenceResult:
    """The whole reference for one encoded image ((T, P) bool)."""
    result = run_functional(desc, in_spikes)
    return run_timing(desc, in_spikes, result) if timing else result

"""Plain NumPy reference of the chip: time-stepped function (§4-§6) and a cycle-by-cycle
timing model (§7-§10). Slow on purpose: every line maps to a sentence of the spec, so the
fast simulator and the RTL are checked against something a reader can verify by eye.

Topology comes from ``neurochip.graph`` (which FIFO feeds which core); what a layer kind
does with an address event and what a neuron model does with an end-of-step token are the
per-kind and per-model entries of ``KINDS`` and ``MODELS`` below.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from neurochip.counters import CHIP, CHIP_COUNTERS, CORE, CORE_COUNTERS
from neurochip.description import CoreDescription, Layer, signed_range
from neurochip.golden.encoders import host_addresses
from neurochip.graph import HOST, Topology
from neurochip.kinds import get_kind
from neurochip.neurons import get_model, state_fields
from neurochip.neurons.state import keeps_sent_bitmap
from neurochip.observe import Observation

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
    # per layer, its model's declared state words (§6.3): name -> (N,), after the last step
    states: list[dict[str, np.ndarray]] | None = None


def overflow(v: np.ndarray, layer: Layer) -> np.ndarray:
    """Bring a result back into B bits by saturation or two's-complement wrap (§2)."""
    lo, hi = signed_range(layer.membrane_bits)
    if layer.overflow == "saturate":
        return np.clip(v, lo, hi)
    return ((v - lo) % (1 << layer.membrane_bits)) + lo


# ----------------------------------------------------------------------------- kind: fc

def accumulate(m: np.ndarray, layer: Layer, address: int, source: int = 0) -> np.ndarray:
    """One fc address event (§5.1): row ``address`` of W added to every neuron."""
    return overflow(m + layer.weight[address], layer)


def fc_event_cost(layer: Layer, address: int, source: int = 0) -> tuple[int, dict[str, int]]:
    """§8: K accumulation cycles after the pop; §10: what they count."""
    K = layer.words
    return K, {"weight_word_reads": K, "synaptic_ops": layer.neurons,
               "membrane_word_reads": K, "membrane_word_writes": K}


# ----------------------------------------------------------------------------- kind: conv2d

def conv2d_accumulate(m: np.ndarray, layer: Layer, address: int, source: int = 0) -> np.ndarray:
    """§5.2: at every touched position (oy then ox ascending), kernel row
    (c·kh + ky)·kw + kx added to the C_out neurons of that position, in that order."""
    C = layer.geometry["channels"]
    m = m.copy()
    for row, pos in get_kind("conv2d").touched(layer, address):
        m[pos * C:pos * C + C] = overflow(m[pos * C:pos * C + C] + layer.weight[row], layer)
    return m


def conv2d_event_cost(layer: Layer, address: int, source: int = 0) -> tuple[int, dict[str, int]]:
    """§8: K_c accumulation cycles per touched position; §10: what they count."""
    touched = len(list(get_kind("conv2d").touched(layer, address)))
    kc = get_kind("conv2d").words_per_position(layer)
    return touched * kc, {"weight_word_reads": touched * kc,
                          "synaptic_ops": touched * layer.geometry["channels"],
                          "membrane_word_reads": touched * kc,
                          "membrane_word_writes": touched * kc, "address_steps": touched}


# ----------------------------------------------------------------------------- kind: pool

def pool_accumulate(m: np.ndarray, layer: Layer, address: int, source: int = 0) -> np.ndarray:
    """§5.3: +1 (the implicit unit weight) to channel c of every window holding the event."""
    C = layer.geometry["in_shape"][2]
    m = m.copy()
    for c, pos in get_kind("pool").touched(layer, address):
        m[pos * C + c] = overflow(m[pos * C + c] + 1, layer)
    return m


def pool_event_cost(layer: Layer, address: int, source: int = 0) -> tuple[int, dict[str, int]]:
    """§8: one cycle per window holding the event (one lane of one membrane word)."""
    touched = len(list(get_kind("pool").touched(layer, address)))
    return touched, {"synaptic_ops": touched, "membrane_word_reads": touched,
                     "membrane_word_writes": touched, "address_steps": touched}


# ----------------------------------------------------------------------------- kind: add

def add_accumulate(m: np.ndarray, layer: Layer, address: int, source: int = 0) -> np.ndarray:
    """§5.4: the gain W[source, c] added to the one neuron ``address`` = (y, x, c)."""
    C = layer.geometry["in_shape"][2]
    m = m.copy()
    m[address] = overflow(m[address] + layer.weight[source, address % C], layer)
    return m


def add_event_cost(layer: Layer, address: int, source: int = 0) -> tuple[int, dict[str, int]]:
    """§8: one cycle: one gain word read, one lane of one membrane word."""
    return 1, {"weight_word_reads": 1, "synaptic_ops": 1, "membrane_word_reads": 1,
               "membrane_word_writes": 1}


# ----------------------------------------------------------------------------- model: lif

def per_neuron(layer: Layer, values: np.ndarray) -> np.ndarray:
    """Per-channel parameters repeated over the output positions (neuron n = pos·C + ch)."""
    return np.tile(values, layer.neurons // len(values)) if len(values) else values


def neuron_update(m: np.ndarray, layer: Layer, t: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One EOS token of a lif layer (§6): returns (fired mask, new membranes). (``t``, the
    step, is unused: lif does the same in every step.)"""
    p = layer.neuron
    theta, bias = per_neuron(layer, layer.threshold), per_neuron(layer, layer.bias)
    v = overflow(m + bias, layer)
    fire = v > theta
    if p.reset == "subtract":
        v = np.where(fire, overflow(v - theta, layer), v)
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


# ----------------------------------------------------------------------------- model: ttfs

def ttfs_update(m: np.ndarray, layer: Layer, t: int,
                v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One EOS token of a ttfs layer (§6.1): ``m`` is the current register I, ``v`` the
    membrane V (``t`` is unused: ttfs does the same in every step). Returns (v > θ, new I,
    new V); the fired bit is applied by the caller."""
    theta = per_neuron(layer, layer.threshold)
    v = overflow(v + m, layer)
    fire = v > theta
    i = m if layer.neuron.psp == "ramp" else np.zeros_like(m)
    return fire, i, v


def token_counts(layer: Layer) -> dict[str, int]:
    """§10 of an EOS token, from the model's declaration (§6.3): K update cycles, each
    reading a parameter word and reading and writing the membrane word and each declared
    state word (counted as membrane words), and the sent-bitmap word if the core keeps
    one."""
    K = layer.words
    words = K * (1 + len(get_model(layer.neuron.model).state_words))
    out = {"membrane_word_reads": words, "membrane_word_writes": words, "param_word_reads": K,
           "neuron_updates": layer.neurons}
    if keeps_sent_bitmap(layer):
        out.update(bitmap_reads=K, bitmap_writes=K)
    return out


def emit_once(fired: np.ndarray, sent: np.ndarray) -> np.ndarray:
    """A neuron goes out only if its sent bit is clear; every fired neuron sets it."""
    out = fired & ~sent
    sent |= fired
    return out


def predict_first_spike(spikes: np.ndarray, v: np.ndarray) -> int:
    """§6.3 ``first_spike`` decision: the class that went out first, lowest index on a tie;
    if none did, the largest final fallback state word ``v``, lowest index on a tie."""
    steps = np.flatnonzero(spikes.any(axis=1))
    if steps.size:
        return int(np.flatnonzero(spikes[steps[0]])[0])
    return int(np.argmax(v))


# ----------------------------------------------------------------------------- model: bistable

def bistable_update(m: np.ndarray, layer: Layer, t: int) -> tuple[np.ndarray, np.ndarray]:
    """One EOS token of step t of a bistable layer (§6.2): INTEGRATE adds the bias and never
    fires; FIRE fires where m ≥ θ and subtracts θ, without a bias."""
    from neurochip.neurons.bistable import fires_in

    theta, bias = per_neuron(layer, layer.threshold), per_neuron(layer, layer.bias)
    if not fires_in(layer.neuron, t):
        return np.zeros(m.shape, dtype=bool), overflow(m + bias, layer)
    fire = m >= theta
    return fire, np.where(fire, overflow(m - theta, layer), m)


# ----------------------------------------------------------------------------- model: lif_refractory

def refractory_update(m: np.ndarray, layer: Layer, t: int,
                      c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One EOS token of a lif_refractory layer (§6.4), ``c`` the refractory counters (its
    declared state word): a refractory neuron (c > 0) discards the step (m ← 0) and counts
    down; the others add the bias and fire where v > θ, which resets m to 0 and c to R.
    Returns (fired, new m, new c)."""
    theta, bias = per_neuron(layer, layer.threshold), per_neuron(layer, layer.bias)
    resting = c > 0
    v = overflow(m + bias, layer)
    fire = ~resting & (v > theta)
    new_c = np.where(resting, c - 1, np.where(fire, layer.neuron.refractory, 0))
    return fire, np.where(resting | fire, 0, v), new_c


# ----------------------------------------------------------------------------- backend tables

@dataclass(frozen=True)
class KindBehaviour:
    event: Callable[[np.ndarray, Layer, int, int], np.ndarray]  # membranes after one event
    cost: Callable[[Layer, int, int], tuple[int, dict[str, int]]]  # busy cycles after the pop


KINDS: dict[str, KindBehaviour] = {
    "fc": KindBehaviour(accumulate, fc_event_cost),
    "conv2d": KindBehaviour(conv2d_accumulate, conv2d_event_cost),
    "pool": KindBehaviour(pool_accumulate, pool_event_cost),
    "add": KindBehaviour(add_accumulate, add_event_cost),
}
# neuron model -> its update at step t: update(m, layer, t, *state) -> (fired, m, *state),
# ``state`` the model's declared state words in declaration order (§6.3); what goes out,
# the counts of a token and the decision follow from the declaration
MODELS: dict[str, Callable] = {
    "lif": neuron_update,
    "ttfs": ttfs_update,
    "bistable": bistable_update,
    "lif_refractory": refractory_update,
}


def _group_of(layer: Layer) -> Callable[[int], int]:
    """Update group (membrane word) of neuron n = pos·C + ch: pos·K_c + ch div L (§3)."""
    kind = get_kind(layer.kind)
    C, kc, L = kind.channels(layer), kind.words_per_position(layer), layer.core.lanes
    return lambda n: (n // C) * kc + (n % C) // L


def predict(counts: np.ndarray) -> int:
    """Largest count; np.argmax already returns the lowest index on ties (§6)."""
    return int(np.argmax(counts))


def run_functional(desc: CoreDescription, in_spikes: np.ndarray) -> ReferenceResult:
    """Time-stepped model: layer by layer, events in ascending order, sources in drain
    order (§4)."""
    T = desc.time_steps
    topo = Topology.from_description(desc)
    membranes = [np.zeros(lay.neurons, dtype=np.int64) for lay in desc.layers]
    spikes = [np.zeros((T, lay.neurons), dtype=np.uint8) for lay in desc.layers]
    counts = np.zeros(desc.classes, dtype=np.int64)
    count_max = (1 << desc.count_bits) - 1
    sent = [np.zeros(lay.neurons, dtype=bool) for lay in desc.layers]  # sent / fired bits
    states = [initial_state(lay) for lay in desc.layers]  # declared state words (§6.3)
    for t in range(T):
        for j, lay in enumerate(desc.layers):
            kind, update = KINDS[lay.kind], MODELS[lay.neuron.model]
            for source, f in enumerate(topo.in_fifos[j]):  # sources in drain order (§4)
                p = topo.producer[f]
                events = host_addresses(in_spikes[t]) if p == HOST else np.flatnonzero(spikes[p][t])
                for a in events:
                    membranes[j] = kind.event(membranes[j], lay, int(a), source)
            fired, membranes[j], *words = update(membranes[j], lay, t, *states[j].values())
            states[j] = dict(zip(states[j], words))
            fired = fired.astype(bool)
            # a neuron goes out at most once with a sent bitmap (§5.3, §6.3)
            spikes[j][t] = emit_once(fired, sent[j]) if keeps_sent_bitmap(lay) else fired
        counts = np.minimum(counts + spikes[topo.output_core][t], count_max)
    decision = get_model(desc.layers[topo.output_core].neuron.model).decision
    if decision.first_spike:
        prediction = predict_first_spike(spikes[topo.output_core],
                                         states[topo.output_core][decision.fallback])
    else:
        prediction = predict(counts)
    return ReferenceResult(spikes, membranes, counts, prediction, states=states)


def initial_state(layer: Layer) -> dict[str, np.ndarray]:
    """The layer's declared state words at the start of an image: each at its reset value."""
    words = get_model(layer.neuron.model).state_words
    return {w.name: np.full(layer.neurons, w.reset, dtype=np.int64) for w in words}


def run_timing(desc: CoreDescription, in_spikes: np.ndarray,
               functional: ReferenceResult) -> ReferenceResult:
    """Cycle-by-cycle model of §7-§10, driven by the spike trains of ``functional``.

    Each agent (host, cores) does one thing per cycle. Decisions use FIFO levels at the
    start of the cycle; pushes land at its end.
    """
    T, layers = desc.time_steps, desc.layers
    topo = Topology.from_description(desc)
    cnt = np.zeros((len(layers), len(CORE_COUNTERS)), dtype=np.int64)
    host_items = deque()
    for t in range(T):
        host_items.extend(int(a) for a in host_addresses(in_spikes[t]))
        host_items.append(EOS)
    (host_fifo,) = topo.host_fifos
    host_pushes = host_stalls = 0
    fifos = [deque() for _ in range(topo.fifos)]
    programs: list[deque] = [deque() for _ in layers]
    source = [0] * len(layers)  # which input FIFO a core drains (§4 drain order)
    tokens_seen = [0] * len(layers)
    cycle = 0
    done_cycle = -1
    while done_cycle < 0:
        level = [len(f) for f in fifos]
        arrivals: list[tuple[int, int]] = []
        # host
        if host_items:
            if level[host_fifo] < topo.depth[host_fifo]:
                arrivals.append((host_fifo, host_items.popleft()))
                host_pushes += 1
            else:
                host_stalls += 1
        for i, lay in enumerate(layers):
            c = cnt[i]
            prog = programs[i]
            if not prog:  # IDLE: try to pop
                f = topo.in_fifos[i][source[i]]
                if level[f] == 0:
                    c[CORE["idle_cycles"]] += 1
                    continue
                item = fifos[f].popleft()
                c[CORE["pops"]] += 1
                c[CORE["busy_cycles"]] += 1
                if item != EOS:
                    busy, counts = KINDS[lay.kind].cost(lay, item, source[i])
                    prog.extend(["acc"] * busy)
                    for name, n in counts.items():
                        c[CORE[name]] += n
                    continue
                if source[i] + 1 < len(topo.in_fifos[i]):  # next source of this step
                    source[i] += 1
                    continue
                source[i] = 0
                t = tokens_seen[i]
                tokens_seen[i] += 1
                fired = np.flatnonzero(functional.spikes[i][t])
                for name, n in token_counts(lay).items():
                    c[CORE[name]] += n
                c[CORE["spikes"]] += fired.size  # the spikes that go out (§6)
                outs = topo.out_fifos[i]
                group = _group_of(lay)
                for g in range(lay.words):  # one update cycle per group, then its pushes
                    prog.append("update")
                    prog.extend(("push", f, int(n)) for n in fired if group(n) == g
                                for f in outs)
                prog.extend(("push", f, EOS) for f in outs)
                if i == topo.output_core and t == T - 1:
                    prog.append("done")
                continue
            action = prog[0]
            if isinstance(action, tuple):  # push into FIFO action[1]
                f = action[1]
                if level[f] < topo.depth[f]:
                    prog.popleft()
                    arrivals.append((f, action[2]))
                    c[CORE["pushes"]] += 1
                    c[CORE["busy_cycles"]] += 1
                else:
                    c[CORE["stall_cycles"]] += 1
            else:
                prog.popleft()
                c[CORE["busy_cycles"]] += 1
                if prog and prog[0] == "done":
                    done_cycle = cycle + 1
        for target, item in arrivals:
            fifos[target].append(item)
        cycle += 1
    chip = np.zeros(len(CHIP_COUNTERS), dtype=np.int64)
    chip[CHIP["cycles"]] = done_cycle
    chip[CHIP["host_pushes"]] = host_pushes
    chip[CHIP["host_stall_cycles"]] = host_stalls
    functional.cycles = done_cycle
    functional.core_counters = cnt
    functional.chip_counters = chip
    return functional


def run_image(desc: CoreDescription, in_spikes: np.ndarray, timing: bool = True) -> ReferenceResult:
    """The whole reference for one encoded image ((T, P): host pushes of address p in step t,
    0/1 from the pixel encoders, any count for event input, §11.2)."""
    result = run_functional(desc, in_spikes)
    return run_timing(desc, in_spikes, result) if timing else result


def run_batch(desc: CoreDescription, in_spikes: np.ndarray, timing: bool = True) -> Observation:
    """The reference on encoded images ((n, T, P)), as the one result type every
    implementation reports."""
    results = [run_image(desc, s, timing) for s in in_spikes]
    n = len(results)
    obs = Observation(
        predictions=np.array([r.prediction for r in results], dtype=np.int64),
        counts=np.stack([r.counts for r in results]).reshape(n, desc.classes),
        membranes=np.stack([np.concatenate(r.membranes) for r in results]).reshape(n, -1),
        states=stacked_states(desc, results),
        spikes=np.stack([np.concatenate(r.spikes, axis=1) for r in results]).reshape(
            n, desc.time_steps, -1).astype(np.uint8),
        neuron_offsets=np.concatenate([[0], np.cumsum([lay.neurons for lay in desc.layers])]),
        layer_names=tuple(lay.name for lay in desc.layers))
    if timing:
        obs.cycles = np.array([r.cycles for r in results], dtype=np.int64)
        obs.core_counters = np.stack([r.core_counters for r in results]).reshape(
            n, len(desc.layers), len(CORE_COUNTERS))
        obs.chip_counters = np.stack([r.chip_counters for r in results]).reshape(n, len(CHIP_COUNTERS))
        obs.done = np.ones(n, dtype=np.int64)
    return obs


def stacked_states(desc: CoreDescription, results: list[ReferenceResult]) -> dict[str, np.ndarray]:
    """Every declared state word (``state_fields``) over the batch, (n, total neurons): a
    layer's columns hold its value, or 0 where its model lacks the word."""
    out = {}
    for word in state_fields():
        cols = [np.stack([r.states[j].get(word.name, np.zeros(lay.neurons, np.int64))
                          for r in results]) for j, lay in enumerate(desc.layers)]
        out[word.name] = np.concatenate(cols, axis=1).reshape(len(results), -1)
    return out

"""Numba kernels of the cycle-accurate, event-driven simulator (docs/simulator.md).

The chip of docs/architecture.md is simulated image by image and step by step in two
passes: a **functional pass** runs the cores in description order (a topological order),
each applying its sources' events and updating its neurons, which gives every spike,
membrane and event counter without simulating time (§7: a stall delays work, it never
changes it); it leaves behind each core's program for the step (its pops with their
cycle costs, §8, and its spike list, from which its pushes follow). The **timing pass**
(:func:`_run_timing`) turns those programs into cycles, stalls and idles with a max-plus
recurrence over the FIFOs (§7).

Layout of this module:
* the **chip** (:func:`simulate_batch`, :func:`_run_image`): the two passes, reading the
  FIFO table of ``neurochip.graph`` (no "FIFO j feeds core j");
* **behaviour**, dispatched once per (core, step, source) on a literal integer code (the
  two ``dispatch`` blocks of :func:`_run_image`, the only lines that name kinds and
  models): what a layer *kind* does with a source's address events
  (``_<kind>_events`` applies and costs them) and what a *neuron model* does with an
  end-of-step token (``_<model>_update``), one section per kind and per model below;
* the **timing** section: :func:`_run_timing`.
All njit code of every kind and model lives in this one file on purpose: Numba's cache
does not notice edits to functions in other files, and treats globals as constants, so the
codes are literals here and ``tests/test_registry_complete.py`` checks they equal the
registries' (``neurochip.kinds``, ``neurochip.neurons``). The host side that fills the
tables is ``neurochip.sim.pack``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# layer kinds and neuron models (codes of neurochip.kinds / neurochip.neurons)
KIND_FC, KIND_CONV2D, KIND_POOL, KIND_ADD = 0, 1, 2, 3
MODEL_LIF = 0
MODEL_TTFS = 1
MODEL_BISTABLE = 2
MODEL_LIF_REFRACTORY = 3

ENC_BERNOULLI, ENC_RATE, ENC_LATENCY, ENC_EVENTS = 0, 1, 2, 3

# columns of the per-layer configuration table ``layer_cfg`` (layers, N_LAYER_CFG) int64,
# filled by neurochip.sim.pack: common columns, then 8 a kind defines for itself and 8 a
# neuron model defines (named in its section below)
# (LC_WORDS: K, every update group of the core; LC_CHANNELS: C, neurons per output
# position; LC_POSITIONS: P; LC_WPP: K_c = ceil(C / L) words per position; LC_P0: offset of
# the layer's per-channel parameters in param_values; then what the model declares (§6.3):
# LC_SENT: the core keeps a sent bitmap (a pool with emit = once, or a model that emits
# once); LC_STATE_WORDS: how many state words (rows of the state scratch) the model keeps;
# LC_FIRST_SPIKE: an output core decides by first spike, else by the largest V of state
# row LC_FALLBACK; LC_NO_OVERFLOW: no add into the layer's registers can leave B bits, for
# any image (neurochip.sim.overflow_bound), so its event adds are plain adds)
LC_KIND, LC_MODEL, LC_INPUTS, LC_NEURONS, LC_WORDS, LC_LANES, LC_LO, LC_HI, LC_WRAP, \
    LC_BITS, LC_CHANNELS, LC_POSITIONS, LC_WPP, LC_P0, LC_SENT, LC_STATE_WORDS, \
    LC_FIRST_SPIKE, LC_FALLBACK, LC_NO_OVERFLOW = range(19)
KIND_SLOTS = 19
MODEL_SLOTS = 27
N_LAYER_CFG = 35
MAX_PARAM_FIELDS = 4  # ``param_values`` holds this many rows of total-channels values,
# flattened (row r of channel entry e at r * total + e): the parameter-memory fields

# core counter columns, in the order of neurochip.counters.CORE_COUNTERS (checked on import
# of neurochip.sim.pack); chip counter columns in the order of CHIP_COUNTERS
C_POPS, C_PUSHES, C_WREADS, C_SOPS, C_MREADS, C_MWRITES, C_PREADS, C_UPDATES, C_SPIKES, \
    C_BUSY, C_STALL, C_IDLE, C_ADDR, C_BMREADS, C_BMWRITES = range(15)
N_CORE_COUNTERS = 15
CHIP_CYCLES, CHIP_HOST_PUSHES, CHIP_HOST_STALLS = range(3)

# what a core waits for (scheduler)
RUNNABLE, WAIT_EMPTY, WAIT_FULL = 0, 1, 2

EOS = -1
INF = np.int64(1) << 62
LFSR_MASK = 0x80200003


def _lfsr_step8_table() -> np.ndarray:
    """The Galois LFSR of §11 is linear and its next eight output bits are the state's low
    byte, so eight steps are ``(s >> 8) ^ table[s & 0xFF]`` with the table below."""
    table = np.zeros(256, dtype=np.int64)
    for low in range(256):
        s = low
        for _ in range(8):
            out = s & 1
            s >>= 1
            if out:
                s ^= LFSR_MASK
        table[low] = s
    return table


LFSR_STEP8 = _lfsr_step8_table()


@njit(cache=True, inline="always")
def _lfsr_seed(seed: int, image_index: int) -> int:
    """The LFSR state an image starts from (§11): never 0."""
    s = (seed * 0x9E3779B1 + (image_index + 1) * 0x85EBCA77) & 0xFFFFFFFF
    return 1 if s == 0 else s


@njit(cache=True)
def encode_image(kind: int, pixels: np.ndarray, time_steps: int, seed: int,
                 image_index: int, items: np.ndarray) -> int:
    """Write the host's item stream (§4, §11) into ``items``; return its length.

    For ``ENC_EVENTS`` ``pixels`` is the sample's (T·P,) event counts, step-major (§11.2):
    count c at (t, p) is c pushes of address p, back to back, in ascending p."""
    n = 0
    if kind == ENC_EVENTS:
        P = pixels.shape[0] // time_steps
        for t in range(time_steps):
            row = t * P
            for p in range(P):
                for _ in range(pixels[row + p]):
                    items[n] = p
                    n += 1
            items[n] = EOS
            n += 1
        return n
    P = pixels.shape[0]
    if kind == ENC_LATENCY:  # one event per pixel at most: bucket the pixels by step
        return _encode_latency(pixels, time_steps, items)
    s = _lfsr_seed(seed, image_index)
    for t in range(time_steps):
        for p in range(P):
            x = np.int64(pixels[p])
            fire = False
            if kind == ENC_BERNOULLI:
                s = (s >> 8) ^ LFSR_STEP8[s & 0xFF]  # eight steps of the LFSR at once
                fire = (s & 0xFF) < x
            elif kind == ENC_RATE:
                fire = ((t + 1) * x) // 256 > (t * x) // 256
            else:
                fire = x >= 1 and ((255 - x) * time_steps) // 256 == t
            if fire:
                items[n] = p
                n += 1
        items[n] = EOS
        n += 1
    return n


@njit(cache=True)
def _encode_latency(pixels: np.ndarray, time_steps: int, items: np.ndarray) -> int:
    """``encode_image`` for ENC_LATENCY (§11): pixel x >= 1 fires once, in step
    ((255 − x)·T) div 256. A counting sort over the steps (O(P + T)) instead of testing
    every (step, pixel) pair (O(T·P): 50,176 tests an image at T = 64); same items, in
    the same order (ascending pixel within a step, then the step's EOS)."""
    T = time_steps
    start = np.zeros(T + 1, dtype=np.int64)  # start[t + 1]: events of step t, then offsets
    for p in range(pixels.shape[0]):
        x = np.int64(pixels[p])
        if x >= 1:
            start[((255 - x) * T) // 256 + 1] += 1
    for t in range(T):  # step t's items start after the earlier steps' events and EOS tokens
        start[t + 1] += start[t] + 1
    cur = start[:T].copy()
    for p in range(pixels.shape[0]):
        x = np.int64(pixels[p])
        if x >= 1:
            t = ((255 - x) * T) // 256
            items[cur[t]] = p
            cur[t] += 1
    for t in range(T):
        items[start[t + 1] - 1] = EOS
    return start[T]


@njit(cache=True)
def host_capacity(kind: int, images: np.ndarray, time_steps: int) -> tuple:
    """(most host events in one step, most host items of one image) over ``images``: the
    sizes of the kernel's item and op buffers. A pixel encoder sends each address at most
    once a step; event input (§11.2) as many times as its counts say."""
    if kind != ENC_EVENTS:
        P = images.shape[1]
        return P, time_steps * (P + 1)
    P = images.shape[1] // time_steps
    step_max = 0
    total_max = 0
    for img in range(images.shape[0]):
        total = 0
        for t in range(time_steps):
            c = 0
            for p in range(t * P, (t + 1) * P):
                c += images[img, p]
            step_max = max(step_max, c)
            total += c
        total_max = max(total_max, total)
    return step_max, total_max + time_steps


GROUP = 4  # images whose LFSR encoders run interleaved (independent chains: 4× the ILP)


@njit(cache=True)
def encode_group(kind: int, images: np.ndarray, img0: int, count: int, time_steps: int,
                 seed: int, indices: np.ndarray, items: np.ndarray, n_items: np.ndarray) -> None:
    """``encode_image`` of images img0 … img0 + count − 1 (count <= GROUP) into the rows of
    ``items``, lengths into ``n_items``. The Bernoulli LFSR is a serial chain per image
    (each draw needs the previous state), so a lone image waits on every table lookup;
    GROUP images' chains interleaved keep the core busy. Same draws, same items."""
    if kind != ENC_BERNOULLI or count < GROUP:
        for g in range(count):
            n_items[g] = encode_image(kind, images[img0 + g], time_steps, seed,
                                      indices[img0 + g], items[g])
        return
    P = images.shape[1]
    s0 = _lfsr_seed(seed, indices[img0])
    s1 = _lfsr_seed(seed, indices[img0 + 1])
    s2 = _lfsr_seed(seed, indices[img0 + 2])
    s3 = _lfsr_seed(seed, indices[img0 + 3])
    x0 = images[img0]
    x1 = images[img0 + 1]
    x2 = images[img0 + 2]
    x3 = images[img0 + 3]
    i0 = items[0]
    i1 = items[1]
    i2 = items[2]
    i3 = items[3]
    n0 = 0
    n1 = 0
    n2 = 0
    n3 = 0
    for t in range(time_steps):
        for p in range(P):
            s0 = (s0 >> 8) ^ LFSR_STEP8[s0 & 0xFF]
            s1 = (s1 >> 8) ^ LFSR_STEP8[s1 & 0xFF]
            s2 = (s2 >> 8) ^ LFSR_STEP8[s2 & 0xFF]
            s3 = (s3 >> 8) ^ LFSR_STEP8[s3 & 0xFF]
            i0[n0] = p  # written always, kept only if it fires (no branch)
            n0 += (s0 & 0xFF) < np.int64(x0[p])
            i1[n1] = p
            n1 += (s1 & 0xFF) < np.int64(x1[p])
            i2[n2] = p
            n2 += (s2 & 0xFF) < np.int64(x2[p])
            i3[n3] = p
            n3 += (s3 & 0xFF) < np.int64(x3[p])
        i0[n0] = EOS
        n0 += 1
        i1[n1] = EOS
        n1 += 1
        i2[n2] = EOS
        n2 += 1
        i3[n3] = EOS
        n3 += 1
    n_items[0] = n0
    n_items[1] = n1
    n_items[2] = n2
    n_items[3] = n3


# Functions marked ``_nrt=False`` below allocate nothing and keep no array beyond the call,
# so they are compiled without Numba's reference counting: with it, every array view they
# make (a layer's membranes, a weight row, a parameter row) costs an atomic increment and
# decrement of its parent's reference count, ~140 of the ~260 ns of a 400-neuron ttfs
# update (measured). Their callers hold every array they receive, so nothing is freed
# early; no result changes.

# =========================================================================== arithmetic (§2)

@njit(cache=True, inline="always")
def _overflow(v: np.int64, lo: np.int64, hi: np.int64, wrap: bool, bits: np.int64) -> np.int64:
    if wrap:
        return ((v - lo) & ((np.int64(1) << bits) - 1)) + lo
    if v > hi:
        return hi
    if v < lo:
        return lo
    return v


@njit(cache=True, inline="always")
def _add_rows16(m: np.ndarray, row: np.ndarray, lo: int, hi: int, wrap: bool, bits: int) -> None:
    """Saturating/wrapping add of an int8 row into int16 membranes (B <= 15, so the sum
    of a membrane and a weight fits int16)."""
    lo_ = np.int16(lo)
    hi_ = np.int16(hi)
    if wrap:
        mask = (np.int64(1) << bits) - 1  # ((v - lo) mod 2^B) + lo, exact in int16 lanes
        for n in range(m.shape[0]):
            v = np.int16(m[n] + row[n])
            m[n] = np.int16(np.int16((v - lo_) & mask) + lo_)
    else:
        for n in range(m.shape[0]):
            v = np.int16(m[n] + row[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            m[n] = v


@njit(cache=True, inline="always")
def _add_rows32(m: np.ndarray, row: np.ndarray, lo: int, hi: int, wrap: bool, bits: int) -> None:
    """As _add_rows16 for int32 membranes and B <= 31."""
    lo_ = np.int32(lo)
    hi_ = np.int32(hi)
    if wrap:
        mask = (np.int64(1) << bits) - 1  # ((v - lo) mod 2^B) + lo, exact in int32 lanes
        for n in range(m.shape[0]):
            v = np.int32(m[n] + row[n])
            m[n] = np.int32(np.int32((v - lo_) & mask) + lo_)
    else:
        for n in range(m.shape[0]):
            v = np.int32(m[n] + row[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            m[n] = v


@njit(cache=True, inline="always")
def _add_rows_plain(m: np.ndarray, row: np.ndarray) -> None:
    """Plain adds of an int8 row into the membranes, for a layer whose no-overflow bound
    holds (LC_NO_OVERFLOW): no sum can leave B bits, so §2's ovf is the identity on each.
    Without the two compares per add the loop is ~30 % faster (3 × 48 int32 lanes: 16 ns
    against 23 ns an event, measured)."""
    for n in range(m.shape[0]):
        m[n] += row[n]


@njit(cache=True, inline="always")
def _add4_rows_plain(m: np.ndarray, r0: np.ndarray, r1: np.ndarray, r2: np.ndarray,
                     r3: np.ndarray) -> None:
    """Four rows in one pass as plain adds (LC_NO_OVERFLOW; see _add_rows_plain): without
    saturation the sum does not depend on the order of the adds."""
    for n in range(m.shape[0]):
        m[n] += r0[n] + r1[n] + r2[n] + r3[n]


@njit(cache=True, inline="always")
def _add4_rows16(m: np.ndarray, r0: np.ndarray, r1: np.ndarray, r2: np.ndarray,
                 r3: np.ndarray, lo: int, hi: int, wrap: bool, bits: int) -> None:
    """Four rows added into the same int16 membranes in one pass, in order r0, r1, r2, r3,
    each add saturated or wrapped as in _add_rows16 (so every membrane sees exactly the
    four adds of four _add_rows16 calls). One load and store of the membranes instead of
    four, and no store-to-load chain through memory between consecutive events."""
    lo_ = np.int16(lo)
    hi_ = np.int16(hi)
    if wrap:
        mask = (np.int64(1) << bits) - 1
        for n in range(m.shape[0]):
            v = np.int16(m[n] + r0[n])
            v = np.int16(np.int16((v - lo_) & mask) + lo_)
            v = np.int16(v + r1[n])
            v = np.int16(np.int16((v - lo_) & mask) + lo_)
            v = np.int16(v + r2[n])
            v = np.int16(np.int16((v - lo_) & mask) + lo_)
            v = np.int16(v + r3[n])
            m[n] = np.int16(np.int16((v - lo_) & mask) + lo_)
    else:
        for n in range(m.shape[0]):
            v = np.int16(m[n] + r0[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            v = np.int16(v + r1[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            v = np.int16(v + r2[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            v = np.int16(v + r3[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            m[n] = v


@njit(cache=True, inline="always")
def _add4_rows32(m: np.ndarray, r0: np.ndarray, r1: np.ndarray, r2: np.ndarray,
                 r3: np.ndarray, lo: int, hi: int, wrap: bool, bits: int) -> None:
    """As _add4_rows16 for int32 membranes and B <= 31."""
    lo_ = np.int32(lo)
    hi_ = np.int32(hi)
    if wrap:
        mask = (np.int64(1) << bits) - 1
        for n in range(m.shape[0]):
            v = np.int32(m[n] + r0[n])
            v = np.int32(np.int32((v - lo_) & mask) + lo_)
            v = np.int32(v + r1[n])
            v = np.int32(np.int32((v - lo_) & mask) + lo_)
            v = np.int32(v + r2[n])
            v = np.int32(np.int32((v - lo_) & mask) + lo_)
            v = np.int32(v + r3[n])
            m[n] = np.int32(np.int32((v - lo_) & mask) + lo_)
    else:
        for n in range(m.shape[0]):
            v = np.int32(m[n] + r0[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            v = np.int32(v + r1[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            v = np.int32(v + r2[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            v = np.int32(v + r3[n])
            v = v if v < hi_ else hi_
            v = v if v > lo_ else lo_
            m[n] = v


@njit(cache=True, inline="always")
def _select_overflow(v: np.int64, lo: np.int64, hi: np.int64, wrap: bool,
                     mask: np.int64) -> np.int64:
    """_overflow written as selects, so a loop over neurons vectorises."""
    wrapped = ((v - lo) & mask) + lo
    clamped = min(max(v, lo), hi)
    return wrapped if wrap else clamped


# =========================================================================== windows (§5.2, §5.3)

@njit(cache=True, inline="always")
def _floordiv(a: int, s: int) -> int:
    """a // s (floor, as Python), without a division instruction for the usual strides 1
    and 2 (a division costs tens of cycles; this runs several times per event)."""
    if s == 1:
        return a
    if s == 2:
        return a >> 1
    return a // s


@njit(cache=True, inline="always")
def _step_coords(delta: int, y: int, x: int, c: int, c_in: int, w_in: int) -> tuple:
    """(y, x, c) of the address ``delta`` above the previous event's (y, x, c) in a map of
    width ``w_in`` and ``c_in`` channels: events arrive in ascending address order (§4), so
    stepping on from the previous one replaces three divisions per event. A long gap
    (sparse spikes: ≥ 16 positions, which walking would take one by one) is divided."""
    c += delta
    if c >= 16 * c_in:
        q = c // c_in
        c -= q * c_in
        x += q
        if x >= w_in:
            y += x // w_in
            x = x % w_in
        return y, x, c
    while c >= c_in:
        c -= c_in
        x += 1
        if x == w_in:
            x = 0
            y += 1
    return y, x, c


@njit(cache=True, inline="always")
def _window_range(v: int, k: int, p: int, s: int, n_out: int) -> tuple[int, int]:
    """Output indices o with 0 <= v + p − o·s < k along one axis (§5.2, §5.3), as the
    inclusive range [lo, hi] (empty when lo > hi): ceil((v + p − k + 1) / s) … floor((v + p) / s),
    clipped to 0 … n_out − 1. Scalars only, so inlining it costs nothing per event."""
    return max(0, -_floordiv(k - 1 - v - p, s)), min(n_out - 1, _floordiv(v + p, s))


# =========================================================================== kind: conv2d (§5.2)

CONV_IN_W = KIND_SLOTS + 0
CONV_IN_C = KIND_SLOTS + 1
CONV_KH = KIND_SLOTS + 2
CONV_KW = KIND_SLOTS + 3
CONV_STRIDE = KIND_SLOTS + 4
CONV_PAD = KIND_SLOTS + 5
CONV_OUT_H = KIND_SLOTS + 6
CONV_OUT_W = KIND_SLOTS + 7


# =========================================================================== kind: pool (§5.3)

POOL_IN_W = KIND_SLOTS + 0
POOL_IN_C = KIND_SLOTS + 1
POOL_WINDOW = KIND_SLOTS + 2
POOL_STRIDE = KIND_SLOTS + 3
POOL_OUT_H = KIND_SLOTS + 4
POOL_OUT_W = KIND_SLOTS + 5


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _pool_emit_once(fired: np.ndarray, nf: int, sent: np.ndarray, n0: int) -> int:
    """§5.3 emit = once: keep the fired neurons whose sent bit is clear, then set the bit of
    every fired neuron. Returns how many spikes go out (``fired`` is compacted)."""
    out = 0
    for q in range(nf):
        n = fired[q]
        if sent[n0 + n] == 0:
            fired[out] = n
            out += 1
        sent[n0 + n] = 1
    return out


# =========================================================================== shared by the models

@njit(cache=True, _nrt=False)  # no allocation (see above)
def _overflow_of(layer_cfg: np.ndarray, layer: int) -> tuple:
    """(lo, hi, wrap, mask) of the layer's B-bit membranes: what ``_select_overflow``
    takes (§2)."""
    return (layer_cfg[layer, LC_LO], layer_cfg[layer, LC_HI], layer_cfg[layer, LC_WRAP] != 0,
            (np.int64(1) << layer_cfg[layer, LC_BITS]) - 1)


@njit(cache=True)
def expand_params(param_values: np.ndarray, layer_cfg: np.ndarray, n_off: np.ndarray) -> np.ndarray:
    """Per-neuron copies of the per-channel parameters: row r, neuron n = pos·C + ch of layer
    j at n_off[j] + n holds row r of channel ch (``param_values`` holds MAX_PARAM_FIELDS rows
    of total-channels values). Built once per batch, so that a neuron update is one flat,
    vectorised loop over the layer's N neurons instead of P loops over C channels. int32:
    every field is a B-bit value (B <= 32), and the updates of B <= 31 layers run in
    int32 lanes (twice as many per vector as int64)."""
    L = layer_cfg.shape[0]
    stride = param_values.shape[0] // MAX_PARAM_FIELDS
    out = np.zeros((MAX_PARAM_FIELDS, max(n_off[L], 1)), dtype=np.int32)  # B <= 32 values
    for j in range(L):
        C = layer_cfg[j, LC_CHANNELS]
        p0 = layer_cfg[j, LC_P0]
        for r in range(MAX_PARAM_FIELDS):
            for pos in range(layer_cfg[j, LC_POSITIONS]):
                for c in range(C):
                    out[r, n_off[j] + pos * C + c] = param_values[r * stride + p0 + c]
    return out


@njit(cache=True)
def group_table(layer_cfg: np.ndarray, n_off: np.ndarray) -> np.ndarray:
    """The update group (§3, §8) of every neuron, at n_off[j] + n for neuron n = pos·C + ch
    of layer j: pos·K_c + ch div L (fc: one position). Built once per model, so that the
    push program reads a spike's group instead of dividing or walking positions."""
    L = layer_cfg.shape[0]
    out = np.zeros(max(n_off[L], 1), dtype=np.int32)
    for j in range(L):
        C = layer_cfg[j, LC_CHANNELS]
        kc = layer_cfg[j, LC_WPP]
        lanes = layer_cfg[j, LC_LANES]
        for pos in range(layer_cfg[j, LC_POSITIONS]):
            for ch in range(C):
                out[n_off[j] + pos * C + ch] = pos * kc + ch // lanes
    return out


@njit(cache=True, inline="always")
def _update_counts(row: np.ndarray, K: int, N: int, state_words: int) -> None:
    """§8, §10 of any model's token (§6.3): K update cycles, each reading a parameter word
    and reading and writing the membrane word and each of the model's ``state_words``
    (counted as membrane words); the sent-bitmap word is counted by the scheduler."""
    row[C_MREADS] += K * (1 + state_words)
    row[C_MWRITES] += K * (1 + state_words)
    row[C_PREADS] += K
    row[C_UPDATES] += N


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _list_flagged(flags: np.ndarray, fw: np.ndarray, N: int, fired: np.ndarray) -> int:
    """Writes the indices of the set ``flags[:N]`` into ``fired``, ascending; returns their
    count. Eight flags are tested at once as one 64-bit word, so silent stretches cost an
    eighth (``flags`` has room for N rounded up to 8, and ``fired`` for N + 8). ``fw`` is
    ``flags`` viewed as uint64, made once per batch (a ``.view`` here cost ~90 ns a call,
    more than scanning a 64-neuron layer)."""
    words = (N + 7) // 8
    for q in range(N, words * 8):
        flags[q] = 0
    nf = 0
    for w in range(words):
        if fw[w] != 0:
            for n in range(w * 8, w * 8 + 8):
                fired[nf] = n
                nf += flags[n]
    return nf


# =========================================================================== model: lif (§6)

LIF_RESET = MODEL_SLOTS + 0  # LIF_RESET_SUBTRACT | LIF_RESET_ZERO
LIF_LEAK = MODEL_SLOTS + 1  # LIF_LEAK_NONE | LIF_LEAK_SUBTRACT | LIF_LEAK_SHIFT
LIF_LEAK_AMOUNT = MODEL_SLOTS + 2
LIF_DISCONTINUOUS = MODEL_SLOTS + 3
LIF_RESET_SUBTRACT, LIF_RESET_ZERO = 0, 1
LIF_LEAK_NONE, LIF_LEAK_SUBTRACT, LIF_LEAK_SHIFT = 0, 1, 2
LIF_THRESHOLD, LIF_BIAS = 0, 1  # rows of param_values (the model's param_fields order)


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _lif_update(mem: np.ndarray, m0: int, params: np.ndarray, layer_cfg: np.ndarray,
                layer: int, fired: np.ndarray, flags: np.ndarray, fw: np.ndarray) -> int:
    """§6 for one EOS token; writes fired neuron indices into ``fired``, returns count.

    ``params`` are the per-neuron parameters (:func:`expand_params`). Two passes: a
    branch-free pass over the N neurons (vectorised) that updates membranes and marks
    spikes in ``flags``, then a scan that lists the marked neurons in order.
    """
    N = layer_cfg[layer, LC_NEURONS]
    lo, hi, wrap, mask = _overflow_of(layer_cfg, layer)
    subtract = layer_cfg[layer, LIF_RESET] == LIF_RESET_SUBTRACT
    leak = layer_cfg[layer, LIF_LEAK]
    lam = layer_cfg[layer, LIF_LEAK_AMOUNT]
    keep = layer_cfg[layer, LIF_DISCONTINUOUS] == 0
    th = params[LIF_THRESHOLD, m0:m0 + N]
    b = params[LIF_BIAS, m0:m0 + N]
    m = mem[m0:m0 + N]
    f = flags[:N]
    if leak == LIF_LEAK_NONE and not wrap and layer_cfg[layer, LC_BITS] <= 31:
        # the common cases (saturating, no leak) as branch-free loops in int32 lanes: with
        # B <= 31 a membrane plus a bias, and a membrane minus a threshold, fit int32
        lo_ = np.int32(lo)
        hi_ = np.int32(hi)
        if not keep:  # discontinuous: the membrane is cleared after every step
            for n in range(N):
                v = np.int32(np.int32(m[n]) + b[n])
                v = v if v < hi_ else hi_
                v = v if v > lo_ else lo_
                f[n] = v > th[n]
                m[n] = 0
        elif subtract:
            for n in range(N):
                v = np.int32(np.int32(m[n]) + b[n])
                v = v if v < hi_ else hi_
                v = v if v > lo_ else lo_
                spike = v > th[n]
                r = np.int32(v - th[n])
                r = r if r < hi_ else hi_
                r = r if r > lo_ else lo_
                m[n] = r if spike else v
                f[n] = spike
        else:  # reset to zero
            for n in range(N):
                v = np.int32(np.int32(m[n]) + b[n])
                v = v if v < hi_ else hi_
                v = v if v > lo_ else lo_
                spike = v > th[n]
                m[n] = 0 if spike else v
                f[n] = spike
        return _list_flagged(flags, fw, N, fired)
    if leak == LIF_LEAK_NONE and keep and subtract and not wrap:
        # the same for B = 32 in int64
        for n in range(N):
            v = min(max(np.int64(m[n]) + b[n], lo), hi)
            spike = v > th[n]
            m[n] = min(max(v - th[n], lo), hi) if spike else v
            f[n] = spike
        return _list_flagged(flags, fw, N, fired)
    for n in range(N):
        v = _select_overflow(np.int64(m[n]) + b[n], lo, hi, wrap, mask)
        spike = v > th[n]
        after = _select_overflow(v - th[n], lo, hi, wrap, mask) if subtract else np.int64(0)
        v = after if spike else v
        if leak == LIF_LEAK_SUBTRACT:
            v = max(v - lam, 0) if v > 0 else min(v + lam, 0)
        elif leak == LIF_LEAK_SHIFT:
            v = v - (v >> lam)
        m[n] = v if keep else 0
        f[n] = spike
    return _list_flagged(flags, fw, N, fired)


# =========================================================================== model: ttfs (§6.1)

TTFS_RAMP = MODEL_SLOTS + 0  # 1: psp = ramp (I carries over), 0: psp = step (I cleared)
TTFS_UNIFORM = MODEL_SLOTS + 1  # 1: every channel has the same θ (the update reads one value)
TTFS_THRESHOLD = 0  # row of param_values (the model's param_fields order)


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _ttfs_update(mem: np.ndarray, pot: np.ndarray, sent: np.ndarray, m0: int,
                 params: np.ndarray, layer_cfg: np.ndarray, layer: int, fired: np.ndarray,
                 flags: np.ndarray, fw: np.ndarray) -> int:
    """§6.1 for one EOS token: V ← ovf(V + I), fire iff V > θ, I kept (ramp) or cleared
    (step). ``mem`` holds I, ``pot`` V, ``params`` the per-neuron parameters
    (:func:`expand_params`), ``sent`` the fired bits: a neuron goes out only the first
    time (the emit = once rule of _pool_emit_once, applied here, so a
    neuron that stays above θ is not listed again every step). Writes the neuron indices
    that go out into ``fired``, returns count."""
    N = layer_cfg[layer, LC_NEURONS]
    lo, hi, wrap, mask = _overflow_of(layer_cfg, layer)
    ramp = layer_cfg[layer, TTFS_RAMP] != 0
    th = params[TTFS_THRESHOLD, m0:m0 + N]
    i = mem[m0:m0 + N]
    v = pot[m0:m0 + N]
    f = flags[:N]
    sb = sent[m0:m0 + N]
    # the loops mark the neurons that fire now and had not fired before; their sent bits
    # are set below, from the list (f = spike & ~sent, then sent |= f: the same bits as
    # sent |= spike, since a spike of a sent neuron leaves its bit at 1), so the loops
    # store no sent byte per neuron
    if not wrap and layer_cfg[layer, LC_BITS] <= 31:  # saturating, in int32 lanes (as lif)
        lo_ = np.int32(lo)
        hi_ = np.int32(hi)
        if layer_cfg[layer, TTFS_UNIFORM] != 0:  # one θ: no per-neuron threshold stream
            th0 = np.int32(th[0])
            for n in range(N):
                x = np.int32(v[n] + np.int32(i[n]))
                x = x if x < hi_ else hi_
                x = x if x > lo_ else lo_
                v[n] = x
                f[n] = np.uint8(x > th0) & (sb[n] ^ np.uint8(1))  # fired now, not before
        else:
            for n in range(N):
                x = np.int32(v[n] + np.int32(i[n]))
                x = x if x < hi_ else hi_
                x = x if x > lo_ else lo_
                v[n] = x
                f[n] = np.uint8(x > th[n]) & (sb[n] ^ np.uint8(1))
    else:
        for n in range(N):
            x = _select_overflow(np.int64(v[n]) + np.int64(i[n]), lo, hi, wrap, mask)
            v[n] = x
            f[n] = np.uint8(x > th[n]) & (sb[n] ^ np.uint8(1))
    if not ramp:
        i[:] = 0
    nf = _list_flagged(flags, fw, N, fired)
    for q in range(nf):
        sb[fired[q]] = 1
    return nf


# =========================================================================== model: bistable (§6.2)

BIS_PHASE_STEPS = MODEL_SLOTS + 0  # N
BIS_PHASE = MODEL_SLOTS + 1  # offset: step t is at (t + phase) mod 2N of the cycle
BIS_THRESHOLD, BIS_BIAS = 0, 1  # rows of param_values (param_fields order, as lif)


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _bistable_update(mem: np.ndarray, m0: int, params: np.ndarray, layer_cfg: np.ndarray,
                     layer: int, t: int, fired: np.ndarray, flags: np.ndarray,
                     fw: np.ndarray) -> int:
    """§6.2 for the EOS token of step t: INTEGRATE adds the bias and fires nothing; FIRE
    fires where m ≥ θ and subtracts θ. ``params`` are the per-neuron parameters
    (:func:`expand_params`). Writes fired neuron indices into ``fired``, ascending;
    returns their count."""
    N = layer_cfg[layer, LC_NEURONS]
    lo, hi, wrap, mask = _overflow_of(layer_cfg, layer)
    half = layer_cfg[layer, BIS_PHASE_STEPS]
    fire_phase = (t + layer_cfg[layer, BIS_PHASE]) % (2 * half) >= half
    th = params[BIS_THRESHOLD, m0:m0 + N]
    b = params[BIS_BIAS, m0:m0 + N]
    m = mem[m0:m0 + N]
    if not wrap and layer_cfg[layer, LC_BITS] <= 31:  # saturating, in int32 lanes (as lif)
        lo_ = np.int32(lo)
        hi_ = np.int32(hi)
        if not fire_phase:
            for n in range(N):
                v = np.int32(np.int32(m[n]) + b[n])
                v = v if v < hi_ else hi_
                m[n] = v if v > lo_ else lo_
            return 0
        f = flags[:N]
        for n in range(N):
            v = np.int32(m[n])
            spike = v >= th[n]
            r = np.int32(v - th[n])
            r = r if r < hi_ else hi_
            r = r if r > lo_ else lo_
            m[n] = r if spike else v
            f[n] = spike
        return _list_flagged(flags, fw, N, fired)
    if not fire_phase:
        for n in range(N):
            m[n] = _select_overflow(np.int64(m[n]) + b[n], lo, hi, wrap, mask)
        return 0
    f = flags[:N]
    for n in range(N):
        v = np.int64(m[n])
        spike = v >= th[n]
        m[n] = _select_overflow(v - th[n], lo, hi, wrap, mask) if spike else v
        f[n] = spike
    return _list_flagged(flags, fw, N, fired)


# =========================================================================== model: lif_refractory (§6.4)

REF_PERIOD = MODEL_SLOTS + 0  # R: refractory steps after a spike
REF_THRESHOLD, REF_BIAS = 0, 1  # rows of param_values (param_fields order, as lif)


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _refractory_update(mem: np.ndarray, left: np.ndarray, m0: int, params: np.ndarray,
                       layer_cfg: np.ndarray, layer: int, fired: np.ndarray, flags: np.ndarray,
                       fw: np.ndarray) -> int:
    """§6.4 for one EOS token: a neuron with refractory steps ``left`` (its declared state
    word, §6.3) discards the step (m ← 0) and counts down; the others add the bias and
    fire where v > θ, which resets m to 0 and starts R refractory steps. ``params`` are
    the per-neuron parameters (:func:`expand_params`). Writes fired neuron indices into
    ``fired``, ascending; returns their count."""
    N = layer_cfg[layer, LC_NEURONS]
    lo, hi, wrap, mask = _overflow_of(layer_cfg, layer)
    R = layer_cfg[layer, REF_PERIOD]
    th = params[REF_THRESHOLD, m0:m0 + N]
    b = params[REF_BIAS, m0:m0 + N]
    m = mem[m0:m0 + N]
    c = left[m0:m0 + N]
    f = flags[:N]
    for n in range(N):
        if c[n] > 0:
            m[n] = 0
            c[n] -= 1
            f[n] = 0
        else:
            v = _select_overflow(np.int64(m[n]) + b[n], lo, hi, wrap, mask)
            spike = v > th[n]
            m[n] = 0 if spike else v
            c[n] = R if spike else 0
            f[n] = spike
    return _list_flagged(flags, fw, N, fired)


# =========================================================================== event loops

@njit(cache=True, inline="always")
def _add_at(mem: np.ndarray, mb: int, weights: np.ndarray, wb: int, C: int, lo: int, hi: int,
            wrap: bool, bits: int, plain: bool) -> None:
    """One address step: ``weights[wb:wb + C]`` (int8) added into ``mem[mb:mb + C]``, each
    saturated or wrapped to B bits (§2), in the narrowest lanes that cannot overflow (B = 32
    adds in int64); ``plain``: the layer's no-overflow bound holds, plain adds. Views, not
    indices: with views the loop vectorises (an index loop keeps Numba's negative-index
    wraparound check; measured 2.8x slower on the CNN)."""
    if plain:
        _add_rows_plain(mem[mb:mb + C], weights[wb:wb + C])
    elif bits < 8 * mem.itemsize:
        if mem.itemsize == 2:
            _add_rows16(mem[mb:mb + C], weights[wb:wb + C], lo, hi, wrap, bits)
        else:
            _add_rows32(mem[mb:mb + C], weights[wb:wb + C], lo, hi, wrap, bits)
    else:
        for n in range(C):
            mem[mb + n] = _overflow(np.int64(mem[mb + n]) + np.int64(weights[wb + n]), lo, hi,
                                    wrap, bits)


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _fc_events(mem: np.ndarray, m0: int, weights: np.ndarray, w0: int, layer_cfg: np.ndarray,
               j: int, src: np.ndarray, ns: int, after: np.ndarray) -> int:
    """§5 for the ``ns`` address events of one source and step, in order. ``after[i]`` gets
    the cycles from event i's pop to the next pop (1 + K, §8); returns the busy cycles."""
    N = layer_cfg[j, LC_NEURONS]
    K = layer_cfg[j, LC_WORDS]
    lo = layer_cfg[j, LC_LO]
    hi = layer_cfg[j, LC_HI]
    bits = layer_cfg[j, LC_BITS]
    wrap = layer_cfg[j, LC_WRAP] != 0
    plain = layer_cfg[j, LC_NO_OVERFLOW] != 0
    for i in range(ns):
        after[i] = 1 + K
    i = 0
    if plain or bits < 8 * mem.itemsize:  # four events per pass over the membranes
        m = mem[m0:m0 + N]
        while i + 4 <= ns:
            a0 = w0 + src[i] * N
            a1 = w0 + src[i + 1] * N
            a2 = w0 + src[i + 2] * N
            a3 = w0 + src[i + 3] * N
            if plain:
                _add4_rows_plain(m, weights[a0:a0 + N], weights[a1:a1 + N],
                                 weights[a2:a2 + N], weights[a3:a3 + N])
            elif mem.itemsize == 2:
                _add4_rows16(m, weights[a0:a0 + N], weights[a1:a1 + N], weights[a2:a2 + N],
                             weights[a3:a3 + N], lo, hi, wrap, bits)
            else:
                _add4_rows32(m, weights[a0:a0 + N], weights[a1:a1 + N], weights[a2:a2 + N],
                             weights[a3:a3 + N], lo, hi, wrap, bits)
            i += 4
    for q in range(i, ns):
        _add_at(mem, m0, weights, w0 + src[q] * N, N, lo, hi, wrap, bits, plain)
    return ns * K


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _conv2d_events(mem: np.ndarray, m0: int, weights: np.ndarray, w0: int,
                   layer_cfg: np.ndarray, j: int, src: np.ndarray, ns: int,
                   after: np.ndarray) -> int:
    """§5.2 for the ``ns`` input events (y, x, c) of one source and step: at every output
    position an event touches, oy then ox ascending, kernel row (c·kh + ky)·kw + kx added to
    that position's C_out neurons (one address step, K_c cycles). ``after[i]`` = 1 + the
    event's busy cycles; returns the touched positions."""
    C = layer_cfg[j, LC_CHANNELS]
    kc = layer_cfg[j, LC_WPP]
    w_in = layer_cfg[j, CONV_IN_W]
    c_in = layer_cfg[j, CONV_IN_C]
    kh = layer_cfg[j, CONV_KH]
    kw = layer_cfg[j, CONV_KW]
    s = layer_cfg[j, CONV_STRIDE]
    p = layer_cfg[j, CONV_PAD]
    h_out = layer_cfg[j, CONV_OUT_H]
    w_out = layer_cfg[j, CONV_OUT_W]
    lo = layer_cfg[j, LC_LO]
    hi = layer_cfg[j, LC_HI]
    bits = layer_cfg[j, LC_BITS]
    wrap = layer_cfg[j, LC_WRAP] != 0
    plain = layer_cfg[j, LC_NO_OVERFLOW] != 0
    total = 0
    y = 0
    x = 0
    c = 0
    prev = 0
    cstride = kh * kw * C  # weights of one input channel
    i = 0
    while i < ns:
        address = src[i]
        y, x, c = _step_coords(address - prev, y, x, c, c_in, w_in)
        # the events at this input position (y, x) (consecutive: ascending addresses,
        # channel fastest) touch the same output positions, so their window is computed
        # once and they are applied oy by oy, each membrane row getting the run's weight
        # rows in event order (_add_run): every membrane gets the same adds in the same
        # order as event by event
        base = address - c  # address of channel 0 at (y, x)
        end = i + 1
        while end < ns and src[end] < base + c_in:
            end += 1
        prev = src[end - 1]
        c = prev - base
        oy_lo, oy_hi = _window_range(y, kh, p, s, h_out)
        ox_lo, ox_hi = _window_range(x, kw, p, s, w_out)
        touched = 0
        if oy_hi >= oy_lo and ox_hi >= ox_lo:
            n_ox = ox_hi - ox_lo + 1
            touched = (oy_hi - oy_lo + 1) * n_ox
            slot = _kx_slot(x + p - ox_lo * s, kw, s)  # of the first touched column
            for oy in range(oy_lo, oy_hi + 1):
                ky = y + p - oy * s
                wrow = w0 + ky * kw * C
                mrow = m0 + oy * w_out * C
                # the columns reordered (flip_conv_weights): one contiguous row
                _add_run(mem, mrow + ox_lo * C, n_ox * C, weights, wrow + slot * C,
                         cstride, src, i, end, base, lo, hi, wrap, bits, plain)
        for q in range(i, end):
            after[q] = 1 + touched * kc
        total += touched * (end - i)
        i = end
    return total


@njit(cache=True, inline="always")
def _add_run(mem: np.ndarray, mb: int, width: int, weights: np.ndarray, wb: int,
             cstride: int, src: np.ndarray, q0: int, q1: int, base: int, lo: int, hi: int,
             wrap: bool, bits: int, plain: bool) -> None:
    """The events q0 … q1 − 1 of one input position (channels src[q] − base) added in order
    into ``mem[mb:mb + width]``: event q's row starts at wb + (src[q] − base)·cstride. The
    row stays in L1 across the run. (Four rows per pass, as in _fc_events, measured slower
    here: 131-177 against 43-110 ns/event on the ResNet and CNN convolutions.)"""
    for q in range(q0, q1):
        _add_at(mem, mb, weights, wb + (src[q] - base) * cstride, width, lo, hi, wrap, bits,
                plain)


@njit(cache=True, inline="always")
def _kx_slot(kx: int, kw: int, s: int) -> int:
    """Where kernel column kx goes in a conv2d layer's reordered weights
    (:func:`flip_conv_weights`): the columns of one residue kx mod s, largest kx first,
    residue 0's first. Stride 1: kw − 1 − kx (the columns reversed)."""
    r = kx - _floordiv(kx, s) * s
    start = 0
    for q in range(r):  # columns of the smaller residues: ceil((kw − q) / s) each
        start += _floordiv(kw - q + s - 1, s)
    n_r = _floordiv(kw - r + s - 1, s)
    return start + n_r - 1 - _floordiv(kx - r, s)


@njit(cache=True, nogil=True)
def narrow_weights(w: np.ndarray, out: np.ndarray, sums: np.ndarray) -> None:
    """One layer's (rows, channels) int64 weights written row-major into ``out`` as int8
    (as NumPy's cast: a description's 1-8-bit weights are unchanged), and Σ_r |w[r, c]|
    added into ``sums[c]`` (the no-overflow bound's input, weight_column_bound) in the
    same pass. NumPy's abs-sum writes and rereads an int64 temporary as large as the
    weights, and the cast reads them once more: on the 1024² MLP 2.0 + 0.8 ms with cold
    caches, against 0.8 ms for this one read (1.4-1.5 ms in place, after a run has evicted
    the weights), serial work of every ``simulate`` call (docs/simulator.md)."""
    rows, cols = w.shape
    for r in range(rows):
        base = r * cols
        for c in range(cols):
            v = w[r, c]
            sums[c] += abs(v)
            out[base + c] = v


@njit(cache=True)
def flip_conv_weights(weights: np.ndarray, w_off: np.ndarray, layer_cfg: np.ndarray) -> np.ndarray:
    """A copy of ``weights`` in which every conv2d layer has its kernel columns reordered
    (:func:`_kx_slot`): row (c·kh + ky)·kw + slot(kx). An input event at x touches output
    columns ox_lo … ox_hi with kx = x + p − ox·s, which fall by s from one column to the
    next: one residue mod s, largest first, so in this order the weight rows of consecutive
    output positions are consecutive too. One event's touched positions on one output row
    are then one contiguous add of n·C weights into n·C membranes, instead of n separate
    adds (each membrane still gets exactly the same adds, in the same order).

    Without a conv2d layer there is nothing to reorder and ``weights`` itself is returned
    (the kernel only reads it): no copy (0.75 ms on the 1024² MLP, every call)."""
    has_conv = False
    for j in range(layer_cfg.shape[0]):
        has_conv = has_conv or layer_cfg[j, LC_KIND] == KIND_CONV2D
    if not has_conv:
        return weights
    out = weights.copy()
    for j in range(layer_cfg.shape[0]):
        if layer_cfg[j, LC_KIND] != KIND_CONV2D:
            continue
        C = layer_cfg[j, LC_CHANNELS]
        kw = layer_cfg[j, CONV_KW]
        s = layer_cfg[j, CONV_STRIDE]
        rows = layer_cfg[j, CONV_IN_C] * layer_cfg[j, CONV_KH]
        w0 = w_off[j]
        for r in range(rows):
            for kx in range(kw):
                a = w0 + (r * kw + kx) * C
                b = w0 + (r * kw + _kx_slot(kx, kw, s)) * C
                out[b:b + C] = weights[a:a + C]
    return out


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _pool_events(mem: np.ndarray, m0: int, layer_cfg: np.ndarray, j: int, src: np.ndarray,
                 ns: int, after: np.ndarray) -> int:
    """§5.3 for the ``ns`` input events (y, x, c) of one source and step: +1 to channel c of
    every window holding it, oy then ox ascending, one cycle each. Returns the windows."""
    C = layer_cfg[j, LC_CHANNELS]
    w_in = layer_cfg[j, POOL_IN_W]
    pw = layer_cfg[j, POOL_WINDOW]
    s = layer_cfg[j, POOL_STRIDE]
    h_out = layer_cfg[j, POOL_OUT_H]
    w_out = layer_cfg[j, POOL_OUT_W]
    lo = layer_cfg[j, LC_LO]
    hi = layer_cfg[j, LC_HI]
    bits = layer_cfg[j, LC_BITS]
    wrap = layer_cfg[j, LC_WRAP] != 0
    total = 0
    y = 0
    x = 0
    c = 0
    prev = 0
    for i in range(ns):
        address = src[i]
        y, x, c = _step_coords(address - prev, y, x, c, C, w_in)
        prev = address
        oy_lo, oy_hi = _window_range(y, pw, 0, s, h_out)  # no padding
        ox_lo, ox_hi = _window_range(x, pw, 0, s, w_out)
        touched = 0
        for oy in range(oy_lo, oy_hi + 1):
            for ox in range(ox_lo, ox_hi + 1):
                n = m0 + (oy * w_out + ox) * C + c
                mem[n] = _overflow(np.int64(mem[n]) + 1, lo, hi, wrap, bits)
                touched += 1
        after[i] = 1 + touched
        total += touched
    return total


@njit(cache=True, _nrt=False)  # no allocation (see above)
def _add_events(mem: np.ndarray, m0: int, weights: np.ndarray, w0: int, layer_cfg: np.ndarray,
                j: int, src: np.ndarray, ns: int, source: int, after: np.ndarray) -> int:
    """§5.4 for the ``ns`` events of source ``source`` in one step: gain W[source, c] added
    to the one neuron at each address, one cycle each. Returns the busy cycles."""
    C = layer_cfg[j, LC_CHANNELS]
    lo = layer_cfg[j, LC_LO]
    hi = layer_cfg[j, LC_HI]
    bits = layer_cfg[j, LC_BITS]
    wrap = layer_cfg[j, LC_WRAP] != 0
    g0 = w0 + source * C
    c = 0
    prev = 0
    pow2 = (C & (C - 1)) == 0  # then a mod C is a mask: no walk, no data-dependent branch
    for i in range(ns):
        a = src[i]
        if pow2:
            c = a & (C - 1)
        else:
            c += a - prev  # a mod C, stepped on from the previous (ascending) address
            prev = a
            if c >= 16 * C:  # a long gap (sparse spikes): divide instead of walking
                c = c % C
            while c >= C:
                c -= C
        n = m0 + a
        mem[n] = _overflow(np.int64(mem[n]) + np.int64(weights[g0 + c]), lo, hi, wrap, bits)
        after[i] = 2
    return ns


# =========================================================================== timing (§7, §8)

@njit(cache=True, inline="always")
def _item_group(grp: np.ndarray, m0: int, fired: np.ndarray, s: int, nf: int,
                g_eos: int) -> np.int64:
    """The update group whose cycle item s of a push program follows (§8): spike s's
    (``fired`` ascending, layer offset ``m0``), or for the EOS token (s = nf) ``g_eos`` =
    K − 1, so that its delay 1 + g − g' is the token's K − g'."""
    return np.int64(grp[m0 + fired[s]]) if s < nf else np.int64(g_eos)


@njit(cache=True, inline="always")
def _timed_push(ring_t: np.ndarray, r0: int, slot: int, k: int, D: int, freed: int,
                tl: int, d: int) -> tuple:
    """Push k of a FIFO (ring at ``r0``, ``slot`` = k mod D) ``d`` cycles after its
    producer's previous action at ``tl`` (every push of a core in :func:`_run_timing`):
    (False, …) unchanged if its slot is not known to be free yet (k ≥ ``freed`` = pops +
    D), else (True, its cycle, its stall, k + 1, the next slot). From the D-th push on it
    waits for the pop that freed its slot + 1, whose cycle the slot holds; its own cycle
    goes there."""
    if k >= freed:
        return False, tl, 0, k, slot
    e = tl + d
    tt = e
    if k >= D:
        x = ring_t[r0 + slot] + 1
        tt = e if e > x else x
    ring_t[r0 + slot] = tt
    return True, tt, tt - e, k + 1, slot + 1 if slot + 1 < D else 0


@njit(cache=True, inline="always")
def _host_step(dj: np.ndarray, n: int, tl: int, host: np.ndarray, f: int,
               fifo_depth: np.ndarray, ring_off: np.ndarray, ring_t: np.ndarray,
               npush: np.ndarray, npop: np.ndarray, push_slot: np.ndarray,
               pop_slot: np.ndarray) -> int:
    """One step's ``n`` host items (events and the EOS token, k0 … k1 of the host's FIFO
    f, D ≥ 2) pushed by the host and popped by their core, the FIFO's only consumer, whose
    previous action was at ``tl`` and whose pop i of the step comes ``dj[i]`` cycles after
    its previous action at the earliest (§8). Returns the cycle of the last pop; updates the
    host (``host`` = [items pushed, cycle of the last push, stalls]) and the FIFO's counts
    and ring, which holds the cycles of its last D pops.

    Closed form of the recurrence of :func:`_run_timing`: push k = max(push k−1 + 1,
    pop k−D + 1) (the host pushes one item a cycle whenever a slot is free), pop k =
    max(pop k−1 + dj, push k + 1). After the step's first pop no pop waits: push k + 1 ≤
    max(push k−1 + 2, pop k−D + 2) ≤ pop k−1 + 1 ≤ pop k−1 + dj, since pop k−1 > push k−1
    and pops rise by at least 1 per item, so pop k−1 ≥ pop k−D + D − 1 ≥ pop k−D + 1. So
    the step's pops are the first pop plus prefix sums of dj. Unrolled, push k1 =
    max(push k0 + (k1 − k0), max over k of pop k−D + 1 + (k1 − k)), and pop k−D − k never
    falls as k grows (pops rise by at least 1), so that inner max is at k = k1. The
    host's stalls telescope: Σ (push k − push k−1 − 1) over the step is push k1 − push k0
    − (n − 1), plus the first push's own wait."""
    D = fifo_depth[f]
    r0 = ring_off[f]
    k0 = npop[f]
    k1 = k0 + n - 1
    e = host[1] + 1 if k0 > 0 else 0  # push k0: one cycle after the host's last push
    pk0 = e
    s0 = pop_slot[f]  # slot of k0 (= of k0 − D)
    if k0 >= D:
        x = ring_t[r0 + s0] + 1  # pop k0 − D
        pk0 = e if e > x else x
    stall = pk0 - e
    e = tl + dj[0]
    pop0 = e if e > pk0 + 1 else pk0 + 1  # pop k0
    # push k1 waits for pop k1 − D: in this step, or still in the ring (read it before the
    # ring takes this step's pops)
    pk1 = pk0 + n - 1
    q = k1 - D
    if q >= 0:
        if q >= k0:
            pq = pop0
            for i in range(1, q - k0 + 1):
                pq += dj[i]
        else:
            sq = s0 + (q - k0) + D  # = q mod D, as q − k0 > −D
            if sq >= D:
                sq -= D
            pq = ring_t[r0 + sq]
        if pq + 1 > pk1:
            pk1 = pq + 1
    stall += pk1 - pk0 - (n - 1)
    total = np.int64(0)
    for i in range(1, n):
        total += dj[i]
    last = pop0 + total  # pop k1
    # the ring keeps the last D pops (what pushes k + D will wait for), newest last
    first = k1 - D + 1 if k1 - D + 1 > k0 else k0
    slot = s0 + (k1 - k0)
    while slot >= D:
        slot -= D
    v = last
    for qq in range(k1, first - 1, -1):
        ring_t[r0 + slot] = v
        v -= dj[qq - k0]
        slot = slot - 1 if slot > 0 else D - 1
    slot = s0 + n
    while slot >= D:
        slot -= D
    npush[f] = k1 + 1
    npop[f] = k1 + 1
    push_slot[f] = slot
    pop_slot[f] = slot
    host[0] = k1 + 1
    host[1] = pk1
    host[2] += stall
    return last


@njit(cache=True, inline="always")
def _quiet_step(op_d: np.ndarray, t_last: np.ndarray, stall: np.ndarray, host: np.ndarray,
                host_fifo: int, fifo_depth: np.ndarray, ring_off: np.ndarray,
                ring_t: np.ndarray, npush: np.ndarray, npop: np.ndarray,
                push_slot: np.ndarray, pop_slot: np.ndarray, out_ptr: np.ndarray,
                out_fifo: np.ndarray, layer_cfg: np.ndarray) -> None:
    """The timing of a *quiet* step of a chain (the host → core 0 → … → core L − 1, the
    output core; see :func:`_run_image`): the host's only item is its EOS token and no core
    but the output core fires, so every FIFO carries one item, the token. The same
    recurrence as :func:`_run_timing`, in chain order: every op's constraint is already
    known when it is reached (the previous step is fully timed, so push k's slot was freed
    by a pop of an earlier step, and pop k's push was just computed upstream). Core j
    pops its token ``op_d[j, 0]`` cycles after its previous action at the earliest and,
    unless it is the output core, pushes its own K + 1 cycles later (§8: 1 + g − g' with
    g = K − 1, g' = −1)."""
    f = host_fifo
    D = fifo_depth[f]
    r0 = ring_off[f]
    k = npop[f]  # = npush[f]: the host's FIFO is in closed form (_host_step)
    sl = pop_slot[f]
    # the host's push k, one cycle after its last (the first push at cycle 0); its slot
    # was freed by a pop of an earlier step
    _, q, ds, _, _ = _timed_push(ring_t, r0, sl, k, D, k + 1, host[1] if k > 0 else -1, 1)
    host[0] = k + 1
    host[1] = q
    host[2] += ds
    npush[f] = k + 1
    L = t_last.shape[0]
    for j in range(L):
        e = t_last[j] + op_d[j, 0]
        x = q + 1  # the token's push
        p = e if e > x else x
        ring_t[r0 + sl] = p  # pop k
        npop[f] = k + 1
        sl = sl + 1 if sl + 1 < D else 0
        pop_slot[f] = sl
        if j == 0:
            push_slot[f] = sl
        if j == L - 1:
            t_last[j] = p
            break
        f = out_fifo[out_ptr[j]]
        D = fifo_depth[f]
        r0 = ring_off[f]
        k = npush[f]
        sl = push_slot[f]
        # push k, its slot freed by a pop of an earlier step
        _, q, ds, _, s1 = _timed_push(ring_t, r0, sl, k, D, k + 1, p,
                                      layer_cfg[j, LC_WORDS] + 1)
        stall[j] += ds
        npush[f] = k + 1
        push_slot[f] = s1
        t_last[j] = q


# Inlined into _run_image (so compiled without reference counting, like it): a call of
# its own, once per step, passed its ~25 array arguments field by field: inlining it made
# ste-bp-mnist-small, stidi-bp-mnist-fc-s4nn and bs4nn-fmnist-binary x1.04, x1.11 and
# x1.16 faster (bench.kernel_ab, 9 alternating repetitions). Inlining the event and neuron
# functions as well was measured too and not kept: the fc/ttfs networks gained, the
# convolutional ones lost 2-5 %.
@njit(cache=True, inline="always")
def _run_timing(n_pop: np.ndarray, seg_end: np.ndarray, op_d: np.ndarray,
                op_pos: np.ndarray, t_last: np.ndarray, stall: np.ndarray, host: np.ndarray,
                items_end: int, host_fifo: int, fifo_depth: np.ndarray, ring_off: np.ndarray,
                ring_t: np.ndarray, npush: np.ndarray, npop: np.ndarray,
                push_slot: np.ndarray, pop_slot: np.ndarray, in_ptr: np.ndarray,
                in_fifo: np.ndarray, out_ptr: np.ndarray, out_fifo: np.ndarray,
                spk: np.ndarray, nspk: np.ndarray, grp: np.ndarray, n_off: np.ndarray,
                layer_cfg: np.ndarray, host_core: int) -> bool:
    """The §7 FIFO rules as a max-plus recurrence over one step's programs.

    Every agent (the host, each core) runs a fixed program (§8), which the functional pass
    leaves behind: core j pops ``n_pop[j]`` items, source by source (source si's pops end
    at ``seg_end[j, si]``; ``op_d[j, i]`` is the cycles its previous action takes before
    pop i may start: 1 + busy of the previous event), then pushes each of its ``nspk[j]``
    spikes (``spk[j]``, ascending) and its EOS token to each of its output FIFOs in order:
    a spike of update group g goes 1 + g − g' cycles after the previous item's first push
    (g' its group, −1 before the first), the EOS token K − g' cycles after it, a fan-out
    push 1 cycle after the previous push. Agent j's position ``op_pos[j]`` counts its pops,
    then its pushes. An op's cycle is ``max(earliest, constraint)``: pop k of FIFO f waits
    for push k of f to have happened in an earlier cycle; push k waits for pop k − D of f
    (the pop that frees its slot) in an earlier cycle. Stalls are ``cycle − earliest`` of
    pushes; idle cycles are what remains. Agents run round-robin, each as far as the ops
    it depends on are known.

    Each FIFO keeps one ring of D cycle numbers, slot k mod D: push k writes its cycle
    there and pop k overwrites it with its own, which is what push k + D reads. This is
    safe because push k needs pop k − D and pop k needs push k, so a FIFO's computed
    pushes never run more than D ahead of its computed pops. ``host`` = [items pushed,
    cycle of the last push, stalls]. Returns False on deadlock.

    Where the host's FIFO is its consumer's only source and holds D ≥ 2 items
    (``host_core`` ≥ 0: that core), the host's pushes and that core's pops of a step take
    a closed form instead (:func:`_host_step`), and the host is no agent of its own.
    """
    L = n_pop.shape[0]
    while True:
        moved = False
        left = False
        # the host: one item per cycle (§8), unless its consumer takes its pushes in
        # closed form
        if host_core < 0:
            f = host_fifo
            D = fifo_depth[f]
            r0 = ring_off[f]
            hp = host[0]  # items pushed (= npush[host_fifo])
            ht = host[1]
            hst = 0
            k = npush[f]
            slot = push_slot[f]
            popped = npop[f]
            while hp < items_end:
                e = ht + 1 if hp > 0 else 0
                tt = e
                if k >= D:
                    if popped <= k - D:
                        break
                    x = ring_t[r0 + slot] + 1  # pop k − D
                    tt = e if e > x else x
                hst += tt - e
                ring_t[r0 + slot] = tt
                slot += 1
                if slot == D:
                    slot = 0
                k += 1
                ht = tt
                hp += 1
                moved = True
            npush[f] = k
            push_slot[f] = slot
            host[0] = hp
            host[1] = ht
            host[2] += hst
            if hp < items_end:
                left = True
        for j in range(L):
            i = op_pos[j]
            npj = n_pop[j]
            o0 = out_ptr[j]
            n_out = out_ptr[j + 1] - o0
            nf = nspk[j]
            n_all = npj + (nf + 1) * n_out
            if i >= n_all:
                continue
            dj = op_d[j]
            tl = t_last[j]
            st = 0
            blocked = False
            if j == host_core and i < npj:  # the step's items, pushed and popped
                tl = _host_step(op_d[j], npj, tl, host, host_fifo, fifo_depth, ring_off,
                                ring_t, npush, npop, push_slot, pop_slot)
                i = npj
            elif i < npj:  # pops: source by source, each FIFO's state in registers
                si = 0
                while seg_end[j, si] <= i:
                    si += 1
                while i < npj:
                    f = in_fifo[in_ptr[j] + si]
                    end = seg_end[j, si]
                    D = fifo_depth[f]
                    r0 = ring_off[f]
                    k = npop[f]
                    avail = npush[f]
                    slot = pop_slot[f]
                    # the host's FIFO: a pop that waits for the host computes the host's
                    # push k right here (its slot was freed by pop k − D, already known),
                    # instead of a round of the outer loop per FIFO depth of items
                    from_host = f == host_fifo
                    hp = host[0]
                    ht = host[1]
                    hst = 0
                    while i < end:
                        if k >= avail:
                            if not from_host or hp >= items_end:
                                blocked = True
                                break
                            he = ht + 1 if hp > 0 else 0  # host push k (= hp)
                            htt = he
                            if k >= D:
                                x = ring_t[r0 + slot] + 1  # pop k − D
                                htt = he if he > x else x
                            hst += htt - he
                            ring_t[r0 + slot] = htt
                            ht = htt
                            hp += 1
                            avail += 1
                        e = tl + dj[i]
                        x = ring_t[r0 + slot] + 1  # push k
                        tl = e if e > x else x
                        ring_t[r0 + slot] = tl
                        k += 1
                        slot += 1
                        if slot == D:
                            slot = 0
                        i += 1
                    npop[f] = k
                    pop_slot[f] = slot
                    if from_host and avail != npush[f]:
                        npush[f] = avail
                        push_slot[f] = slot  # = avail mod D: pushes caught up with pops
                        host[0] = hp
                        host[1] = ht
                        host[2] += hst
                    if blocked:
                        break
                    si += 1
            if not blocked and i < n_all:
                # the push program (§8) from the spike list: item s (spike s, or the EOS
                # token at s = nf) goes to each output FIFO in order
                fired = spk[j]
                m0 = n_off[j]
                g_eos = layer_cfg[j, LC_WORDS] - 1  # the token: K − g' = 1 + (K − 1) − g'
                s = i - npj  # item s's push to FIFO o
                o = 0
                if n_out > 1:
                    s = (i - npj) // n_out
                    o = i - npj - s * n_out
                g_prev = np.int64(grp[m0 + fired[s - 1]]) if s > 0 else np.int64(-1)
                if n_out == 1:
                    f = out_fifo[o0]
                    D = fifo_depth[f]
                    r0 = ring_off[f]
                    k = npush[f]
                    freed = npop[f] + D  # pushes up to this one have their slot
                    slot = push_slot[f]
                    while s <= nf:
                        g = _item_group(grp, m0, fired, s, nf, g_eos)
                        ok, tl, ds, k, slot = _timed_push(ring_t, r0, slot, k, D, freed, tl,
                                                          1 + g - g_prev)
                        if not ok:
                            blocked = True
                            break
                        st += ds
                        g_prev = g
                        s += 1
                    npush[f] = k
                    push_slot[f] = slot
                elif n_out == 2:
                    # fan-out to two FIFOs (a residual block's input goes to its convolution
                    # and to its add): both FIFOs' states in registers, so the alternation
                    # costs no reload per push
                    fa = out_fifo[o0]
                    fb = out_fifo[o0 + 1]
                    da = fifo_depth[fa]
                    db = fifo_depth[fb]
                    ra = ring_off[fa]
                    rb = ring_off[fb]
                    ka = npush[fa]
                    kb = npush[fb]
                    freed_a = npop[fa] + da
                    freed_b = npop[fb] + db
                    sa = push_slot[fa]
                    sb = push_slot[fb]
                    if o == 1:  # resumes at item s's push to b
                        ok, tl, ds, kb, sb = _timed_push(ring_t, rb, sb, kb, db, freed_b, tl, 1)
                        if ok:
                            st += ds
                            g_prev = _item_group(grp, m0, fired, s, nf, g_eos)
                            s += 1
                            o = 0
                        else:
                            blocked = True
                    while not blocked and s <= nf:
                        g = _item_group(grp, m0, fired, s, nf, g_eos)
                        ok, tl, ds, ka, sa = _timed_push(ring_t, ra, sa, ka, da, freed_a, tl,
                                                         1 + g - g_prev)
                        if not ok:
                            blocked = True
                            break
                        st += ds
                        ok, tl, ds, kb, sb = _timed_push(ring_t, rb, sb, kb, db, freed_b, tl, 1)
                        if not ok:  # resumes at this push to b
                            blocked = True
                            o = 1
                            break
                        st += ds
                        g_prev = g
                        s += 1
                    npush[fa] = ka
                    npush[fb] = kb
                    push_slot[fa] = sa
                    push_slot[fb] = sb
                else:  # three or more consumers: each push with its FIFO's state in memory
                    while not blocked and s <= nf:
                        g = _item_group(grp, m0, fired, s, nf, g_eos)
                        while o < n_out:
                            f = out_fifo[o0 + o]
                            D = fifo_depth[f]
                            ok, tl, ds, k, slot = _timed_push(ring_t, ring_off[f], push_slot[f],
                                                              npush[f], D, npop[f] + D, tl,
                                                              1 + g - g_prev if o == 0 else 1)
                            if not ok:
                                blocked = True
                                break
                            npush[f] = k
                            push_slot[f] = slot
                            st += ds
                            o += 1
                        if blocked:
                            break
                        o = 0
                        g_prev = g
                        s += 1
                i = npj + s * n_out + o
            if i != op_pos[j]:
                moved = True
            op_pos[j] = i
            t_last[j] = tl
            stall[j] += st
            if i < n_all:
                left = True
        if not left:
            return True
        if not moved:
            return False


# =========================================================================== the chip

@njit(cache=True, nogil=True)
def simulate_batch(images: np.ndarray, indices: np.ndarray, enc_kind: int, seed: int,
                   time_steps: int, count_max: int, layer_cfg: np.ndarray,
                   weights: np.ndarray, conv_w: np.ndarray, w_off: np.ndarray,
                   params: np.ndarray, grp: np.ndarray, n_off: np.ndarray,
                   fifo_depth: np.ndarray, fifo_producer: np.ndarray,
                   fifo_consumer: np.ndarray, in_ptr: np.ndarray, in_fifo: np.ndarray,
                   out_ptr: np.ndarray, out_fifo: np.ndarray, host_fifo: int,
                   output_core: int, record_spikes: bool,
                   counts_out: np.ndarray, cycles_out: np.ndarray,
                   core_out: np.ndarray, chip_out: np.ndarray,
                   mem_out: np.ndarray, spikes_out: np.ndarray, mem: np.ndarray,
                   state_reset: np.ndarray, state_out: np.ndarray, pred_out: np.ndarray,
                   timing: bool) -> bool:
    """Run every image of ``images`` ((n, P) uint8) through the chip, filling the outputs.

    counts_out (n, classes), cycles_out (n,), core_out (n, layers, N_CORE_COUNTERS), chip_out (n, 3),
    mem_out (n, total neurons), spikes_out (n, T, total neurons) if record_spikes,
    state_out (n, S, total neurons) the declared state words after the last step (row i of
    a layer: its model's word i, §6.3; S is the most words a layer's model keeps, and the
    columns of a layer with fewer words come back at their reset), pred_out (n,).
    mem_out and state_out with 0 rows: neither is written (nothing kept).
    ``state_reset`` (S, total neurons) int32: every state word's reset value, in place.
    ``mem`` is the membrane scratch (total neurons,), int16 when every layer's B <= 15,
    else int32 (see membrane_dtype); its dtype selects the compiled specialisation.
    The FIFO table (fifo_*, in_*, out_*) is neurochip.graph.Topology.arrays().
    ``conv_w`` is :func:`flip_conv_weights` of ``weights`` and ``params`` is
    :func:`expand_params` of the packed parameter values and ``grp`` :func:`group_table`:
    model constants, built once per model by ``neurochip.sim.pack`` (not once per chunk of
    images).

    Two passes per time step (docs/simulator.md). The **functional pass** runs the cores
    in description order (a topological order: every source has produced step t when a
    core runs step t), each draining its sources' step-t spikes in §4's order, so every
    membrane, spike and count is what the chip computes (§7: a stall delays, it never
    reorders). It leaves each core's pops with their cycle costs (§8) and its spike list.
    The **timing pass** (:func:`_run_timing`) then turns them, with the pushes that follow
    from the spike lists, into cycles, stalls and idles. With ``timing`` False only the
    functional pass runs (the bench's functional-only ceiling); cycles, stalls and idles
    are then 0.
    Returns False if the FIFOs deadlock (never for a description that validates).
    """
    L = layer_cfg.shape[0]
    F = fifo_depth.shape[0]
    T = time_steps
    total_n = n_off[L]
    P_in, item_cap = host_capacity(enc_kind, images, T)  # P_in: most host events a step
    max_n = 1
    for j in range(L):
        max_n = max(max_n, layer_cfg[j, LC_NEURONS])
    # per core, the pops of one step (every source's events + token); its pushes are
    # its spike list (spk)
    cap = 1
    n_src = 1
    for j in range(L):
        c = 0
        for q in range(in_ptr[j], in_ptr[j + 1]):
            p = fifo_producer[in_fifo[q]]
            c += (P_in if p < 0 else layer_cfg[p, LC_NEURONS]) + 1
        cap = max(cap, c)
        n_src = max(n_src, in_ptr[j + 1] - in_ptr[j])
    op_d = np.zeros((L, cap), dtype=np.int64)  # cycles after the previous pop
    seg_end = np.zeros((L, n_src), dtype=np.int64)  # where each source's pops end
    n_pop = np.zeros(L, dtype=np.int64)
    op_pos = np.zeros(L, dtype=np.int64)
    t_last = np.zeros(L, dtype=np.int64)
    pend = np.zeros(L, dtype=np.int64)  # op_d of the core's next op
    stall = np.zeros(L, dtype=np.int64)
    ring_off = np.zeros(F + 1, dtype=np.int64)
    for f in range(F):
        ring_off[f + 1] = ring_off[f] + fifo_depth[f]
    ring_t = np.zeros(ring_off[F], dtype=np.int64)
    npush = np.zeros(F, dtype=np.int64)
    npop = np.zeros(F, dtype=np.int64)
    push_slot = np.zeros(F, dtype=np.int64)
    pop_slot = np.zeros(F, dtype=np.int64)
    host = np.zeros(3, dtype=np.int64)
    # the host's pushes and its consumer's pops in closed form (_host_step) where the
    # host's FIFO is that core's only source and holds at least 2 items
    host_core = fifo_consumer[host_fifo]
    if in_ptr[host_core + 1] - in_ptr[host_core] != 1 or fifo_depth[host_fifo] < 2:
        host_core = -1
    # a chain (the host → core 0 → … → core L − 1, the output core, each core one source
    # and at most one output FIFO) times its quiet steps with _quiet_step
    chain = host_core == 0 and output_core == L - 1 and out_ptr[L] - out_ptr[L - 1] == 0
    for j in range(1, L):
        if (in_ptr[j + 1] - in_ptr[j] != 1 or fifo_producer[in_fifo[in_ptr[j]]] != j - 1
                or out_ptr[j] - out_ptr[j - 1] != 1):
            chain = False
    items_g = np.empty((GROUP, item_cap), dtype=np.int64)  # a group's encoded inputs
    n_items_g = np.zeros(GROUP, dtype=np.int64)
    spk = np.zeros((L, max_n + 8), dtype=np.int64)  # each core's spikes of the current step
    nspk = np.zeros(L, dtype=np.int64)
    fw = np.zeros((max_n + 15) // 8, dtype=np.uint64)  # spike flags, eight to a word
    flags = fw.view(np.uint8)
    sent = np.zeros(total_n, dtype=np.uint8)  # sent / fired bits (§5.3, §6.3)
    state = state_reset.copy()  # declared state words (§6.3): each at most 32 bits
    ok = True
    for img in range(images.shape[0]):
        if img % GROUP == 0:
            encode_group(enc_kind, images, img, min(GROUP, images.shape[0] - img), T, seed,
                         indices, items_g, n_items_g)
        ok &= _run_image(img, items_g[img % GROUP], n_items_g[img % GROUP], T, L,
                         total_n, layer_cfg, weights, conv_w, w_off, params, grp, n_off,
                         fifo_depth, fifo_producer, in_ptr, in_fifo, out_ptr, out_fifo,
                         host_fifo, output_core, count_max, record_spikes, timing,
                         counts_out, cycles_out, core_out, chip_out, mem_out, spikes_out, mem,
                         state_reset, state_out, pred_out, op_d, seg_end, n_pop, op_pos, t_last,
                         pend, stall, ring_off, ring_t, npush, npop, push_slot, pop_slot, host,
                         spk, nspk, fw, flags, sent, state, host_core, chain)
    return ok


@njit(cache=True, nogil=True, _nrt=False)
def _run_image(img, items, n_items, T, L, total_n, layer_cfg, weights, conv_w, w_off,
               params, grp, n_off, fifo_depth, fifo_producer, in_ptr, in_fifo, out_ptr,
               out_fifo, host_fifo, output_core, count_max, record_spikes, timing, counts_out,
               cycles_out, core_out, chip_out, mem_out, spikes_out, mem, state_reset,
               state_out, pred_out, op_d, seg_end, n_pop, op_pos, t_last, pend, stall, ring_off,
               ring_t, npush, npop, push_slot, pop_slot, host, spk, nspk, fw, flags, sent,
               state, host_core, chain) -> bool:
    """One image through the chip (the loop body of :func:`simulate_batch`, which owns
    every buffer): compiled without reference counting (see the note above the
    arithmetic section), so the array views of its per-step loop (a source's spikes,
    a core's op log, counter rows) cost no atomic reference-count updates. Returns False
    if the FIFOs deadlock."""
    ok = True
    mem[:] = 0
    sent[:] = 0
    for r in range(state.shape[0]):  # (an array assignment would need reference counting)
        for n in range(total_n):
            state[r, n] = state_reset[r, n]
    winner = -1  # first-spike output: the first class that went out (§6.3)
    cnt = core_out[img]
    cnt[:, :] = 0
    counts = counts_out[img]
    counts[:] = 0
    t_last[:] = 0
    pend[:] = 0
    stall[:] = 0
    npush[:] = 0
    npop[:] = 0
    push_slot[:] = 0
    pop_slot[:] = 0
    host[:] = 0
    hp = 0
    for t in range(T):
        hs = hp
        while items[hp] != EOS:
            hp += 1
        he = hp
        hp += 1
        n_pop[:] = 0
        op_pos[:] = 0
        quiet = chain and he == hs  # so far: the host's only item is its EOS token
        for j in range(L):
            kind = layer_cfg[j, LC_KIND]
            m0 = n_off[j]
            K = layer_cfg[j, LC_WORDS]
            N = layer_cfg[j, LC_NEURONS]
            nop = 0
            n_ev = 0  # events popped this step, every source
            n_src = in_ptr[j + 1] - in_ptr[j]
            for si in range(n_src):
                f = in_fifo[in_ptr[j] + si]
                p = fifo_producer[f]
                if p < 0:
                    src = items[hs:he]
                    ns = he - hs
                else:
                    src = spk[p]
                    ns = nspk[p]
                # --- dispatch: the layer kind applies and counts its address events
                after = op_d[j, nop + 1:nop + ns + 2]
                busy = 0
                if kind == KIND_FC:
                    busy = _fc_events(mem, m0, weights, w_off[j], layer_cfg, j, src, ns,
                                      after)
                    cnt[j, C_WREADS] += busy
                    cnt[j, C_SOPS] += ns * N
                    cnt[j, C_MREADS] += busy
                    cnt[j, C_MWRITES] += busy
                elif kind == KIND_CONV2D:
                    touched = _conv2d_events(mem, m0, conv_w, w_off[j], layer_cfg, j, src,
                                             ns, after)
                    busy = touched * layer_cfg[j, LC_WPP]
                    cnt[j, C_WREADS] += busy
                    cnt[j, C_SOPS] += touched * layer_cfg[j, LC_CHANNELS]
                    cnt[j, C_MREADS] += busy
                    cnt[j, C_MWRITES] += busy
                    cnt[j, C_ADDR] += touched
                elif kind == KIND_POOL:
                    busy = _pool_events(mem, m0, layer_cfg, j, src, ns, after)
                    cnt[j, C_SOPS] += busy
                    cnt[j, C_MREADS] += busy
                    cnt[j, C_MWRITES] += busy
                    cnt[j, C_ADDR] += busy
                elif kind == KIND_ADD:
                    busy = _add_events(mem, m0, weights, w_off[j], layer_cfg, j, src, ns, si,
                                       after)
                    cnt[j, C_WREADS] += busy
                    cnt[j, C_SOPS] += busy
                    cnt[j, C_MREADS] += busy
                    cnt[j, C_MWRITES] += busy
                n_ev += ns
                cnt[j, C_POPS] += ns + 1  # the events and the EOS token
                cnt[j, C_BUSY] += ns + 1 + busy
                # the pops: ns events then the token, each after[i] cycles after the
                # previous pop; the first after the core's previous op
                op_d[j, nop] = pend[j]
                nop += ns + 1
                seg_end[j, si] = nop
                pend[j] = 1  # after a source's EOS: the next source's first pop
            # --- dispatch: the neuron model updates every group and counts it
            model = layer_cfg[j, LC_MODEL]
            fired = spk[j]
            nf = 0
            sent_applied = False  # the update applied the sent bits in its own pass
            if model == MODEL_LIF:
                nf = _lif_update(mem, m0, params, layer_cfg, j, fired, flags, fw)
            elif model == MODEL_TTFS:
                # step PSP, no event this step, not the first step: I is 0 (cleared by
                # the last update, nothing added), so V + I = V (in range since that
                # update) and every V > θ has its fired bit already: the update
                # changes nothing and fires nothing
                if not (n_ev == 0 and t > 0 and layer_cfg[j, TTFS_RAMP] == 0):
                    nf = _ttfs_update(mem, state[0], sent, m0, params, layer_cfg, j, fired,
                                      flags, fw)
                sent_applied = True
            elif model == MODEL_BISTABLE:
                nf = _bistable_update(mem, m0, params, layer_cfg, j, t, fired, flags, fw)
            elif model == MODEL_LIF_REFRACTORY:
                nf = _refractory_update(mem, state[0], m0, params, layer_cfg, j, fired,
                                        flags, fw)
            _update_counts(cnt[j], K, N, layer_cfg[j, LC_STATE_WORDS])
            # --- which spikes go out: a sent / fired bit per neuron (§5.3, §6.3)
            if layer_cfg[j, LC_SENT] != 0:
                if not sent_applied:
                    nf = _pool_emit_once(fired, nf, sent, m0)
                cnt[j, C_BMREADS] += K
                cnt[j, C_BMWRITES] += K
            nspk[j] = nf
            if nf > 0 and j != output_core:
                quiet = False
            cnt[j, C_SPIKES] += nf  # the spikes that go out (§6), whatever the kind
            cnt[j, C_BUSY] += K
            if record_spikes:
                for q in range(nf):
                    spikes_out[img, t, m0 + fired[q]] = 1
            if j == output_core:
                if winner < 0 and nf > 0:
                    winner = fired[0]  # ascending: the lowest index of the first step
                for q in range(nf):
                    k = fired[q]
                    if counts[k] < count_max:
                        counts[k] += 1
                pend[j] = K + 1
            else:  # its push program (§8): every item to each output FIFO in order
                n_out = out_ptr[j + 1] - out_ptr[j]
                cnt[j, C_PUSHES] += (nf + 1) * n_out
                cnt[j, C_BUSY] += (nf + 1) * n_out
                pend[j] = 1  # the next step's first pop follows the last push
            n_pop[j] = nop
        if timing and quiet:
            _quiet_step(op_d, t_last, stall, host, host_fifo, fifo_depth, ring_off, ring_t,
                        npush, npop, push_slot, pop_slot, out_ptr, out_fifo, layer_cfg)
        elif timing:
            ok &= _run_timing(n_pop, seg_end, op_d, op_pos, t_last, stall, host, hp,
                              host_fifo, fifo_depth, ring_off, ring_t, npush, npop,
                              push_slot, pop_slot, in_ptr, in_fifo, out_ptr, out_fifo, spk,
                              nspk, grp, n_off, layer_cfg, host_core)
    done = 0
    if timing:  # the output core's last token, then its K update cycles
        done = t_last[output_core] + layer_cfg[output_core, LC_WORDS] + 1
    for j in range(L):
        cnt[j, C_STALL] = stall[j]
        cnt[j, C_IDLE] = done - cnt[j, C_BUSY] - stall[j] if timing else 0
    cycles_out[img] = done
    chip_out[img, CHIP_CYCLES] = done
    chip_out[img, CHIP_HOST_PUSHES] = n_items
    chip_out[img, CHIP_HOST_STALLS] = host[2]
    if mem_out.shape[0] != 0:  # kept (simulate's keep_state)
        for n in range(total_n):
            mem_out[img, n] = mem[n]
        for r in range(state.shape[0]):
            for n in range(total_n):
                state_out[img, r, n] = state[r, n]
    o0 = n_off[output_core]
    best = 0
    if layer_cfg[output_core, LC_FIRST_SPIKE] != 0:  # §6.3 first-spike decision
        if winner >= 0:
            best = winner
        else:
            v = state[layer_cfg[output_core, LC_FALLBACK]]
            for k in range(1, counts.shape[0]):
                if v[o0 + k] > v[o0 + best]:
                    best = k
    else:  # §6: the largest count, lowest index on a tie
        for k in range(1, counts.shape[0]):
            if counts[k] > counts[best]:
                best = k
    pred_out[img] = best
    return ok


@njit(cache=True)
def encode_batch(kind: int, images: np.ndarray, indices: np.ndarray, time_steps: int,
                 seed: int, out: np.ndarray) -> None:
    """Dense (n, T, P) spike tensor of the host encoder, for models that are not the chip
    (the float model, peers in benchmarks) but must see exactly the chip's inputs."""
    items = np.empty(host_capacity(kind, images, time_steps)[1], dtype=np.int64)
    for img in range(images.shape[0]):
        n = encode_image(kind, images[img], time_steps, seed, indices[img], items)
        t = 0
        for q in range(n):
            if items[q] == EOS:
                t += 1
            else:
                out[img, t, items[q]] += 1  # event input: the count (§11.2)

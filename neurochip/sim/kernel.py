"""Numba kernels of the cycle-accurate, event-driven simulator.

The chip of docs/architecture.md is simulated as a discrete-event system: time jumps
from one FIFO interaction (pop, push) to the next, while the work between them
(accumulating an event, updating a group) is applied at once with its exact cycle
cost added. Every FIFO is a ring buffer; stalls and idles are resolved by waking the
blocked agent one cycle after its partner frees or fills a slot (§7).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# columns of the per-layer parameter table (see neurochip.sim.packing)
P_INPUTS, P_NEURONS, P_WORDS, P_LANES, P_LO, P_HI, P_WRAP, P_BITS, P_RESET, P_LEAK, \
    P_LEAK_AMOUNT, P_DISCONTINUOUS, P_DEPTH = range(13)
N_PARAMS = 13

RESET_SUBTRACT, RESET_ZERO = 0, 1
LEAK_NONE, LEAK_SUBTRACT, LEAK_SHIFT = 0, 1, 2
ENC_BERNOULLI, ENC_RATE, ENC_LATENCY = 0, 1, 2

# core counter columns, in the order of neurochip.counters.CORE_COUNTERS
C_POPS, C_PUSHES, C_WREADS, C_SOPS, C_MREADS, C_MWRITES, C_PREADS, C_UPDATES, C_SPIKES, \
    C_BUSY, C_STALL, C_IDLE = range(12)
N_CORE_COUNTERS = 12

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


@njit(cache=True)
def encode_image(kind: int, pixels: np.ndarray, time_steps: int, seed: int,
                 image_index: int, items: np.ndarray) -> int:
    """Write the host's item stream (§4, §11) into ``items``; return its length."""
    n = 0
    P = pixels.shape[0]
    s = (seed * 0x9E3779B1 + (image_index + 1) * 0x85EBCA77) & 0xFFFFFFFF
    if s == 0:
        s = 1
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


@njit(cache=True)
def _accumulate(mem: np.ndarray, m0: int, weights: np.ndarray, w0: int,
                params: np.ndarray, layer: int, address: int) -> None:
    """§5 for one address event: every neuron of the layer, one saturating add each.

    ``weights`` are int8 and ``mem`` int16 (every B <= 15) or int32, so a row is a
    short contiguous stream the compiler vectorises in the narrowest lanes that cannot
    overflow; B beyond the storage's fast range (only B = 32 for int32) adds in int64.
    """
    N = params[layer, P_NEURONS]
    lo = params[layer, P_LO]
    hi = params[layer, P_HI]
    bits = params[layer, P_BITS]
    wrap = params[layer, P_WRAP] != 0
    row = weights[w0 + address * N:w0 + address * N + N]
    m = mem[m0:m0 + N]
    if bits < 8 * mem.itemsize:
        if mem.itemsize == 2:
            _add_rows16(m, row, lo, hi, wrap, bits)
        else:
            _add_rows32(m, row, lo, hi, wrap, bits)
    else:
        for n in range(N):
            m[n] = _overflow(np.int64(m[n]) + np.int64(row[n]), lo, hi, wrap, bits)


@njit(cache=True, inline="always")
def _select_overflow(v: np.int64, lo: np.int64, hi: np.int64, wrap: bool,
                     mask: np.int64) -> np.int64:
    """_overflow written as selects, so a loop over neurons vectorises."""
    wrapped = ((v - lo) & mask) + lo
    clamped = min(max(v, lo), hi)
    return wrapped if wrap else clamped


@njit(cache=True)
def _update(mem: np.ndarray, m0: int, threshold: np.ndarray, bias: np.ndarray,
            params: np.ndarray, layer: int, fired: np.ndarray, flags: np.ndarray) -> int:
    """§6 for one EOS token; writes fired neuron indices into ``fired``, returns count.

    Two passes: a branch-free pass over all neurons (vectorised) that updates membranes
    and marks spikes in ``flags``, then a scan that lists the marked neurons in order.
    """
    N = params[layer, P_NEURONS]
    lo = params[layer, P_LO]
    hi = params[layer, P_HI]
    wrap = params[layer, P_WRAP] != 0
    mask = (np.int64(1) << params[layer, P_BITS]) - 1
    subtract = params[layer, P_RESET] == RESET_SUBTRACT
    leak = params[layer, P_LEAK]
    lam = params[layer, P_LEAK_AMOUNT]
    keep = params[layer, P_DISCONTINUOUS] == 0
    m = mem[m0:m0 + N]
    th = threshold[m0:m0 + N]
    b = bias[m0:m0 + N]
    for n in range(N):
        v = _select_overflow(np.int64(m[n]) + b[n], lo, hi, wrap, mask)
        spike = v > th[n]
        after = _select_overflow(v - th[n], lo, hi, wrap, mask) if subtract else np.int64(0)
        v = after if spike else v
        if leak == LEAK_SUBTRACT:
            v = max(v - lam, 0) if v > 0 else min(v + lam, 0)
        elif leak == LEAK_SHIFT:
            v = v - (v >> lam)
        m[n] = v if keep else 0
        flags[n] = spike
    nf = 0
    for n in range(N):
        fired[nf] = n
        nf += flags[n]
    return nf


@njit(cache=True, nogil=True)
def simulate_batch(images: np.ndarray, indices: np.ndarray, enc_kind: int, seed: int,
                   time_steps: int, count_max: int, params: np.ndarray,
                   weights: np.ndarray, w_off: np.ndarray, threshold: np.ndarray,
                   bias: np.ndarray, n_off: np.ndarray, record_spikes: bool,
                   counts_out: np.ndarray, cycles_out: np.ndarray,
                   core_out: np.ndarray, chip_out: np.ndarray,
                   mem_out: np.ndarray, spikes_out: np.ndarray, mem: np.ndarray) -> None:
    """Run every image of ``images`` ((n, P) uint8) through the chip, filling the outputs.

    counts_out (n, classes), cycles_out (n,), core_out (n, layers, 12), chip_out (n, 3),
    mem_out (n, total neurons), spikes_out (n, T, total neurons) if record_spikes.
    ``mem`` is the membrane scratch (total neurons,), int16 when every layer's B <= 15,
    else int32 (see membrane_dtype); its dtype selects the compiled specialisation.
    """
    L = params.shape[0]
    P = images.shape[1]
    T = time_steps
    total_n = n_off[L]
    max_n = 0
    f_off = np.zeros(L + 1, dtype=np.int64)
    for j in range(L):
        max_n = max(max_n, params[j, P_NEURONS])
        f_off[j + 1] = f_off[j] + params[j, P_DEPTH]
    items = np.empty(T * (P + 1), dtype=np.int64)
    fifo = np.zeros(f_off[L], dtype=np.int64)
    head = np.zeros(L, dtype=np.int64)
    level = np.zeros(L, dtype=np.int64)
    lvl0 = np.zeros(L, dtype=np.int64)
    pushed = np.zeros(L, dtype=np.bool_)
    popped = np.zeros(L, dtype=np.bool_)
    t_next = np.zeros(L, dtype=np.int64)
    blocked = np.zeros(L, dtype=np.int64)  # 0 runnable, 1 waiting on empty, 2 on full
    attempt = np.zeros(L, dtype=np.int64)
    pushing = np.zeros(L, dtype=np.bool_)
    tokens = np.zeros(L, dtype=np.int64)
    pend_item = np.zeros((L, max_n + 1), dtype=np.int64)
    pend_gap = np.zeros((L, max_n + 1), dtype=np.int64)
    pend_len = np.zeros(L, dtype=np.int64)
    pend_pos = np.zeros(L, dtype=np.int64)
    fired = np.empty(max_n, dtype=np.int64)
    flags = np.empty(max_n, dtype=np.uint8)
    classes = params[L - 1, P_NEURONS]
    out0 = n_off[L - 1]
    for img in range(images.shape[0]):
        n_items = encode_image(enc_kind, images[img], T, seed, indices[img], items)
        mem[:] = 0
        head[:] = 0
        level[:] = 0
        t_next[:] = 0
        blocked[:] = 0
        pushing[:] = False
        tokens[:] = 0
        cnt = core_out[img]
        cnt[:, :] = 0
        counts = counts_out[img]
        counts[:] = 0
        host_pos = 0
        host_t = 0
        host_blocked = False
        host_attempt = 0
        host_stalls = 0
        done = -1
        while done < 0:
            c = INF
            if host_pos < n_items and not host_blocked:
                c = host_t
            for j in range(L):
                if blocked[j] == 0 and t_next[j] < c:
                    c = t_next[j]
            for j in range(L):
                lvl0[j] = level[j]
                pushed[j] = False
                popped[j] = False
            # host (§8): one item per cycle into FIFO 0
            if host_pos < n_items and not host_blocked and host_t == c:
                if lvl0[0] < params[0, P_DEPTH]:
                    fifo[f_off[0] + (head[0] + level[0]) % params[0, P_DEPTH]] = items[host_pos]
                    level[0] += 1
                    pushed[0] = True
                    host_pos += 1
                    host_t = c + 1
                else:
                    host_blocked = True
                    host_attempt = c
            for j in range(L):
                if blocked[j] != 0 or t_next[j] != c:
                    continue
                K = params[j, P_WORDS]
                last = j == L - 1
                if pushing[j]:  # push pend_item[pos] into FIFO j+1
                    depth = params[j + 1, P_DEPTH]
                    if lvl0[j + 1] < depth:
                        pos = pend_pos[j]
                        fifo[f_off[j + 1] + (head[j + 1] + level[j + 1]) % depth] = pend_item[j, pos]
                        level[j + 1] += 1
                        pushed[j + 1] = True
                        cnt[j, C_PUSHES] += 1
                        cnt[j, C_BUSY] += 1
                        pos += 1
                        pend_pos[j] = pos
                        if pos < pend_len[j]:
                            t_next[j] = c + 1 + pend_gap[j, pos]
                        else:
                            pushing[j] = False
                            t_next[j] = c + 1
                    else:
                        blocked[j] = 2
                        attempt[j] = c
                    continue
                if lvl0[j] == 0:
                    blocked[j] = 1
                    attempt[j] = c
                    continue
                depth = params[j, P_DEPTH]
                item = fifo[f_off[j] + head[j]]
                head[j] = (head[j] + 1) % depth
                level[j] -= 1
                popped[j] = True
                cnt[j, C_POPS] += 1
                cnt[j, C_BUSY] += 1 + K
                cnt[j, C_MREADS] += K
                cnt[j, C_MWRITES] += K
                if item != EOS:
                    _accumulate(mem, n_off[j], weights, w_off[j], params, j, item)
                    cnt[j, C_WREADS] += K
                    cnt[j, C_SOPS] += params[j, P_NEURONS]
                    t_next[j] = c + K + 1
                    continue
                t = tokens[j]
                tokens[j] = t + 1
                nf = _update(mem, n_off[j], threshold, bias, params, j, fired, flags)
                cnt[j, C_PREADS] += K
                cnt[j, C_UPDATES] += params[j, P_NEURONS]
                cnt[j, C_SPIKES] += nf
                if record_spikes:
                    for q in range(nf):
                        spikes_out[img, t, n_off[j] + fired[q]] = 1
                if last:
                    for q in range(nf):
                        k = fired[q]
                        if counts[k] < count_max:
                            counts[k] += 1
                    t_next[j] = c + K + 1
                    if t + 1 == T:
                        done = c + K + 1
                    continue
                lanes = params[j, P_LANES]
                g_prev = -1  # gap = update cycles between two pushes (§8)
                for q in range(nf):
                    g = fired[q] // lanes
                    pend_item[j, q] = fired[q]
                    pend_gap[j, q] = g - g_prev
                    g_prev = g
                pend_item[j, nf] = EOS
                pend_gap[j, nf] = K - 1 - g_prev
                pend_len[j] = nf + 1
                pend_pos[j] = 0
                pushing[j] = True
                t_next[j] = c + 1 + pend_gap[j, 0]
            # wake agents whose partner freed or filled a slot this cycle (§7)
            if popped[0] and host_blocked:
                host_blocked = False
                host_stalls += c + 1 - host_attempt
                host_t = c + 1
            for j in range(L):
                if pushed[j] and blocked[j] == 1:
                    blocked[j] = 0  # idle cycles are the remainder, counted at the end
                    t_next[j] = c + 1
                if j + 1 < L and popped[j + 1] and blocked[j] == 2:
                    blocked[j] = 0
                    cnt[j, C_STALL] += c + 1 - attempt[j]
                    t_next[j] = c + 1
        for j in range(L):
            cnt[j, C_IDLE] = done - cnt[j, C_BUSY] - cnt[j, C_STALL]
        cycles_out[img] = done
        chip_out[img, 0] = done
        chip_out[img, 1] = host_pos
        chip_out[img, 2] = host_stalls
        for n in range(total_n):
            mem_out[img, n] = mem[n]


@njit(cache=True)
def encode_batch(kind: int, images: np.ndarray, indices: np.ndarray, time_steps: int,
                 seed: int, out: np.ndarray) -> None:
    """Dense (n, T, P) spike tensor of the host encoder, for models that are not the chip
    (the float model, peers in benchmarks) but must see exactly the chip's inputs."""
    P = images.shape[1]
    items = np.empty(time_steps * (P + 1), dtype=np.int64)
    for img in range(images.shape[0]):
        n = encode_image(kind, images[img], time_steps, seed, indices[img], items)
        t = 0
        for q in range(n):
            if items[q] == EOS:
                t += 1
            else:
                out[img, t, items[q]] = 1

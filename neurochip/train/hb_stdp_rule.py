"""The probabilistic Hybrid-STDP rule of ReStoCNet on binary kernels, as a Numba kernel.

One image through one conv layer with the chip's integer arithmetic (§5.2, §6: ±1
kernel, the ``saturate`` overflow, zero reset, shift leak, continuous) on the rule's own
plain arrays, plus what only training does (``../shared/design/seed-algorithms.md`` §1,
P-R3…P-R5, all PROPOSALs; the chip never runs this, so the accumulation here is the
rule's own, and every inference spike the trainer uses is the simulator's,
:mod:`neurochip.train.chip_forward`):

* **competition** — at each output position only the channel with the largest membrane
  among those that crossed their threshold fires (k = 1 WTA across channels; ties to the
  lowest channel); the other crossers are reset to 0 (lateral inhibition);
* **homeostasis** — an adaptive threshold θ_h per channel (the chip's thresholds are per
  channel, §3): +``a_h`` in every step in which the map fired, −θ_h >> ``k_h`` every step;
* **HB-STDP** — the first step in which map c fires in an image triggers one update of its
  kernel, at the position where it fired with the largest membrane (ties: lowest
  position). For every kernel element (c_in, ky, kx) over a real (unpadded) input site:
  Δt = t − t_last_pre(site). If 0 ≤ Δt ≤ T_win the element is set to +1 (Hebbian, LTP)
  with probability LUT[Δt]; otherwise (the pre site was silent, or spiked too long ago)
  it is set to −1 (anti-Hebbian, LTD) with probability p_dep.

The stored bit is 1 for +1 and 0 for −1, the chip's 1-bit weight format (§2).

Randomness: one 32-bit right-shifting Galois LFSR (taps 0x80200003, the input encoder's
polynomial, §11); a draw is 16 steps of it and its low 16 bits, compared with 16-bit
probabilities, exactly as a hardware learning unit would. The state is threaded through
every call, so a run is reproducible bit for bit from its seed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LFSR_MASK = 0x80200003
LUT_SIZE = 16
NEVER = -(1 << 20)  # t_last_pre of a site that has not spiked in this image


@njit(cache=True, inline="always")
def lfsr_draw16(state: np.ndarray) -> int:
    """16 steps of the Galois LFSR in ``state[0]``; return its low 16 bits."""
    s = state[0]
    for _ in range(16):
        out = s & 1
        s >>= 1
        if out:
            s ^= LFSR_MASK
    state[0] = s
    return s & 0xFFFF


def lfsr_state(seed: int, stream: int) -> np.ndarray:
    """The initial LFSR state of one random stream (a layer) of a run; never 0."""
    s = (seed * 0x9E3779B1 + (stream + 1) * 0x85EBCA77) & 0xFFFFFFFF
    return np.array([s if s else 1], dtype=np.int64)


def potentiation_lut(eta_pot: float, tau_pot: float, t_win: int) -> np.ndarray:
    """LUT[Δt] = round(65536 · η_pot · 2^(−Δt/τ_pot)) for Δt ≤ T_win, else 0 (16 entries)."""
    dt = np.arange(LUT_SIZE)
    p = eta_pot * np.power(2.0, -dt / tau_pot)
    lut = np.minimum(np.rint(p * 65536.0), 65536).astype(np.int64)
    lut[dt > t_win] = 0
    return lut


@njit(cache=True, inline="always")
def _sat(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else (hi if v > hi else v)


@njit(cache=True)
def _conv_accumulate(spikes: np.ndarray, m: np.ndarray, weight: np.ndarray, width: int,
                     c_in: int, kh: int, kw: int, pad: int, h_out: int, w_out: int, lo: int,
                     hi: int) -> None:
    """The rule's own §5.2 accumulation (stride 1): every event of one step (``spikes``
    (P_in,) uint8) in ascending address, each add saturated to [lo, hi] (§2), on the rule's
    plain arrays ``m`` (h_out·w_out·C,) int64 and ``weight`` (C_in·kh·kw, C). Training
    only: the chip's own spikes come from the simulator (neurochip.train.chip_forward)."""
    c_out = weight.shape[1]
    for a in range(spikes.shape[0]):
        if spikes[a] == 0:
            continue
        y = a // (width * c_in)
        x = (a // c_in) % width
        c = a % c_in
        for oy in range(h_out):
            ky = y + pad - oy
            if ky < 0 or ky >= kh:
                continue
            for ox in range(w_out):
                kx = x + pad - ox
                if kx < 0 or kx >= kw:
                    continue
                r = (c * kh + ky) * kw + kx
                base = (oy * w_out + ox) * c_out
                for ch in range(c_out):
                    m[base + ch] = _sat(m[base + ch] + weight[r, ch], lo, hi)


@njit(cache=True)
def random_kernel(weight: np.ndarray, density16: int, state: np.ndarray) -> None:
    """Initial kernel: each element +1 with probability density16/65536, else −1."""
    for r in range(weight.shape[0]):
        for ch in range(weight.shape[1]):
            weight[r, ch] = 1 if lfsr_draw16(state) < density16 else -1


@njit(cache=True)
def _stdp(weight: np.ndarray, ch: int, pos: int, t: int, last_pre: np.ndarray, width: int,
          height: int, c_in: int, kh: int, kw: int, pad: int, w_out: int, lut: np.ndarray,
          t_win: int, p_dep16: int, state: np.ndarray) -> int:
    oy, ox = pos // w_out, pos % w_out
    flips = 0
    for c in range(c_in):
        for ky in range(kh):
            y = oy + ky - pad
            if y < 0 or y >= height:
                continue
            for kx in range(kw):
                x = ox + kx - pad
                if x < 0 or x >= width:
                    continue
                r = (c * kh + ky) * kw + kx
                dt = t - last_pre[(y * width + x) * c_in + c]
                new = weight[r, ch]
                if 0 <= dt <= t_win:
                    if lfsr_draw16(state) < lut[min(dt, LUT_SIZE - 1)]:
                        new = 1
                elif lfsr_draw16(state) < p_dep16:
                    new = -1
                if new != weight[r, ch]:
                    weight[r, ch] = new
                    flips += 1
    return flips


@njit(cache=True)
def train_image(spikes: np.ndarray, weight: np.ndarray, height: int, width: int, c_in: int,
                kh: int, kw: int, pad: int, h_out: int, w_out: int, theta: np.ndarray,
                theta_h: np.ndarray, lo: int, hi: int, leak_shift: int, lut: np.ndarray,
                t_win: int, p_dep16: int, a_h: int, k_h: int, state: np.ndarray,
                m: np.ndarray, last_pre: np.ndarray) -> tuple[int, int]:
    """One image (``spikes`` (T, P_in) uint8) through one conv layer with WTA, homeostasis
    and HB-STDP; updates ``weight``, ``theta_h`` and ``state`` in place. Returns (kernel
    updates, element flips). ``m`` (N,) and ``last_pre`` (P_in,) are scratch."""
    c_out = weight.shape[1]
    n_pos = h_out * w_out
    m[:] = 0
    last_pre[:] = NEVER
    learned = np.zeros(c_out, np.uint8)
    cand_pos = np.empty(c_out, np.int64)
    cand_v = np.empty(c_out, np.int64)
    fired_map = np.zeros(c_out, np.uint8)
    updates = 0
    flips = 0
    for t in range(spikes.shape[0]):
        step = spikes[t]
        for a in range(step.shape[0]):
            if step[a]:
                last_pre[a] = t
        _conv_accumulate(step, m, weight, width, c_in, kh, kw, pad, h_out, w_out, lo, hi)
        cand_pos[:] = -1
        fired_map[:] = 0
        for pos in range(n_pos):
            base = pos * c_out
            best = -1
            best_v = 0
            for ch in range(c_out):
                v = m[base + ch]
                if v > theta[ch] + theta_h[ch] and (best < 0 or v > best_v):
                    best, best_v = ch, v
            for ch in range(c_out):
                v = m[base + ch]
                if ch == best:
                    fired_map[ch] = 1
                    if learned[ch] == 0 and (cand_pos[ch] < 0 or v > cand_v[ch]):
                        cand_pos[ch] = pos
                        cand_v[ch] = v
                    v = 0
                elif v > theta[ch] + theta_h[ch]:
                    v = 0  # lateral inhibition: a losing crosser is reset
                m[base + ch] = v - (v >> leak_shift) if leak_shift > 0 else v
        for ch in range(c_out):
            if cand_pos[ch] >= 0:
                flips += _stdp(weight, ch, cand_pos[ch], t, last_pre, width, height, c_in, kh,
                               kw, pad, w_out, lut, t_win, p_dep16, state)
                learned[ch] = 1
                updates += 1
            if fired_map[ch]:
                theta_h[ch] += a_h
            theta_h[ch] -= theta_h[ch] >> k_h
    return updates, flips

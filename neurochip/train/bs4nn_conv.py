"""BS4NN's rule on a convolutional network (ours): the single-spike CSNN of STiDi-BP's shape
(``--arch 16c5p2,p2,32c5p2,p2``: size-keeping convolutions, first-spike pools, a fully
connected output layer) trained by the procedure ``neurochip.train.bs4nn`` ports from the
BS4NN notebook, per-sample SGD in Numba, with the chip's integer forward pass.

The forward pass is the chip's (§6.1 ``ttfs``, ``psp = step``, the ``latency`` encoder at
T = 256): a conv or fc neuron's V is the sum of its weights over the inputs that have
fired so far (each input in the step it fires, §5.2's zero padding at the borders), and
it fires once, in the first step with V > θ; a pool is a ``pool`` core of ``ttfs``
neurons with θ = 0, so it fires in the step of its window's earliest input (the
first-spike pool). Weights are the signs of real shadow weights (or the multi-bit twin's
⌊w·s + ½⌋ within ±qmax, as in ``bs4nn``); θ is the integer each weighted layer stores.

The rule is ``bs4nn``'s, layer by layer, with the notebook's times (a weighted layer adds
one step, T_max when silent; a pool keeps its winner's time):

* the output layer: the relative targets with γ (``silent_pull``: S4NN's no-spike
  target), δ = (target − t)/T_max L2-normalised; the fc update and the error sent back
  are ``bs4nn._update``'s (w −= lr·δ·HF, Δ_i = Σ_k w_ik δ_k HF_ik on the updated weights);
* a pool passes a neuron's error to its window's earliest input (the first in window
  order on a tie), which is the only input that set its time (ours: BS4NN has no pools;
  STiDi-BP's first-spike pooling);
* a convolution's error is L2-normalised over the layer, its kernel moves by the sum over
  positions of the fc rule's per-synapse step, −lr·Σ_positions δ_j·HF_ij (weight sharing;
  a position's inputs outside the map are padding and move nothing), and the error it
  sends back, Δ_i = Σ_j w_ij δ_j HF_ij, uses the weights **before** the step (ours: one
  pass over the kernel; the fc layers use the updated weights as the notebook does);
* real weights are held within ±bound per layer (``bs4nn``'s ``--weight-bound``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.typed import List

from neurochip.train.bs4nn import (NOT_FIRED, T_MAX, _chip_weight, _normalise, _update,
                                   chip_decision, layer_forward, output_targets)

KIND_CONV, KIND_POOL, KIND_FC = 0, 1, 2
# columns of a layer's row in the layer table
M_KIND, M_H, M_W, M_CIN, M_COUT, M_K, M_PAD, M_NIN, M_NOUT, M_DEPTH = range(10)
N_META = 10
_I64_1D, _F64_1D, _F64_2D = types.int64[::1], types.float64[::1], types.float64[:, ::1]


def layer_table(plans) -> np.ndarray:
    """The trainer's layer table from ``stidi_bp.layer_plans`` (conv / pool / fc plans):
    one row per layer, columns M_*; ``depth`` counts the weighted layers up to and
    including the row's (the notebook's one step of delay per layer)."""
    meta = np.zeros((len(plans), N_META), np.int64)
    depth = 0
    for j, p in enumerate(plans):
        h, w, c = p.in_shape
        kind = {"conv": KIND_CONV, "pool": KIND_POOL, "fc": KIND_FC}[p.kind]
        depth += kind != KIND_POOL
        cout = c if kind == KIND_POOL else p.size
        k = p.kernel if kind == KIND_CONV else (p.size if kind == KIND_POOL else 0)
        meta[j] = (kind, h, w, c, cout, k, k // 2 if kind == KIND_CONV else 0, h * w * c,
                   math.prod(p.out_shape), depth)
    return meta


def weight_shape(row: np.ndarray) -> tuple[int, int]:
    """A weighted layer's real weights in the chip's layout: conv rows (c·k + ky)·k + kx
    (docs/architecture.md §5.2), fc rows the input address; columns the output channels.
    A pool has none ((1, 1), a placeholder)."""
    if row[M_KIND] == KIND_CONV:
        return (int(row[M_CIN] * row[M_K] * row[M_K]), int(row[M_COUT]))
    if row[M_KIND] == KIND_FC:
        return (int(row[M_NIN]), int(row[M_NOUT]))
    return (1, 1)


@njit(cache=True)
def conv_forward(t_in, h, w, cin, cout, k, pad, s, theta, t_out, v_out, order_buf, stamp,
                 touched):
    """Chip forward of a size-keeping conv2d layer of ttfs neurons (psp = step, no
    overflow): inputs bucketed by time; after a time's adds, only the positions they
    touched can cross θ."""
    n_in = h * w * cin
    for j in range(h * w * cout):
        t_out[j] = NOT_FIRED
        v_out[j] = 0
    for p in range(h * w):
        stamp[p] = -1
    end = np.zeros(NOT_FIRED + 1, np.int64)
    for i in range(n_in):
        if t_in[i] < NOT_FIRED:
            end[t_in[i] + 1] += 1
    for t in range(NOT_FIRED):
        end[t + 1] += end[t]
    for i in range(n_in):
        t = t_in[i]
        if t < NOT_FIRED:
            order_buf[end[t]] = i
            end[t] += 1
    q = 0
    for t in range(NOT_FIRED):
        if end[t] == q:
            continue
        nt = 0
        while q < end[t]:
            i = order_buf[q]
            q += 1
            c = i % cin
            pos = i // cin
            y = pos // w
            x = pos - y * w
            for ky in range(k):
                oy = y + pad - ky
                if oy < 0 or oy >= h:
                    continue
                for kx in range(k):
                    ox = x + pad - kx
                    if ox < 0 or ox >= w:
                        continue
                    row = s[(c * k + ky) * k + kx]
                    op = oy * w + ox
                    vrow = v_out[op * cout:(op + 1) * cout]
                    for co in range(cout):
                        vrow[co] += row[co]
                    if stamp[op] != t:
                        stamp[op] = t
                        touched[nt] = op
                        nt += 1
        for a in range(nt):  # branch-free over the channels (vectorised)
            op = touched[a]
            vrow = v_out[op * cout:(op + 1) * cout]
            trow = t_out[op * cout:(op + 1) * cout]
            for co in range(cout):
                trow[co] = t if (trow[co] == NOT_FIRED and vrow[co] > theta) else trow[co]


@njit(cache=True)
def pool_forward(t_in, h, w, c, win, t_out, v_out, winner):
    """A first-spike pool (a pool core of ttfs neurons with θ = 0, window = stride =
    ``win``): each output fires in the step of its window's earliest input; V counts the
    window's inputs that fired; ``winner`` is that earliest input (the first in window
    order on a tie; −1 when none fired)."""
    ho, wo = h // win, w // win
    for oy in range(ho):
        for ox in range(wo):
            for ch in range(c):
                j = (oy * wo + ox) * c + ch
                best = NOT_FIRED
                arg = -1
                cnt = 0
                for dy in range(win):
                    for dx in range(win):
                        i = ((oy * win + dy) * w + ox * win + dx) * c + ch
                        ti = t_in[i]
                        if ti < NOT_FIRED:
                            cnt += 1
                            if ti < best:
                                best = ti
                                arg = i
                t_out[j] = best
                v_out[j] = cnt
                winner[j] = arg


@njit(cache=True)
def forward(t_in, meta, signs, thetas, times, vs, winners, bufs):
    """The chip's forward pass of every layer for one image: ``times[j]``, ``vs[j]`` the
    fire times and final V of layer j (``winners[j]`` a pool's earliest inputs)."""
    L = meta.shape[0]
    for j in range(L):
        src = t_in if j == 0 else times[j - 1]
        kind = meta[j, M_KIND]
        if kind == KIND_CONV:
            conv_forward(src, meta[j, M_H], meta[j, M_W], meta[j, M_CIN], meta[j, M_COUT],
                         meta[j, M_K], meta[j, M_PAD], signs[j], thetas[j], times[j], vs[j],
                         bufs[0], bufs[1], bufs[2])
        elif kind == KIND_POOL:
            pool_forward(src, meta[j, M_H], meta[j, M_W], meta[j, M_CIN], meta[j, M_K],
                         times[j], vs[j], winners[j])
        else:
            layer_forward(src, signs[j], thetas[j], times[j], vs[j], bufs[0])


@njit(cache=True)
def forward_buffers(meta):
    """What :func:`forward` writes, one array per layer (fire times, final V, a pool's
    winners; empty for other kinds), and its three scratch arrays of the largest fan-in."""
    times, vs = List.empty_list(_I64_1D), List.empty_list(_I64_1D)
    winners, bufs = List.empty_list(_I64_1D), List.empty_list(_I64_1D)
    max_in = 1
    for j in range(meta.shape[0]):
        n = meta[j, M_NOUT]
        times.append(np.empty(n, np.int64))
        vs.append(np.empty(n, np.int64))
        winners.append(np.empty(n if meta[j, M_KIND] == KIND_POOL else 0, np.int64))
        max_in = max(max_in, meta[j, M_NIN])
    for _ in range(3):
        bufs.append(np.empty(max_in, np.int64))
    return times, vs, winners, bufs


@njit(cache=True)
def _rule_times(t_chip, depth, out):
    """The notebook's times of a layer: chip time + its depth, T_max when silent."""
    for j in range(t_chip.size):
        out[j] = min(t_chip[j] + depth, T_MAX) if t_chip[j] < NOT_FIRED else T_MAX


@njit(cache=True, _nrt=False)  # allocates nothing: its row views cost no reference counts
def _conv_update(delta, t_src, t_dst, h, w, cin, cout, k, pad, wt, sg, lr, scale, qmax, bound,
                 back, grad):
    """wt −= lr·Σ_positions δ_j·HF_ij (then within ±bound, signs follow); back_i =
    Σ_j w_ij δ_j HF_ij with the weights before the step (``back`` of size 0: not wanted)."""
    want_back = back.shape[0] > 0
    if want_back:
        back[:] = 0.0
    grad[:, :] = 0.0
    for op in range(h * w):
        oy = op // w
        ox = op - oy * w
        base = op * cout
        t_last = -1  # an input at or after every destination with an error is causal to none
        for co in range(cout):
            if delta[base + co] != 0.0 and t_dst[base + co] > t_last:
                t_last = t_dst[base + co]
        if t_last < 0:
            continue
        d = delta[base:base + cout]
        td = t_dst[base:base + cout]
        for c in range(cin):
            for ky in range(k):
                y = oy + ky - pad
                if y < 0 or y >= h:
                    continue
                for kx in range(k):
                    x = ox + kx - pad
                    if x < 0 or x >= w:
                        continue
                    i = (y * w + x) * cin + c
                    ti = t_src[i]
                    if ti >= t_last:
                        continue
                    r = (c * k + ky) * k + kx
                    gr = grad[r]
                    wr = wt[r]
                    b = 0.0
                    for co in range(cout):  # branch-free: HF as a 0/1 factor (vectorised)
                        g = d[co] if ti < td[co] else 0.0
                        gr[co] += g
                        b += wr[co] * g
                    if want_back:
                        back[i] += b
    for r in range(wt.shape[0]):
        for co in range(cout):
            if grad[r, co] != 0.0:
                x = min(max(wt[r, co] - lr * grad[r, co], -bound), bound)
                wt[r, co] = x
                sg[r, co] = _chip_weight(x, scale, qmax)


@njit(cache=True)
def _train_epoch(draws, t_chip, t_rule_in, labels, meta, weights, signs, thetas, lr, gamma,
                 silent_pull, scale, qmax, bound):
    """One epoch of per-sample SGD (module docstring); returns how many draws the chip's
    decision got right before their update."""
    L = meta.shape[0]
    times, vs, winners, bufs = forward_buffers(meta)
    rules = List.empty_list(_I64_1D)
    errs, steps = List.empty_list(_F64_1D), List.empty_list(_F64_1D)
    for j in range(L):
        n = meta[j, M_NOUT]
        rules.append(np.empty(n, np.int64))
        errs.append(np.zeros(n, np.float64))
        steps.append(np.empty(n, np.float64))
    grads = List.empty_list(_F64_2D)
    for j in range(L):
        grads.append(np.zeros(weights[j].shape, np.float64))
    no_back = np.empty(0, np.float64)
    fact = np.ones(L, np.float64)  # bs4nn._update's learned scale, not learned here
    n_cls = meta[L - 1, M_NOUT]
    target = np.empty(n_cls, np.float64)
    correct = 0
    for s in range(draws.size):
        img = draws[s]
        forward(t_chip[img], meta, signs, thetas, times, vs, winners, bufs)
        for j in range(L):
            _rule_times(times[j], meta[j, M_DEPTH], rules[j])
        to = rules[L - 1]
        lab = labels[img]
        if chip_decision(times[L - 1], vs[L - 1]) == lab:
            correct += 1
        t_min = T_MAX
        for k in range(n_cls):
            t_min = min(t_min, to[k])
        output_targets(to, t_min, lab, gamma, silent_pull, target)
        d = errs[L - 1]
        for k in range(n_cls):
            d[k] = (target[k] - to[k]) / T_MAX
        # backwards through the layers: errs[j] is layer j's δ before its normalisation
        for j in range(L - 1, -1, -1):
            kind = meta[j, M_KIND]
            src_rule = t_rule_in[img] if j == 0 else rules[j - 1]
            back = no_back if j == 0 else errs[j - 1]
            if kind == KIND_POOL:
                back[:] = 0.0
                win = winners[j]
                err = errs[j]
                for q in range(win.size):
                    if win[q] >= 0:
                        back[win[q]] += err[q]
                continue
            _normalise(errs[j])
            if kind == KIND_FC:
                _update(errs[j], src_rule, rules[j], weights[j], signs[j], lr[j], 0.0, fact, j,
                        back, scale[j], qmax, steps[j], bound[j])
            else:
                _conv_update(errs[j], src_rule, rules[j], meta[j, M_H], meta[j, M_W],
                             meta[j, M_CIN], meta[j, M_COUT], meta[j, M_K], meta[j, M_PAD],
                             weights[j], signs[j], lr[j], scale[j], qmax, bound[j], back,
                             grads[j])
    return correct


@njit(cache=True)
def _decide_all(t_chip, meta, signs, thetas):
    L = meta.shape[0]
    times, vs, winners, bufs = forward_buffers(meta)
    out = np.empty(t_chip.shape[0], np.int64)
    first = np.empty((t_chip.shape[0], meta[L - 1, M_NOUT]), np.int64)
    for i in range(t_chip.shape[0]):
        forward(t_chip[i], meta, signs, thetas, times, vs, winners, bufs)
        out[i] = chip_decision(times[L - 1], vs[L - 1])
        first[i] = times[L - 1]
    return out, first


@njit(cache=True)
def _channel_fire_fractions(t_chip, meta, signs, thetas):
    """Per conv layer j and output channel c: the fraction of (image, position) pairs of
    the images ``t_chip`` at which channel c fired; 0 in the rows of other layers."""
    L = meta.shape[0]
    out = np.zeros((L, meta[:, M_COUT].max()), np.float64)
    times, vs, winners, bufs = forward_buffers(meta)
    for i in range(t_chip.shape[0]):
        forward(t_chip[i], meta, signs, thetas, times, vs, winners, bufs)
        for j in range(L):
            if meta[j, M_KIND] != KIND_CONV:
                continue
            C = meta[j, M_COUT]
            tj = times[j]
            for q in range(tj.size):  # position-major: q = position · C + channel
                if tj[q] < NOT_FIRED:
                    out[j, q % C] += 1.0
    for j in range(L):
        if meta[j, M_KIND] == KIND_CONV:
            out[j] /= max(1, t_chip.shape[0] * (meta[j, M_NOUT] // meta[j, M_COUT]))
    return out


class ConvNet:
    """The real shadow weights (one (rows, channels) array per weighted layer, a (1, 1)
    placeholder per pool), the chip weights that follow them and the integer thresholds."""

    def __init__(self, plans, weights, thetas, bits: int = 1, clip=None):
        self.plans = list(plans)
        self.meta = layer_table(self.plans)
        self.weights = [np.ascontiguousarray(w, np.float64) for w in weights]
        self.thetas = np.asarray(thetas, np.int64)
        self.bits = int(bits)
        self.clip = np.ones(len(self.plans)) if clip is None else np.asarray(clip, np.float64)
        self.history: list = []

    @property
    def qmax(self) -> int:
        return 1 if self.bits == 1 else (1 << (self.bits - 1)) - 1

    def scales(self) -> np.ndarray:
        """Chip weight per unit of real weight, per layer (1 for ±1 signs)."""
        return np.ones(len(self.plans)) if self.bits == 1 else self.qmax / self.clip

    def signs(self) -> list[np.ndarray]:
        """The chip's weights (int8): ±1 signs, or the twin's B-bit integers."""
        from neurochip.train.bs4nn import chip_weights

        return [chip_weights(w, float(s), self.qmax) for w, s in zip(self.weights, self.scales())]

    def copy(self) -> "ConvNet":
        net = ConvNet(self.plans, [w.copy() for w in self.weights], self.thetas.copy(),
                      self.bits, self.clip.copy())
        net.history = self.history
        return net


def init_net(plans, thetas, low, high, seed: int, bits: int = 1, clip=None) -> ConvNet:
    """Weights uniform in [low_j, high_j) per weighted layer (``low``, ``high``: one value
    per weighted layer), drawn layer by layer from one seeded generator."""
    rng = np.random.default_rng(seed)
    meta = layer_table(plans)
    weights, th, lo, hi, cl = [], [], iter(low), iter(high), []
    it = iter(thetas)
    clip_it = iter(clip) if clip is not None else None
    for row in meta:
        shape = weight_shape(row)
        if row[M_KIND] == KIND_POOL:
            weights.append(np.zeros(shape))
            th.append(0)
            cl.append(1.0)
            continue
        a, b = next(lo), next(hi)
        weights.append(rng.random(shape) * (b - a) + a)
        th.append(int(next(it)))
        cl.append(float(next(clip_it)) if clip_it is not None else float(b))
    return ConvNet(plans, weights, th, bits, cl)


def reset_dead_channels(net: ConvNet, t_chip: np.ndarray, fraction: float, low, high,
                        rng: np.random.Generator) -> list[tuple[int, int]]:
    """S4NN's dead-neuron reset, for the channels of the convolutions (ours): every conv
    channel that fires at fewer than ``fraction`` of its (image, position) pairs over the
    images ``t_chip`` gets a new kernel, uniform in [low_j, high_j) as at the start
    (``low``, ``high``: one value per layer, as :func:`train_epoch`'s rates; only the
    convolutions' are read), drawn from ``rng`` layer by layer, channel by channel
    ascending. Returns the (layer, channel) pairs reset."""
    fired = _channel_fire_fractions(np.ascontiguousarray(t_chip, np.int64), net.meta,
                                    _typed(net.signs()), net.thetas)
    reset = []
    for j, row in enumerate(net.meta):
        if row[M_KIND] != KIND_CONV:
            continue
        a, b = low[j], high[j]
        for c in np.flatnonzero(fired[j, :row[M_COUT]] < fraction):
            net.weights[j][:, c] = rng.random(net.weights[j].shape[0]) * (b - a) + a
            reset.append((j, int(c)))
    return reset


def _typed(arrays):
    out = List()
    for a in arrays:
        out.append(a)
    return out


def train_epoch(net: ConvNet, draws, t_chip, t_rule, labels, lr, gamma: int, silent_pull: bool,
                bound=None) -> int:
    """One epoch of per-sample SGD on ``net`` (in place); ``lr``, ``bound``: one value per
    layer (pools' ignored). Returns the chip's correct decisions before each update."""
    L = len(net.plans)
    signs = net.signs()
    wl, sl = _typed(net.weights), _typed(signs)
    bound = np.full(L, np.inf) if bound is None else np.asarray(bound, np.float64)
    return int(_train_epoch(np.asarray(draws, np.int64), np.ascontiguousarray(t_chip, np.int64),
                            np.ascontiguousarray(t_rule, np.int64),
                            np.asarray(labels, np.int64), net.meta, wl, sl, net.thetas,
                            np.asarray(lr, np.float64), int(gamma), bool(silent_pull),
                            net.scales().astype(np.float64), net.qmax, bound))


def decide(net: ConvNet, t_chip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The chip's decision of every image and the output layer's fire times."""
    return _decide_all(np.ascontiguousarray(t_chip, np.int64), net.meta, _typed(net.signs()),
                       net.thetas)


def to_description(net: ConvNet, name: str, lanes: int = 64, fifo_depth: int = 64,
                   provenance: dict | None = None):
    """conv2d / pool / fc cores of ``ttfs`` neurons (psp = step), the latency encoder at
    T = 256; membranes wide enough for |V| ≤ fan-in·qmax (nothing saturates)."""
    from neurochip.description import CoreDescription, CoreMapping, Encoder, validate
    from neurochip.neurons.ttfs import TtfsNeuron
    from neurochip.train.arch import chip_layer, layer_names
    from neurochip.train.widths import bits_for

    entries = [p.entry for p in net.plans]
    layers, prev = [], "input"
    for j, (p, entry, lname, s) in enumerate(zip(net.plans, entries, layer_names(entries),
                                                 net.signs())):
        channels = p.in_shape[2] if p.kind == "pool" else p.size
        core = CoreMapping(index=j, lanes=min(lanes, channels), fifo_depth=fifo_depth)
        if p.kind == "pool":
            lay = chip_layer(entry, lname, prev, p.in_shape, p.out_shape, core,
                             neuron=TtfsNeuron(psp="step"),
                             threshold=np.zeros(channels, np.int64), bias=np.zeros(0, np.int64))
        else:
            theta = int(net.thetas[j])
            fan_in = s.shape[0]  # a row per input of a neuron, in both layouts
            lay = chip_layer(entry, lname, prev, p.in_shape, p.out_shape, core,
                             neuron=TtfsNeuron(psp="step"), weight=s.astype(np.int64),
                             threshold=np.full(p.size, theta, np.int64),
                             bias=np.zeros(0, np.int64), weight_bits=net.bits,
                             membrane_bits=bits_for(max(int(fan_in) * net.qmax, abs(theta))))
        layers.append(lay)
        prev = lay.name
    desc = CoreDescription(name=name, input_shape=(28, 28), encoder=Encoder("latency", 0),
                           time_steps=T_MAX, clock_hz=100e6, count_bits=1, layers=layers,
                           provenance=provenance or {})
    validate(desc)
    return desc

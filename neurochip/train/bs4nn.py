"""BS4NN (Kheradpisheh, Mirsadeghi, Masquelier 2021) as the authors' code has it
(``SRKH/BS4NN``, ``BS4NN_mnist.ipynb``; seed-algorithms §2.1), with the chip's integer
forward pass, per-sample SGD in Numba.

The procedure, line by line from that notebook:

* input: pixel p spikes at ``255 − p`` (T_max = 256 steps);
* forward per layer: non-leaky IF with instantaneous (step) PSP and ±1 weights, the signs
  of real shadow weights; V = Σ sign(w)·1[t_i ≤ t], a neuron fires once, when V > θ,
  with θ = thr / f (thr = 100, f a learned per-layer scale); a neuron that never fires is
  given time T_max;
* output targets with γ: if no output fired, the targets are the actual times (no error);
  else every output within γ of the earliest is pushed to min(t_min + γ, T_max) and the
  correct class is pulled to t_min;
* errors δ = (target − t)/T_max, L2-normalised per layer; with the causal mask
  HF = 1[t_in < t_out]: w −= lr·δ·HF on the real weights, then
  f −= lr_f · mean(δ·HF·sign(w)) and the error sent back Δ_j = Σ_k w_kj δ_k HF_kj (real,
  updated weights), L2-normalised;
* 784-600-10, thr = (100, 100), f = (5, 5), lr = (0.1, 0.1), lr_f = (0.01, 0.01),
  w ~ U[a, b) with a = (0, 0), b = (5, 48), γ = 1, epochs of as many draws with replacement
  as there are training images.

What differs, and why (docs: models/README.md, "BS4NN anchor"):

* **The forward pass is the chip's** (§6.1 ``ttfs``, ``psp = step``, the ``latency``
  encoder of §11 at T = 256): θ is the integer ⌊thr/f⌋, which for integer V decides
  exactly as the real thr/f; a spike reaches the next layer in the step it is sent (the
  notebook delays every layer by one step, ``argmax + 1``), so the notebook's times are
  the chip's plus the layer's depth, a uniform shift the rule below undoes; a zero pixel
  does not spike on the chip (in the notebook it spikes at 255, which can only move a
  hidden neuron to time 256, i.e. no spike: the same forward pass).
* **The rule sees the notebook's times**: hidden t + 1, output t + 2, T_max when not fired
  or shifted past T_max, and zero pixels at 255 in the causal mask, as the notebook has.
* **Decision**: the chip's (first output to fire, lowest index on a tie; if none fired,
  the largest V at the end). The notebook scores a tie as correct when the true class is
  among the earliest and falls back to the largest V at step T_max − 3.
* **No output fired** (``silent_target``): BS4NN's rule gives such an image no error;
  ``s4nn`` (ours to choose, from ``SRKH/S4NN``, ``S4NN.py``) pulls the true class to
  T_max − γ as S4NN does.
* **Learning-rate decay** (``lr_decay``, ours; 1 = the notebook's constant rates): epoch
  e (from 0) trains with ``lr·decay^e`` and ``lr_f·decay^e``.
* **The multi-bit twin** (``weight_bits`` B > 1, ours; BS4NN compares its binary network
  with a real-valued one): the same rule on the same real weights, but the forward pass
  uses q = ⌊w·s + ½⌋ clipped to ±(2^(B−1) − 1), s = (2^(B−1) − 1)/clip per layer, and
  θ = ⌊s·thr/f⌋, so the chip's integer V > θ stands for Σ w > thr/f up to the rounding of
  w. ``clip`` defaults to the init range's high ends.
* **Dead-neuron reset** (``reset_dead``, ``--dead-reset``; not in the BS4NN notebook, so
  off by default): S4NN's code (``SRKH/S4NN``, ``S4NN.py``) gives every hidden neuron that
  fired on fewer than 0.1 % of an epoch's images new initial weights after the epoch; here
  the fraction is an option and the new weights come from the run's seeded generator.
* **Bounded real weights** (``--weight-bound``, ours; default unbounded as the notebook):
  each updated real weight is held within ±bound, as BinaryConnect clips its real weights;
  for the twin, weights past its ``clip`` would only saturate.
* **Validation**: the last ``validation`` training images are held out and draws come
  from the rest; the epoch with the best held-out accuracy is kept (the notebook keeps
  the best test accuracy).
* **Arithmetic**: f's update sums its terms in four partial sums (for speed), so f can
  differ from the notebook's one sequential sum in its last bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from neurochip.train.widths import bits_for

T_MAX = 256  # steps (the notebook's Tmax)
NOT_FIRED = T_MAX


@dataclass
class Bs4nnConfig:
    hidden: int = 600
    thr: tuple[float, float] = (100.0, 100.0)
    fact: tuple[float, float] = (5.0, 5.0)
    lr: tuple[float, float] = (0.1, 0.1)
    lr_fact: tuple[float, float] = (0.01, 0.01)
    init_high: tuple[float, float] = (5.0, 48.0)
    init_low: tuple[float, float] = (0.0, 0.0)  # the notebook's ``a``: w ~ U[a, b)
    gamma: int = 1
    seed: int = 0
    weight_bits: int = 1  # 1: BS4NN's ±1; 2..8: the multi-bit twin (ours)
    weight_clip: tuple[float, float] | None = None  # the twin's real range per layer (None: init_high)
    # real weights held within ±bound after every update (ours; None: unbounded, the notebook)
    weight_bound: tuple[float, float] | None = None


@dataclass
class Bs4nnNet:
    w0: np.ndarray  # (inputs, hidden) real shadow weights, chip layout (in, out)
    w1: np.ndarray  # (hidden, classes)
    fact: np.ndarray  # (2,) learned threshold scales
    thr: np.ndarray  # (2,)
    history: list = field(default_factory=list)
    bits: int = 1  # chip weight bits: 1 = ±1 signs (BS4NN); B > 1 = the multi-bit twin
    clip: np.ndarray = field(default_factory=lambda: np.ones(2))  # (2,) twin: real ↦ ±qmax

    @property
    def qmax(self) -> int:
        """The largest chip weight: 1 (±1), or 2^(B−1) − 1 for B-bit integers."""
        return 1 if self.bits == 1 else (1 << (self.bits - 1)) - 1

    def scales(self) -> np.ndarray:
        """Chip weight per unit of real weight, per layer: 1 for ±1 signs; qmax / clip for
        the twin, so a real weight of ±clip becomes ±qmax."""
        return np.ones(2) if self.bits == 1 else self.qmax / np.asarray(self.clip, np.float64)

    def thetas(self) -> tuple[int, int]:
        """The chip's integer thresholds ⌊s·thr / f⌋ (s = 1 for ±1 weights: V > θ ⇔
        V > thr/f for integer V)."""
        return tuple(int(math.floor(t * s / f))
                     for t, s, f in zip(self.thr, self.scales(), self.fact))

    def copy(self) -> "Bs4nnNet":
        """Its weights and scales now (history and thresholds shared)."""
        return Bs4nnNet(self.w0.copy(), self.w1.copy(), self.fact.copy(), self.thr,
                        self.history, self.bits, self.clip)

    def signs(self) -> tuple[np.ndarray, np.ndarray]:
        """The chip's weights: ±1 signs, or the twin's B-bit integers."""
        s = self.scales()
        return (chip_weights(self.w0, s[0], self.qmax), chip_weights(self.w1, s[1], self.qmax))


def chip_weights(w: np.ndarray, scale: float, qmax: int) -> np.ndarray:
    """±1 signs when ``qmax`` is 1 (an exact 0 counts as +1); else ⌊w·scale + ½⌋ clipped to
    ±qmax: ``_chip_weight`` on every weight, the one definition the trainer also keeps its
    forward weights in step with."""
    return _chip_weights(np.ascontiguousarray(w, np.float64), float(scale), int(qmax))


def init_net(cfg: Bs4nnConfig, inputs: int = 784, classes: int = 10) -> Bs4nnNet:
    rng = np.random.default_rng(cfg.seed)
    (a0, a1), (b0, b1) = cfg.init_low, cfg.init_high
    w0 = rng.random((inputs, cfg.hidden)) * (b0 - a0) + a0  # the notebook's (b − a)·U + a
    w1 = rng.random((cfg.hidden, classes)) * (b1 - a1) + a1
    return Bs4nnNet(w0, w1, np.array(cfg.fact, np.float64), np.array(cfg.thr, np.float64),
                    bits=cfg.weight_bits,
                    clip=np.array(cfg.weight_clip or cfg.init_high, np.float64))


NOTEBOOK_FILES = ("W0_binary.npy", "W1_binary.npy")
MAX_NOTEBOOK_BYTES = 1 << 28  # 256 MiB: a 784-H-10 float64 net up to H ≈ 40,000


def from_notebook(folder, fact: tuple[float, float], thr: tuple[float, float] = (100.0, 100.0)
                  ) -> Bs4nnNet:
    """The real shadow weights the BS4NN notebook saves (``W0_binary.npy`` (hidden, inputs,
    1) and ``W1_binary.npy`` (classes, hidden, 1), as in ``SRKH/BS4NN``) in the chip's
    layout, with the notebook's final threshold scales ``fact`` (it prints them; they are
    not in the files). Raises ValueError naming the file on anything else."""
    from pathlib import Path

    arrays = []
    for name in NOTEBOOK_FILES:
        path = Path(folder) / name
        if not path.is_file():
            raise ValueError(f"{path}: no such file (the notebook saves {' and '.join(NOTEBOOK_FILES)})")
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"{path}: {path.stat().st_size} bytes, more than a BS4NN network needs")
        try:
            w = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a NumPy .npy array ({exc})") from None
        if w.ndim != 3 or w.shape[2] != 1 or w.dtype.kind != "f" or not np.isfinite(w).all():
            raise ValueError(f"{path}: expected finite floats of shape (out, in, 1), got "
                             f"{w.dtype} {w.shape}")
        arrays.append(np.ascontiguousarray(w[:, :, 0].T, np.float64))
    w0, w1 = arrays
    if w1.shape[0] != w0.shape[1]:
        raise ValueError(f"{NOTEBOOK_FILES[1]}: {w1.shape[0]} inputs, but {NOTEBOOK_FILES[0]} has "
                         f"{w0.shape[1]} hidden neurons")
    return Bs4nnNet(w0, w1, np.array(fact, np.float64), np.array(thr, np.float64))


def input_times(images: np.ndarray, steps: int = T_MAX) -> tuple[np.ndarray, np.ndarray]:
    """(chip, rule) input times per pixel: the chip's latency encoder (§11) at T = 256
    sends pixel p ≥ 1 at 255 − p and never sends p = 0 (NOT_FIRED); the notebook's rule
    sees 255 − p for every pixel."""
    if steps != T_MAX:
        raise ValueError(f"BS4NN runs at T = {T_MAX} steps")
    px = images.reshape(len(images), -1).astype(np.int16)
    rule = (255 - px).astype(np.int16)
    chip = np.where(px >= 1, rule, NOT_FIRED).astype(np.int16)
    return chip, rule


@njit(cache=True)
def layer_forward(t_in, w_sign, theta, t_out, v_out, order_buf):
    """Chip forward of one fc ttfs layer (psp = step, no overflow): fire times (NOT_FIRED
    when silent) into ``t_out`` and the final V into ``v_out``. The firing inputs are
    bucketed by time (a counting sort into ``order_buf``); V changes only at those times,
    so only then can a neuron cross θ, and within a time the order of the adds does not
    matter (integer sums, no overflow)."""
    n_in, n_out = w_sign.shape
    for j in range(n_out):
        t_out[j] = NOT_FIRED
        v_out[j] = 0
    end = np.zeros(NOT_FIRED + 1, np.int64)  # end[t]: one past the last input of time t
    for i in range(n_in):
        if t_in[i] < NOT_FIRED:
            end[t_in[i] + 1] += 1
    for t in range(NOT_FIRED):
        end[t + 1] += end[t]  # now the start of time t
    for i in range(n_in):
        t = t_in[i]
        if t < NOT_FIRED:
            order_buf[end[t]] = i
            end[t] += 1  # ends as the start of time t + 1
    k = 0
    for t in range(NOT_FIRED):
        if end[t] == k:
            continue
        while k < end[t]:
            row = w_sign[order_buf[k]]
            for j in range(n_out):
                v_out[j] += row[j]
            k += 1
        for j in range(n_out):
            t_out[j] = t if (t_out[j] == NOT_FIRED and v_out[j] > theta) else t_out[j]


@njit(cache=True)
def chip_decision(t_out, v_out) -> int:
    """§6.1: the first output to fire, lowest index on a tie; else the largest V."""
    best = -1
    for k in range(t_out.size):
        if t_out[k] < NOT_FIRED and (best < 0 or t_out[k] < t_out[best]):
            best = k
    if best >= 0:
        return best
    best = 0
    for k in range(1, v_out.size):
        if v_out[k] > v_out[best]:
            best = k
    return best


@njit(cache=True)
def _normalise(d):
    s = 0.0
    for x in d:
        s += x * x
    if s > 0.0:
        d /= math.sqrt(s)


@njit(cache=True, inline="always")
def _chip_weight(w, scale, qmax):
    """One chip weight of real weight ``w``: its sign (qmax 1), else ⌊w·scale + ½⌋ within
    ±qmax (``chip_weights`` applies it to every weight)."""
    if qmax == 1:
        return -1 if w < 0 else 1
    q = math.floor(w * scale + 0.5)
    return int(min(max(q, -qmax), qmax))


@njit(cache=True)
def _chip_weights(w, scale, qmax):
    out = np.empty(w.shape, np.int8)
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            out[i, j] = _chip_weight(w[i, j], scale, qmax)
    return out


@njit(cache=True)
def _update(delta, t_src_rule, t_dst_rule, w, signs, lr, lr_fact, fact, layer, back, scale, qmax,
            step, bound):
    """w −= lr·δ·HF, then held within ±``bound`` (inf: unbounded, the notebook's);
    f −= lr_f·mean(δ·HF·sign(w)) (updated w); back = Σ_k w δ HF (updated w; ``back`` of
    size 0: not wanted, the first layer's); ``signs`` (the forward pass's
    chip weights: ±1, or the twin's integers) follow w. ``step``: scratch of n_out floats.
    An input at or after every destination with an error (δ ≠ 0) is causal to none of them,
    so its row changes nothing and is skipped (its ``back`` is 0); the other rows run
    branch-free over the destinations (HF as a 0/1 factor: vectorised), and the f update's
    sum, only when lr_f ≠ 0, in four partial sums (the same terms; the last bits of f can
    differ from one sequential sum)."""
    n_in, n_out = w.shape
    want_back = back.shape[0] > 0
    t_last = -1  # the latest destination time with an error
    for j in range(n_out):
        step[j] = lr * delta[j]
        if delta[j] != 0.0 and t_dst_rule[j] > t_last:
            t_last = t_dst_rule[j]
    a0 = a1 = a2 = a3 = 0.0
    for i in range(n_in):
        ti = t_src_rule[i]
        if ti >= t_last:
            if want_back:
                back[i] = 0.0
            continue
        wi = w[i]
        si = signs[i]
        for j in range(n_out):
            hf = 1.0 if ti < t_dst_rule[j] else 0.0
            x = min(max(wi[j] - step[j] * hf, -bound), bound)
            wi[j] = x
            si[j] = _chip_weight(x, scale, qmax)
        if want_back:
            b = 0.0
            for j in range(n_out):
                if ti < t_dst_rule[j]:
                    b += wi[j] * delta[j]
            back[i] = b
        if lr_fact != 0.0:
            j = 0
            while j + 4 <= n_out:
                a0 += _hf_sign_term(ti, t_dst_rule[j], delta[j], wi[j])
                a1 += _hf_sign_term(ti, t_dst_rule[j + 1], delta[j + 1], wi[j + 1])
                a2 += _hf_sign_term(ti, t_dst_rule[j + 2], delta[j + 2], wi[j + 2])
                a3 += _hf_sign_term(ti, t_dst_rule[j + 3], delta[j + 3], wi[j + 3])
                j += 4
            while j < n_out:
                a0 += _hf_sign_term(ti, t_dst_rule[j], delta[j], wi[j])
                j += 1
    fact[layer] -= lr_fact * ((a0 + a1) + (a2 + a3)) / (n_in * n_out)


@njit(cache=True, inline="always")
def _hf_sign_term(ti, t_dst, d, w):
    """δ·sign(w) where the input is causal (HF), else 0: one term of the f update."""
    if ti < t_dst:
        return d * (1.0 if w > 0 else (-1.0 if w < 0 else 0.0))
    return 0.0


def train_epoch(draws, t_chip, t_rule, labels, w0, w1, s0, s1, fact, thr, lr, lr_fact, gamma,
                silent_pull=False, scale=None, qmax=1, fired=None, bound=None):
    """One epoch of per-sample SGD (``_train_epoch``); ``scale`` (per layer) and ``qmax``
    only for the multi-bit twin (default: ±1 signs). ``fired`` (one int64 per hidden
    neuron, optional): each neuron's count of the epoch's draws on which it fired is added
    to it (S4NN's dead-neuron statistic, ``reset_dead``). ``bound`` (per layer, optional):
    every updated real weight is held within ±bound (ours; default unbounded as the
    notebook)."""
    scale = np.ones(2) if scale is None else np.asarray(scale, np.float64)
    fired = np.zeros(w0.shape[1], np.int64) if fired is None else fired
    bound = np.full(2, np.inf) if bound is None else np.asarray(bound, np.float64)
    if fired.shape != (w0.shape[1],) or fired.dtype != np.int64:
        raise ValueError(f"fired: one int64 count per hidden neuron ({w0.shape[1]})")
    return _train_epoch(draws, t_chip, t_rule, labels, w0, w1, s0, s1, fact, thr, lr, lr_fact,
                        gamma, silent_pull, scale, int(qmax), fired, bound)


def reset_dead(net: "Bs4nnNet", s0: np.ndarray, fired: np.ndarray, draws: int, fraction: float,
               low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """S4NN's dead-neuron reset (``SRKH/S4NN``, ``S4NN.py``, after each epoch; not in the
    BS4NN notebook): every hidden neuron that fired on fewer than ``fraction``·``draws`` of
    the epoch's draws gets new incoming weights, uniform in [low, high) as at the start,
    drawn from ``rng`` neuron by neuron in index order; its chip weights in ``s0`` follow.
    Returns the indices reset."""
    dead = np.flatnonzero(fired < fraction * draws)
    scale = float(net.scales()[0])
    for j in dead:
        net.w0[:, j] = rng.random(net.w0.shape[0]) * (high - low) + low
        s0[:, j] = chip_weights(net.w0[:, j:j + 1], scale, net.qmax)[:, 0]
    return dead


@njit(cache=True)
def output_targets(to_rule, t_min, lab, gamma, silent_pull, target):
    """The output layer's targets (``target``) from its times ``to_rule`` (earliest
    ``t_min``): if none fired, T_max each (``silent_pull``: the true class T_max − γ, S4NN's
    rule); else each output's own time, those within γ of the earliest pushed to
    min(t_min + γ, T_max), and the true class t_min."""
    n_cls = to_rule.size
    if t_min == T_MAX:
        for k in range(n_cls):
            target[k] = T_MAX
        if silent_pull:
            target[lab] = T_MAX - gamma
        return
    for k in range(n_cls):
        target[k] = to_rule[k]
        if to_rule[k] - t_min < gamma:
            target[k] = min(t_min + gamma, T_MAX)
    target[lab] = t_min


@njit(cache=True)
def _train_epoch(draws, t_chip, t_rule, labels, w0, w1, s0, s1, fact, thr, lr, lr_fact, gamma,
                 silent_pull, scale, qmax, fired, bound):
    """One epoch of per-sample SGD over ``draws``; returns the notebook's training count
    (the true class among the earliest outputs, or the largest V if none fired).
    ``s0``, ``s1``: the chip weights of ``w0``, ``w1`` (±1 signs, or with ``qmax`` > 1
    the twin's ⌊w·scale + ½⌋ within ±qmax), kept in step with them; θ = ⌊thr·scale/f⌋.
    ``silent_pull``: when no output fired, the true class's target is T_max − γ (S4NN's
    rule) instead of no error at all (BS4NN's). ``fired[j]`` gains 1 for every draw on
    which hidden neuron j fires."""
    n_in, n_hid = w0.shape
    n_cls = w1.shape[1]
    th, vh, buf_h = np.empty(n_hid, np.int64), np.empty(n_hid, np.int64), np.empty(n_in, np.int64)
    to, vo, buf_o = np.empty(n_cls, np.int64), np.empty(n_cls, np.int64), np.empty(n_hid, np.int64)
    th_rule, to_rule = np.empty(n_hid, np.int64), np.empty(n_cls, np.int64)
    target = np.empty(n_cls, np.float64)
    d_out, d_hid = np.empty(n_cls, np.float64), np.empty(n_hid, np.float64)
    step_hid, step_out = np.empty(n_hid, np.float64), np.empty(n_cls, np.float64)
    no_back = np.empty(0, np.float64)  # the first layer's error goes nowhere
    correct = 0
    for s in range(draws.size):
        img = draws[s]
        # the forward pass uses the signs of the current weights and θ = ⌊thr/f⌋
        theta0 = math.floor(thr[0] * scale[0] / fact[0])
        theta1 = math.floor(thr[1] * scale[1] / fact[1])
        layer_forward(t_chip[img], s0, theta0, th, vh, buf_h)
        layer_forward(th, s1, theta1, to, vo, buf_o)
        # the notebook's times: one step of delay per layer, T_MAX when silent
        for j in range(n_hid):
            th_rule[j] = min(th[j] + 1, T_MAX) if th[j] < NOT_FIRED else T_MAX
            fired[j] += th[j] < NOT_FIRED
        t_min = T_MAX
        for k in range(n_cls):
            to_rule[k] = min(to[k] + 2, T_MAX) if to[k] < NOT_FIRED else T_MAX
            t_min = min(t_min, to_rule[k])
        lab = labels[img]
        output_targets(to_rule, t_min, lab, gamma, silent_pull, target)
        if t_min == T_MAX:
            if chip_decision(to, vo) == lab:
                correct += 1
        elif to_rule[lab] == t_min:
            correct += 1
        for k in range(n_cls):
            d_out[k] = (target[k] - to_rule[k]) / T_MAX
        _normalise(d_out)
        _update(d_out, th_rule, to_rule, w1, s1, lr[1], lr_fact[1], fact, 1, d_hid, scale[1],
                qmax, step_out, bound[1])
        _normalise(d_hid)
        _update(d_hid, t_rule[img], th_rule, w0, s0, lr[0], lr_fact[0], fact, 0, no_back,
                scale[0], qmax, step_hid, bound[0])
    return correct


@njit(cache=True)
def _decide(t_chip, s0, s1, theta0, theta1):
    """The integer forward pass of §6.1 for every image: the chip's decision and the set
    of earliest outputs (bit k: output k fired first, ties included; 0 when none fired)."""
    n = t_chip.shape[0]
    n_in, n_hid = s0.shape
    n_cls = s1.shape[1]
    decision, earliest = np.empty(n, np.int64), np.zeros(n, np.int64)
    th, vh, buf_h = np.empty(n_hid, np.int64), np.empty(n_hid, np.int64), np.empty(n_in, np.int64)
    to, vo, buf_o = np.empty(n_cls, np.int64), np.empty(n_cls, np.int64), np.empty(n_hid, np.int64)
    for i in range(n):
        layer_forward(t_chip[i], s0, theta0, th, vh, buf_h)
        layer_forward(th, s1, theta1, to, vo, buf_o)
        decision[i] = chip_decision(to, vo)
        t_min = to.min()
        if t_min < NOT_FIRED:
            for k in range(n_cls):
                if to[k] == t_min:
                    earliest[i] |= np.int64(1) << k
    return decision, earliest


def predict(t_chip, s0, s1, theta0, theta1) -> np.ndarray:
    """The chip's decisions for every image (the integer forward pass of §6.1)."""
    return _decide(t_chip, s0, s1, theta0, theta1)[0]


def scores(net: Bs4nnNet, t_chip: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(chip, notebook) accuracy from one forward pass. The chip's: its decision (first
    output, lowest index on a tie; else the largest V). The notebook's test loop: the true
    class among the earliest outputs (a tie counts), else the largest V (the chip's final V;
    the notebook reads it at step T_max − 3) — the figure BS4NN's published accuracies
    are, and an upper bound on the chip's."""
    if net.w1.shape[1] > 63:
        raise ValueError("at most 63 classes (the earliest-output set is one int64)")
    decision, earliest = _decide(t_chip, *net.signs(), *net.thetas())
    labels = np.asarray(labels, np.int64)
    chip = decision == labels
    in_earliest = (earliest >> labels) & 1 == 1
    notebook = np.where(earliest != 0, in_earliest, chip)
    return float(chip.mean()), float(notebook.mean())


def to_description(net: Bs4nnNet, name: str, lanes: int = 64, fifo_depth: int = 64,
                   provenance: dict | None = None):
    """784-H-10 fc layers of ``ttfs`` neurons (psp = step), ±1 weights (or the twin's B-bit
    integers), θ = ⌊s·thr/f⌋, membranes wide enough for |V| ≤ fan-in·qmax (nothing
    saturates)."""
    from neurochip.description import CoreDescription, CoreMapping, Encoder, validate
    from neurochip.neurons.ttfs import TtfsNeuron
    from neurochip.train.arch import chip_layer

    layers, prev = [], "input"
    for j, (w, theta) in enumerate(zip(net.signs(), net.thetas())):
        n_in, n_out = w.shape
        bits = bits_for(max(int(n_in) * net.qmax, abs(int(theta))))
        lname = "out" if j == 1 else "hid"
        layers.append(chip_layer(
            {"type": "fc", "neurons": n_out}, lname, prev, (n_in,), (n_out,),
            CoreMapping(index=j, lanes=min(lanes, n_out), fifo_depth=fifo_depth),
            neuron=TtfsNeuron(psp="step"), weight=w.astype(np.int64),
            threshold=np.full(n_out, theta, np.int64), bias=np.zeros(0, np.int64),
            weight_bits=net.bits, membrane_bits=bits))
        prev = lname
    desc = CoreDescription(name=name, input_shape=(28, 28), encoder=Encoder("latency", 0),
                           time_steps=T_MAX, clock_hz=100e6, count_bits=1, layers=layers,
                           provenance=provenance or {})
    validate(desc)
    return desc

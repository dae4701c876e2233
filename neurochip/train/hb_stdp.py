"""``neurochip train hb-stdp``: ReStoCNet (Srinivasan & Roy, Front. Neurosci. 2019).

Layer-wise unsupervised probabilistic Hybrid-STDP on binary (±1) conv kernels
(:mod:`neurochip.train.hb_stdp_rule`), then an FC readout trained by back-propagation on
the pooled spike activity, quantized for the chip's ``fc`` output core. The design and
every default are ``../shared/design/seed-algorithms.md`` §1 (PROPOSALs) unless stated:

1. For each conv layer in turn (earlier layers frozen): ``--stdp-images`` training images,
   encoded by the chip's own encoder (§11, the description's seed, each image under its
   split index), run through the frozen layers by the simulator's functional path
   (:mod:`neurochip.train.chip_forward`: every spike the trainer sees is the chip's),
   train the layer with WTA + homeostasis + HB-STDP.
2. Calibrate that layer's per-channel inference threshold so that each channel fires in
   about ``--target-rate`` of its neuron-steps on ``--calib-images`` images (WTA off, as
   on the chip; channels are independent then, so a per-channel bisection is exact).
3. Features: the pool core's spike counts over the presentation (the low-pass filter of
   P-R8 taken as the plain count, which is exactly what the fc core integrates).
4. Optional hidden layer (``--hidden H``): a one-hidden-layer perceptron on the counts
   whose hidden activation is the IF neuron's count, clamp(⌊z⌋, 0, T), trained through a
   straight-through estimator; its first layer is quantized to an int8 ``fc`` core of H
   IF neurons, and the hidden spike trains the chip will produce (the simulator's)
   replace the pool's as the readout's input.
5. Readout: softmax regression (torch, Adam, cross-entropy) on the counts; quantized to
   int8 weights, a per-step bias, and a threshold and common bias offset chosen by the
   exact chip forward of the fc core on training images (the chip decides by output
   spike counts, at most one spike per class and step).

Readout training may add ``--augment-copies`` shifted copies of each of its images (their
pool spikes by the same chip forward), and may hold the last ``--validation-images``
training images out of it to choose hyper-parameters without the test split. The
common options (``--epochs``, ``--lr`` and ``--batch-size`` are the readout's) and the split
are the trainer shell's (:mod:`neurochip.train.shell`).

The run is reproducible bit for bit from ``--seed`` (LFSR streams per layer; torch's
generator for the readout, with ``--threads 1``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

import numpy as np

from neurochip.sim.simulator import encode_images
from neurochip.train import chip_forward as cf
from neurochip.train import hb_stdp_rule as rule
from neurochip.train.augment import shifted
from neurochip.train.restoc_net import (HIDDEN_LANES, Topology, build, conv_layers, fc_layer,
                                        fc_membrane_bits)
from neurochip.train.widths import saturating_bits
from neurochip.train.shell import Data, command_line, lr_values, out_paths, out_prefix, split_fingerprint


def _int_list(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers")
    if not vals:
        raise argparse.ArgumentTypeError("empty list")
    return vals


class _Switch(argparse.BooleanOptionalAction):
    """``--X`` / ``--no-X`` given at most one way: ``--residual --no-residual`` is refused
    (the last one used to win silently). The default is None, read as on."""

    def __call__(self, parser, namespace, values, option_string=None):
        value = not option_string.startswith("--no-")
        if getattr(namespace, self.dest) not in (None, value):
            raise argparse.ArgumentError(self, f"given both {self.option_strings[0]} and "
                                               f"{self.option_strings[1]}; pass one")
        setattr(namespace, self.dest, value)


def _add_own_arguments(p) -> None:
    """hb-stdp's own options (every default documented in --help; the common ones, the
    readout's --epochs --lr --batch-size among them, are the shell's)."""
    a = p.add_argument
    a("--channels", type=int, default=16, help="channels of every conv layer (default: %(default)s)")
    a("--kernels", type=_int_list, default=(5, 3, 3), help="kernel size of each conv layer, odd, same padding (default: 5,3,3)")
    a("--residual", action=_Switch, default=None, help="identity shortcut conv(L-2) → add core after convL (default: on)")
    a("--res-theta", type=int, default=0, help="threshold of the add core: 0 fires if either path spiked, 1 if both (default: %(default)s)")
    a("--time-steps", type=int, default=16, help="presentation T in steps (default: %(default)s)")
    a("--encoder", choices=("bernoulli_lfsr", "rate_deterministic"), default="bernoulli_lfsr", help="the chip's input encoder (§11) (default: %(default)s)")
    a("--encoder-seed", type=int, default=1, help="seed of the chip's Bernoulli LFSR input encoder (default: %(default)s)")
    a("--leak-shift", type=int, default=5, help="conv LIF leak v -= v >> K (default: %(default)s, tau ~ 32 steps)")
    a("--membrane-bits", type=int, default=12, help="conv membrane bits, saturating (default: %(default)s)")
    a("--stdp-images", type=int, default=2000, help="training images per conv layer and epoch for HB-STDP (default: %(default)s)")
    a("--stdp-epochs", type=int, default=1, help="HB-STDP passes per layer (default: %(default)s)")
    a("--train-theta", type=_int_list, default=(8,), help="base threshold during STDP training, one value or one per layer (default: 8)")
    a("--t-win", type=int, default=8, help="LTP window in steps, 0..15 (default: %(default)s)")
    a("--tau-pot", type=float, default=4.0, help="LTP probability halves every TAU steps (default: %(default)s)")
    a("--eta-pot", type=float, default=0.1, help="LTP probability at dt = 0 (default: %(default)s)")
    a("--eta-dep", type=float, default=0.02, help="LTD probability (pre silent or outside the window) (default: %(default)s)")
    a("--init-density", type=float, default=0.5, help="probability of +1 in the initial kernels (default: %(default)s)")
    a("--homeo-inc", type=int, default=1, help="a_h: adaptive threshold increment per step in which the map fired (default: %(default)s)")
    a("--homeo-shift", type=int, default=7, help="k_h: adaptive threshold decays by >> K per step (default: %(default)s)")
    a("--target-rate", type=float, default=0.1, help="inference calibration: spikes per neuron-step of each channel (default: %(default)s)")
    a("--calib-images", type=int, default=200, help="images for the threshold calibration (default: %(default)s)")
    a("--readout-decay", type=float, default=1e-4, help="readout weight decay (default: %(default)s)")
    a("--readout-search-images", type=int, default=2000, help="training images on which the chip readout's threshold is chosen (default: %(default)s)")
    a("--hidden", type=int, default=0, help="IF neurons of a hidden fc core between pool and readout; 0: none (default: %(default)s)")
    a("--hidden-epochs", type=int, default=30, help="epochs of the hidden layer's straight-through training (default: %(default)s)")
    a("--hidden-lr", type=float, default=1e-3, help="its Adam learning rate, cosine-annealed (default: %(default)s)")
    a("--hidden-decay", type=float, default=1e-4, help="its weight decay (default: %(default)s)")
    a("--hidden-threshold", type=float, default=0.5, help="F: hidden threshold = F·T·s for int8 scale s, i.e. one spike per F units of the trained activation (default: %(default)s)")
    a("--augment-copies", type=int, default=0, help="shifted copies of each readout training image added to the readout's training set (default: %(default)s)")
    a("--augment-shift", type=int, default=2, help="largest shift in pixels of those copies, each axis uniform in ±S (default: %(default)s)")
    a("--no-progress", action="store_true", help="no progress bars")
    a("--json", action="store_true", help="print the summary as JSON on stdout")


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", leave=False, disable=not enabled,
                file=sys.stderr)


def topology(args: argparse.Namespace) -> Topology:
    top = Topology(channels=args.channels, kernels=tuple(args.kernels), residual=args.residual,
                   res_theta=args.res_theta, time_steps=args.time_steps,
                   leak_shift=args.leak_shift, membrane_bits=args.membrane_bits,
                   encoder=args.encoder, encoder_seed=args.encoder_seed, lanes=args.channels,
                   hidden=args.hidden)
    top.check()
    return top


def _check_args(args: argparse.Namespace) -> None:
    if args.residual is None:
        args.residual = True
    if not 0 <= args.t_win < rule.LUT_SIZE:
        raise ValueError(f"--t-win {args.t_win}: use 0..{rule.LUT_SIZE - 1}")
    for name in ("eta_pot", "eta_dep", "init_density", "target_rate"):
        v = getattr(args, name)
        if not (0.0 <= v <= 1.0):
            raise ValueError(f"--{name.replace('_', '-')} {v}: use a probability 0..1")
    if len(args.train_theta) not in (1, len(args.kernels)):
        raise ValueError("--train-theta: give one value or one per conv layer")
    for name in ("stdp_images", "calib_images", "epochs", "time_steps",
                 "channels", "stdp_epochs", "homeo_shift", "readout_search_images"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("hidden", "augment_copies", "augment_shift"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0")
    if not (args.hidden_lr > 0 and args.hidden_decay >= 0 and args.hidden_threshold > 0
            and args.hidden_epochs >= 1):
        raise ValueError("--hidden-lr, --hidden-threshold must be > 0, --hidden-decay >= 0, "
                         "--hidden-epochs >= 1")
    if args.augment_shift > 13:
        raise ValueError(f"--augment-shift {args.augment_shift}: use 0 … 13 pixels")
    if args.res_theta not in (0, 1):
        raise ValueError(f"--res-theta {args.res_theta}: use 0 (either path) or 1 (both paths)")
    hi = (1 << (args.membrane_bits - 1)) - 1 if 2 <= args.membrane_bits <= 32 else 0
    if any(not 0 <= t <= hi for t in args.train_theta):
        raise ValueError(f"--train-theta {args.train_theta}: use 0 … {hi} (membrane range)")
    args.lr = lr_values(args, None)[0]
    if not (args.readout_decay >= 0 and args.tau_pot > 0):
        raise ValueError("--tau-pot must be > 0, --readout-decay >= 0")


class LayerwiseStdp:
    """State of one run: topology, kernels, thresholds and the data."""

    def __init__(self, top: Topology, args: argparse.Namespace, train: tuple, progress: bool):
        self.top, self.args, self.progress = top, args, progress
        self.images, self.labels = train
        self.kernels: list[np.ndarray] = []
        self.thetas: list[np.ndarray] = []
        self.stats: list[dict] = []

    def _partial(self):
        """The description of the layers trained so far (for the forward pass)."""
        from dataclasses import replace

        top = replace(self.top, kernels=self.top.kernels[:len(self.kernels)])
        from neurochip.description.model import CoreDescription, Encoder

        return CoreDescription(name="partial", input_shape=top.input_shape,
                               encoder=Encoder(top.encoder, top.encoder_seed),
                               time_steps=top.time_steps, clock_hz=top.clock_hz,
                               count_bits=8, layers=conv_layers(top, self.kernels, self.thetas))

    def layer_input(self, idx: np.ndarray) -> np.ndarray:
        """Input spikes (n, T, P) of the next conv layer for training images ``idx``."""
        desc = self._partial()
        if not self.kernels:
            return encode_images(desc, self.images[idx], idx)
        return cf.layer_trains(desc, self.images[idx], idx, desc.layers[-1].name)

    def train_layer(self, i: int) -> None:
        top, args = self.top, self.args
        k = top.kernels[i]
        c_in = top.conv_in_channels(i)
        h, w = top.input_shape
        state = rule.lfsr_state(args.seed, i)
        weight = np.zeros((c_in * k * k, top.channels), np.int64)
        rule.random_kernel(weight, int(round(args.init_density * 65536)), state)
        initial = weight.copy()
        theta = np.full(top.channels, args.train_theta[min(i, len(args.train_theta) - 1)],
                        np.int64)
        theta_h = np.zeros(top.channels, np.int64)
        lut = rule.potentiation_lut(args.eta_pot, args.tau_pot, args.t_win)
        p_dep = int(round(args.eta_dep * 65536))
        lo, hi = -(1 << (top.membrane_bits - 1)), (1 << (top.membrane_bits - 1)) - 1
        m = np.zeros(h * w * top.channels, np.int64)
        last_pre = np.zeros(h * w * c_in, np.int64)
        n = min(args.stdp_images, len(self.images))
        updates = flips = 0
        chunk = 50
        bar = _bar(n * args.stdp_epochs, f"HB-STDP conv{i + 1}", self.progress)
        for _ in range(args.stdp_epochs):
            for start in range(0, n, chunk):
                idx = np.arange(start, min(n, start + chunk))
                spikes = self.layer_input(idx)
                for s in spikes:
                    u, f = rule.train_image(s, weight, h, w, c_in, k, k, k // 2, h, w, theta,
                                            theta_h, lo, hi, top.leak_shift, lut, args.t_win,
                                            p_dep, args.homeo_inc, args.homeo_shift, state, m,
                                            last_pre)
                    updates += u
                    flips += f
                bar.update(len(idx))
        bar.close()
        calib_inputs = self.layer_input(np.arange(min(args.calib_images, len(self.images))))
        self.kernels.append(weight)
        self.thetas.append(np.zeros(top.channels, np.int64))
        calib = self.calibrate(calib_inputs)
        self.thetas[-1] = calib
        self.stats.append({"layer": f"conv{i + 1}", "kernel_updates": int(updates),
                           "element_flips": int(flips),
                           "changed_from_init": int(np.count_nonzero(weight != initial)),
                           "density_plus1": float(np.mean(weight > 0)),
                           "final_theta_h": theta_h.tolist(), "inference_theta": calib.tolist(),
                           "lfsr_state_end": int(state[0])})

    def calibrate(self, inputs: np.ndarray) -> np.ndarray:
        """Per-channel inference threshold of the last layer trained, given its input
        spikes (n, T, P): the smallest θ ≥ 0 with a rate ≤ ``--target-rate``."""
        top, args = self.top, self.args
        lay = self._partial().layers[-1]
        hi_b = (1 << (top.membrane_bits - 1)) - 1
        lo_t = np.zeros(top.channels, np.int64)  # rate(lo_t - 1) > target known or lo_t = 0
        hi_t = np.full(top.channels, hi_b, np.int64)
        target = args.target_rate
        while np.any(lo_t < hi_t):
            mid = (lo_t + hi_t) // 2
            rate = self._rates(lay, inputs, mid)
            ok = rate <= target
            hi_t = np.where(ok, mid, hi_t)
            lo_t = np.where(ok, lo_t, mid + 1)
        return hi_t

    def _rates(self, lay, inputs: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Spikes per neuron-step of each channel of conv layer ``lay`` under thresholds
        ``theta`` on its input spikes (n, T, P): the chip's own trains."""
        from dataclasses import replace

        h, w, _ = lay.geometry["in_shape"]
        spikes = cf.run_layer(replace(lay, threshold=theta.astype(np.int64)),
                              lay.geometry["in_shape"], inputs)
        counts = spikes.reshape(-1, self.top.channels).sum(axis=0, dtype=np.int64)
        return counts / (len(inputs) * self.top.time_steps * h * w)


def features(desc, images: np.ndarray, idx: np.ndarray, progress: bool, what: str
             ) -> np.ndarray:
    """Pool spike trains (n, T, F) uint8 of ``images`` under split indices ``idx``."""
    out = np.zeros((len(idx), desc.time_steps, desc.layers[-1].neurons), np.uint8)
    bar = _bar(len(idx), f"features {what}", progress)
    for start in range(0, len(idx), cf.CHUNK):  # one simulator call a progress step
        sl = slice(start, min(len(idx), start + cf.CHUNK))
        out[sl] = cf.layer_trains(desc, images[sl], idx[sl], "pool")
        bar.update(sl.stop - sl.start)
    bar.close()
    return out


def _fit(forward, opt, xt, yt, epochs: int, batch: int, gen, sched=None) -> None:
    """Cross-entropy minibatch training (batches of ``batch`` in an order drawn from ``gen``,
    so a seed reproduces the run); ``sched`` steps once per epoch."""
    import torch

    n = len(xt)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):
            b = perm[start:start + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(forward(xt[b]), yt[b]).backward()
            opt.step()
        if sched is not None:
            sched.step()


def train_readout(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, classes: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression on spike counts: (W (F, classes), b (classes,)) float64."""
    import torch

    gen = torch.Generator().manual_seed(args.seed)
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.int64)
    lin = torch.nn.Linear(x.shape[1], classes)
    with torch.no_grad():
        lin.weight.copy_((torch.rand(lin.weight.shape, generator=gen) - 0.5) * 0.01)
        lin.bias.zero_()
    opt = torch.optim.Adam(lin.parameters(), lr=args.lr, weight_decay=args.readout_decay)
    _fit(lin, opt, xt, yt, args.epochs, args.batch_size, gen)
    return (lin.weight.detach().double().numpy().T.copy(),
            lin.bias.detach().double().numpy().copy())


def fc_trains(spikes: np.ndarray, weight: np.ndarray, theta: np.ndarray, bias: np.ndarray,
              bits: int) -> np.ndarray:
    """Output spike trains (n, T, N) uint8 of the chip's fc core (§5.1, §6) of ``bits``-bit
    membranes on input trains (n, T, F): IF neurons, subtract reset, no leak, per-neuron θ
    and bias (the simulator's, the core alone on those trains)."""
    from dataclasses import replace

    lay = fc_layer("fc", "input", weight, theta, bias, spikes.shape[1], 0, HIDDEN_LANES, 64)
    return cf.run_layer(replace(lay, membrane_bits=bits), (spikes.shape[2],), spikes)


def fc_counts(spikes: np.ndarray, weight: np.ndarray, theta: int | np.ndarray,
              bias: np.ndarray, bits: int) -> np.ndarray:
    """Output spike counts (n, classes) of the chip's fc core (§5.1, §6) on input trains."""
    return fc_trains(spikes, weight, theta, bias, bits).sum(axis=1, dtype=np.int64)


def train_hidden(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, classes: int,
                 T: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hidden-layer perceptron on counts/T; hidden activation clamp(⌊z⌋, 0, T) (the IF
    count) with a straight-through gradient. Returns the hidden layer (W (F, H), b (H,))."""
    import torch

    gen = torch.Generator().manual_seed(args.seed)
    xt = torch.tensor(x, dtype=torch.float32) / T
    yt = torch.tensor(y, dtype=torch.int64)
    l1 = torch.nn.Linear(x.shape[1], args.hidden)
    l2 = torch.nn.Linear(args.hidden, classes)
    with torch.no_grad():  # PyTorch's default ranges, drawn from the seeded generator
        for lin in (l1, l2):
            r = 1.0 / np.sqrt(lin.in_features)
            lin.weight.copy_((torch.rand(lin.weight.shape, generator=gen) * 2 - 1) * r)
            lin.bias.copy_((torch.rand(lin.bias.shape, generator=gen) * 2 - 1) * r)
    params = [*l1.parameters(), *l2.parameters()]
    opt = torch.optim.Adam(params, lr=args.hidden_lr, weight_decay=args.hidden_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.hidden_epochs)

    def forward(xb):
        z = torch.clamp(l1(xb), 0, T)
        return l2(z + (torch.floor(z) - z).detach())

    _fit(forward, opt, xt, yt, args.hidden_epochs, args.batch_size, gen, sched)
    return (l1.weight.detach().double().numpy().T.copy(),
            l1.bias.detach().double().numpy().copy())


def quantize_hidden(w: np.ndarray, b: np.ndarray, T: int, frac: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int8 W·s (s = 127/max|W|), per-step bias b·s, θ = F·T·s: over T steps the neuron
    integrates s·(W·counts + T·b) = s·T·z and so fires about z/F times."""
    s = 127.0 / max(1e-12, float(np.max(np.abs(w))))
    wq = np.clip(np.rint(w * s), -127, 127).astype(np.int64)
    theta = np.full(w.shape[1], max(1, int(round(frac * T * s))), np.int64)
    return wq, theta, np.rint(b * s).astype(np.int64)


def chip_predict(counts: np.ndarray) -> np.ndarray:
    """Largest count, ties to the lowest class (§6)."""
    return np.argmax(counts, axis=1)


def quantize_readout(w: np.ndarray, b: np.ndarray, spikes: np.ndarray, labels: np.ndarray,
                     T: int) -> tuple[np.ndarray, int, np.ndarray, dict]:
    """int8 weights, threshold and per-step bias chosen by chip accuracy on ``spikes``.

    Logits z = W·counts + b scale to z·s with s = 127 / max|W|; the per-step bias is
    b·s/T − δ. A common offset δ (it does not change the float argmax) keeps the losing
    classes below threshold, and θ sets how many of the T steps the winner can use:
    both are picked on the grid below by the exact fc-core forward."""
    s = 127.0 / max(1e-12, float(np.max(np.abs(w))))
    wq = np.clip(np.rint(w * s), -127, 127).astype(np.int64)
    z = spikes.sum(axis=1).astype(np.float64) @ wq + np.rint(b * s / T) * T
    zs = np.sort(z, axis=1)
    best = None
    for q_second in (None, 25, 50, 75):
        delta = 0.0 if q_second is None else float(np.percentile(zs[:, -2], q_second)) / T
        top_margin = float(np.percentile(zs[:, -1] - delta * T, 90))
        for frac in (0.5, 0.75, 1.0, 1.5):
            theta = max(1, int(round(top_margin / (T * frac))))
            bias = np.rint(b * s / T - delta).astype(np.int64)
            bound = theta + T * int(np.max(np.abs(wq).sum(axis=0) + np.abs(bias)))
            bits = saturating_bits(bound)
            acc = float(np.mean(chip_predict(fc_counts(spikes, wq, theta, bias, bits)) == labels))
            if best is None or acc > best[0]:
                best = (acc, theta, bias, {"scale": s, "delta_per_step": delta,
                                           "theta": theta, "search_accuracy": acc})
    _, theta, bias, info = best
    return wq, theta, bias, info


class HbStdp:
    """``neurochip train hb-stdp``: its own options and the rule; the rest is the shell's."""

    name = "hb-stdp"
    help = ("Srinivasan & Roy 2019 (ReStoCNet): binary conv kernels by layer-wise unsupervised "
            "Hybrid-STDP, residual add, average-pool-IF, FC readout by back-propagation")
    needs_torch = True  # the readout; checked before the STDP

    def add_arguments(self, parser) -> None:
        _add_own_arguments(parser)

    def check(self, args: argparse.Namespace) -> None:
        if args.arch != "fixed":
            raise ValueError(f"--arch {args.arch}: hb-stdp's topology is fixed; set it with "
                             "--channels, --kernels, --residual and --hidden")
        _check_args(args)
        args.topology = topology(args)

    def train(self, args: argparse.Namespace, data: Data) -> int:
        return train(args, data)


TRAINER = HbStdp()


def train(args: argparse.Namespace, data: Data) -> int:
    """STDP, features, readout and the chip description on the shell's split."""
    from neurochip.description.io import save

    top = args.topology
    tr_x = np.concatenate([data.train_x, data.validation_x])
    tr_y = np.concatenate([data.train_y, data.validation_y])
    te_x, te_y = data.test_x, data.test_y
    n_tr, n_te = len(tr_x), len(te_x)
    progress = not args.no_progress
    t0 = time.time()
    trainer = LayerwiseStdp(top, args, (tr_x, tr_y), progress)
    for i in range(len(top.kernels)):
        trainer.train_layer(i)
    t_stdp = time.time() - t0
    feat_desc = build(top, trainer.kernels, trainer.thetas, None, "features")
    tr_idx, te_idx = np.arange(n_tr), np.arange(n_te)
    n_val = len(data.validation_x)
    n_fit = n_tr - n_val
    f_tr = features(feat_desc, tr_x, tr_idx, progress, "train")
    f_te = features(feat_desc, te_x, te_idx, progress, "test")
    f_val, f_tr = f_tr[n_fit:], f_tr[:n_fit]
    y_fit, y_val, y_te = tr_y[:n_fit], tr_y[n_fit:n_tr], te_y[:n_te]
    rng = np.random.default_rng(args.seed)
    copies = [features(feat_desc, shifted(tr_x[:n_fit], args.augment_shift, rng),
                       tr_idx[:n_fit], progress, f"shifted copy {c + 1}")
              for c in range(args.augment_copies)]
    x_fit = np.concatenate([f_tr, *copies]) if copies else f_tr
    y_all = np.concatenate([y_fit] * (1 + len(copies)))
    del copies
    t_feat = time.time() - t0 - t_stdp
    hidden, hinfo = None, {}
    if args.hidden:
        w1, b1 = train_hidden(x_fit.sum(axis=1).astype(np.float32), y_all, args, top.classes,
                              top.time_steps)
        hidden = quantize_hidden(w1, b1, top.time_steps, args.hidden_threshold)
        bits = fc_membrane_bits(*hidden, top.time_steps)
        x_fit, f_val, f_te = (fc_trains(x, *hidden, bits) for x in (x_fit, f_val, f_te))
        hinfo = {"theta": int(hidden[1][0]), "spikes_per_neuron_step": float(x_fit.mean())}
    w, b = train_readout(x_fit.sum(axis=1).astype(np.float32), y_all, args, top.classes)
    float_tr = float(np.mean(np.argmax(x_fit[:n_fit].sum(axis=1) @ w + b, axis=1) == y_fit))
    float_te_pred = np.argmax(f_te.sum(axis=1) @ w + b, axis=1)
    n_search = min(args.readout_search_images, n_fit)
    wq, theta, bias, qinfo = quantize_readout(w, b, x_fit[:n_search], y_fit[:n_search],
                                              top.time_steps)
    if hinfo:
        qinfo["hidden"] = hinfo
    t_total = time.time() - t0
    prov = {"trainer": "neurochip.train.hb_stdp (ReStoCNet, HB-STDP)", "checkpoint": {
        "command": command_line("hb-stdp"),
        "args": {k: (list(v) if isinstance(v, tuple) else v)
                 for k, v in vars(args).items() if k not in ("func", "topology")},
        "topology": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in asdict(top).items()},
        "random": {"stdp": "32-bit Galois LFSR 0x80200003 per layer, state "
                           "(seed*0x9E3779B1 + (layer+1)*0x85EBCA77) mod 2^32; 16 steps per draw",
                   "readout": f"torch.Generator().manual_seed({args.seed}) (hidden layer and "
                              "readout, each its own generator)",
                   "augment": f"numpy.random.default_rng({args.seed}).integers(-S, S + 1, "
                              "(n, 2)) per copy, (dy, dx) per image",
                   "encoder": f"{top.encoder} seed {top.encoder_seed} (§11)"},
        **data.provenance(), "train_fingerprint": split_fingerprint(tr_x, tr_y),
        "test_fingerprint": split_fingerprint(te_x, te_y),
        "layers": trainer.stats, "readout": qinfo,
        "float_train_accuracy": float_tr,
        "wall_seconds": {"stdp": round(t_stdp, 1), "features": round(t_feat, 1),
                         "total": round(t_total, 1)}}}
    model_path, _ = out_paths(args)
    desc = build(top, trainer.kernels, trainer.thetas, (wq, np.int64(theta), bias),
                 out_prefix(args).name, prov, hidden)
    from neurochip.description.rules import validate

    validate(desc, str(model_path))
    out_layer = desc.layers[-1]
    chip_te = chip_predict(fc_counts(f_te, wq, theta, bias, out_layer.membrane_bits))
    summary = {"out": str(model_path), "float_test_accuracy": float(np.mean(float_te_pred == y_te)),
               "chip_test_accuracy": float(np.mean(chip_te == y_te)),
               "float_chip_agreement": float(np.mean(chip_te == float_te_pred)),
               "test_images": n_te, "float_train_accuracy": float_tr,
               "wall_seconds": round(t_total, 1), "layers": [
                   {k: s[k] for k in ("layer", "kernel_updates", "changed_from_init",
                                      "density_plus1")} for s in trainer.stats]}
    if n_val:
        summary["float_validation_accuracy"] = float(np.mean(
            np.argmax(f_val.sum(axis=1) @ w + b, axis=1) == y_val))
        summary["chip_validation_accuracy"] = float(np.mean(chip_predict(fc_counts(
            f_val, wq, theta, bias, out_layer.membrane_bits)) == y_val))
        summary["validation_images"] = n_val
        desc.provenance["checkpoint"]["trainer_validation"] = {k: summary[k] for k in (
            "float_validation_accuracy", "chip_validation_accuracy", "validation_images")}
    desc.provenance["checkpoint"]["trainer_test"] = {k: summary[k] for k in (
        "float_test_accuracy", "chip_test_accuracy", "float_chip_agreement", "test_images")}
    model_path.parent.mkdir(parents=True, exist_ok=True)
    save(desc, model_path)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {model_path}: test accuracy chip {summary['chip_test_accuracy']:.4f}, "
              f"float {summary['float_test_accuracy']:.4f}, agreement "
              f"{summary['float_chip_agreement']:.4f} on {n_te} images; {t_total:.0f} s")
    return 0

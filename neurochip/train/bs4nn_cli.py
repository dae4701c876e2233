"""`neurochip train bs4nn`: the BS4NN procedure (``neurochip.train.bs4nn``) on MNIST-format
data, with a held-out validation split (the shell's ``--validation-images``, 1000 by
default here), a resumable checkpoint and the chip description.

Writes ``OUT.ckpt.npz`` (real shadow weights, threshold scales, the RNG state, the
per-epoch history and the options) after every epoch, and ``OUT.npz`` (the core
description of the epoch with the best held-out accuracy, or with
``--select-train-images N`` the best on the held-out and the first N training images
together) at the end. ``--resume`` goes
on from a checkpoint for more epochs, bit for bit as an uninterrupted run."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from neurochip.train import bs4nn_conv_cli
from neurochip.train.arch import ArchError, parse_arch
from neurochip.train.augment import shifted
from neurochip.train.checkpoint import CheckpointFileError, read_checkpoint, write_checkpoint
from neurochip.train.shell import Data, TrainerError, command_line, lr_values, out_paths, out_prefix

CHECKPOINT_FORMAT = "neurochip-bs4nn-checkpoint"
DEFAULTS = dict(thr="100,100", fact="5,5", lr_fact="0.01,0.01", init_high="5,48",
                init_low="0,0", lr_decay=1.0, silent_target="none", gamma=1, draws=0,
                lanes=64, fifo_depth=64, weight_bits=1, weight_clip="", dead_reset=0.0,
                weight_bound="", average=0.0, record_test=False, augment_shift=0,
                select_train_images=0)
# a hidden neuron firing on fewer than this fraction of an epoch's draws is counted in the
# history's hidden_rarely_firing (S4NN's code resets below it; --dead-reset sets the reset's)
RARELY_FIRING = 0.001
# recorded in the checkpoint and the model's provenance: the options that shape the run
RECORDED = (*DEFAULTS, "notebook_weights", "start_from", "arch", "lr", "epochs",
            "validation_images", "test_images", "seed")


def _add_own_arguments(p) -> None:
    d = DEFAULTS
    p.add_argument("--thr", default=d["thr"], help="thresholds before scaling, per layer "
                   "(default 100,100 as the notebook)")
    p.add_argument("--fact", default=d["fact"], help="initial threshold scales f, θ = thr/f "
                   "(default 5,5 as the notebook; the Fashion-MNIST values are not published)")
    p.add_argument("--lr-fact", default=d["lr_fact"], help="threshold-scale learning rates "
                   "(default 0.01,0.01)")
    p.add_argument("--init-high", default=d["init_high"], help="weights start uniform in "
                   "[0, high) per layer (default 5,48)")
    p.add_argument("--init-low", default=d["init_low"], help="the low ends: weights start "
                   "uniform in [low, high) per layer (the notebook's a; default 0,0)")
    p.add_argument("--lr-decay", type=float, default=d["lr_decay"], help="epoch e trains with "
                   "the rates × DECAY^e, threshold scales' too (ours; default 1: the notebook's "
                   "constant rates)")
    p.add_argument("--silent-target", choices=("none", "s4nn"), default=d["silent_target"],
                   help="when no output fires: no error (none, BS4NN's notebook) or the true "
                   "class pulled to T_max − γ (s4nn, S4NN's code); default none")
    p.add_argument("--gamma", type=int, default=d["gamma"], help="output target margin in "
                   "steps (default 1)")
    p.add_argument("--dead-reset", type=float, default=d["dead_reset"], metavar="FRACTION",
                   help="after each epoch, give new initial weights to every hidden neuron that "
                   "fired on fewer than FRACTION of the epoch's draws (S4NN's code: 0.001; not in "
                   "BS4NN's notebook, so default 0: off); in the convolutional mode (ours), to "
                   "every conv channel firing at fewer than FRACTION of its positions over the "
                   "first 1,000 of the epoch's draws")
    p.add_argument("--draws", type=int, default=d["draws"], help="samples drawn with "
                   "replacement per epoch (default 0: as many as training images)")
    p.add_argument("--notebook-weights", metavar="DIR", help="start from the real weights the "
                   "BS4NN notebook saved in DIR (W0_binary.npy, W1_binary.npy; give its final "
                   "scales with --fact); with --epochs 0 this only describes that network")
    p.add_argument("--start-from", metavar="CKPT", help="start from the real weights of the "
                   "epoch an earlier bs4nn run chose (its OUT.ckpt.npz), with this run's "
                   "--fact, --weight-bits and rates: a new run (its own epochs and generator), "
                   "e.g. the multi-bit twin trained on from the binary network")
    p.add_argument("--resume", metavar="CKPT", help="go on from OUT.ckpt.npz of an earlier run; "
                   "--epochs counts its epochs too")
    p.add_argument("--weight-bits", type=int, default=d["weight_bits"], help="chip weight bits: 1 "
                   "= BS4NN's ±1 signs (default); 2..8 = the multi-bit twin (ours): the same rule "
                   "on the real weights, the forward pass with ⌊w·s + ½⌋ clipped to ±(2^(B−1)−1), "
                   "s = (2^(B−1)−1)/clip, θ = ⌊s·thr/f⌋")
    p.add_argument("--weight-clip", default=d["weight_clip"], help="the twin's real weight range "
                   "per layer, ±clip ↦ ±(2^(B−1)−1) (default: --init-high)")
    p.add_argument("--weight-bound", default=d["weight_bound"], metavar="B0,B1",
                   help="hold every real weight within ±B per layer after each update (ours, as "
                   "BinaryConnect clips; default: unbounded, as the notebook). For the twin, "
                   "its --weight-clip keeps the real weights in the range the chip can express")
    p.add_argument("--average", type=float, default=d["average"], metavar="D",
                   help="judge and keep, after each epoch, the running average of the real "
                   "weights and scales instead of the weights themselves: avg ← D·avg + "
                   "(1 − D)·w, from the first epoch's (ours; default 0: the weights, as the "
                   "notebook). Training goes on from the weights; signs that flip back and "
                   "forth between epochs settle in the average")
    p.add_argument("--record-test", action="store_true", help="also score the test split after "
                   "every epoch and record it in the history (test, test_notebook_scoring), to "
                   "compare with the notebook's protocol, which reports the best test accuracy "
                   "over the epochs; nothing is chosen on it (the shipped epoch is still the best "
                   "held-out one). Training is unchanged")
    p.add_argument("--augment-shift", type=int, default=d["augment_shift"], metavar="S",
                   help="train each epoch on its drawn images moved by (dy, dx) uniform in ±S "
                   "pixels, zero-filled, from the run's generator (ours, as ste-bp and hb-stdp "
                   "augment; not in the BS4NN notebook; default 0: off). The held-out and test "
                   "images are never moved")
    p.add_argument("--select-train-images", type=int, default=d["select_train_images"],
                   metavar="N", help="choose the epoch to keep on the held-out images and the "
                   "first N training images together (their count of right answers on the "
                   "chip's forward pass), not on the held-out images alone (ours; default 0: "
                   "the held-out images, as before). A larger sample for the choice, where the "
                   "held-out images are too few to tell close epochs apart; the training "
                   "images in it were trained on, so its score runs above the test split's. "
                   "Training is unchanged; nothing is chosen on the test split")
    p.add_argument("--lanes", type=int, default=d["lanes"], help="(default 64)")
    p.add_argument("--fifo-depth", type=int, default=d["fifo_depth"], help="(default 64)")


def per_layer(text: str, name: str, n: int, positive: bool | None) -> tuple[float, ...]:
    """``n`` finite numbers, one per weighted layer; ``positive``: each > 0 (True), ≥ 0
    (False), any (None). Anything else is one ValueError naming ``--name``."""
    try:
        vals = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--{name} {text!r}: give {n} numbers, one per weighted layer") from None
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"--{name} {text!r}: give {n} finite numbers, one per weighted layer")
    if positive and min(vals) <= 0:
        raise ValueError(f"--{name} {text!r}: each value must be > 0")
    if positive is False and min(vals) < 0:
        raise ValueError(f"--{name} {text!r}: each value must be >= 0")
    return vals


def _pair(text: str, name: str, positive: bool | None) -> tuple[float, float]:
    """The fc network's two layers' values (:func:`per_layer` with n = 2)."""
    return per_layer(text, name, 2, positive)


def init_range(args: argparse.Namespace, n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``--init-low`` and ``--init-high``, one per weighted layer, each low below its high."""
    low, high = per_layer(args.init_low, "init-low", n, None), per_layer(args.init_high,
                                                                        "init-high", n, True)
    if not all(a < b for a, b in zip(low, high)):
        raise ValueError(f"--init-low {args.init_low}: each low end must be below its "
                         f"--init-high ({args.init_high})")
    return low, high


def check_shared(args: argparse.Namespace) -> None:
    """The options both modes (fc and convolutional) read the same way."""
    if args.batch_size != 1:
        raise TrainerError(f"--batch-size {args.batch_size}: bs4nn trains per sample (SGD as "
                           "the BS4NN code); leave it out or give 1")
    if args.gamma < 0:
        raise ValueError("--gamma must be >= 0")
    if not 0 < args.lr_decay <= 1:
        raise ValueError("--lr-decay must be in (0, 1]")
    if args.draws < 0:
        raise ValueError("--draws must be >= 0")
    if not 0 <= args.dead_reset <= 1:
        raise ValueError("--dead-reset must be in [0, 1]")
    if not 0 <= args.augment_shift <= 13:
        raise ValueError(f"--augment-shift {args.augment_shift}: use 0 … 13 pixels")
    if args.select_train_images < 0:
        raise ValueError(f"--select-train-images {args.select_train_images}: give 0 (the "
                         "held-out images alone) or more training images")
    if not 1 <= args.weight_bits <= 8:
        raise ValueError(f"--weight-bits {args.weight_bits}: give 1 (±1) to 8")
    if not 1 <= args.lanes <= 256 or not 1 <= args.fifo_depth <= 65536:
        raise ValueError("--lanes must be in 1..256 and --fifo-depth in 1..65536")


def _hidden(text: str) -> int:
    """The hidden layer's size: BS4NN's network is one fully connected hidden layer."""
    try:
        arch = parse_arch(text)
    except ArchError as exc:
        raise TrainerError(str(exc)) from None
    if len(arch) != 1 or arch[0]["type"] != "fc":
        raise TrainerError(f"--arch {text!r}: bs4nn trains one fully connected hidden layer "
                           "(give its size, e.g. --arch 600) or a convolutional network of "
                           "size-keeping convolutions and pools (e.g. 16c5p2,p2,32c5p2,p2)")
    return arch[0]["neurons"]


def _choice_score(rec: dict) -> float:
    """What an epoch is chosen on: ``selection`` (held-out and training images together,
    ``--select-train-images``) where the run recorded it, else the held-out accuracy."""
    return rec.get("selection", rec["validation"])


def _save_checkpoint(path: Path, net, best, rng_state: dict, options: dict, avg=None) -> None:
    """The current weights (to go on from), the best epoch's (to describe) and, with
    ``--average``, the running average (to go on averaging)."""
    meta = {"format": CHECKPOINT_FORMAT, "version": 1, "options": options,
            "history": net.history, "rng": rng_state}
    extra = {} if avg is None else {"avg_w0": avg.w0, "avg_w1": avg.w1, "avg_fact": avg.fact}
    write_checkpoint(path, meta, {"w0": net.w0, "w1": net.w1, "fact": net.fact, "thr": net.thr,
                                  "best_w0": best.w0, "best_w1": best.w1,
                                  "best_fact": best.fact, **extra})


def _load_checkpoint(path: str, option: str = "--resume"):
    """(current net, chosen net, running average or None, meta) of a bs4nn checkpoint;
    a missing or foreign file is one ValueError naming ``option``."""
    from neurochip.train.bs4nn import Bs4nnNet

    if not Path(path).is_file():
        raise ValueError(f"{option} {path}: no such checkpoint")
    try:
        meta, arrays = read_checkpoint(path, CHECKPOINT_FORMAT)
        opts = meta.get("options", {})
        bits = int(opts.get("weight_bits", 1))
        clip = np.array(_pair(opts.get("weight_clip") or opts.get("init_high")
                              or DEFAULTS["init_high"], "weight-clip", True))
        net = Bs4nnNet(arrays["w0"].copy(), arrays["w1"].copy(), arrays["fact"].copy(),
                       arrays["thr"].copy(), list(meta["history"]), bits, clip)
        best = Bs4nnNet(arrays["best_w0"].copy(), arrays["best_w1"].copy(),
                        arrays["best_fact"].copy(), net.thr, net.history, bits, clip)
        avg = (Bs4nnNet(arrays["avg_w0"].copy(), arrays["avg_w1"].copy(),
                        arrays["avg_fact"].copy(), net.thr, net.history, bits, clip)
               if "avg_w0" in arrays else None)
    except (KeyError, TypeError, CheckpointFileError) as exc:
        raise ValueError(f"{option} {path}: not a bs4nn checkpoint ({exc})") from None
    return net, best, avg, meta


class Bs4nnTrainer:
    """``neurochip train bs4nn``: its own options and the rule; the rest is the shell's."""

    name = "bs4nn"
    help = ("Kheradpisheh et al. 2021 (BS4NN), as the authors' code has it: binary fc ttfs "
            "network, per-sample SGD in Numba; the forward pass is the chip's (§6.1); no torch "
            "needed")
    needs_torch = False

    def add_arguments(self, parser) -> None:
        _add_own_arguments(parser)

    def check(self, args: argparse.Namespace) -> None:
        from neurochip.train.bs4nn import Bs4nnConfig, Bs4nnNet

        check_shared(args)
        args.conv = None
        if bs4nn_conv_cli.is_conv(args.arch):  # BS4NN's rule on a CSNN (ours)
            bs4nn_conv_cli.check(args)
            return
        hidden = _hidden(args.arch)
        low, high = init_range(args, 2)
        if not 0 <= args.average < 1:
            raise ValueError("--average must be in [0, 1)")
        clip = _pair(args.weight_clip, "weight-clip", True) if args.weight_clip else high
        args.config = Bs4nnConfig(hidden=hidden, thr=_pair(args.thr, "thr", True),
                                  fact=_pair(args.fact, "fact", True),
                                  lr=tuple(lr_values(args, 2)),
                                  lr_fact=_pair(args.lr_fact, "lr-fact", False),
                                  init_high=high, init_low=low,
                                  gamma=args.gamma, seed=args.seed,
                                  weight_bits=args.weight_bits, weight_clip=clip,
                                  weight_bound=(_pair(args.weight_bound, "weight-bound", True)
                                                if args.weight_bound else None))
        starts = [o for o, v in (("--notebook-weights", args.notebook_weights),
                                 ("--start-from", args.start_from), ("--resume", args.resume)) if v]
        if len(starts) > 1:
            raise ValueError(f"{' and '.join(starts)}: give one starting point")
        args.resumed = _load_checkpoint(args.resume) if args.resume else None
        args.start = None
        if args.notebook_weights:
            from neurochip.train.bs4nn import from_notebook

            try:
                args.start = from_notebook(args.notebook_weights, args.config.fact,
                                           args.config.thr)
            except ValueError as exc:
                raise ValueError(f"--notebook-weights: {exc}") from None
        if args.start_from:
            chosen = _load_checkpoint(args.start_from, "--start-from")[1]
            args.start = Bs4nnNet(chosen.w0, chosen.w1, np.array(args.config.fact, np.float64),
                                  np.array(args.config.thr, np.float64))
        if args.start is not None:
            args.start_option = starts[0]
            args.start.bits = args.weight_bits
            args.start.clip = np.array(clip, np.float64)
            if args.start.w1.shape[0] != hidden:
                raise TrainerError(f"{args.start_option}: {args.start.w1.shape[0]} hidden "
                                   f"neurons; give --arch {args.start.w1.shape[0]}")

    def train(self, args: argparse.Namespace, data: Data) -> int:
        return train(args, data)


TRAINER = Bs4nnTrainer()


def train(args: argparse.Namespace, data: Data) -> int:
    from neurochip.description import save
    from neurochip.train import bs4nn

    if args.conv:
        return bs4nn_conv_cli.train(args, data, RECORDED)

    cfg, resumed = args.config, args.resumed
    x_tr, y_tr, x_va, y_va = data.train_x, data.train_y, data.validation_x, data.validation_y
    x_te, y_te = data.test_x, data.test_y
    v = len(x_va)
    t_chip, t_rule = bs4nn.input_times(x_tr)
    t_val = bs4nn.input_times(x_va)[0]
    t_test = bs4nn.input_times(x_te)[0]
    labels = y_tr.astype(np.int64)
    draws = args.draws or len(x_tr)
    n_sel = args.select_train_images
    if n_sel > len(x_tr):
        raise TrainerError(f"--select-train-images {n_sel}: the training split has "
                           f"{len(x_tr)} images")
    t_sel, y_sel = t_chip[:n_sel], labels[:n_sel]
    rng = np.random.default_rng(cfg.seed)
    options = {k: getattr(args, k) for k in RECORDED} | {"data": str(args.data)}
    if resumed:
        net, chosen, avg, meta = resumed
        rng.bit_generator.state = meta["rng"]
        if any(("selection" in h) != bool(n_sel) for h in net.history):
            raise TrainerError(f"--select-train-images {n_sel}: the run being resumed chose "
                               "its epochs on other images; give its own value "
                               f"({meta.get('options', {}).get('select_train_images', 0)})")
    elif args.start is not None:
        net = args.start
        if net.w0.shape[0] != x_tr[0].size or net.w1.shape[1] != int(y_tr.max()) + 1:
            raise TrainerError(f"{args.start_option}: a {net.w0.shape[0]}-input, "
                               f"{net.w1.shape[1]}-class network for {x_tr[0].size}-pixel images "
                               f"of {int(y_tr.max()) + 1} classes")
    else:
        net = bs4nn.init_net(cfg, x_tr[0].size, int(y_tr.max()) + 1)
    if not resumed:
        chosen, avg = net.copy(), None
    best = max(net.history, key=_choice_score, default=None)
    s0, s1 = net.signs()
    model_path, ckpt = out_paths(args)
    from tqdm import tqdm

    bar = tqdm(range(len(net.history), args.epochs), desc="bs4nn", unit="epoch",
               disable=not sys.stderr.isatty())
    for epoch in bar:
        t0 = time.perf_counter()
        picks = rng.integers(0, len(x_tr), draws)
        scale = args.lr_decay ** epoch
        fired = np.zeros(cfg.hidden, np.int64)
        order, times_chip, times_rule, draw_labels = picks, t_chip, t_rule, labels
        if args.augment_shift:  # this epoch's draws, moved (ours); drawn after the picks
            moved = shifted(x_tr[picks], args.augment_shift, rng)  # (draws, 28, 28)
            times_chip, times_rule = bs4nn.input_times(moved)
            order, draw_labels = np.arange(draws), labels[picks]
        correct = bs4nn.train_epoch(order, times_chip, times_rule, draw_labels, net.w0, net.w1,
                                    s0, s1, net.fact, net.thr, np.array(cfg.lr) * scale,
                                    np.array(cfg.lr_fact) * scale, cfg.gamma,
                                    args.silent_target == "s4nn", net.scales(), net.qmax, fired,
                                    cfg.weight_bound)
        judged = net
        if args.average:  # the running average of the real weights and scales (ours)
            avg = net.copy() if avg is None else avg
            for a, w in ((avg.w0, net.w0), (avg.w1, net.w1), (avg.fact, net.fact)):
                a *= args.average
                a += (1.0 - args.average) * w
            judged = avg
        val, val_nb = bs4nn.scores(judged, t_val, y_va) if v else (float("nan"), float("nan"))
        rec = {"epoch": epoch + 1, "train_notebook_rule": correct / draws, "validation": val,
               "validation_notebook_scoring": val_nb, "thetas": list(judged.thetas()),
               "hidden_rarely_firing": int((fired < RARELY_FIRING * draws).sum())}
        if n_sel:  # the choice's larger sample (ours): held-out and training images
            rec["train_selection"] = bs4nn.scores(judged, t_sel, y_sel)[0]
            rec["selection"] = ((0.0 if math.isnan(val) else round(val * v))
                                + round(rec["train_selection"] * n_sel)) / (v + n_sel)
        if args.record_test:  # a measurement of the notebook's protocol, never a choice
            rec["test"], rec["test_notebook_scoring"] = bs4nn.scores(judged, t_test, y_te)
        if best is None or not _choice_score(rec) <= _choice_score(best):  # else: the last
            best = rec
            chosen = judged.copy()
        if args.dead_reset:  # as S4NN: after the epoch's evaluation, before the next epoch
            rec["hidden_reset"] = int(bs4nn.reset_dead(
                net, s0, fired, draws, args.dead_reset, cfg.init_low[0], cfg.init_high[0],
                rng).size)
        rec["seconds"] = round(time.perf_counter() - t0, 2)
        net.history.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
        _save_checkpoint(ckpt, net, chosen, rng.bit_generator.state, options, avg)
    name = out_prefix(args).name
    # under "checkpoint", as every trainer records its run (the command, the data, the
    # environment) in a model's provenance
    prov = {"trainer": "bs4nn", "command": command_line("bs4nn"), **data.provenance(),
            "epoch": best["epoch"] if best else len(net.history), "options": options}
    desc = bs4nn.to_description(chosen, name, args.lanes, args.fifo_depth, {"checkpoint": prov})
    save(desc, model_path)
    test, test_nb = bs4nn.scores(chosen, t_test, y_te)
    print(json.dumps({"model": str(model_path), "epoch": prov["epoch"],
                      "validation": best["validation"] if best else None,
                      **({"selection": best.get("selection")} if n_sel else {}),
                      "test_chip_forward": test, "test_notebook_scoring": test_nb,
                      "thetas": list(chosen.thetas())}))
    return 0

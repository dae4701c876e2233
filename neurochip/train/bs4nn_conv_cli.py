"""`neurochip train bs4nn --arch` with convolutions: BS4NN's rule on a single-spike CSNN
(``neurochip.train.bs4nn_conv``). The fc-only options keep their meaning; per-layer
options take one value per weighted layer (the convolutions, then the output layer),
e.g. ``--arch 16c5p2,p2,32c5p2,p2 --thr 6,30,40 --lr 0.01,0.01,0.1``.

θ is ``--thr`` itself, the integer each layer stores (no learned scale f); the options
that act on the fc network's scales, its notebook weights and its resumable checkpoint
(``--fact``, ``--lr-fact``, ``--notebook-weights``, ``--start-from``, ``--resume``,
``--average``) and ``--augment-shift`` are refused here; ``--dead-reset`` resets conv
channels (``bs4nn_conv.reset_dead_channels``). Writes ``OUT.ckpt.npz`` (the chosen
epoch's real weights and the history) after every epoch and ``OUT.npz``, the
description of the epoch with the best held-out accuracy, at the end."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from neurochip.train.checkpoint import write_checkpoint
from neurochip.train.shell import (Data, TrainerError, command_line, lr_values, out_paths,
                                   out_prefix)

CHECKPOINT_FORMAT = "neurochip-bs4nn-conv-checkpoint"
FC_ONLY = {"fact": "5,5", "lr_fact": "0.01,0.01", "notebook_weights": None, "start_from": None,
           "resume": None, "average": 0.0, "augment_shift": 0, "select_train_images": 0}
DEAD_PROBE = 1000  # images of an epoch's draws on which --dead-reset measures its channels


def is_conv(arch: str) -> bool:
    """Whether ``--arch`` holds a convolution (the conv mode of ``neurochip train bs4nn``)."""
    from neurochip.train.arch import ArchError, parse_arch

    try:
        return any(e["type"] == "conv" for e in parse_arch(arch))
    except ArchError:
        return False


def check(args: argparse.Namespace) -> None:
    """The conv mode's own options, before any data is read (one ValueError naming the
    option); the shared ones are ``bs4nn_cli.check_shared``'s."""
    from neurochip.train.arch import ArchError
    from neurochip.train.bs4nn_cli import init_range, per_layer
    from neurochip.train.stidi_bp import layer_plans

    for key, default in FC_ONLY.items():
        if getattr(args, key) != default:
            raise TrainerError(f"--{key.replace('_', '-')}: not in bs4nn's convolutional mode "
                               "(--arch with a convolution); leave it out")
    try:
        plans = layer_plans(args.arch)
    except ArchError as exc:
        raise TrainerError(str(exc)) from None
    n = sum(p.kind != "pool" for p in plans)
    thr = per_layer(args.thr, "thr", n, True)
    if any(t != int(t) for t in thr):
        raise ValueError(f"--thr {args.thr}: the convolutional mode stores θ as given; give "
                         "integers")
    low, high = init_range(args, n)
    args.conv = {"plans": plans, "thr": [int(t) for t in thr], "low": low, "high": high,
                 "lr": tuple(lr_values(args, n)),
                 "clip": per_layer(args.weight_clip, "weight-clip", n, True) if args.weight_clip
                 else high,
                 "bound": per_layer(args.weight_bound, "weight-bound", n, True)
                 if args.weight_bound else None}


def _per_layer(net, weighted: tuple[float, ...], pool_value: float) -> np.ndarray:
    """One value per layer of ``net`` from one per weighted layer (pools get ``pool_value``)."""
    it = iter(weighted)
    return np.array([pool_value if p.kind == "pool" else next(it) for p in net.plans])


def train(args: argparse.Namespace, data: Data, recorded: tuple[str, ...]) -> int:
    from tqdm import tqdm

    from neurochip.description import save
    from neurochip.train import bs4nn, bs4nn_conv as bc

    c = args.conv
    x_tr, y_tr, x_va, y_va = data.train_x, data.train_y, data.validation_x, data.validation_y
    t_chip, t_rule = bs4nn.input_times(x_tr)
    t_val = bs4nn.input_times(x_va)[0] if len(x_va) else None
    t_test = bs4nn.input_times(data.test_x)[0]
    labels = y_tr.astype(np.int64)
    draws = args.draws or len(x_tr)
    rng = np.random.default_rng(args.seed)
    net = bc.init_net(c["plans"], c["thr"], c["low"], c["high"], args.seed, args.weight_bits,
                      c["clip"])
    lr = _per_layer(net, c["lr"], 0.0)
    init_low, init_high = _per_layer(net, c["low"], 0.0), _per_layer(net, c["high"], 0.0)
    bound = _per_layer(net, c["bound"], np.inf) if c["bound"] else np.full(len(net.plans),
                                                                               np.inf)
    options = {k: getattr(args, k) for k in recorded} | {"data": str(args.data)}
    model_path, ckpt = out_paths(args)
    chosen, best = net.copy(), None
    bar = tqdm(range(args.epochs), desc="bs4nn conv", unit="epoch",
               disable=not sys.stderr.isatty())
    for epoch in bar:
        t0 = time.perf_counter()
        picks = rng.integers(0, len(x_tr), draws)
        correct = bc.train_epoch(net, picks, t_chip, t_rule, labels, lr * args.lr_decay ** epoch,
                                 args.gamma, args.silent_target == "s4nn", bound)
        val = (float((bc.decide(net, t_val)[0] == y_va).mean()) if t_val is not None
               else float("nan"))
        rec = {"epoch": epoch + 1, "train_chip": correct / draws, "validation": val,
               "thetas": [int(t) for t in net.thetas]}
        if args.record_test:  # recorded, never a choice
            rec["test"] = float((bc.decide(net, t_test)[0] == data.test_y).mean())
        if best is None or not val <= best["validation"]:
            best, chosen = rec, net.copy()
        if args.dead_reset:  # after the epoch's evaluation, as the fc mode's (S4NN's) reset
            rec["channels_reset"] = [list(jc) for jc in bc.reset_dead_channels(
                net, t_chip[picks[:DEAD_PROBE]], args.dead_reset, init_low, init_high, rng)]
        rec["seconds"] = round(time.perf_counter() - t0, 2)
        net.history.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
        write_checkpoint(ckpt, {"format": CHECKPOINT_FORMAT, "version": 1, "options": options,
                                "history": net.history, "chosen_epoch": best["epoch"]},
                         {f"w{j}": w for j, w in enumerate(chosen.weights)})
    prov = {"trainer": "bs4nn", "command": command_line("bs4nn"), **data.provenance(),
            "epoch": best["epoch"] if best else 0, "options": options}
    desc = bc.to_description(chosen, out_prefix(args).name, args.lanes, args.fifo_depth,
                             {"checkpoint": prov})
    save(desc, model_path)
    test = float((bc.decide(chosen, t_test)[0] == data.test_y).mean())
    print(json.dumps({"model": str(model_path), "epoch": prov["epoch"],
                      "validation": best["validation"] if best else None,
                      "test_chip_forward": test, "thetas": [int(t) for t in chosen.thetas]}))
    return 0

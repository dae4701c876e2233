"""`neurochip train bs4nn`: the BS4NN procedure (``neurochip.train.bs4nn``) on MNIST-format
data, with a held-out validation split, a resumable checkpoint and the chip description.

Writes ``OUT.ckpt.npz`` (real shadow weights, threshold scales, the RNG state, the
per-epoch history and the options) after every epoch, and ``OUT.npz`` (the core
description of the epoch with the best held-out accuracy) at the end. ``--resume`` goes
on from a checkpoint for more epochs, bit for bit as an uninterrupted run."""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

DEFAULTS = dict(hidden=600, thr="100,100", fact="5,5", lr="0.1,0.1", lr_fact="0.01,0.01",
                init_high="5,48", gamma=1, epochs=200, validation=1000, draws=0, seed=0,
                lanes=64, fifo_depth=64, test_limit=0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    p.add_argument("--data", required=True, help="folder with the MNIST-format IDX files")
    p.add_argument("--out", required=True, help="output prefix: OUT.npz (core description) "
                   "and OUT.ckpt.npz (shadow weights, scales, history; written every epoch)")
    p.add_argument("--hidden", type=int, default=d["hidden"], help="hidden neurons (default 600)")
    p.add_argument("--thr", default=d["thr"], help="thresholds before scaling, per layer "
                   "(default 100,100 as the notebook)")
    p.add_argument("--fact", default=d["fact"], help="initial threshold scales f, θ = thr/f "
                   "(default 5,5 as the notebook; the Fashion-MNIST values are not published)")
    p.add_argument("--lr", default=d["lr"], help="weight learning rates (default 0.1,0.1)")
    p.add_argument("--lr-fact", default=d["lr_fact"], help="threshold-scale learning rates "
                   "(default 0.01,0.01)")
    p.add_argument("--init-high", default=d["init_high"], help="weights start uniform in "
                   "[0, high) per layer (default 5,48)")
    p.add_argument("--gamma", type=int, default=d["gamma"], help="output target margin in "
                   "steps (default 1)")
    p.add_argument("--epochs", type=int, default=d["epochs"], help="epochs in all, counting "
                   "those of a resumed checkpoint (default 200 as the notebook)")
    p.add_argument("--draws", type=int, default=d["draws"], help="samples drawn with "
                   "replacement per epoch (default 0: as many as training images)")
    p.add_argument("--validation", type=int, default=d["validation"], help="hold out the last "
                   "N training images for choosing the epoch (default 1000)")
    p.add_argument("--test-limit", type=int, default=d["test_limit"],
                   help="evaluate on the first N test images (0: all)")
    p.add_argument("--resume", metavar="CKPT", help="go on from OUT.ckpt.npz of an earlier run")
    p.add_argument("--lanes", type=int, default=d["lanes"], help="(default 64)")
    p.add_argument("--fifo-depth", type=int, default=d["fifo_depth"], help="(default 64)")
    p.add_argument("--seed", type=int, default=d["seed"], help="(default 0)")


def _pair(text: str, name: str, positive: bool) -> tuple[float, float]:
    try:
        vals = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--{name} {text!r}: give two numbers, e.g. 0.1,0.1") from None
    if len(vals) != 2 or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"--{name} {text!r}: give two finite numbers, one per layer")
    if positive and min(vals) <= 0:
        raise ValueError(f"--{name} {text!r}: each value must be > 0")
    if not positive and min(vals) < 0:
        raise ValueError(f"--{name} {text!r}: each value must be >= 0")
    return vals


def _check(args: argparse.Namespace):
    from neurochip.cli.plot import check_creatable
    from neurochip.train.bs4nn import Bs4nnConfig

    if not 1 <= args.hidden <= 32768:
        raise ValueError("--hidden must be in 1..32768")
    if args.gamma < 0:
        raise ValueError("--gamma must be >= 0")
    if args.epochs < 0 or args.draws < 0 or args.validation < 0 or args.test_limit < 0:
        raise ValueError("--epochs, --draws, --validation and --test-limit must be >= 0")
    if not 1 <= args.lanes <= 256 or not 1 <= args.fifo_depth <= 65536:
        raise ValueError("--lanes must be in 1..256 and --fifo-depth in 1..65536")
    cfg = Bs4nnConfig(hidden=args.hidden, thr=_pair(args.thr, "thr", True),
                      fact=_pair(args.fact, "fact", True), lr=_pair(args.lr, "lr", True),
                      lr_fact=_pair(args.lr_fact, "lr-fact", False),
                      init_high=_pair(args.init_high, "init-high", True), gamma=args.gamma,
                      seed=args.seed)
    for suffix in (".npz", ".ckpt.npz"):
        check_creatable(Path(args.out).with_suffix(suffix), "--out")
    if args.resume and not Path(args.resume).is_file():
        raise ValueError(f"--resume {args.resume}: no such checkpoint")
    return cfg


def _save_checkpoint(path: Path, net, best, rng_state: dict, options: dict) -> None:
    """The current weights (to go on from) and the best epoch's (to describe)."""
    meta = {"format": "neurochip-bs4nn-checkpoint", "version": 1, "options": options,
            "history": net.history, "rng": rng_state}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, manifest=np.frombuffer(json.dumps(meta).encode(), np.uint8), w0=net.w0,
             w1=net.w1, fact=net.fact, thr=net.thr, best_w0=best.w0, best_w1=best.w1,
             best_fact=best.fact)
    tmp.replace(path)  # never a half-written checkpoint


def _load_checkpoint(path: str):
    from neurochip.npz import MAX_CHECKPOINT_BYTES, read_npz
    from neurochip.train.bs4nn import Bs4nnNet

    arrays = read_npz(path, MAX_CHECKPOINT_BYTES)
    try:
        meta = json.loads(arrays["manifest"].tobytes())
        assert meta["format"] == "neurochip-bs4nn-checkpoint"
        net = Bs4nnNet(arrays["w0"].copy(), arrays["w1"].copy(), arrays["fact"].copy(),
                       arrays["thr"].copy(), list(meta["history"]))
        best = Bs4nnNet(arrays["best_w0"].copy(), arrays["best_w1"].copy(),
                        arrays["best_fact"].copy(), net.thr, net.history)
    except (KeyError, ValueError, AssertionError, TypeError) as exc:
        raise ValueError(f"--resume {path}: not a bs4nn checkpoint ({exc})") from None
    return net, best, meta


def run(args: argparse.Namespace) -> int:
    from neurochip.datasets import load_split
    from neurochip.description import save
    from neurochip.train import bs4nn

    try:
        cfg = _check(args)
        x_tr, y_tr = load_split(args.data, "train")
        x_te, y_te = load_split(args.data, "test")
        if args.validation >= len(x_tr):
            raise ValueError(f"--validation {args.validation} leaves no training images "
                             f"(there are {len(x_tr)})")
        resumed = _load_checkpoint(args.resume) if args.resume else None
    except ValueError as exc:
        print(f"neurochip: error: {exc}", file=sys.stderr)
        return 2
    if args.test_limit:
        x_te, y_te = x_te[:args.test_limit], y_te[:args.test_limit]
    v = args.validation
    x_va, y_va = (x_tr[-v:], y_tr[-v:]) if v else (x_tr[:0], y_tr[:0])
    x_tr, y_tr = (x_tr[:-v], y_tr[:-v]) if v else (x_tr, y_tr)
    t_chip, t_rule = bs4nn.input_times(x_tr)
    t_val = bs4nn.input_times(x_va)[0]
    labels = y_tr.astype(np.int64)
    draws = args.draws or len(x_tr)
    rng = np.random.default_rng(cfg.seed)
    options = {k: getattr(args, k) for k in DEFAULTS} | {"data": str(args.data)}
    if resumed:
        net, chosen, meta = resumed
        rng.bit_generator.state = meta["rng"]
    else:
        net = bs4nn.init_net(cfg, x_tr[0].size, int(y_tr.max()) + 1)
        chosen = bs4nn.Bs4nnNet(net.w0.copy(), net.w1.copy(), net.fact.copy(), net.thr)
    best = max(net.history, key=lambda h: h["validation"], default=None)
    s0, s1 = net.signs()
    ckpt = Path(args.out).with_suffix(".ckpt.npz")
    from tqdm import tqdm

    bar = tqdm(range(len(net.history), args.epochs), desc="bs4nn", unit="epoch",
               disable=not sys.stderr.isatty())
    for epoch in bar:
        t0 = time.perf_counter()
        picks = rng.integers(0, len(x_tr), draws)
        correct = bs4nn.train_epoch(picks, t_chip, t_rule, labels, net.w0, net.w1, s0, s1,
                                    net.fact, net.thr, np.array(cfg.lr), np.array(cfg.lr_fact),
                                    cfg.gamma)
        val = bs4nn.accuracy(net, t_val, y_va) if v else float("nan")
        rec = {"epoch": epoch + 1, "train_notebook_rule": correct / draws, "validation": val,
               "thetas": list(net.thetas()), "seconds": round(time.perf_counter() - t0, 2)}
        net.history.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
        if best is None or not val <= best["validation"]:  # without validation: the last
            best = rec
            chosen = bs4nn.Bs4nnNet(net.w0.copy(), net.w1.copy(), net.fact.copy(), net.thr)
        _save_checkpoint(ckpt, net, chosen, rng.bit_generator.state, options)
    name = Path(args.out).name
    prov = {"trainer": "bs4nn", "command": "neurochip " + shlex.join(sys.argv[1:]),
            "epoch": best["epoch"] if best else len(net.history), "options": options}
    desc = bs4nn.to_description(chosen, name, args.lanes, args.fifo_depth, prov)
    save(desc, Path(args.out).with_suffix(".npz"))
    test = bs4nn.accuracy(chosen, bs4nn.input_times(x_te)[0], y_te)
    print(json.dumps({"model": str(Path(args.out).with_suffix(".npz")), "epoch": prov["epoch"],
                      "validation": best["validation"] if best else None,
                      "test_chip_forward": test, "thetas": list(chosen.thetas())}))
    return 0

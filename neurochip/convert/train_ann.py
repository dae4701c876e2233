"""`neurochip train ann`: a small ReLU network (VGG- or ResNet-style, batch norm after every
convolution) trained with torch, written as an ANN checkpoint for `neurochip convert`.

The networks are :data:`neurochip.convert.ann.ARCHS`; torch is imported only here."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from neurochip.convert.ann import ARCHS, FORMAT, INPUT, VERSION, AnnCheckpoint, fingerprint, sources

TORCH_HINT = "pip install 'neurochip[train]' (or pip install torch)"


def build_module(torch: Any, arch: list[dict[str, Any]], in_channels: int):
    """The architecture as a torch module (NCHW inside; the checkpoint keeps torch layouts)."""
    nn = torch.nn
    channels = {INPUT: in_channels}
    mods = nn.ModuleDict()
    for node in arch:
        c_in = channels[sources(node)[0]]
        if node["op"] == "conv":
            mods[node["name"]] = nn.Sequential(
                nn.Conv2d(c_in, node["channels"], node["kernel"], node["stride"], node["pad"],
                          bias=False),
                nn.BatchNorm2d(node["channels"]))
            channels[node["name"]] = node["channels"]
        elif node["op"] == "fc":
            mods[node["name"]] = nn.LazyLinear(node["neurons"])
        else:
            channels[node["name"]] = c_in

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.mods = mods

        def forward(self, x):
            acts = {INPUT: x}
            for node in arch:
                src = [acts[s] for s in sources(node)]
                if node["op"] == "conv":
                    acts[node["name"]] = torch.relu(self.mods[node["name"]](src[0]))
                elif node["op"] == "avgpool":
                    acts[node["name"]] = torch.nn.functional.avg_pool2d(src[0], node["window"])
                elif node["op"] == "add":
                    acts[node["name"]] = src[0] + src[1]
                else:  # flatten in the chip's address order (y, x, c): NHWC
                    acts[node["name"]] = self.mods[node["name"]](src[0].permute(0, 2, 3, 1).flatten(1))
            return acts[arch[-1]["name"]]

    return Net()


def arrays_of(net, arch: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    out = {}
    for node in arch:
        name = node["name"]
        if node["op"] == "conv":
            conv, bn = net.mods[name][0], net.mods[name][1]
            out[f"{name}.weight"] = conv.weight.detach().numpy().astype(np.float32)
            out[f"{name}.bn_weight"] = bn.weight.detach().numpy().astype(np.float32)
            out[f"{name}.bn_bias"] = bn.bias.detach().numpy().astype(np.float32)
            out[f"{name}.bn_mean"] = bn.running_mean.detach().numpy().astype(np.float32)
            out[f"{name}.bn_var"] = bn.running_var.detach().numpy().astype(np.float32)
        elif node["op"] == "fc":
            out[f"{name}.weight"] = net.mods[name].weight.detach().numpy().astype(np.float32)
            out[f"{name}.bias"] = net.mods[name].bias.detach().numpy().astype(np.float32)
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="../shared/datasets/fashion-mnist",
                   help="directory with the IDX files (default: %(default)s)")
    p.add_argument("--arch", choices=sorted(ARCHS), default="resnet",
                   help="network (neurochip/convert/ann.py ARCHS; default: %(default)s)")
    p.add_argument("--out", required=True, help="output checkpoint (.npz)")
    p.add_argument("--epochs", type=int, default=3, help="(default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default: %(default)s)")
    p.add_argument("--train-images", type=int, default=0,
                   help="use only the first N training images (0: all; default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from neurochip.cli.main import BadInput
    from neurochip.datasets import load_split

    from neurochip.cli.plot import check_creatable

    for flag, value, lo in (("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1),
                            ("--threads", args.threads, 1), ("--train-images", args.train_images, 0)):
        if value < lo:
            raise BadInput(f"{flag} {value} is out of range; use an integer >= {lo}")
    try:  # before torch, the data and any epoch
        check_creatable(args.out, "--out")
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    try:
        import torch
    except ImportError as exc:
        raise BadInput(f"`neurochip train ann` needs PyTorch, which is not installed: {TORCH_HINT}") from exc
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "test")
    if args.train_images:
        train_x, train_y = train_x[:args.train_images], train_y[:args.train_images]
    arch = ARCHS[args.arch]
    net = build_module(torch, arch, 1)
    xt = torch.from_numpy(train_x.astype(np.float32) / 255.0)[:, None]
    yt = torch.from_numpy(train_y.astype(np.int64))
    net(xt[:2])  # materialise the lazy fc
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, args.lr, total_steps=args.epochs * ((len(xt) + args.batch_size - 1) // args.batch_size))
    gen = torch.Generator().manual_seed(args.seed)
    started = time.monotonic()
    print(f"train ann: {args.arch} on {args.data} ({len(xt)} train / {len(test_x)} test), "
          f"{args.epochs} epochs, {torch.get_num_threads()} thread(s)", file=sys.stderr)
    from tqdm import tqdm

    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        for i in tqdm(range(0, len(xt), args.batch_size), desc=f"epoch {epoch + 1}", leave=False,
                      file=sys.stderr):
            idx = order[i:i + args.batch_size]
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        xs = torch.from_numpy(test_x.astype(np.float32) / 255.0)[:, None]
        pred = torch.cat([net(xs[i:i + 500]).argmax(1) for i in range(0, len(xs), 500)]).numpy()
    accuracy = float((pred == test_y).mean())
    seconds = time.monotonic() - started
    meta = {"format": FORMAT, "version": VERSION, "trainer": "ann", "arch_name": args.arch,
            "arch": arch, "input_shape": [28, 28, 1],
            "dataset": Path(os.path.normpath(args.data)).name, "data_dir": str(args.data),
            "data_dir_resolved": str(Path(args.data).resolve()),
            "test_images": int(len(test_x)), "test_split_sha256": fingerprint(test_x, test_y),
            "train_images": int(len(xt)), "epochs": args.epochs, "lr": args.lr,
            "batch_size": args.batch_size, "seed": args.seed,
            "threads": torch.get_num_threads(), "train_seconds": round(seconds, 1),
            "command": " ".join(["neurochip", shlex.join(sys.argv[1:])]),
            "ann_test_accuracy": accuracy}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    AnnCheckpoint(meta, arrays_of(net, arch)).save(args.out)
    print(f"wrote {args.out}: ANN test accuracy {accuracy:.4f} ({len(test_x)} images), "
          f"{seconds:.0f} s", file=sys.stderr)
    return 0

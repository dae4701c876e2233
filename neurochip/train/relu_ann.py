"""`neurochip train ann`: a small ReLU network (VGG- or ResNet-style, batch norm after every
convolution) trained with torch, written as an ANN checkpoint for `neurochip convert`.

The networks are :data:`neurochip.convert.ann.ARCHS`, named by ``--arch``; the common
options and the split are the trainer shell's (:mod:`neurochip.train.shell`); torch is
imported only here."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from neurochip.convert.ann import ARCHS, FORMAT, INPUT, VERSION, AnnCheckpoint, sources
from neurochip.train.shell import Data, TrainerError, command_line, lr_values, out_paths


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


class ReluAnn:
    """``neurochip train ann``: a named network of :data:`ARCHS`; the rest is the shell's."""

    name = "ann"
    help = ("a ReLU network (VGG- or ResNet-style, batch norm) for ANN-to-SNN conversion with "
            "`neurochip convert`")
    needs_torch = True

    def add_arguments(self, parser) -> None:
        """No options of its own: the network is ``--arch`` (one of :data:`ARCHS`)."""

    def check(self, args: argparse.Namespace) -> None:
        if args.arch not in ARCHS:
            raise TrainerError(f"--arch {args.arch}: the ann trainer builds a named network: "
                               f"{' or '.join(sorted(ARCHS))}")
        if args.validation_images:
            raise TrainerError("--validation-images: the ann trainer reports no validation "
                               "accuracy; choose the percentile on training images (neurochip "
                               "convert) and leave it out")
        if args.epochs < 1:
            raise TrainerError("--epochs must be at least 1")
        args.lr = lr_values(args, None)[0]

    def train(self, args: argparse.Namespace, data: Data) -> int:
        return train(args, data)


TRAINER = ReluAnn()


def train(args: argparse.Namespace, data: Data) -> int:
    """Train the network on the shell's split; write the ANN checkpoint PREFIX.npz."""
    import torch

    torch.manual_seed(args.seed)
    train_x, train_y, test_x, test_y = data.train_x, data.train_y, data.test_x, data.test_y
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
            "arch": arch, "input_shape": [28, 28, 1], **data.provenance(),
            "epochs": args.epochs, "lr": args.lr,
            "batch_size": args.batch_size, "seed": args.seed,
            "threads": torch.get_num_threads(), "train_seconds": round(seconds, 1),
            "command": command_line("ann"),
            "ann_test_accuracy": accuracy}
    model_path, _ = out_paths(args)
    AnnCheckpoint(meta, arrays_of(net, arch)).save(model_path)
    print(f"wrote {model_path}: ANN test accuracy {accuracy:.4f} ({len(test_x)} images), "
          f"{seconds:.0f} s", file=sys.stderr)
    return 0

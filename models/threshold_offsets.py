"""Held-out accuracy of a shipped single-spike fc network with its thresholds moved: every
neuron of layer 0 at θ + d0, every neuron of layer 1 at θ + d1, over a grid of (d0, d1),
scored on the last 1,000 training images (the images the trainer holds out) by the
simulator; the unmoved network is also scored on the test split. Issue 26, the
2026-12-07 second session (models/README.md, "Moving the shipped network's thresholds"):

    python models/threshold_offsets.py models/bs4nn-fmnist-binary.npz \\
        --data ../shared/datasets/fashion-mnist
"""

from __future__ import annotations

import argparse

import numpy as np

from neurochip.datasets import load_split
from neurochip.description.io import load
from neurochip.sim.simulator import simulate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data", required=True, help="dataset folder (IDX files)")
    p.add_argument("--held-out", type=int, default=1000, help="last N training images")
    p.add_argument("--d0", default="0,-2,2,-4,4", help="offsets of layer 0's thresholds")
    p.add_argument("--d1", default="0,-1,-2,-3,1,2", help="offsets of layer 1's thresholds")
    args = p.parse_args(argv)
    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "test")
    held_x, held_y = train_x[-args.held_out:], train_y[-args.held_out:]
    held_idx = np.arange(len(train_x) - args.held_out, len(train_x))  # their LFSR seeds
    for d0 in (int(v) for v in args.d0.split(",")):
        for d1 in (int(v) for v in args.d1.split(",")):
            desc = load(args.model)
            desc.layers[0].threshold = desc.layers[0].threshold + d0
            desc.layers[1].threshold = desc.layers[1].threshold + d1
            res = simulate(desc, held_x, held_idx, keep_state=False)
            silent = (res.counts.sum(axis=1) == 0).mean()
            line = (f"d0={d0:+d} d1={d1:+d} held out {100 * (res.predictions == held_y).mean():.1f} % "
                    f"silent {100 * silent:.1f} %")
            if d0 == 0 and d1 == 0:
                test = simulate(desc, test_x, keep_state=False)
                line += f" test {100 * (test.predictions == test_y).mean():.2f} %"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`neurochip quantize`: float checkpoint → core description."""

from __future__ import annotations

import argparse

from neurochip.cli.main import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="turn a trainer checkpoint into a core description",
                       description="Fold a float checkpoint's scales into integer thresholds "
                                   "and write the fixed-point core description (.npz); reports "
                                   "float vs quantized accuracy on the shipped sample.")
    p.add_argument("checkpoint", help="float checkpoint (*.ckpt.npz) written by `neurochip train`")
    p.add_argument("-o", "--out", required=True, help="output core description (.npz)")
    p.add_argument("--lanes", type=int, default=64, help="accumulator lanes per core (default 64)")
    p.add_argument("--fifo-depth", type=int, default=64, help="spike FIFO depth (default 64)")
    p.add_argument("--clock-hz", type=float, default=100e6, help="clock (default 100e6)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurochip.quantize import quantize_checkpoint

    quantize_checkpoint(args.checkpoint, args.out, lanes=args.lanes,
                        fifo_depth=args.fifo_depth, clock_hz=args.clock_hz)
    return EXIT_OK

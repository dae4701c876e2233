"""`neurochip quantize`: float checkpoint → core description."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from neurochip.cli.main import BadInput, EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="turn a trainer checkpoint into a core description",
                       description="Fold a float checkpoint's scales into integer thresholds "
                                   "and write the fixed-point core description (.npz); reports "
                                   "float vs quantized accuracy on the checkpoint's own test "
                                   "split (--data, else the folder it was trained on). When that "
                                   "is not available it says so and skips the report, except "
                                   "for an MNIST checkpoint, which is reported on the shipped "
                                   "MNIST sample.")
    p.add_argument("checkpoint", help="float checkpoint (*.ckpt.npz) written by `neurochip train`")
    p.add_argument("-o", "--out", required=True, help="output core description (.npz)")
    p.add_argument("--lanes", type=int, default=64,
                   help="accumulator lanes per core (default 64); the output layer's core and a "
                        "conv2d or pool core of a CNN checkpoint use at most one lane per "
                        "neuron or channel (min(LANES, C_out))")
    p.add_argument("--fifo-depth", type=int, default=64, help="spike FIFO depth (default 64)")
    p.add_argument("--clock-hz", type=float, default=100e6, help="clock (default 100e6)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="folder with the IDX test split (t10k-*-ubyte[.gz]) to report float vs "
                        "quantized accuracy on (default: the folder recorded in the checkpoint)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurochip.cli.plot import check_output_path
    from neurochip.description import MAX_CLOCK_HZ
    from neurochip.train.quantize import quantize_checkpoint

    if not 1 <= args.lanes <= 256:
        raise BadInput(f"--lanes {args.lanes} is out of range; use 1 … 256")
    if not 1 <= args.fifo_depth <= 65536:
        raise BadInput(f"--fifo-depth {args.fifo_depth} is out of range; use 1 … 65536")
    if not (math.isfinite(args.clock_hz) and 0 < args.clock_hz <= MAX_CLOCK_HZ):
        raise BadInput(f"--clock-hz {args.clock_hz:g} is out of range; use a frequency in Hz "
                       f"> 0 and <= {MAX_CLOCK_HZ:g}")
    try:  # refuse a bad output path before the (slow) accuracy report
        check_output_path(args.out, "--out", inputs=(args.checkpoint,))
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    try:
        quantize_checkpoint(args.checkpoint, args.out, lanes=args.lanes,
                            fifo_depth=args.fifo_depth, clock_hz=args.clock_hz,
                            data_dir=args.data)
    except OSError as exc:
        if exc.filename is None or Path(exc.filename) != Path(args.out):
            raise
        raise BadInput(f"--out {args.out}: cannot write the core description "
                       f"({exc.strerror or exc}); pass a writable file path such as "
                       "models/my-model.npz") from exc
    return EXIT_OK

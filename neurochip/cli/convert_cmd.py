"""`neurochip convert`: a trained ReLU network (`neurochip train ann`) → core descriptions,
plain IF conversion and/or BSNN (docs/architecture.md §6.2, §11.1)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from neurochip.cli.main import EXIT_OK, BadInput, emit_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert a trained ReLU network into core descriptions (plain IF, BSNN)",
        description="Fold batch norm, normalise each layer's threshold by the PERCENTILE-th "
                    "percentile of its ReLU outputs over calibration images (the first N of the "
                    "training split), quantize, and write the chip description: --plain (lif "
                    "neurons, soft reset) and/or --bsnn (bistable neurons, synchronous neurons on "
                    "residual shortcuts). With --report N, also simulate the first N test images "
                    "on the chip and print the ANN's and the chip's accuracy.")
    p.add_argument("checkpoint", help="ANN checkpoint (.npz) written by `neurochip train ann`")
    p.add_argument("--plain", metavar="PATH", help="write the plain IF conversion here (.npz)")
    p.add_argument("--bsnn", metavar="PATH", help="write the BSNN conversion here (.npz)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="IDX folder for calibration (train split) and --report (test split) "
                        "(default: the checkpoint's data_dir)")
    p.add_argument("--calibration-images", type=int, default=500,
                   help="first N training images used to normalise (default: %(default)s)")
    p.add_argument("--percentile", type=float, default=99.99,
                   help="percentile of a layer's ReLU outputs taken as its scale λ "
                        "(default: %(default)s; 100 = the maximum)")
    p.add_argument("--time-steps", type=int, default=64, help="T (default: %(default)s)")
    p.add_argument("--phase-steps", type=int, default=4,
                   help="N of the bistable neurons: steps per phase (default: %(default)s)")
    p.add_argument("--weight-bits", type=int, default=8, help="2 … 8 (default: %(default)s)")
    p.add_argument("--membrane-bits", type=int, default=24, help="8 … 32 (default: %(default)s)")
    p.add_argument("--lanes", type=int, default=16,
                   help="accumulator lanes per core, at most the layer's channels (default: %(default)s)")
    p.add_argument("--fifo-depth", type=int, default=64, help="FIFO depth (default: %(default)s; "
                   "an add core's FIFOs get one whole step of their source, §7)")
    p.add_argument("--report", type=int, default=0, metavar="N",
                   help="simulate the first N test images and report accuracy (default: 0, none)")
    p.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if not (args.plain or args.bsnn):
        raise BadInput("nothing to write: pass --plain PATH and/or --bsnn PATH")
    for flag, value, lo, hi in (("--calibration-images", args.calibration_images, 1, 60000),
                                ("--time-steps", args.time_steps, 1, 1 << 20),
                                ("--phase-steps", args.phase_steps, 1, 32768),
                                ("--weight-bits", args.weight_bits, 2, 8),
                                ("--membrane-bits", args.membrane_bits, 8, 32),
                                ("--lanes", args.lanes, 1, 256),
                                ("--fifo-depth", args.fifo_depth, 1, 65536),
                                ("--report", args.report, 0, 1 << 20)):
        if not lo <= value <= hi:
            raise BadInput(f"{flag} {value} is out of range; use {lo} … {hi}")
    if not (math.isfinite(args.percentile) and 0 < args.percentile <= 100):
        raise BadInput(f"--percentile {args.percentile} is out of range; use a number in (0, 100]")


def run(args: argparse.Namespace) -> int:
    from neurochip.cli.plot import check_output_path, same_file
    from neurochip.convert.ann import AnnCheckpoint, AnnCheckpointError, forward
    from neurochip.convert.convert import ConvertOptions, convert, scales
    from neurochip.datasets import load_split
    from neurochip.description import save

    _check(args)
    if args.plain and args.bsnn and same_file(Path(args.plain), Path(args.bsnn)):
        raise BadInput(f"--plain and --bsnn are both {args.bsnn}; the second would replace the "
                       "first: pass two paths")
    for path in (args.plain, args.bsnn):
        if path:
            try:
                check_output_path(path, "--plain" if path == args.plain else "--bsnn",
                                  inputs=(args.checkpoint,))
            except ValueError as exc:
                raise BadInput(str(exc)) from exc
    try:
        ckpt = AnnCheckpoint.load(args.checkpoint)
    except AnnCheckpointError as exc:
        raise BadInput(str(exc)) from exc
    data = args.data or ckpt.meta.get("data_dir")
    try:
        train_x, _ = load_split(data, "train")
    except (FileNotFoundError, TypeError) as exc:
        raise BadInput(f"calibration data: {exc}; pass --data DIR with the IDX training split") from exc
    cal = train_x[:args.calibration_images].reshape(min(len(train_x), args.calibration_images), -1)
    lam = scales(ckpt, cal, args.percentile)
    summary = {"checkpoint": args.checkpoint, "calibration_images": len(cal),
               "percentile": args.percentile, "lambda": lam, "written": {}}
    test = None
    if args.report:
        test_x, test_y = load_split(data, "test")
        n = min(args.report, len(test_x))
        test = (test_x[:n].reshape(n, -1), test_y[:n])
        ann = forward(ckpt, test[0])[ckpt.arch[-1]["name"]].argmax(1)
        summary["report_images"] = n
        summary["ann_accuracy"] = float((ann == test[1]).mean())
    for variant, path in (("plain", args.plain), ("bsnn", args.bsnn)):
        if not path:
            continue
        opts = ConvertOptions(variant=variant, time_steps=args.time_steps,
                              phase_steps=args.phase_steps, percentile=args.percentile,
                              weight_bits=args.weight_bits, membrane_bits=args.membrane_bits,
                              lanes=args.lanes, fifo_depth=args.fifo_depth)
        desc = convert(ckpt, cal, opts, lam=lam)
        save(desc, path)
        entry = {"path": path, "layers": len(desc.layers), "time_steps": desc.time_steps}
        if test is not None:
            from neurochip.sim import simulate

            res = simulate(desc, test[0], progress=sys.stderr.isatty(), keep_state=False)
            entry.update(accuracy=float((res.predictions == test[1]).mean()),
                         cycles_per_image=float(res.cycles.mean()))
        summary["written"][variant] = entry
    if args.json:
        emit_json(summary)
        return EXIT_OK
    for variant, e in summary["written"].items():
        line = f"{variant}: wrote {e['path']} ({e['layers']} cores, T = {e['time_steps']})"
        if "accuracy" in e:
            line += (f"; chip accuracy {e['accuracy']:.4f} vs ANN {summary['ann_accuracy']:.4f} on "
                     f"the first {summary['report_images']} test images, "
                     f"{e['cycles_per_image']:.0f} cycles/image")
        print(line)
    print("λ per layer: " + ", ".join(f"{k} {v:.3g}" for k, v in lam.items()), file=sys.stderr)
    return EXIT_OK

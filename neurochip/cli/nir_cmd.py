"""`neurochip nir import|export`: networks from snnTorch, Norse, Sinabs, … (NIR files) onto
the chip, with a fidelity report, and the chip's descriptions back out as NIR."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from neurochip.cli.main import EXIT_OK, BadInput, emit_json, load_model
from neurochip.description import ENCODERS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nir", help="import a NIR graph (snnTorch, Norse, …) or export a model as NIR",
                       description="NIR interchange (docs/nir.md). Needs `pip install "
                                   "'neurochip[nir]'`.")
    nsub = p.add_subparsers(title="actions", metavar="ACTION")
    imp = nsub.add_parser(
        "import", help="NIR file → core description (.npz) with a fidelity report",
        description="Map a NIR graph onto the chip and quantize it; a file written by "
                    "`neurochip nir export` comes back exactly. Prints a fidelity report: the "
                    "NIR graph run as written (float, Euler steps of --dt) against the chip on "
                    "--images images. Results on stdout, progress on stderr; a graph the chip "
                    "cannot express, or a malformed file, exits 2 with one line.")
    imp.add_argument("file", help="the .nir file (HDF5, nir.write)")
    imp.add_argument("-o", "--out", required=True, help="output core description (.npz)")
    imp.add_argument("--time-steps", type=int, default=8, metavar="T",
                     help="time steps per image (default 8)")
    imp.add_argument("--dt", type=float, default=None, metavar="S",
                     help="Euler step in seconds (default 1e-4, snnTorch's hard-coded dt)")
    imp.add_argument("--weight-bits", type=int, default=None, metavar="W",
                     help="weight bits 1 … 8 (default: integer weights exactly if they fit, "
                          "else 8)")
    imp.add_argument("--membrane-bits", type=int, default=None, metavar="B",
                     help="membrane bits 2 … 32 (default: wide enough never to saturate)")
    imp.add_argument("--leak", choices=("shift", "subtract", "none"), default="shift",
                     help="how a leak 0 < β < 1 maps onto the chip (default shift)")
    imp.add_argument("--reset", choices=("zero", "subtract"), default="zero",
                     help="reset on a spike: zero (NIR's v_reset, default) or subtract "
                          "(snnTorch's default reset_mechanism)")
    imp.add_argument("--encoder", choices=ENCODERS, default="bernoulli_lfsr",
                     help="input encoder (§11; default bernoulli_lfsr), or events: the chip "
                          "takes event recordings (§11.2; input (H, W, 2) for N-MNIST)")
    imp.add_argument("--seed", type=int, default=1, help="LFSR seed (default 1)")
    imp.add_argument("--lanes", type=int, default=64, help="accumulator lanes (default 64)")
    imp.add_argument("--fifo-depth", type=int, default=64, help="FIFO depth (default 64)")
    imp.add_argument("--name", default=None, help="model name (default: the output file's stem)")
    imp.add_argument("--foreign", action="store_true",
                     help="ignore neurochip metadata and quantize the float graph")
    imp.add_argument("--calibrate", metavar="DIR", default=None,
                     help="IDX folder whose images (train split, else test) size the membranes "
                          "from the float graph's largest |v| instead of the worst case (with "
                          "--encoder events: an N-MNIST folder or dense .npz)")
    imp.add_argument("--data", metavar="DIR", default=None,
                     help="IDX folder for the fidelity report (test split; default: the shipped "
                          "MNIST sample, or seeded random pixels if the input is not 28×28); "
                          "with --encoder events: an N-MNIST folder or dense .npz (default: "
                          "the sample moved along saccades into generated events)")
    imp.add_argument("--time-window", type=int, metavar="US", default=None,
                     help="with --encoder events: µs per time step when binning N-MNIST "
                          "recordings (default 1000)")
    imp.add_argument("--images", type=int, default=64, metavar="N",
                     help="images in the fidelity report (default 64; 0 skips it)")
    imp.add_argument("--json", action="store_true", help="print one JSON object")
    imp.set_defaults(func=run_import)
    exp = nsub.add_parser(
        "export", help="core description (.npz) → NIR file",
        description="Write the model as standard NIR primitives (Affine, Conv2d, SumPool2d, "
                    "Scale, Flatten, IF, LIF) readable by other frameworks, with every chip "
                    "field in node metadata so that `neurochip nir import` gives back the "
                    "identical description.")
    exp.add_argument("model", help="core description (.npz)")
    exp.add_argument("-o", "--out", required=True, help="output NIR file (.nir)")
    exp.add_argument("--dt", type=float, default=1e-4, metavar="S",
                     help="time step written into τ (default 1e-4, snnTorch's)")
    exp.add_argument("--json", action="store_true", help="print one JSON object")
    exp.set_defaults(func=run_export)
    p.set_defaults(func=lambda args: _help(p))


def _help(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    from neurochip.cli.main import EXIT_BAD_INPUT

    return EXIT_BAD_INPUT


def _check_ranges(args: argparse.Namespace) -> None:
    for opt, val, lo, hi in (("--time-steps", args.time_steps, 1, 4096),
                             ("--weight-bits", args.weight_bits, 1, 8),
                             ("--membrane-bits", args.membrane_bits, 2, 32),
                             ("--lanes", args.lanes, 1, 256),
                             ("--fifo-depth", args.fifo_depth, 1, 65536),
                             ("--seed", args.seed, 0, 2**32 - 1),
                             ("--images", args.images, 0, 1_000_000)):
        if val is not None and not lo <= val <= hi:
            raise BadInput(f"{opt} {val} is out of range; use {lo} … {hi}")
    if args.dt is not None and not (math.isfinite(args.dt) and args.dt > 0):
        raise BadInput(f"--dt {args.dt} is not a time step; use a finite number of seconds > 0")


def _report_images(desc, data: str | None, count: int, window_us: int | None = None):
    from neurochip.datasets import load_sample, load_split
    from neurochip.random_networks import random_images

    if desc.event_input:
        from neurochip.inputs import load_inputs

        got = load_inputs(desc, data, "test", count, window_us)
        return got.data, got.labels, got.source
    size = desc.input_size
    if data is not None:
        images, labels = load_split(data, "test")
        source = f"{data} (test)"
    else:
        images, labels = load_sample()
        source = "shipped MNIST test sample"
    if images[0].size != size:
        if data is not None:
            raise BadInput(f"--data {data}: images have {images[0].size} pixels but the network "
                           f"takes {size} inputs; pass matching data")
        return random_images(0, count, size), None, f"seeded random pixels (seed 0, {size} each)"
    return images[:count].reshape(len(images[:count]), -1), labels[:count], source


def _calibration_events(desc, data: str, window_us: int | None):
    """Up to 256 event samples of ``data`` (train split, else test) for --calibrate."""
    from neurochip.inputs import data_layout, load_inputs

    split = "test"
    if data_layout(data) == "nmnist" and (Path(data) / "Train").is_dir():
        split = "train"
    return load_inputs(desc, data, split, 256, window_us).data


def run_import(args: argparse.Namespace) -> int:
    from neurochip import description
    from neurochip.cli.plot import check_output_path
    from neurochip.interchange.nir_fidelity import calibrate, format_report, measure
    from neurochip.interchange.nir_foreign import import_foreign
    from neurochip.interchange.nir_import import ImportOptions, import_file

    _check_ranges(args)
    try:
        check_output_path(args.out, "--out", inputs=(args.file,))
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    name = args.name or Path(args.out).name.removesuffix(".npz") or "nir-import"
    opts = ImportOptions(time_steps=args.time_steps, dt=args.dt, weight_bits=args.weight_bits,
                         membrane_bits=args.membrane_bits, leak=args.leak, reset=args.reset,
                         encoder=args.encoder, seed=args.seed, lanes=args.lanes,
                         fifo_depth=args.fifo_depth, name=name, foreign=args.foreign)
    res, graph = import_file(args.file, opts)
    if args.calibrate is not None:
        if res.exact:
            raise BadInput("--calibrate applies to foreign graphs; this file carries an exact "
                           "neurochip description (add --foreign to re-quantize it)")
        from neurochip.datasets import load_split

        if res.desc.event_input:
            cal_images = _calibration_events(res.desc, args.calibrate, args.time_window)
        else:
            try:
                cal = load_split(args.calibrate, "train")
            except FileNotFoundError:  # no training split: use the test split
                cal = load_split(args.calibrate, "test")
            cal_images = cal[0][:256].reshape(len(cal[0][:256]), -1)
        if not res.desc.event_input and cal_images.shape[1] != res.desc.input_size:
            raise BadInput(f"--calibrate {args.calibrate}: images have {cal_images.shape[1]} "
                           f"pixels, the network takes {res.desc.input_size}")
        res = import_foreign(graph, args.file, opts, calibrate(graph, res, cal_images))
    if res.exact:
        ignored = [opt for opt, val, default in (
            ("--time-steps", args.time_steps, 8), ("--dt", args.dt, None),
            ("--weight-bits", args.weight_bits, None), ("--membrane-bits", args.membrane_bits, None),
            ("--leak", args.leak, "shift"), ("--reset", args.reset, "zero"),
            ("--encoder", args.encoder, "bernoulli_lfsr"), ("--seed", args.seed, 1),
            ("--lanes", args.lanes, 64), ("--fifo-depth", args.fifo_depth, 64),
            ("--name", args.name, None)) if val != default]
        if ignored:
            print(f"note: {args.file} carries an exact neurochip description; "
                  f"{', '.join(ignored)} ignored (pass --foreign to re-quantize the float "
                  "graph with them)", file=sys.stderr)
    fidelity = None
    if args.images > 0:
        images, labels, source = _report_images(res.desc, args.data, args.images,
                                                args.time_window)
        fidelity = measure(graph, res, images, labels, source, args.file,
                           progress=sys.stderr.isatty())
    try:
        description.save(res.desc, args.out)
    except OSError as exc:
        raise BadInput(f"--out {args.out}: cannot write ({exc.strerror or exc})") from exc
    summary = {"file": args.file, "out": args.out, "exact_import": res.exact,
               "content_hash": res.desc.content_hash(),
               "layers": [{"name": lay.name, "kind": lay.kind, "weight_bits": lay.weight_bits,
                           "membrane_bits": lay.membrane_bits,
                           "neuron": lay.neuron.__dict__} for lay in res.desc.layers],
               "choices": res.choices,
               "fidelity": fidelity.to_json() if fidelity else None}
    if args.json:
        emit_json(summary)
        return EXIT_OK
    kinds = ", ".join(f"{lay.name} {lay.kind}" for lay in res.desc.layers)
    print(f"imported     {args.file} -> {args.out} ({'exact read-back' if res.exact else 'quantized'}; "
          f"sha256 {res.desc.content_hash()[:12]})")
    print(f"layers       {kinds}")
    if fidelity:
        print(format_report(fidelity))
    else:
        print("choices:\n" + "\n".join(f"  - {c}" for c in res.choices))
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from neurochip.cli.plot import check_output_path
    from neurochip.interchange.nir_export import export_file

    if not (math.isfinite(args.dt) and args.dt > 0):
        raise BadInput(f"--dt {args.dt} is not a time step; use a finite number of seconds > 0")
    try:
        check_output_path(args.out, "--out", inputs=(args.model,))
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    desc = load_model(args.model)
    try:
        lost = export_file(desc, args.out, float(args.dt))
    except OSError as exc:
        raise BadInput(f"--out {args.out}: cannot write ({exc.strerror or exc})") from exc
    if args.json:
        emit_json({"model": args.model, "out": args.out, "dt": args.dt,
                   "content_hash": desc.content_hash(), "lost_without_metadata": lost})
        return EXIT_OK
    print(f"exported     {args.model} -> {args.out} ({len(desc.layers)} layers, dt = {args.dt:g} s; "
          f"`neurochip nir import` restores sha256 {desc.content_hash()[:12]})")
    if lost:
        print("readers without the neurochip metadata lose:")
        print("\n".join(f"  - {x}" for x in lost))
    return EXIT_OK

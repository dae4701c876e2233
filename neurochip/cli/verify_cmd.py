"""`neurochip verify`: the generated RTL against the simulator, bit and cycle exact."""

from __future__ import annotations

import argparse
import sys
import tempfile

from neurochip.cli.main import EXIT_FAILURE, EXIT_OK, BadInput, emit_json, load_model
from neurochip.cli.simulate_cmd import add_data_arguments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="co-simulate the Verilog against the simulator",
                       description="Generate the model's Verilog, run images (the shipped MNIST "
                                   "sample, --data, or --random-images) through it on "
                                   "Verilator or Icarus (cocotb) and compare "
                                   "predictions, spike counts, every layer's spike train, "
                                   "final membranes (and the state words a core's neuron "
                                   "model declares, e.g. a ttfs core's potentials), cycles "
                                   "and every event counter with the "
                                   "Numba simulator. Exit 1 on any mismatch.")
    p.add_argument("model", help="core description (.npz)")
    p.add_argument("--images", type=int, default=16,
                   help="the first N images (default 16; the shipped sample has 256)")
    add_data_arguments(p)
    p.add_argument("--random-images", action="store_true",
                   help="seeded random pixels (event counts for a model with event input), "
                        "for models whose input is not 28x28")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--work", default=None,
                   help="work folder (RTL, builds, dumps); default: a temporary folder. "
                        "Reusing one skips rebuilding an unchanged design.")
    p.add_argument("--jobs", type=int, default=1, help="parallel C++ compile jobs (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurochip.cli.simulate_cmd import split_of, with_time_steps
    from neurochip.inputs import load_inputs
    from neurochip.verify.flow import verify
    from neurochip.verify.runner import RtlRunError, missing_simulator

    if args.images < 1:
        raise BadInput(f"--images {args.images}: give a positive number of images")
    if args.jobs < 1:
        raise BadInput(f"--jobs {args.jobs}: give a positive number of compile jobs")
    if args.work is not None:
        from neurochip.cli.plot import check_creatable

        try:
            check_creatable(args.work, "--work", folder=True)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    if args.random_images and args.data is not None:
        raise BadInput("--random-images and --data both given; pass one")
    if args.random_images and args.split is not None:
        raise BadInput(f"--split {args.split} applies to --data, not --random-images")
    desc = load_model(args.model, with_time_steps([], args.time_steps))
    if args.random_images:
        from neurochip.random_networks import random_inputs

        images = random_inputs(0, args.images, desc)
    else:
        got = load_inputs(desc, args.data, split_of(args.data, args.split), args.images,
                          args.time_window)
        images, source = got.data, got.source
        if len(images) < args.images:
            raise BadInput(f"--images {args.images}: {source} has only {len(images)} images")
        if not desc.event_input and desc.input_size != images[0].size:
            raise BadInput(f"{args.model}: the model takes {desc.input_size} inputs but "
                           f"{source} has {images[0].size} pixels per image; use --data "
                           "with matching images or --random-images")
    why = missing_simulator(args.simulator)
    if why:
        print(f"neurochip: error: {why}", file=sys.stderr)
        return EXIT_FAILURE
    with tempfile.TemporaryDirectory(prefix="neurochip-verify-") as tmp:
        try:
            report = verify(desc, images, args.simulator, args.work or tmp,
                            jobs=args.jobs)
        except RtlRunError as exc:
            print(f"neurochip: error: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    if args.json:
        emit_json(report.to_json())
    else:
        j = report.to_json()
        for m in report.mismatches[:20]:
            print(f"MISMATCH {m}")
        print(f"{report.model} on {report.simulator}: {report.images} images, "
              f"{report.mismatch_count} mismatches, cycles equal: {report.cycles_equal}")
        print(f"RTL {_num(j['rtl_images_per_s'], 2)} images/s "
              f"({_num(j['rtl_cycles_per_s'], 0)} cycles/s), build {j['rtl_build_seconds']:.1f} s "
              f"(0 = cached); simulator {_num(j['sim_images_per_s'], 1)} images/s")
    return EXIT_OK if report.ok else EXIT_FAILURE


def _num(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"

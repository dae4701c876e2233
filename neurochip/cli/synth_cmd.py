"""`neurochip synth`: FPGA resources, Fmax and gate counts of the chip from the open flow
(neurochip.synth: Yosys + nextpnr from PyPI), with the latency at the achieved Fmax."""

from __future__ import annotations

import argparse
import sys

from neurochip.cli.main import (EXIT_FAILURE, EXIT_OK, BadInput, add_set_argument, emit_json,
                                load_model)
from neurochip.synth.devices import DEFAULT_DEVICE, TARGETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="FPGA resources, Fmax and gate counts (Yosys + nextpnr)",
        description="Synthesise the chip's own Verilog with Yosys and place and route it "
                    "with nextpnr (open tools from PyPI: pip install -e '.[synth]'): LUT4s, "
                    "flip-flops, carry cells, block RAMs and DSPs against the device, fits, "
                    "Fmax and the critical path, per core and for the chip, and the "
                    "latency per image at that Fmax. --target generic gives Yosys' gate "
                    "counts and transistor estimate instead (memories kept as macros). "
                    "A design that does not fit exits 0 with fits false; a tool failure "
                    "exits 1 with the tool's last lines and its log. See docs/synth.md.")
    p.add_argument("model", help="core description (.npz)")
    p.add_argument("--target", default="ecp5", choices=TARGETS,
                   help="ecp5 (default), ice40 or generic")
    p.add_argument("--device", metavar="NAME",
                   help="part of the target (default: "
                        + ", ".join(f"{t} {d}" for t, d in DEFAULT_DEVICE.items()) + ")")
    p.add_argument("--per-core", action="store_true",
                   help="synthesise (and place) every core out of context; the chip figures "
                        "are then the cores' sums and its Fmax the slowest core's")
    p.add_argument("--core", action="append", default=[], metavar="LAYER",
                   help="synthesise only this core (repeatable), out of context; implies "
                        "--per-core")
    p.add_argument("--no-place", action="store_true",
                   help="stop after Yosys: no nextpnr, no Fmax; fits from the synthesised "
                        "counts")
    p.add_argument("--no-block-rams", action="store_true",
                   help="map every memory to logic and flip-flops (Yosys -nobram -nolutram), "
                        "to see what the block RAMs save")
    add_set_argument(p)
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run N tool processes at once (with --per-core; default 1)")
    p.add_argument("--images", type=int, default=100, metavar="N",
                   help="simulate N images of the shipped MNIST sample for cycles/image and "
                        "the latency at Fmax (default 100; 0: skip)")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                   help="seconds each Yosys or nextpnr run may take (default 3600)")
    p.add_argument("-o", "--out", metavar="DIR",
                   help="keep the work folder (RTL, scripts, logs, reports) in DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurochip.synth import SynthError, ToolFailure, run_synth
    from neurochip.synth.flow import progress_to_stderr

    desc = load_model(args.model, args.set)
    if args.images < 0:
        raise BadInput(f"--images must be >= 0, got {args.images}")
    if args.timeout <= 0:
        raise BadInput(f"--timeout must be positive, got {args.timeout:g}")
    try:
        report = run_synth(desc, target=args.target, device=args.device,
                           per_core=args.per_core, jobs=args.jobs, out_dir=args.out,
                           cores=args.core or None, place=not args.no_place,
                           block_rams=not args.no_block_rams,
                           yosys_timeout=args.timeout, nextpnr_timeout=args.timeout,
                           progress=progress_to_stderr)
    except SynthError as exc:
        raise BadInput(str(exc)) from exc
    except ToolFailure as exc:
        print(exc.tail, file=sys.stderr)
        print(f"neurochip: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    report["model_path"] = args.model
    report["overrides"] = list(args.set)
    report.update(latency(desc, report, args.images))
    if args.json:
        emit_json(report)
    else:
        print_report(report)
    return EXIT_OK


def latency(desc, report: dict, images: int) -> dict:
    """cycles/image on the shipped sample and the latency at the assumed clock and at
    the achieved Fmax (cycles / Fmax)."""
    from neurochip.synth import latency_at

    if images == 0:
        return {"cycles_per_image": None, "latency_us": None, "latency_us_at_fmax": None}
    from neurochip.datasets import load_sample
    from neurochip.sim import simulate

    sample, _ = load_sample()
    if sample[0].size != desc.input_size:
        return {"cycles_per_image": None, "latency_us": None, "latency_us_at_fmax": None,
                "latency_note": f"the shipped MNIST sample does not fit input "
                                f"{list(desc.input_shape)}"}
    print(f"synth: simulating {min(images, len(sample))} images for cycles/image …",
          file=sys.stderr, flush=True)
    cycles = float(simulate(desc, sample[:images], keep_state=False).cycles.mean())
    return {"cycles_per_image": cycles, "latency_images": min(images, len(sample)),
            "latency_us": cycles / desc.clock_hz * 1e6,
            "latency_us_at_fmax": latency_at(cycles, report.get("fmax_mhz"))}


def _figures(r: dict, target: str) -> str:
    if target == "generic":
        return (f"cells {r['cells']:>8}  FFs {r['ffs']:>7}  transistors {r['transistors']:>9}"
                f"  memory macros {r['memory_macros']} ({r['memory_bits']} bits)")
    text = (f"LUT4 {r['luts']:>7}  FF {r['ffs']:>7}  carry {r['carry']:>6}  "
            f"EBR {r['brams']:>4}  DSP {r['dsps']:>3}  LUTRAM {r['lutram']:>4}")
    if r.get("fmax_mhz") is not None:
        text += f"  Fmax {r['fmax_mhz']:7.2f} MHz"
    return text


def print_report(r: dict) -> None:
    target = r["target"]
    print(f"model        {r['model_path']}  ({r['model']}, sha256 {r['hash'][:12]})")
    if r["overrides"]:
        print(f"overrides    {' '.join(r['overrides'])}")
    print(f"target       {target}" + (f" {r['device']}" if r["device"] else "")
          + f"; figures: {r['figures']}")
    print(f"chip         {_figures(r, target)}")
    if target != "generic":
        cap = r["capacity"]
        print(f"device has   LUT4 {cap['luts']:>7}  FF {cap['ffs']:>7}  "
              f"EBR {cap['brams']:>4}  DSP {cap['dsps']:>3}")
        print("fits         " + ("yes" if r["fits"] else f"NO: {r.get('overflow')}"))
        if r.get("fmax_mhz") is not None:
            print(f"Fmax         {r['fmax_mhz']:.2f} MHz (assumed clock "
                  f"{r['clock_hz'] / 1e6:g} MHz)")
        cp = r.get("critical_path")
        if cp:
            where = f"core {cp['core']}: " if "core" in cp else ""
            print(f"critical     {where}{cp['from']} -> {cp['to']}: {cp['delay_ns']:.2f} ns "
                  f"({cp['logic_levels']} logic levels, {cp['logic_ns']:.2f} ns in logic)")
    if r.get("cycles_per_image") is not None:
        line = (f"latency      {r['cycles_per_image']:.1f} cycles/image: "
                f"{r['latency_us']:.2f} us at {r['clock_hz'] / 1e6:g} MHz")
        if r.get("latency_us_at_fmax") is not None:
            line += f", {r['latency_us_at_fmax']:.2f} us at Fmax {r['fmax_mhz']:.2f} MHz"
        print(line)
    for c in r["cores"]:
        print(f"  {c['name']:<10} {_figures(c, target)}")
        for mem in c.get("memories", []):
            why = f": {mem['why']}" if mem.get("why") else ""
            print(f"  {'':<10}   {mem['memory']} ({mem['bits']} bits) as {mem['as']}{why}")
    s = r["seconds"]
    print("tools        " + ", ".join(f"{k} {v:.1f} s" for k, v in s.items()))
    if r.get("out_dir"):
        print(f"work folder  {r['out_dir']}")

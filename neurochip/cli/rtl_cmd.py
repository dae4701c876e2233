"""`neurochip rtl`: write the Verilog of a core description (and optionally lint it)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from neurochip.cli.main import EXIT_FAILURE, EXIT_OK, BadInput, emit_json, load_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rtl", help="generate the chip's Verilog (Amaranth → yosys)",
                       description="Write the chip of a core description as Verilog: "
                                   "neurochip_top.v, size-named memory wrappers, $readmemh "
                                   "images, a file list, lint waivers and a manifest. See "
                                   "docs/rtl-interface.md.")
    p.add_argument("model", help="core description (.npz)")
    p.add_argument("-o", "--out", default="rtl", help="output folder (default: rtl)")
    p.add_argument("--lint", action="store_true",
                   help="also run `verilator --lint-only -Wall` on the result")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def lint(out_dir) -> tuple[bool, str]:
    """``verilator --lint-only -Wall`` with the bundled waivers; returns (clean, output)."""
    from neurochip.hw.emit import FILELIST, WAIVERS
    from neurochip.hw.top import TOP_NAME
    from neurochip.verify.runner import missing_simulator

    why = missing_simulator("verilator")
    if why:
        return False, why
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", TOP_NAME,
                           "-f", FILELIST, WAIVERS], cwd=out_dir, capture_output=True, text=True)
    return proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr


def run(args: argparse.Namespace) -> int:
    from neurochip.hw.emit import generate

    desc = load_model(args.model)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"-o {args.out}: is a file; pass a folder for the Verilog")
    try:
        bundle = generate(desc, out)
    except OSError as exc:
        raise BadInput(f"-o {args.out}: cannot write the Verilog there ({exc.strerror or exc})") from exc
    result = {"model": desc.name, "hash": bundle.content_hash, "out": str(bundle.out_dir),
              "top": bundle.top, "verilog": [p.name for p in bundle.verilog],
              "data": [p.name for p in bundle.data]}
    code = EXIT_OK
    if args.lint:
        clean, text = lint(bundle.out_dir)
        result["lint_clean"] = clean
        if not clean:
            print(text, file=sys.stderr)
            code = EXIT_FAILURE
    if args.json:
        emit_json(result)
    else:
        print(f"{desc.name}  sha256 {bundle.content_hash[:16]}: {len(bundle.verilog)} Verilog "
              f"files, {len(bundle.data)} memory images in {bundle.out_dir}/")
        if args.lint:
            print(f"verilator --lint-only -Wall: {'clean' if result['lint_clean'] else 'FAILED'}")
    return code

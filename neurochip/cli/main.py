"""`neurochip` command line: results on stdout, diagnostics and progress on stderr,
exit 0 on success, 2 on bad input (usage, unreadable or invalid files), 1 otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """A user error: reported in one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except BadInput as exc:
        print(f"neurochip: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValueError, FileNotFoundError) as exc:  # validation errors name field and fix
        print(f"neurochip: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:  # a last line of defence: inputs are bounded before they are read
        print("neurochip: error: out of memory; the input declares more than this machine "
              "can hold", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("neurochip: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from neurochip.cli import (campaign_cmd, convert_cmd, inspect_cmd, kinds_cmd, nir_cmd,
                               quantize_cmd, rtl_cmd, simulate_cmd, sweep_cmd, synth_cmd,
                               train_cmd, verify_cmd)

    parser = argparse.ArgumentParser(
        prog="neurochip",
        description="Binary spiking neural networks on a cycle-accurate neuromorphic chip model.",
        epilog="Run `neurochip COMMAND --help` for the options of each command.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    simulate_cmd.register(sub)
    inspect_cmd.register(sub)
    quantize_cmd.register(sub)
    train_cmd.register(sub)
    convert_cmd.register(sub)
    rtl_cmd.register(sub)
    verify_cmd.register(sub)
    kinds_cmd.register(sub)
    nir_cmd.register(sub)
    sweep_cmd.register(sub)
    campaign_cmd.register(sub)
    synth_cmd.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"neurochip {version('neurochip')}"
    except PackageNotFoundError:
        return "neurochip (not installed)"


def load_model(path: str, sets: list[str] | None = None):
    """Load a core description for a command, apply its ``--set FIELD=VALUE`` overrides
    (neurochip.description.overrides), turning every problem into BadInput."""
    from neurochip.description import DescriptionError, load
    from neurochip.description.overrides import apply_overrides

    try:
        desc = load(path)
        return apply_overrides(desc, sets or [], origin=path)
    except DescriptionError as exc:
        raise BadInput(str(exc)) from exc


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--set FIELD=VALUE`` option, the same for every command that takes a model."""
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a description field in memory (repeatable): chip-wide "
                             "(time_steps, clock_hz, input.encoder.seed, readout.count_bits), "
                             "every layer that has it (core.lanes, core.fifo_depth, overflow, "
                             "membrane_bits, neuron.FIELD) or one layer (fc1.core.lanes=8); "
                             "validated like the file, and the model hash changes with it")


def emit_json(obj: dict) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=_json_default)
    sys.stdout.write("\n")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


if __name__ == "__main__":
    # Run through the package module so command modules and this block share one
    # BadInput class (as `__main__` this file is a second, distinct module object).
    from neurochip.cli.main import main as _package_main

    sys.exit(_package_main())

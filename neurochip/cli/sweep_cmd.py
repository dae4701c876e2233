"""`neurochip sweep`: a grid of description overrides evaluated on Dask into a resumable
store, with its Pareto front (neurochip.explore)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from neurochip.cli.cluster_args import add_cluster_arguments, workers_of
from neurochip.cli.main import EXIT_FAILURE, EXIT_OK, BadInput, emit_json, load_model

SYNTH_TARGETS = ("ecp5", "ice40", "generic")
# the columns of the text table: (field, header, format)
TABLE = (("accuracy", "acc %", lambda v: f"{100 * v:.2f}"),
         ("cycles_per_image", "cycles", lambda v: f"{v:.0f}"),
         ("latency_us_per_image", "µs", lambda v: f"{v:.2f}"),
         ("energy_nj_per_image", "nJ", lambda v: f"{v:.2f}"),
         ("stall_cycles_per_image", "stalls", lambda v: f"{v:.0f}"),
         ("luts", "LUTs", lambda v: f"{v}"), ("cells", "cells", lambda v: f"{v}"),
         ("fmax_mhz", "Fmax", lambda v: f"{v:.0f}"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="evaluate a grid of design choices and find the Pareto front",
        description="Evaluate every combination of --set FIELD=V1,V2,... (the --set fields "
                    "of `simulate`: core.lanes, core.fifo_depth, time_steps, clock_hz, "
                    "membrane_bits, overflow, neuron.*, per layer as fc1.core.lanes) on the "
                    "simulator: accuracy, cycles, latency, nJ/image and its breakdown, stalls "
                    "(and with --synth the resources and Fmax of `neurochip synth`). Each "
                    "point is validated first; a refused point is listed with the reason. "
                    "Runs on Dask (a local cluster, or --scheduler); one row per point in "
                    "DIR/results.sqlite, and a rerun of the same command computes only what "
                    "is missing. Writes DIR/pareto.png (accuracy against nJ/image, latency "
                    "and LUTs) and prints the table. weight_bits cannot be swept: it changes "
                    "what the trained weights mean.")
    p.add_argument("model", help="core description (.npz)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="one axis of the grid (repeatable), e.g. --set core.lanes=4,8,16")
    p.add_argument("--data", metavar="DIR", help="IDX folder (as for `simulate`); default: "
                   "the shipped MNIST test sample")
    p.add_argument("--images", type=int, default=None, metavar="N",
                   help="the first N images (default: all of them)")
    p.add_argument("--checkpoint", metavar="CKPT",
                   help="the float checkpoint the model was quantized from (*.ckpt.npz): "
                        "then --set weight_bits=... re-quantizes it at each width (the "
                        "weights, thresholds, biases and membrane widths; cores and FIFOs "
                        "stay the model's); without it weight_bits cannot be swept")
    p.add_argument("--synth", choices=SYNTH_TARGETS, default=None,
                   help="also synthesize every point (`neurochip synth`) for LUT/FF/BRAM/Fmax")
    add_cluster_arguments(p)
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def load_float_model(path: str, desc):
    """The float checkpoint, checked to be the model's (same layers and shapes), and the
    file's sha256."""
    import hashlib

    from neurochip.description import DescriptionError
    from neurochip.explore.sweep import requantize
    from neurochip.train.quantize import load_checkpoint

    try:
        model = load_checkpoint(path)
        requantize(desc, model, model.weight_bits)
    except DescriptionError as exc:
        raise BadInput(f"--checkpoint {path}: {exc}") from exc
    return model, hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_synth(target: str) -> None:
    """Before anything runs: the synth extra's tools for ``target`` are installed."""
    from neurochip.synth.errors import MissingExtra
    from neurochip.synth.tools import require

    try:
        require("yosys")
        if target != "generic":
            require(f"nextpnr-{target}")
    except MissingExtra as exc:
        raise BadInput(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    from neurochip.explore.engine import EngineError, client_for, run_tasks
    from neurochip.explore.grid import GridError, build_grid
    from neurochip.explore.store import Row, Store, StoreError
    from neurochip.explore.sweep import evaluate_point, point_description
    from neurochip.inputs import load_inputs

    desc = load_model(args.model)
    checkpoint, checkpoint_sha, make = None, None, None
    if args.checkpoint:
        checkpoint, checkpoint_sha = load_float_model(args.checkpoint, desc)

        def make(sets):
            return point_description(desc, sets, checkpoint, origin=args.model)
    try:
        grid = build_grid(desc, args.set, origin=args.model, make=make)
    except GridError as exc:
        raise BadInput(str(exc)) from exc
    if not grid.points:
        raise BadInput(f"every one of the {len(grid.refused)} grid points is refused; first: "
                       f"{' '.join(grid.refused[0][0].sets)}: {grid.refused[0][1]}")
    if args.synth:
        check_synth(args.synth)
    if args.images is not None and args.images < 1:
        raise BadInput(f"--images {args.images}: give a positive number of images")
    if desc.event_input and any(s.split("=", 1)[0].strip() in ("time_steps", "input.encoder.kind")
                                for p in grid.points for s in p.sets):
        raise BadInput("this model takes event input (§11.2), binned into its T steps once; a "
                       "sweep over time_steps or input.encoder.kind would need the recordings "
                       "re-binned per point: sweep other fields, or run one sweep per T")
    got = load_inputs(desc, args.data, "test", args.images)
    images, labels, source = got.data, got.labels, got.source
    if args.images is not None and len(images) < args.images:
        raise BadInput(f"--images {args.images}: {source} has only {len(images)} images")
    if not desc.event_input and images.reshape(len(images), -1).shape[1] != desc.input_size:
        raise BadInput(f"the images have {images[0].size} pixels but model input.shape "
                       f"{list(desc.input_shape)} needs {desc.input_size}")
    identity = {"model_hash": desc.content_hash(), "grid": grid.describe(), "data": source,
                "images": len(images), "synth": args.synth,
                "checkpoint": checkpoint_sha}
    try:
        store = Store(args.out, "sweep", identity)
    except StoreError as exc:
        raise BadInput(str(exc)) from exc
    t0 = time.perf_counter()
    done = store.done()
    todo = [(p.key, (p.sets,)) for p in grid.points if p.key not in done]
    computed: list[str] = []

    def keep(key: str, value: dict) -> None:
        sets = json.loads(key)
        store.add(Row(key, {"overrides": dict(_pairs(sets)), "sets": sets, "model": args.model},
                      value["model_hash"], value["status"], value["result"], value["seconds"]))
        computed.append(key)

    workers = workers_of(args)
    shared = {"desc": desc, "images": images, "labels": labels, "source": source,
              "synth": args.synth, "checkpoint": checkpoint}
    try:
        with client_for(args.scheduler, min(workers, len(todo)) if todo else 0) as client:
            failed = run_tasks(client, evaluate_point, todo, keep, shared=shared)
    except EngineError as exc:
        raise BadInput(str(exc)) from exc
    report = summarize(store, grid, computed, failed, Path(args.out), time.perf_counter() - t0)
    store.close()
    if args.json:
        emit_json(report)
    else:
        print_report(report)
    return EXIT_OK if not failed else EXIT_FAILURE


def _pairs(sets: list[str]):
    """FIELD=VALUE texts → (field, value) with JSON values (``4``, not ``"4"``)."""
    from neurochip.description.overrides import parse_value, split_assignment

    return [(f, parse_value(v)) for f, v in map(split_assignment, sets)]


def summarize(store, grid, computed: list[str], failed: list, out: Path, seconds: float) -> dict:
    from neurochip.explore.pareto import costs_of, front, plot

    by_key = {r.key: r for r in store.rows()}
    points = []
    for p in grid.points:  # grid order
        r = by_key.get(p.key)
        if r is None:
            continue
        points.append({"overrides": dict(_pairs(r.spec["sets"])), "model_hash": r.model_hash,
                       "tool_version": r.tool_version, "seconds": round(r.seconds, 3),
                       **r.result})
    costs = [k for k, _ in costs_of(points)]
    best = front(points, costs)
    for i, pt in enumerate(points):
        pt["pareto"] = i in best
    labels = [" ".join(f"{k.split('.')[-1]}={v}" for k, v in pt["overrides"].items())
              for pt in points]
    picture = plot(points, labels, out / "pareto.png") if points else None
    return {
        "grid": grid.describe(),
        "points": points,
        "computed": len(computed),
        "reused": len(points) - len(computed),
        "refused": [{"overrides": dict(_pairs(list(p.sets))), "reason": why}
                    for p, why in grid.refused],
        "failed": [{"overrides": dict(_pairs(json.loads(k))), "reason": why} for k, why in failed],
        "pareto_costs": costs,
        "store": str(store.path),
        "plot": str(picture) if picture else None,
        "seconds": round(seconds, 1),
    }


def table(points: list[dict]) -> list[str]:
    """The points as text columns: the overrides, then the figures; '*' marks the front."""
    if not points:
        return []
    fields = list(points[0]["overrides"])
    cols = [c for c in TABLE if any(p.get(c[0]) is not None for p in points)]
    head = ["", *fields, *(h for _, h, _ in cols)]
    body = [["*" if p["pareto"] else "", *(str(p["overrides"][f]) for f in fields),
             *(fmt(p[k]) if p.get(k) is not None else "-" for k, _, fmt in cols)]
            for p in points]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    return ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [head, *body]]


def print_report(r: dict) -> None:
    for line in table(r["points"]):
        print(line)
    print(f"{len(r['points'])} points ({r['computed']} computed, {r['reused']} reused), "
          f"{len(r['refused'])} refused, {len(r['failed'])} failed; * = Pareto front "
          f"(accuracy against {', '.join(r['pareto_costs'])}); {r['seconds']:.0f} s")
    for p in r["refused"]:
        print(f"refused {' '.join(f'{k}={v}' for k, v in p['overrides'].items())}: {p['reason']}")
    for p in r["failed"]:
        print(f"FAILED {' '.join(f'{k}={v}' for k, v in p['overrides'].items())}: {p['reason']} "
              "(a rerun retries it)", file=sys.stderr)
    print(f"store {r['store']}" + (f", plot {r['plot']}" if r["plot"] else ""))

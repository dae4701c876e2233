"""`neurochip campaign`: many seeded random networks co-simulated on RTL against the
simulator, on Dask, into a resumable store (neurochip.explore)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

from neurochip.cli.cluster_args import add_cluster_arguments, workers_of
from neurochip.cli.main import EXIT_FAILURE, EXIT_OK, BadInput, emit_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "campaign", help="co-simulate many random networks on RTL against the simulator",
        description="Draw seeded random networks (neurochip.random_networks: every layer "
                    "kind and neuron model, narrow and wide membranes, tiny FIFOs), run each "
                    "on the generated Verilog (cocotb on Icarus or Verilator) and on the "
                    "simulator, and compare every output exactly. Runs on Dask (a local "
                    "cluster, or --scheduler); results go to DIR/results.sqlite, one row per "
                    "network and simulator, and a rerun skips what is there (resumable, "
                    "and a wider --networks extends the same store). A mismatching network "
                    "is saved under DIR/reproducers/ with the command that reruns it. "
                    "Exit 1 on any mismatch or failure.")
    p.add_argument("--networks", type=int, default=16, metavar="N",
                   help="networks, seeds SEED … SEED+N-1 (default 16)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="first seed (default 0)")
    p.add_argument("--kinds", default=None, metavar="K1,K2",
                   help="layer kinds to draw from (default: all; see `neurochip kinds`)")
    p.add_argument("--simulator", default="icarus", metavar="SIM[,SIM]",
                   help="icarus, verilator or both (icarus,verilator): every network runs "
                        "on each (default icarus: ~3 s a network here; Verilator ~10 s "
                        "with ccache)")
    p.add_argument("--images", type=int, default=2, metavar="N",
                   help="random images per network (default 2)")
    add_cluster_arguments(p)
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder (the store)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def _parse(args: argparse.Namespace) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    from neurochip.kinds import KINDS
    from neurochip.verify.runner import SIMULATORS, missing_simulator

    if args.networks < 1:
        raise BadInput(f"--networks {args.networks}: give a positive number of networks")
    if args.seed < 0:
        raise BadInput(f"--seed {args.seed}: seeds are >= 0")
    if not 1 <= args.images <= 64:
        raise BadInput(f"--images {args.images}: give 1 … 64 images per network")
    kinds = None
    if args.kinds:
        kinds = tuple(dict.fromkeys(k.strip() for k in args.kinds.split(",")))
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise BadInput(f"--kinds {args.kinds}: unknown kind {bad[0] if bad else ''!r}; "
                           f"use some of {','.join(KINDS)}")
    sims = tuple(dict.fromkeys(s.strip() for s in args.simulator.split(",")))
    for s in sims:
        if s not in SIMULATORS:
            raise BadInput(f"--simulator {args.simulator}: unknown simulator {s!r}; use "
                           f"{' or '.join(SIMULATORS)}")
        why = missing_simulator(s)
        if why:
            raise BadInput(f"--simulator {s}: {why}")
    return kinds, sims


def run(args: argparse.Namespace) -> int:
    from neurochip.explore.campaign import CAMPAIGN_VERSION, evaluate_network
    from neurochip.explore.engine import EngineError, client_for, run_tasks
    from neurochip.explore.store import Row, Store, StoreError

    kinds, sims = _parse(args)
    identity = {"campaign": CAMPAIGN_VERSION, "images": args.images,
                "kinds": list(kinds) if kinds else "all"}
    try:
        store = Store(args.out, "campaign", identity)
    except StoreError as exc:
        raise BadInput(str(exc)) from exc
    t0 = time.perf_counter()
    seeds = range(args.seed, args.seed + args.networks)
    wanted = [(f"{s}/{sim}", (s, sim)) for s in seeds for sim in sims]
    done = store.done()
    todo = [(key, (s, sim, args.images, kinds)) for key, (s, sim) in wanted if key not in done]
    computed: list[str] = []

    def keep(key: str, value: dict) -> None:
        seed, sim = key.split("/")
        store.add(Row(key, {"seed": int(seed), "simulator": sim, "images": args.images},
                      value["model_hash"], value["status"], value["result"], value["seconds"]))
        computed.append(key)
        if value["status"] != "ok":
            save_reproducer(Path(args.out), int(seed), sim, args.images, kinds, value)

    workers = workers_of(args)
    try:
        with client_for(args.scheduler, workers) as client:
            failed = run_tasks(client, evaluate_network, todo, keep, label="networks")
    except EngineError as exc:
        raise BadInput(str(exc)) from exc
    summary = summarize(store, set(k for k, _ in wanted), computed, failed,
                        time.perf_counter() - t0)
    summary["command"] = "neurochip " + shlex.join(sys.argv[1:]) if sys.argv[1:] else None
    store.close()
    if args.json:
        emit_json(summary)
    else:
        print_summary(summary)
    return EXIT_OK if not (summary["mismatches"] or summary["errors"] or failed) else EXIT_FAILURE


def save_reproducer(out: Path, seed: int, sim: str, images: int, kinds, value: dict) -> Path:
    """The network as ``.npz`` and the exact command that reruns it, under reproducers/."""
    from neurochip.description import save
    from neurochip.explore.campaign import campaign_description

    folder = out / "reproducers" / f"seed-{seed}-{sim}"
    folder.mkdir(parents=True, exist_ok=True)
    save(campaign_description(seed, kinds), folder / "network.npz")
    cmd = ["neurochip", "campaign", "--seed", str(seed), "--networks", "1", "--simulator", sim,
           "--images", str(images), "--workers", "0", "-o", str(folder / "rerun")]
    if kinds:
        cmd[6:6] = ["--kinds", ",".join(kinds)]
    (folder / "command.txt").write_text(
        shlex.join(cmd) + "\n# the same network and images, co-simulated in this process; "
        f"status {value['status']}: {value['result'].get('error') or value['result'].get('first_mismatches')}\n")
    return folder


def summarize(store, wanted: set[str], computed: list[str], failed: list, seconds: float) -> dict:
    """Counts over the store's rows (all runs into this folder, not only this one)."""
    rows = store.rows()
    per = {"kind": Counter(), "model": Counter(), "overflow": Counter(), "simulator": Counter(),
           "encoder": Counter()}
    cost: dict[str, list[float]] = {}
    for r in rows:
        per["simulator"][r.spec["simulator"]] += 1
        per["encoder"][r.result.get("encoder", "unrecorded")] += 1
        for name, field in (("kind", "kinds"), ("model", "models"), ("overflow", "overflows")):
            per[name].update(r.result.get(field, []))
        cost.setdefault(r.spec["simulator"], []).append(r.seconds)
    bad = [r for r in rows if r.status != "ok"]
    return {
        "networks": len({r.spec["seed"] for r in rows}),
        "runs": len(rows),
        "mismatches": sum(r.status == "mismatch" for r in rows),
        "errors": sum(r.status == "error" for r in rows),
        "failed_tasks": [{"key": k, "reason": why} for k, why in failed],
        "per_kind": dict(sorted(per["kind"].items())),
        "per_model": dict(sorted(per["model"].items())),
        "per_overflow": dict(sorted(per["overflow"].items())),
        "per_encoder": dict(sorted(per["encoder"].items())),  # events: event input (§11.2)
        "per_simulator": dict(sorted(per["simulator"].items())),
        "seconds_per_network": {s: round(sum(v) / len(v), 2) for s, v in sorted(cost.items())},
        # of which the HDL build and the HDL run (the rest: RTL generation, simulator)
        "build_seconds_per_network": _mean_by_simulator(rows, "rtl_build_seconds"),
        "rtl_run_seconds_per_network": _mean_by_simulator(rows, "rtl_run_seconds"),
        "worker_seconds": round(sum(r.seconds for r in rows), 1),
        "seeds": [min((r.spec["seed"] for r in rows), default=0),
                  max((r.spec["seed"] for r in rows), default=-1)],
        "computed": len(computed),
        "reused": len(wanted) - len(computed) - len(failed),
        "bad": [{"key": r.key, "status": r.status,
                 "why": r.result.get("error") or r.result.get("first_mismatches")}
                for r in bad[:20]],
        "store": str(store.path),
        "seconds": round(seconds, 1),
    }


def _mean_by_simulator(rows, field: str) -> dict[str, float]:
    by: dict[str, list[float]] = {}
    for r in rows:
        if r.result.get(field) is not None:
            by.setdefault(r.spec["simulator"], []).append(r.result[field])
    return {s: round(sum(v) / len(v), 2) for s, v in sorted(by.items())}


def print_summary(s: dict) -> None:
    print(f"{s['networks']} networks, {s['runs']} RTL runs ({s['computed']} computed now, "
          f"{s['reused']} reused), {s['mismatches']} mismatches, {s['errors']} errors, "
          f"{s['seconds']:.0f} s")
    for name in ("kind", "model", "overflow", "encoder", "simulator"):
        print(f"  per {name:<10}" + ", ".join(f"{k} {v}" for k, v in s[f"per_{name}"].items()))
    print("  seconds/network " + ", ".join(
        f"{k} {v} (HDL build {s['build_seconds_per_network'].get(k, 0)}, HDL run "
        f"{s['rtl_run_seconds_per_network'].get(k, 0)})" for k, v in s["seconds_per_network"].items()))
    for b in s["bad"]:
        print(f"  {b['status'].upper()} {b['key']}: {b['why']}")
    for f in s["failed_tasks"]:
        print(f"  FAILED {f['key']}: {f['reason']} (a rerun retries it)")
    print(f"store {s['store']}")

"""`neurochip inspect`: what is in a core description and what memory it needs."""

from __future__ import annotations

import argparse

from neurochip.cli.main import EXIT_OK, emit_json, load_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="print layers, neurons, synapses and memory of a model",
                       description="Print the layers of a core description with neurons, "
                                   "synapses, bit widths, core mapping, weight-memory bits "
                                   "and the compression against 32-bit weights.")
    p.add_argument("model", help="core description (.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def summary(desc) -> dict:
    layers = []
    for lay in desc.layers:
        layers.append({
            "name": lay.name, "kind": lay.kind, "inputs": lay.inputs, "neurons": lay.neurons,
            "synapses": lay.inputs * lay.neurons, "weight_bits": lay.weight_bits,
            "membrane_bits": lay.membrane_bits, "overflow": lay.overflow,
            "reset": lay.neuron.reset, "leak": lay.neuron.leak,
            "leak_amount": lay.neuron.leak_amount, "integration": lay.neuron.integration,
            "core": lay.core.index, "lanes": lay.core.lanes, "words": lay.words,
            "fifo_depth": lay.core.fifo_depth, "weight_memory_bits": lay.weight_memory_bits,
        })
    synapses = sum(x["synapses"] for x in layers)
    wbits = sum(x["weight_memory_bits"] for x in layers)
    return {
        "name": desc.name, "hash": desc.content_hash(), "input_shape": list(desc.input_shape),
        "encoder": desc.encoder.kind, "encoder_seed": desc.encoder.seed,
        "time_steps": desc.time_steps, "clock_hz": desc.clock_hz,
        "count_bits": desc.count_bits, "layers": layers,
        "neurons": sum(x["neurons"] for x in layers), "synapses": synapses,
        "weight_memory_bits": wbits,
        "compression_vs_32bit": synapses * 32 / wbits,
    }


def run(args: argparse.Namespace) -> int:
    s = summary(load_model(args.model))
    if args.json:
        emit_json(s)
        return EXIT_OK
    print(f"{s['name']}  sha256 {s['hash'][:16]}")
    print(f"input {'x'.join(map(str, s['input_shape']))}, encoder {s['encoder']} (seed "
          f"{s['encoder_seed']}), T = {s['time_steps']}, clock {s['clock_hz'] / 1e6:g} MHz")
    head = f"{'layer':<8}{'in':>7}{'neurons':>9}{'synapses':>11}{'w':>3}{'B':>4}  " \
           f"{'reset':<9}{'leak':<10}{'integration':<14}{'core':>4}{'lanes':>6}{'K':>5}{'fifo':>6}{'weight bits':>13}"
    print(head)
    for x in s["layers"]:
        leak = x["leak"] if x["leak"] == "none" else f"{x['leak']}:{x['leak_amount']}"
        print(f"{x['name']:<8}{x['inputs']:>7}{x['neurons']:>9}{x['synapses']:>11}{x['weight_bits']:>3}"
              f"{x['membrane_bits']:>4}  {x['reset']:<9}{leak:<10}{x['integration']:<14}{x['core']:>4}"
              f"{x['lanes']:>6}{x['words']:>5}{x['fifo_depth']:>6}{x['weight_memory_bits']:>13}")
    print(f"total: {s['neurons']} neurons, {s['synapses']} synapses, {s['weight_memory_bits']} "
          f"weight-memory bits ({s['weight_memory_bits'] / 8192:.1f} KiB), "
          f"{s['compression_vs_32bit']:.1f}x smaller than 32-bit weights")
    return EXIT_OK

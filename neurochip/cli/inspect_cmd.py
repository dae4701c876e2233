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
    """Per layer: kind, shapes, synapses, stored weights and parameters, and the memory
    they take on the chip; totals and the compression against 32-bit values.

    ``compression_vs_32bit`` compares the weight memory (kernels for conv2d, lane padding
    included) with the same weights at 32 bits; ``compression_all_parameters`` also counts
    every other stored parameter (thresholds and biases at B bits, vs 32 bits).
    ``kernel_compression_vs_32bit`` is the same for the conv2d kernels alone and
    ``conv_compression_all_parameters`` adds the conv layers' own thresholds and biases
    (the "kernel memory compression" of ReStoCNet, counted both ways)."""
    from neurochip.kinds import get_kind
    from neurochip.neurons import get_model
    from neurochip.shapes import stream_shape

    layers = []
    shape_of = {"input": stream_shape(desc.input_shape)}
    for lay in desc.layers:
        kind, model = get_kind(lay.kind), get_model(lay.neuron.model)
        params = kind.channels(lay) * len(model.param_fields)
        memory = kind.memory_bits(lay)
        shape_of[lay.name] = kind.output_shape(lay)
        layers.append({
            "name": lay.name, "kind": lay.kind, "sources": list(lay.sources),
            "in_shape": [list(shape_of[s]) for s in lay.sources],
            "out_shape": list(kind.output_shape(lay)), **{k: v for k, v in lay.geometry.items()
                                                          if k != "in_shape"},
            "inputs": lay.inputs, "neurons": lay.neurons,
            "synapses": kind.synapses(lay), "stored_weights": kind.stored_weights(lay),
            "weight_bits": lay.weight_bits, "membrane_bits": lay.membrane_bits,
            "overflow": lay.overflow, "neuron_model": lay.neuron.model,
            **{k: v for k, v in vars(lay.neuron).items() if k != "model"},
            "core": lay.core.index, "lanes": lay.core.lanes, "words": lay.words,
            "fifo_depth": lay.core.fifo_depth,
            "weight_memory_bits": memory.get("weight_memory", 0),
            "other_memory_bits": {k: v for k, v in memory.items() if k != "weight_memory"},
            "parameters": params, "parameter_bits": params * lay.membrane_bits,
        })
    synapses = sum(x["synapses"] for x in layers)
    weights = sum(x["stored_weights"] for x in layers)
    wbits = sum(x["weight_memory_bits"] for x in layers)
    params = sum(x["parameters"] for x in layers)
    pbits = sum(x["parameter_bits"] for x in layers)
    conv = [x for x in layers if x["kind"] == "conv2d"]
    kernel_weights = sum(x["stored_weights"] for x in conv)
    kernel_bits = sum(x["weight_memory_bits"] for x in conv)
    conv_params = sum(x["parameters"] for x in conv)
    conv_pbits = sum(x["parameter_bits"] for x in conv)
    return {
        "name": desc.name, "hash": desc.content_hash(), "input_shape": list(desc.input_shape),
        "encoder": desc.encoder.kind, "encoder_seed": desc.encoder.seed,
        "time_steps": desc.time_steps, "clock_hz": desc.clock_hz,
        "count_bits": desc.count_bits, "layers": layers,
        "neurons": sum(x["neurons"] for x in layers), "synapses": synapses,
        "stored_weights": weights, "weight_memory_bits": wbits,
        "compression_vs_32bit": 32 * weights / wbits if wbits else None,
        "parameters": params, "parameter_bits": pbits,
        "compression_all_parameters": (32 * (weights + params) / (wbits + pbits)
                                       if wbits + pbits else None),
        "kernel_weights": kernel_weights, "kernel_memory_bits": kernel_bits,
        "kernel_compression_vs_32bit": 32 * kernel_weights / kernel_bits if kernel_bits else None,
        "conv_parameters": conv_params, "conv_parameter_bits": conv_pbits,
        "conv_compression_all_parameters": (32 * (kernel_weights + conv_params)
                                            / (kernel_bits + conv_pbits) if kernel_bits else None),
    }


def _ratio(x: float | None) -> str:
    """A compression ratio, or "n/a" where there is nothing to compress (no weight memory)."""
    return "n/a" if x is None else f"{x:.1f}x"


def _shape(s: list) -> str:
    return "x".join(map(str, s))


def run(args: argparse.Namespace) -> int:
    s = summary(load_model(args.model))
    if args.json:
        emit_json(s)
        return EXIT_OK
    print(f"{s['name']}  sha256 {s['hash'][:16]}")
    source = ("event input (§11.2)" if s["encoder"] == "events" else
              f"encoder {s['encoder']} (seed {s['encoder_seed']})")
    print(f"input {_shape(s['input_shape'])}, {source}, T = {s['time_steps']}, "
          f"clock {s['clock_hz'] / 1e6:g} MHz")
    head = (f"{'layer':<8}{'kind':<7}{'in':>10} {'out':<10}{'neurons':>8}{'synapses':>11}"
            f"{'weights':>9}{'w':>3}{'B':>4} {'neuron':<22}{'L':>4}{'K':>6}{'fifo':>6}"
            f"{'weight bits':>12}")
    print(head)
    for x in s["layers"]:
        if "psp" in x:  # ttfs (§6.1)
            neuron = f"{x['neuron_model']}:{x['psp']}"
        else:
            neuron = f"{x['neuron_model']}:{x.get('reset', '')}/{x.get('integration', '')[:5]}"
        if x.get("leak", "none") != "none":
            neuron += f"/{x['leak']}:{x['leak_amount']}"
        ins = "+".join(_shape(v) for v in x["in_shape"])
        print(f"{x['name']:<8}{x['kind']:<7}{ins:>10} {_shape(x['out_shape']):<10}"
              f"{x['neurons']:>8}{x['synapses']:>11}{x['stored_weights']:>9}"
              f"{x['weight_bits']:>3}{x['membrane_bits']:>4} {neuron:<22}{x['lanes']:>4}"
              f"{x['words']:>6}{x['fifo_depth']:>6}{x['weight_memory_bits']:>12}")
    print(f"total: {s['neurons']} neurons, {s['synapses']} synapses, {s['stored_weights']} "
          f"stored weights in {s['weight_memory_bits']} weight-memory bits "
          f"({s['weight_memory_bits'] / 8192:.1f} KiB), {_ratio(s['compression_vs_32bit'])} "
          "smaller than 32-bit weights")
    print(f"       {s['parameters']} thresholds/biases in {s['parameter_bits']} bits; counting "
          f"every stored parameter {_ratio(s['compression_all_parameters'])} smaller than 32-bit")
    if s["kernel_memory_bits"]:
        print(f"conv kernels: {s['kernel_weights']} weights in {s['kernel_memory_bits']} bits, "
              f"{s['kernel_compression_vs_32bit']:.1f}x smaller than 32-bit kernels; with "
              f"their {s['conv_parameters']} thresholds/biases ({s['conv_parameter_bits']} bits) "
              f"{s['conv_compression_all_parameters']:.1f}x")
    return EXIT_OK

"""Core description → NIR graph of standard primitives, with every chip-specific field in
node metadata (JSON text under the key ``neurochip``), so that importing the file gives
back the identical description (same content hash).

Per layer: a synapse node (``<layer>_syn``: Affine, Conv2d or SumPool2d; an ``add`` has one
Scale node per source, ``<layer>_g0``/``_g1``, both feeding the neuron node, whose two
incoming edges NIR sums), a Flatten (``<layer>_flat``) in front of an fc that reads a map,
and the neuron node named like the layer (IF, LIF or CubaLIF, see nir_neurons). A model
without a bias (ttfs) writes a zero synapse bias, which the read-back requires and drops."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from neurochip.description import CoreDescription, validate
from neurochip.interchange.nir_io import NEUROCHIP_KEY, NirError, require_nir
from neurochip.interchange.nir_kinds import KIND_NIR
from neurochip.interchange.nir_neurons import MODEL_NIR
from neurochip.kinds import get_kind
from neurochip.neurons import get_model
from neurochip.shapes import stream_shape

FORMAT = "neurochip-nir"
VERSION = 1
DEFAULT_DT = 1e-4  # snnTorch's hard-coded dt; any dt works (τ scales with it)


def nir_shape(hwc: tuple[int, int, int], flat: bool) -> tuple[int, ...]:
    """NIR layout of a chip stream: (N,) for a flat stream, (C, H, W) for a map."""
    h, w, c = hwc
    return (h * w * c,) if flat else (c, h, w)


def _node_names(desc: CoreDescription) -> dict[str, dict[str, str]]:
    taken = {"input", "output"} | {lay.name for lay in desc.layers}
    names = {}
    for lay in desc.layers:
        own = {"neuron": lay.name, "synapse": f"{lay.name}_syn", "flatten": f"{lay.name}_flat",
               "gain0": f"{lay.name}_g0", "gain1": f"{lay.name}_g1"}
        for key in ("synapse", "flatten", "gain0", "gain1"):
            if own[key] in taken:  # a layer literally named like another's helper node
                raise NirError(f"layer name {own[key]!r} collides with the helper node of "
                               f"layer {lay.name!r}; rename one of them")
        taken |= set(own.values())
        names[lay.name] = own
    return names


def export(desc: CoreDescription, dt: float = DEFAULT_DT) -> Any:
    """The NIR graph of ``desc`` (validated first)."""
    nir = require_nir()
    validate(desc)
    if not (isinstance(dt, float) and 0 < dt < float("inf")):
        raise NirError(f"dt = {dt!r}; use a finite time step > 0 in seconds")
    manifest = desc.manifest()
    layer_entries = {e["name"]: e for e in manifest.pop("layers")}
    names = _node_names(desc)
    shapes = {"input": stream_shape(desc.input_shape)}
    flat = {}
    first = next(lay for lay in desc.layers if "input" in lay.sources)
    flat["input"] = first.kind == "fc"
    nodes: dict[str, Any] = {
        "input": nir.Input(input_type={"input": np.array(nir_shape(shapes["input"], flat["input"]))})}
    edges: list[tuple[str, str]] = []
    lost_all: list[str] = []
    for lay in desc.layers:
        for table, key in ((KIND_NIR, lay.kind), (MODEL_NIR, lay.neuron.model)):
            if not hasattr(table[key], "export"):  # a registered NotExpressible
                raise NirError(f"layer {lay.name!r}: {key} cannot be exported to NIR "
                               f"({table[key].reason})")
        kind = get_kind(lay.kind)
        if "bias" not in get_model(lay.neuron.model).param_fields:  # ttfs: no bias (§6.1)
            lay = replace(lay, bias=np.zeros(kind.channels(lay), dtype=np.int64))
        own = names[lay.name]
        srcs = list(lay.sources)
        src_map = None
        if lay.kind == "fc" and not flat[srcs[0]]:
            src_map = shapes[srcs[0]]
        entry_src = srcs if lay.kind == "add" else srcs[0]
        new_nodes, new_edges, into = KIND_NIR[lay.kind].export(nir, lay, entry_src, src_map, own)
        out_hwc = kind.output_shape(lay)
        flat[lay.name] = lay.kind == "fc"
        shapes[lay.name] = out_hwc
        neuron, lost = MODEL_NIR[lay.neuron.model].export(
            nir, lay, dt, nir_shape(out_hwc, flat[lay.name]))
        if lay.kind == "pool" and lay.geometry.get("emit") == "once":
            lost.append("emit = once (each window spikes at most once per image)")
        if lay.kind in ("pool", "add") and np.any(lay.bias != 0):
            lost.append("the bias (no bias field on SumPool2d/Scale; kept in metadata)")
        meta: dict[str, Any] = {"layer": layer_entries[lay.name],
                                "nodes": {k: v for k, v in own.items()
                                          if v in new_nodes or k == "neuron"},
                                "src_map": list(src_map) if src_map is not None else None,
                                "lost_without_metadata": lost}
        if lay.kind in ("pool", "add"):
            meta["bias"] = [int(b) for b in lay.bias]
        neuron.metadata = {NEUROCHIP_KEY: json.dumps(meta, sort_keys=True)}
        nodes.update(new_nodes)
        nodes[own["neuron"]] = neuron
        edges += new_edges
        edges += [(i, own["neuron"]) for i in ([into] if isinstance(into, str) else into)]
        lost_all += [f"{lay.name}: {x}" for x in lost]
    modes = ", ".join(sorted({lay.overflow for lay in desc.layers}))
    lost_all.append(f"overflow at each layer's membrane bits ({modes}): float readers do "
                    "not model it")
    last = desc.layers[-1]
    nodes["output"] = nir.Output(output_type={"output": np.array(
        nir_shape(shapes[last.name], flat[last.name]))})
    edges.append((last.name, "output"))
    top = {"format": FORMAT, "version": VERSION, "dt": dt, "manifest": manifest,
           "layers": [lay.name for lay in desc.layers]}
    meta = {NEUROCHIP_KEY: json.dumps(top, sort_keys=True)}
    try:
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)
    except ValueError:  # an fc's (N,) output read as a (1, 1, N) map: NIR has no reshape
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)
        lost_all.append("an fc output feeds a map layer as (N, 1, 1); NIR has no reshape "
                        "node, so the file does not type-check in other readers")
    graph.metadata["neurochip_lost_without_metadata"] = json.dumps(lost_all)
    return graph


def export_file(desc: CoreDescription, path, dt: float = DEFAULT_DT) -> list[str]:
    """Write ``desc`` as a NIR file; returns what a reader without the metadata loses."""
    nir = require_nir()
    graph = export(desc, dt)
    nir.write(path, graph)
    return json.loads(graph.metadata["neurochip_lost_without_metadata"])

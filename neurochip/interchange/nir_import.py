"""NIR graph → core description.

A file written by ``neurochip nir export`` (graph metadata ``neurochip``) comes back
exactly: integer arrays from the standard fields, every other field from the metadata,
validated like any ``model.npz``. Any other graph is *foreign*: it is mapped node by node
and quantized (``nir_foreign``), with every choice reported."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurochip.description import CoreDescription, from_arrays
from neurochip.description.fields import DescriptionError
from neurochip.interchange import nir_io
from neurochip.interchange.nir_io import NEUROCHIP_KEY, NirError


@dataclass
class ImportOptions:
    """The importer's choices for a foreign graph (docs/nir.md explains each)."""

    time_steps: int = 8
    dt: float | None = None  # None: the graph's metadata, else 1e-4 (snnTorch's)
    weight_bits: int | None = None  # None: exact integers if they fit 8 bits, else 8
    membrane_bits: int | None = None  # None: wide enough that nothing saturates (≤ 32)
    leak: str = "shift"  # how 0 < β < 1 maps: shift, subtract, none
    reset: str = "zero"  # zero (NIR's v_reset) or subtract (snnTorch's default)
    encoder: str = "bernoulli_lfsr"
    seed: int = 1
    lanes: int = 64
    fifo_depth: int = 64
    name: str = "nir-import"
    foreign: bool = False  # ignore neurochip metadata and quantize as a float graph


@dataclass
class LayerMap:
    """Which NIR neuron node a chip layer is, and how its neurons line up."""

    layer: str
    node: str
    flat: bool  # NIR layout (N,) (else (C, H, W))
    notes: list[str] = field(default_factory=list)
    approximated: bool = False


@dataclass
class ImportResult:
    desc: CoreDescription
    exact: bool  # a neurochip-exported file read back (no quantization)
    dt: float
    reset: str
    input_flat: bool
    layers: list[LayerMap]
    choices: list[str]


def import_file(path: str | Path, options: ImportOptions | None = None) -> tuple[ImportResult, Any]:
    """Read, check and import ``path``; returns the result and the checked graph."""
    options = options or ImportOptions()
    origin = str(path)
    graph = nir_io.read(path)
    try:
        g = nir_io.check(graph, origin)
        return import_graph(g, origin, options), g
    except DescriptionError:  # NirError included: already one line naming the field
        raise
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError,
            ZeroDivisionError) as exc:  # a field of a type or shape no check foresaw
        raise NirError(f"{origin}: malformed NIR graph ({type(exc).__name__}: "
                       f"{str(exc)[:160]}); re-export it with nir.write") from None


def import_graph(g: nir_io.Graph, origin: str, options: ImportOptions) -> ImportResult:
    if NEUROCHIP_KEY in g.metadata and not options.foreign:
        return read_back(g, origin)
    from neurochip.interchange.nir_foreign import import_foreign

    return import_foreign(g, origin, options)


def _json(text: Any, what: str, origin: str) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise NirError(f"{origin}: {what} is {type(text).__name__}, not JSON text; remove the "
                       "'neurochip' metadata or re-export with `neurochip nir export`")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NirError(f"{origin}: {what} is not valid JSON ({exc}); remove the 'neurochip' "
                       "metadata or re-export with `neurochip nir export`") from None


def read_back(g: nir_io.Graph, origin: str) -> ImportResult:
    """The exact description a neurochip export carries."""
    from neurochip.interchange.nir_export import FORMAT, VERSION
    from neurochip.interchange.nir_kinds import KIND_NIR
    from neurochip.interchange.nir_neurons import MODEL_NIR
    from neurochip.neurons import get_model

    top = _json(g.metadata[NEUROCHIP_KEY], "graph metadata 'neurochip'", origin)
    if not (isinstance(top, dict) and top.get("format") == FORMAT):
        raise NirError(f"{origin}: graph metadata 'neurochip' is not a {FORMAT!r} record; "
                       "re-export with `neurochip nir export` or pass --foreign")
    if top.get("version") != VERSION:
        raise NirError(f"{origin}: graph metadata 'neurochip' has version "
                       f"{top.get('version')!r}; this neurochip reads version {VERSION} "
                       "(upgrade neurochip, or pass --foreign to quantize the float graph)")
    manifest, layer_nodes = top.get("manifest"), top.get("layers")
    if not isinstance(manifest, dict) or not isinstance(layer_nodes, list) or not layer_nodes:
        raise NirError(f"{origin}: graph metadata 'neurochip' lacks 'manifest' or 'layers'")
    manifest = dict(manifest)
    raw: dict[str, np.ndarray] = {}
    entries, maps = [], []
    for node_name in layer_nodes:
        if not isinstance(node_name, str) or node_name not in g.nodes:
            raise NirError(f"{origin}: metadata names layer node {node_name!r}, which the graph "
                           "does not have")
        node = g.nodes[node_name]
        meta = _json((getattr(node, "metadata", None) or {}).get(NEUROCHIP_KEY),
                     f"node {node_name!r} metadata 'neurochip'", origin)
        if not isinstance(meta, dict) or not isinstance(meta.get("layer"), dict):
            raise NirError(f"{origin}: node {node_name!r} metadata lacks the 'layer' record")
        entry = meta["layer"]
        kind, model = entry.get("kind"), (entry.get("neuron") or {}).get("model")
        if kind not in KIND_NIR or model not in MODEL_NIR or any(
                not hasattr(e, "read_back") for e in (KIND_NIR[kind], MODEL_NIR[model])):
            raise NirError(f"{origin}: node {node_name!r}: layer kind {kind!r} / neuron model "
                           f"{model!r} has no NIR entry in this neurochip "
                           f"(kinds {sorted(KIND_NIR)}, models {sorted(MODEL_NIR)})")
        names = meta.get("nodes") or {}
        for role, ref in names.items():
            if ref not in g.nodes:
                raise NirError(f"{origin}: node {node_name!r} metadata names {role} node "
                               f"{ref!r}, which the graph does not have")
        weight, bias = KIND_NIR[kind].read_back(g, meta, names, origin)
        theta = MODEL_NIR[model].read_back(node, node_name, origin)
        lname = str(entry.get("name"))
        if weight is not None:
            raw[f"{lname}.weight"] = weight
        raw[f"{lname}.threshold"] = theta
        if "bias" in get_model(model).param_fields:
            raw[f"{lname}.bias"] = bias
        elif np.any(bias != 0):  # ttfs (§6.1): exported as a zero synapse bias
            raise NirError(f"{origin}: node {node_name!r}: the synapse bias is not zero, but a "
                           f"{model} layer has no bias; set it to 0 or pass --foreign")
        entries.append(entry)
        lost = meta.get("lost_without_metadata")
        notes = ["read back exactly"]
        if isinstance(lost, list) and lost and all(isinstance(x, str) for x in lost):
            notes.append("a reader without the neurochip metadata loses: "
                         + "; ".join(lost))
        maps.append(LayerMap(lname, node_name, kind == "fc", notes))
    manifest["layers"] = entries
    try:
        text = json.dumps(manifest)
    except (TypeError, ValueError) as exc:
        raise NirError(f"{origin}: metadata cannot form a manifest ({exc})") from None
    raw["manifest"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    desc = from_arrays(raw, origin=f"{origin} (neurochip metadata)")
    dt = top.get("dt", 1e-4)
    first = next(lay for lay in desc.layers if "input" in lay.sources)
    return ImportResult(desc, True, float(dt), "as described", first.kind == "fc", maps,
                        ["neurochip metadata found: the description is read back exactly "
                         "(arrays from the standard fields, the rest from metadata)"])

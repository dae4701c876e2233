"""Reading NIR files defensively: every malformed or hostile file (not HDF5, truncated,
unknown node types, wrong shapes, NaN, cycles, dangling edges) becomes one
:class:`NirError` line naming the node and the fix, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurochip.description.fields import DescriptionError
from neurochip.description.model import MAX_DESCRIPTION_BYTES

MAX_FILE_BYTES = 1 << 31  # refuse anything larger than 2 GiB before opening it
# and datasets that would unpack to more than a description may hold (float64 weights of
# MAX_DESCRIPTION_BYTES / 8 values, as the importer holds them) plus 64 MiB of the rest
MAX_UNPACKED_BYTES = MAX_DESCRIPTION_BYTES + (64 << 20)
NEUROCHIP_KEY = "neurochip"  # metadata key of the chip-specific fields (JSON text)


class NirError(DescriptionError):
    """A NIR file or graph the chip cannot take; a ValueError, so the CLI exits 2."""


def require_nir() -> Any:
    """The ``nir`` package, or a NirError saying how to install it."""
    try:
        import nir
    except ImportError as exc:
        raise NirError(f"the 'nir' package is not installed ({exc}); install it with "
                       "`pip install 'neurochip[nir]'`") from None
    return nir


def read(path: str | Path) -> Any:
    """Load ``path`` as a ``nir.NIRGraph``; refuse files that are not NIR graphs."""
    nir = require_nir()
    path = Path(path)
    if not path.is_file():
        raise NirError(f"{path}: no such file; pass a .nir file written by nir.write "
                       "(e.g. snntorch.export_nir) or `neurochip nir export`")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise NirError(f"{path}: {path.stat().st_size} bytes is larger than the 2 GiB this "
                       "importer reads; the file is not a network the chip can hold")
    import h5py

    try:
        ok = h5py.is_hdf5(path)
    except OSError:
        ok = False
    if not ok:
        raise NirError(f"{path}: not an HDF5 file, so not NIR; write it with nir.write")
    graph = _in_child(_read_hdf5, path)
    if not isinstance(graph, nir.NIRGraph):
        raise NirError(f"{path}: holds a single {type(graph).__name__} node, not a graph; "
                       "export the whole network as a nir.NIRGraph")
    return graph


def _read_hdf5(path: Path) -> Any:
    """The graph of ``path`` (sizes checked first), or NirError."""
    import h5py

    nir = require_nir()
    _check_sizes(h5py, path)
    try:
        return nir.read(path, type_check=False)  # shapes are checked while importing
    except RecursionError:
        raise NirError(f"{path}: the graph nests too deeply to read; it is not a NIR file "
                       "this importer accepts") from None
    except Exception as exc:  # truncated datasets, missing keys, unknown types, bad shapes
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise NirError(f"{path}: unreadable NIR file ({type(exc).__name__}: {msg}); "
                       "re-export it with nir.write") from None


def _in_child(fn, path: Path) -> Any:
    """``fn(path)`` in a forked child process: the HDF5 C library can crash (segfault) on a
    corrupt file, and that must cost one error line, not the process. Where fork is not
    available the read runs in this process."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        return fn(path)
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(fn, path, send), daemon=True)
    child.start()
    send.close()
    try:
        ok, payload = receive.recv()
    except EOFError:  # the child died without answering
        child.join()
        raise NirError(f"{path}: the HDF5 library crashed reading it (exit {child.exitcode}); "
                       "the file is corrupt: re-export it with nir.write") from None
    finally:
        receive.close()
    child.join()
    if not ok:
        raise NirError(payload)
    return payload


def _child(fn, path: Path, send) -> None:
    import faulthandler

    faulthandler.disable()  # a crash here is reported by the parent, in one line
    try:
        answer = (True, fn(path))
    except NirError as exc:
        answer = (False, str(exc))
    except MemoryError:
        answer = (False, f"{path}: reading it needs more memory than this machine has")
    except Exception as exc:  # noqa: BLE001 - reported as one line by the parent
        answer = (False, f"{path}: unreadable NIR file ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); re-export it with nir.write")
    try:
        send.send(answer)
    except Exception as exc:  # noqa: BLE001 - e.g. a graph that does not pickle
        send.send((False, f"{path}: could not pass the graph on ({type(exc).__name__})"))
    finally:
        send.close()


def _check_sizes(h5py, path: Path) -> None:
    """Refuse datasets that would unpack to more than MAX_UNPACKED_BYTES (a compressed
    HDF5 dataset can be far larger than its file) before nir.read loads them."""
    total = 0

    def visit(_name: str, obj: Any) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += int(np.prod(obj.shape, dtype=np.float64)) * max(1, obj.dtype.itemsize)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception as exc:  # truncated or corrupt: reported like nir.read's failures
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise NirError(f"{path}: unreadable NIR file ({type(exc).__name__}: {msg}); "
                       "re-export it with nir.write") from None
    if total > MAX_UNPACKED_BYTES:
        raise NirError(f"{path}: its datasets would unpack to {total:.0f} bytes (limit "
                       f"{MAX_UNPACKED_BYTES}); not a network the chip can hold")


@dataclass
class Graph:
    """A checked NIR graph: nodes, predecessors and successors, a topological order."""

    nodes: dict[str, Any]
    preds: dict[str, list[str]]
    succs: dict[str, list[str]]
    order: list[str]
    metadata: dict[str, Any]

    def type_of(self, name: str) -> str:
        return type(self.nodes[name]).__name__


INFINITE_OK = ("tau", "tau_mem", "tau_syn", "r", "w_in")  # snnTorch: τ = R = w_in = ∞ for β = α = 1
ARRAY_FIELDS = ("weight", "bias", "tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold",
                "v_reset", "w_in", "scale", "kernel_size", "stride", "padding", "dilation")


def check(graph: Any, origin: str) -> Graph:
    """Edges name existing nodes, no cycles, no nested graphs, finite parameters."""
    nir = require_nir()
    nodes = dict(graph.nodes) if isinstance(getattr(graph, "nodes", None), dict) else None
    if not nodes:
        raise NirError(f"{origin}: the graph has no nodes")
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    succs: dict[str, list[str]] = {k: [] for k in nodes}
    for edge in graph.edges or []:
        if not (isinstance(edge, (tuple, list)) and len(edge) == 2):
            raise NirError(f"{origin}: edge {edge!r} is not a (source, target) pair")
        a, b = (str(e) for e in edge)
        for end in (a, b):
            if end not in nodes:
                raise NirError(f"{origin}: edge ({a!r}, {b!r}) names node {end!r}, which the "
                               "graph does not have; fix the edge list")
        if b in succs[a]:
            raise NirError(f"{origin}: edge ({a!r}, {b!r}) appears twice; remove the duplicate")
        succs[a].append(b)
        preds[b].append(a)
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise NirError(f"{origin}: node {name!r} is a nested graph (a recurrent "
                           "subgraph?); the chip is feed-forward: flatten it or remove the "
                           "recurrence")
        for key in ARRAY_FIELDS:
            val = getattr(node, key, None)
            if val is None:
                continue
            arr = np.asarray(val)
            if key == "padding" and arr.dtype.kind in "US" and arr.ndim == 0:
                continue  # "same" / "valid", checked by the conv2d entry
            if arr.dtype.kind not in "iuf":
                raise NirError(f"{origin}: node {name!r} field '{key}' has dtype {arr.dtype}; "
                               "it must hold numbers")
            if arr.dtype.kind == "f" and np.isnan(arr).any():
                raise NirError(f"{origin}: node {name!r} field '{key}' holds NaN; re-export "
                               "the trained network (NaN parameters cannot run anywhere)")
            if key not in INFINITE_OK and arr.dtype.kind == "f" and np.isinf(arr).any():
                raise NirError(f"{origin}: node {name!r} field '{key}' holds ±inf; only time "
                               "constants, R and w_in may be infinite (β = 1, α = 1)")
    order = _topological(nodes, preds, succs, origin)
    meta = dict(getattr(graph, "metadata", None) or {})
    return Graph(nodes, preds, succs, order, meta)


def _topological(nodes: dict, preds: dict, succs: dict, origin: str) -> list[str]:
    """Kahn's order, ties by insertion order; a cycle is named by one of its nodes."""
    indeg = {k: len(v) for k, v in preds.items()}
    ready = [k for k in nodes if indeg[k] == 0]
    order: list[str] = []
    while ready:
        k = ready.pop(0)
        order.append(k)
        for s in succs[k]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    if len(order) < len(nodes):
        stuck = next(k for k in nodes if indeg[k] > 0)
        raise NirError(f"{origin}: the graph has a cycle through node {stuck!r} (recurrence); "
                       "the chip is feed-forward, so only acyclic graphs can be imported")
    return order


def floats(node: Any, key: str, name: str, origin: str) -> np.ndarray:
    """A node's numeric field as float64, refusing a missing one."""
    val = getattr(node, key, None)
    if val is None:
        raise NirError(f"{origin}: node {name!r} ({type(node).__name__}) has no '{key}'")
    return np.asarray(val, dtype=np.float64)

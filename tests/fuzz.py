"""Seeded fuzzing of the input surfaces (issue 28): model files, NIR graphs, IDX folders,
event recordings (N-MNIST folders and dense .npz, issue 27) and command-line misuse.

``make_cases(folder, seed, per_surface)`` writes the hostile inputs of each case into
``folder`` and returns the cases; ``run_cases`` runs them through ``neurochip.cli.main``
in a worker subprocess whose address space is capped (``resource.RLIMIT_AS``), so a
memory blow-up fails a case instead of the machine, with a per-case alarm for hangs.
Every case is classified:

* ``refusal``: exit 2, the last stderr line an ``error:`` line (naming ``must_name`` when
  the case says what must be named), no traceback;
* ``ran``: exit 0 (or 1, a run that reported a failure, e.g. no RTL simulator);
* ``traceback``: an exception escaped ``main``; ``hang``: the alarm fired;
  ``memory``: a MemoryError (the cap) or the "out of memory" line; ``crash``: the worker
  died;
* ``silent``: a documented-invalid case (``expect = "refuse"``) that ran, or was refused
  for another reason than the one it must name; ``unclear``: any other exit without an
  ``error:`` line.

Reproduce one case: ``python tests/fuzz.py --seed 0 --per-surface 200 --only idx-0017``.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import io
import json
import os
import random
import struct
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SMALL_MODEL = ROOT / "models" / "ste-bp-mnist-small.npz"
MEMORY_CAP = 3 << 30  # address space of the worker: ~0.4 GiB used by a warm run
CLASSES = ("refusal", "ran", "traceback", "hang", "memory", "crash", "silent", "unclear")
BAD = ("traceback", "hang", "memory", "crash", "silent", "unclear")


@dataclass
class Case:
    id: str
    argv: list[str]
    expect: str = "any"  # "refuse": documented-invalid input
    must_name: str = ""  # a refusal must name this (what made the input invalid)
    note: str = ""
    result: dict = field(default_factory=dict)


# ------------------------------------------------------------------ shared valid inputs
class Base:
    """Valid inputs every surface mutates: two models (fc; conv2d + pool), their NIR
    exports and an IDX folder of 8 images (train and test)."""

    def __init__(self, folder: Path, heavy: bool = True):
        from neurochip.datasets import load_sample, write_idx
        from neurochip.description import save
        from neurochip.random_networks import random_description

        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.heavy = folder, heavy
        self.models = []
        fc = random_description(11, kinds=("fc",), models=("lif",), max_layers=2)
        conv = next(d for s in range(500) for d in [random_description(
            s, kinds=("conv2d", "pool"), models=("lif", "ttfs", "bistable"), max_layers=3)]
            if {lay.kind for lay in d.layers} == {"conv2d", "pool"})
        for name, desc in (("fc", fc), ("conv", conv)):
            save(desc, folder / f"{name}.npz")
            self.models.append(folder / f"{name}.npz")
        self.idx = folder / "idx"
        self.idx.mkdir(exist_ok=True)
        images, labels = load_sample()
        for split in ("train", "t10k"):
            write_idx(self.idx / f"{split}-images-idx3-ubyte.gz", images[:8])
            write_idx(self.idx / f"{split}-labels-idx1-ubyte.gz", labels[:8])
        self.event_model = _event_model(folder / "events.npz")
        self.graphs: list[Path] = []
        try:
            from neurochip.interchange.nir_export import export_file

            for path in (*self.models, SMALL_MODEL):
                from neurochip.description import load

                out = folder / f"{path.stem}.nir"
                export_file(load(path), out, 1e-4)
                self.graphs.append(out)
        except ImportError:  # no nir: the NIR surface is skipped
            pass


    def cached(self, name: str, build) -> Path:
        """A costly hostile file, built once (``build(path)``) and copied into cases."""
        path = self.folder / name
        if not path.exists():
            build(path)
        return path


def _stream_member(zf: zipfile.ZipFile, name: str, header: bytes, zeros: int) -> None:
    """A zip member of ``header`` then ``zeros`` zero bytes, compressed as it is written."""
    with zf.open(name, "w", force_zip64=True) as f:
        f.write(header)
        chunk = bytes(1 << 24)
        for _ in range(zeros // len(chunk)):
            f.write(chunk)
        f.write(bytes(zeros % len(chunk)))


def _huge_fc(manifest: dict, path: Path, heavy: bool) -> None:
    """Issue 28 item 3: a ~1 MB model whose fc layer declares 32768 × 32767 and whose
    weight member really holds that many int8 zeros (8 GiB as int64); not ``heavy``: the
    same declarations with an empty weight member (what a bounded reader sees first)."""
    n_in, n_out = 32768, 32767
    manifest = json.loads(json.dumps(manifest))
    manifest["input"]["shape"] = [n_in]
    lay = manifest["layers"][0]
    manifest["layers"] = [lay]
    lay.update(inputs=n_in, neurons=n_out, source="input")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("manifest.npy", _npy(np.frombuffer(json.dumps(manifest).encode(), np.uint8)))
        for part in ("threshold", "bias"):
            zf.writestr(f"{lay['name']}.{part}.npy", _npy(np.ones(n_out, np.int64)))
        _stream_member(zf, f"{lay['name']}.weight.npy",
                       _npy_header((n_in, n_out), "|i1"), n_in * n_out if heavy else 0)


def _extra_members(manifest: dict, arrays: dict, path: Path, heavy: bool) -> None:
    """Issue 28 item 4: five extra members of 1e9 bytes each behind a valid model (not
    ``heavy``: their headers alone)."""
    _npz(path, {"manifest": np.frombuffer(json.dumps(manifest).encode(), np.uint8), **arrays})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for k in range(5):
            _stream_member(zf, f"extra{k}.npy", _npy_header((10**9 - 128,), "|u1"),
                           10**9 - 128 if heavy else 0)


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


# ------------------------------------------------------------------ model files
def _typo(key: str, rng: random.Random) -> str:
    i = rng.randrange(len(key))
    return key[:i] + key[i + 1:] if len(key) > 1 else key + "x"


HOSTILE_VALUES = (None, -1, 0, 2**70, -(2**70), 1e308, float("nan"), "x", "", [], {}, True,
                  [1] * 5, [2**40, 2**40], 32768, 32767, 4097, 0.5)


def _paths(obj, prefix=()):
    """Every (path, value) inside a JSON object (provenance left out)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "provenance":
                continue
            yield prefix + (k,), v
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield prefix + (i,), v
            yield from _paths(v, prefix + (i,))


def _parent(obj, path):
    for p in path[:-1]:
        obj = obj[p]
    return obj


def _npz(path: Path, members: dict[str, bytes | np.ndarray]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, val in members.items():
            if isinstance(val, np.ndarray):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, val, allow_pickle=True)
                val = buf.getvalue()
            zf.writestr(name if name.endswith(".npy") or "/" in name else f"{name}.npy", val)


def _npy_header(shape, dtype="<i8") -> bytes:
    """A .npy header declaring ``shape`` with no data behind it."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": tuple(shape)})
    return buf.getvalue()


def model_case(i: int, rng: random.Random, base: Base, out: Path) -> Case:
    from neurochip.description import load

    src = base.models[rng.randrange(len(base.models))]
    desc = load(src)
    manifest = desc.manifest()
    arrays = dict(desc.arrays())
    path = out / f"model-{i:04d}.npz"
    argv = ["inspect", str(path)]
    kind = rng.choice(["field", "field", "field", "unknown", "drop", "array", "declared",
                       "zip", "extra", "bytes"])
    expect, name, note = "any", "", kind

    def write():
        _npz(path, {"manifest": np.frombuffer(json.dumps(manifest).encode(), np.uint8),
                    **arrays})

    if kind in ("field", "unknown", "drop"):
        paths = list(_paths(manifest))
        p, _ = paths[rng.randrange(len(paths))]
        parent = _parent(manifest, p)
        if kind == "field":
            val = rng.choice(HOSTILE_VALUES)
            parent[p[-1]] = val
            note = f"field {p} = {val!r}"
        elif kind == "unknown" and isinstance(parent, dict):
            typo = _typo(str(p[-1]), rng)
            if typo not in parent:
                parent[typo] = parent[p[-1]]
                expect, name, note = "refuse", f"{typo}'", f"unknown key {typo!r}"
        elif kind == "drop":
            if isinstance(parent, dict):
                del parent[p[-1]]
            else:
                parent.pop(p[-1])
            note = f"dropped {p}"
        write()
    elif kind == "array":
        key = rng.choice(sorted(arrays))
        how = rng.choice(["float", "shape", "range", "uint64", "object", "missing", "2d"])
        arr = arrays[key]
        if how == "float":
            arrays[key] = arr.astype(np.float32)
        elif how == "shape":
            arrays[key] = np.concatenate([arr.reshape(-1), arr.reshape(-1)[:1]])
        elif how == "range":
            arrays[key] = np.full(arr.shape, 2**40, np.int64)
        elif how == "uint64":
            arrays[key] = np.full(arr.shape, 2**64 - 1, np.uint64)
        elif how == "object":
            arrays[key] = np.array([object()] * max(arr.size, 1), dtype=object)
        elif how == "missing":
            del arrays[key]
        else:
            arrays[key] = arr.reshape(1, -1) if arr.ndim == 1 else arr.reshape(-1)
        expect, name, note = "refuse", key, f"array {key} {how}"
        write()
    elif kind == "declared":
        how = rng.choice(["huge-fc", "huge-header", "huge-input", "extra-1e9"])
        fc = load(base.models[0])
        if how == "huge-fc":
            build = (lambda p: _huge_fc(fc.manifest(), p, base.heavy))
            path.write_bytes(base.cached("huge-fc.npz", build).read_bytes())
            expect, name = "refuse", "bytes a description may hold"
        elif how == "extra-1e9":
            build = (lambda p: _extra_members(fc.manifest(), fc.arrays(), p, base.heavy))
            path.write_bytes(base.cached("extra-1e9.npz", build).read_bytes())
            # heavy: the zip directory's sizes refuse it; light: the unknown names
            expect, name = "refuse", "would unpack to" if base.heavy else "unexpected arrays"
        elif how == "huge-input":
            manifest["input"]["shape"] = [2**40, 2**40]
            expect, name = "refuse", "input.shape"
        if how in ("huge-input", "huge-header"):
            write()
        if how == "huge-header":
            key = rng.choice(sorted(arrays))
            members = {"manifest": np.frombuffer(json.dumps(manifest).encode(), np.uint8),
                       **{k: v for k, v in arrays.items() if k != key}}
            members[key] = _npy_header((2**31, 2**20))
            _npz(path, members)
            expect, name = "refuse", key
        note = f"declared {how}"
    elif kind == "extra":
        write()
        size = rng.choice([1 << 20, 16 << 20, 64 << 20])
        with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            with zf.open(rng.choice(["junk.npy", "l0.extra.npy", "notes.txt"]), "w",
                         force_zip64=True) as f:
                for _ in range(size >> 20):
                    f.write(bytes(1 << 20))
        expect, note = "refuse", f"extra member of {size} bytes"
    elif kind == "zip":
        write()
        data = path.read_bytes()
        how = rng.choice(["truncate", "empty", "random", "text"])
        if how == "truncate":
            data = data[:rng.randrange(len(data))]
        elif how == "empty":
            data = b""
        elif how == "random":
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096)))
        else:
            data = b"manifest = {}\n"
        path.write_bytes(data)
        expect, note = "refuse", f"zip {how}"
    else:  # flip bytes anywhere: any outcome but a traceback, hang or blow-up
        write()
        data = bytearray(path.read_bytes())
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        note = "flipped bytes"
    if rng.random() < 0.15 and expect == "refuse":
        argv = ["nir", "export", str(path), "-o", str(out / f"model-{i:04d}.nir")]
    return Case(f"model-{i:04d}", argv, expect, name, note)


# ------------------------------------------------------------------ NIR graphs
def nir_case(i: int, rng: random.Random, base: Base, out: Path) -> Case:
    import nir

    path = out / f"nir-{i:04d}.nir"
    src = base.graphs[rng.randrange(len(base.graphs))]
    argv = ["nir", "import", str(path), "-o", str(out / f"nir-{i:04d}.npz"), "--images", "0"]
    foreign = rng.random() < 0.4
    if foreign:
        argv.append("--foreign")
    g = nir.read(src)
    convs = [n for n in g.nodes.values() if type(n).__name__ == "Conv2d"]
    pools = [n for n in g.nodes.values() if type(n).__name__ == "SumPool2d"]
    kind = rng.choice(["conv", "pool", "weight", "metadata", "edges", "bytes", "truncate"])
    expect, name, note = "any", "", kind
    if kind == "conv" and convs:
        node = rng.choice(convs)
        fld, val, bad = rng.choice([
            ("groups", 0, "groups"), ("groups", -1, "groups"), ("groups", 7, None),
            ("input_shape", np.array([7, 7]), "input_shape"),
            ("input_shape", np.array([10**9, 10**9]), "input_shape"),
            ("stride", np.array([0, 0]), None), ("stride", np.array([99, 99]), None),
            ("padding", np.array([-1, -1]), None), ("padding", np.array([1, 0]), None),
            ("dilation", np.array([2, 2]), None)])
        setattr(node, fld, val)
        note = f"Conv2d {fld} = {val!r}"
        if bad:
            expect, name = "refuse", bad
    elif kind == "pool" and pools:
        node = rng.choice(pools)
        fld, val = rng.choice([("padding", np.array([1, 1])), ("stride", np.array([0, 0])),
                               ("kernel_size", np.array([99, 99])),
                               ("kernel_size", np.array([0, 0]))])
        setattr(node, fld, val)
        note = f"SumPool2d {fld} = {val!r}"
        if fld == "padding":
            expect, name = "refuse", "padding"
    elif kind == "weight":
        nodes = [n for n in g.nodes.values() if hasattr(n, "weight")]
        node = rng.choice(nodes)
        how = rng.choice(["nan", "inf", "shape", "huge"])
        w = np.asarray(node.weight, np.float64)
        node.weight = {"nan": np.full_like(w, np.nan), "inf": np.full_like(w, np.inf),
                       "shape": w.reshape(-1)[: max(1, w.size // 2)],
                       "huge": np.full_like(w, 1e300)}[how]
        note = f"weight {how}"
    elif kind == "metadata":
        node = rng.choice([n for n in g.nodes.values() if getattr(n, "metadata", None)]
                          or list(g.nodes.values()))
        meta = dict(getattr(node, "metadata", None) or {})
        text = meta.get("neurochip", "{}")
        how = rng.choice(["json", "layer", "drop"])
        if how == "json":
            meta["neurochip"] = text[: rng.randrange(len(text) + 1)] + "{"
        elif how == "layer":
            try:
                obj = json.loads(text)
                if isinstance(obj, dict) and isinstance(obj.get("layer"), dict):
                    obj["layer"][rng.choice(sorted(obj["layer"]))] = rng.choice(
                        [None, -1, 2**70, "x", [], 1e308])
                meta["neurochip"] = json.dumps(obj)
            except ValueError:
                pass
        else:
            meta.pop("neurochip", None)
        node.metadata = meta
        g.metadata = dict(g.metadata or {})
        note = f"metadata {how}"
    elif kind == "edges" and g.edges:
        how = rng.choice(["drop", "cycle", "dangling"])
        edges = list(g.edges)
        if how == "drop":
            edges.pop(rng.randrange(len(edges)))
        elif how == "cycle":
            a, b = edges[rng.randrange(len(edges))]
            edges.append((b, a))
        else:
            edges.append((edges[0][0], "nowhere"))
        g.edges = edges
        note = f"edges {how}"
    try:
        nir.write(path, g)
    except Exception:  # nir itself cannot write it: keep the valid graph
        path.write_bytes(src.read_bytes())
        expect, name, note = "any", "", note + " (unwritable; valid graph)"
    if kind in ("bytes", "truncate"):
        data = bytearray(path.read_bytes())
        if kind == "truncate":
            data = data[:rng.randrange(len(data))]
            expect, note = "refuse", "truncated HDF5"
        else:
            for _ in range(rng.randrange(1, 16)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
    return Case(f"nir-{i:04d}", argv, expect, name, note)


# ------------------------------------------------------------------ IDX folders
def _idx(shape, code=0x08, payload: bytes | None = None) -> bytes:
    head = struct.pack(f">HBB{len(shape)}I", 0, code, len(shape), *shape)
    return head + (payload if payload is not None else bytes(int(np.prod(shape, dtype=object))))


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


_ZEROS = 64 << 20


@functools.lru_cache(maxsize=1)
def _zeros_member() -> bytes:
    """One gzip member of 64 MiB of zeros (about 64 kB)."""
    return gzip.compress(bytes(_ZEROS), compresslevel=9, mtime=0)


def _bomb(path: Path, head: bytes, zeros: int) -> None:
    """A multi-member gzip file (read as one stream): ``head``, then ``zeros`` zero bytes
    (rounded up to 64 MiB) in a few kB per 64 MiB, e.g. 3.5 GiB in 3.6 MB."""
    with path.open("wb") as f:
        f.write(gzip.compress(head, mtime=0))
        for _ in range(-(-zeros // _ZEROS)):
            f.write(_zeros_member())


def idx_case(i: int, rng: random.Random, base: Base, out: Path) -> Case:
    folder = out / f"idx-{i:04d}"
    folder.mkdir()
    split = rng.choice(["t10k", "train"])
    images, labels = folder / f"{split}-images-idx3-ubyte.gz", folder / f"{split}-labels-idx1-ubyte.gz"
    for f in (images, labels):
        f.write_bytes((base.idx / f.name).read_bytes())
    target = rng.choice([images, labels])
    n = 8
    how = rng.choice(["magic", "type", "ndim0", "huge-dims", "bomb-declared", "bomb-trailing",
                      "truncate-gz", "truncate", "empty-split", "count-mismatch", "shape",
                      "labels-2d", "plain-garbage", "empty-file", "directory", "float-images"])
    name = ""
    if how == "magic":
        target.write_bytes(_gz(b"\x12\x34" + _idx((n, 28, 28))[2:]))
    elif how == "type":
        target.write_bytes(_gz(_idx((n, 28, 28), code=rng.choice([0x00, 0x07, 0x0A, 0xFF]))))
    elif how == "ndim0":
        target.write_bytes(_gz(struct.pack(">HBB", 0, 8, 0)))
    elif how == "huge-dims":
        dims = [2**32 - 1] + [rng.choice([2**31, 65536, 1]) for _ in range(rng.randrange(0, 4))]
        target.write_bytes(_gz(_idx(tuple(dims), payload=b"")))
        name = "more than the"
    elif how == "bomb-declared":
        _bomb(target, _idx((5_500_000, 28, 28), payload=b""), rng.choice([1, 4, 8]) << 30)
        name = "more than the"
    elif how == "bomb-trailing":
        _bomb(target, _idx((n, 28, 28)) if target == images else _idx((n,)),
              rng.choice([64 << 20, 1 << 30, 4 << 30]))
        name = "trailing bytes"
    elif how == "truncate-gz":
        data = target.read_bytes()
        target.write_bytes(data[: rng.randrange(2, len(data) - 1)])
    elif how == "truncate":
        raw = gzip.decompress(target.read_bytes())
        target.write_bytes(_gz(raw[: rng.randrange(len(raw) - 1)]))
    elif how == "empty-split":
        images.write_bytes(_gz(_idx((0, 28, 28))))
        labels.write_bytes(_gz(_idx((0,))))
        name = "no images"
    elif how == "count-mismatch":
        labels.write_bytes(_gz(_idx((n + rng.randrange(1, 5),))))
    elif how == "shape":
        images.write_bytes(_gz(_idx((n, rng.choice([27, 29, 1]), 28))))
    elif how == "labels-2d":
        labels.write_bytes(_gz(_idx((n, 2))))
    elif how == "plain-garbage":
        target.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2048))))
    elif how == "empty-file":
        target.write_bytes(b"")
    elif how == "directory":
        target.unlink()
        target.mkdir()  # a folder where a file should be: the split is not found
    else:
        images.write_bytes(_gz(_idx((n, 28, 28), code=0x0D, payload=bytes(n * 28 * 28 * 4))))
    split_arg = "train" if split == "train" else "test"
    command = rng.choice(["simulate", "simulate", "nir"]) if base.graphs else "simulate"
    if command == "simulate":
        argv = ["simulate", str(SMALL_MODEL), "--data", str(folder), "--split", split_arg,
                "--limit", "2", "--json"]
    else:
        graph = next(g for g in base.graphs if g.stem == SMALL_MODEL.stem)
        argv = ["nir", "import", str(graph), "-o", str(out / f"idx-{i:04d}.npz"), "--images", "2"]
        if split == "train":
            argv += ["--foreign", "--calibrate", str(folder), "--images", "0"]
        else:
            argv += ["--data", str(folder)]
    return Case(f"idx-{i:04d}", argv, "refuse", name, f"{split} {target.name}: {how}")


# ------------------------------------------------------------------ event recordings
EVENT_SENSOR = (6, 6)


def _event_model(path: Path) -> Path:
    """A 6×6×2 event-input model (§11.2): an fc of 72 inputs into 3 lif neurons, T = 4."""
    from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer, save
    from neurochip.neurons.lif import LifNeuron

    lay = Layer(name="out", inputs=72, neurons=3, weight_bits=2, membrane_bits=12,
                overflow="saturate", neuron=LifNeuron(reset="subtract", leak="none",
                                                      leak_amount=0, integration="continuous"),
                core=CoreMapping(index=0, lanes=3, fifo_depth=4),
                weight=np.resize(np.array([1, -1, 0, 1, -2]), (72, 3)),
                threshold=np.full(3, 3), bias=np.zeros(3, dtype=np.int64), source="input")
    save(CoreDescription(name="fuzz-events", input_shape=(6, 6, 2), encoder=Encoder("events", 0),
                         time_steps=4, clock_hz=1e8, count_bits=4, layers=[lay]), path)
    return path


def _recording(rng: random.Random, n: int = 40) -> bytes:
    """A valid 6×6 recording: n events over 40 ms, sorted."""
    from neurochip.events.nmnist import Events, encode

    t = sorted(rng.randrange(0, 40_000) for _ in range(n))
    return encode(Events(np.array([rng.randrange(6) for _ in t], np.uint8),
                         np.array([rng.randrange(6) for _ in t], np.uint8),
                         np.array([rng.randrange(2) for _ in t], np.uint8), np.array(t)))


def events_case(i: int, rng: random.Random, base: Base, out: Path) -> Case:
    """An N-MNIST folder or a dense .npz for an event-input model, one thing broken."""
    root = out / f"events-{i:04d}"
    split = rng.choice(["Test", "Train"])
    for label in (3, 7):
        (root / split / str(label)).mkdir(parents=True)
        for k in (1, 2):
            (root / split / str(label) / f"{k}.bin").write_bytes(_recording(rng))
    victim = root / split / str(rng.choice([3, 7])) / f"{rng.choice([1, 2])}.bin"
    raw = victim.read_bytes()
    how = rng.choice(["outside", "unsorted", "truncated", "label", "id", "empty", "huge",
                      "garbage", "no-split", "burst", "window", "dense-members",
                      "dense-negative", "dense-float", "dense-shape", "dense-declared",
                      "dense-burst"])
    name, data, extra = "", str(root), []
    if how == "outside":
        rec = bytearray(raw)
        rec[rng.randrange(len(rec) // 5) * 5 + rng.choice([0, 1])] = rng.choice([6, 33, 255])
        victim.write_bytes(bytes(rec))
        name = "outside the"
    elif how == "unsorted":
        victim.write_bytes(raw[5:10] + raw[:5] + raw[10:] if raw[2:5] != raw[7:10]
                           else raw + raw[:5])
        name = "before the previous event"
    elif how == "truncated":
        victim.write_bytes(raw[: len(raw) - rng.randrange(1, 5)])
        name = "truncated record"
    elif how == "label":
        victim.parent.rename(victim.parent.with_name(rng.choice(["x", "10", "-1", "a3"])))
        name = "not a digit"
    elif how == "id":
        victim.rename(victim.with_name(rng.choice(["a.bin", "1x.bin", "-2.bin"])))
        name = "numeric ids"
    elif how == "empty":
        for f in (root / split).rglob("*.bin"):
            f.unlink()
        name = "no recordings"
    elif how == "huge":
        with victim.open("r+b") as f:
            f.truncate((1 << 22) * 5 + 5)  # sparse: more events than a recording may hold
        name = "more than"
    elif how == "garbage":
        victim.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
        name = ""
    elif how == "no-split":
        (root / split).rename(root / ("Train" if split == "Test" else "Test"))
        name = "folder"
    elif how == "burst":  # 300 events at one address in one 25 ms step
        from neurochip.events.nmnist import Events, encode

        t = np.sort(np.r_[np.full(300, 100), np.array([39_000])])
        victim.write_bytes(encode(Events(np.zeros(301, np.uint8), np.zeros(301, np.uint8),
                                         np.zeros(301, np.uint8), t)))
        name = "more than 255"
    elif how == "window":
        extra = ["--time-window", rng.choice(["0", "-5", "99999999999"])]
        name = "--time-window"
    else:  # dense .npz files
        dense = root / "dense.npz"
        counts = np.zeros((2, 4, 2, 6, 6), np.int32)
        members = {"counts": counts, "labels": np.zeros(2, np.uint8)}
        if how == "dense-members":
            members = {rng.choice(["count", "x"]): counts, "labels": members["labels"]}
        elif how == "dense-negative":
            counts[0, 0, 0, 0, 0] = -1
        elif how == "dense-float":
            members["counts"] = counts.astype(np.float32)
        elif how == "dense-shape":
            members["counts"] = np.zeros((2, 4, 2, rng.choice([5, 7]), 6), np.int32)
        elif how == "dense-burst":
            counts[1, 2, 1, 3, 3] = rng.choice([256, 10_000])
        if how == "dense-declared":
            _npz(dense, {"counts": _npy_header((1 << 20, 4096, 2, 6, 6), "<i4"),
                         "labels": np.zeros(2, np.uint8)})
        else:
            np.savez(dense, **members)
        data = str(dense)
    argv = ["simulate", str(base.event_model), "--data", data, "--split",
            "train" if split == "Train" else "test", "--json"] + extra
    if data.endswith(".npz"):
        argv = ["simulate", str(base.event_model), "--data", data, "--json"]
    if how not in ("window",) and not data.endswith(".npz"):
        argv += ["--time-window", "10000"]
    expect = "any" if how == "garbage" else "refuse"
    return Case(f"events-{i:04d}", argv, expect, name, how)


# ------------------------------------------------------------------ command-line misuse
BAD_INTS = ("0", "-1", "-4", "99999999999999999999")
BAD_NUMS = ("nan", "inf", "-inf", "-1", "0", "1e308")


def cli_case(i: int, rng: random.Random, base: Base, out: Path) -> Case:
    model = str(base.models[rng.randrange(len(base.models))])
    small, d = str(SMALL_MODEL), str(out / f"cli-{i:04d}")
    nodata = "/nonexistent/neurochip-fuzz-data"
    afile = out / f"cli-{i:04d}.txt"
    afile.write_text("x")
    tech = out / f"cli-{i:04d}-tech.json"
    from importlib import resources

    table = json.loads(resources.files("neurochip.data").joinpath("tech_40nm.json").read_text())
    section = rng.choice(["energy_pj", "static_uw"])
    table[section][rng.choice(sorted(table[section]))] = rng.choice([1e308, -1, 1e12, "1", None])
    tech.write_text(json.dumps(table))
    graph = str(base.graphs[0]) if base.graphs else model
    choices = [
        (["simulate", model, "--limit", rng.choice(("0", "-1"))], "--limit"),
        (["simulate", model, "--workers", rng.choice(("0", "-4"))], "--workers"),
        (["simulate", model, "--split", rng.choice(("train", "test"))], "--split"),
        (["simulate", model, "--tech", rng.choice(("/dev/zero", str(out), str(afile)))], ""),
        (["simulate", model, "--tech", str(tech)], section),
        (["simulate", model, "--per-image", model], "is the input"),
        (["simulate", model, "--plot", model], "is the input"),
        (["simulate", model, "--per-image", str(out / "x.txt")], "--per-image"),
        (["simulate", str(out)], ""),
        (["simulate", str(out / "missing.npz")], "no such file"),
        (["verify", small, "--jobs", rng.choice(("0", "-4"))], "--jobs"),
        (["verify", small, "--images", rng.choice(("0", "-1"))], "--images"),
        (["verify", small, "--work", rng.choice((str(afile), f"{afile}/below"))], "--work"),
        (["verify", small, "--split", "train"], "--split"),
        (["nir", "export", model, "-o", model], "is the input"),
        (["nir", "export", model, "-o", str(out / "x.nir"), "--dt",
          rng.choice(BAD_NUMS[:5])], "--dt"),
        (["nir", "import", graph, "-o", graph], "is the input"),
        (["nir", "import", graph, "-o", f"{d}.npz", rng.choice(
            ["--time-steps", "--lanes", "--fifo-depth", "--weight-bits", "--membrane-bits"]),
          rng.choice(BAD_INTS)], "out of range"),
        (["nir", "import", graph, "-o", f"{d}.npz", "--dt", rng.choice(BAD_NUMS[:5])], "--dt"),
        (["nir", "import", graph, "-o", str(out)], "--out"),
        (["quantize", model, "-o", model], "is the input"),
        (["quantize", str(afile), "-o", f"{d}.npz"], ""),
        (["quantize", model, "-o", f"{d}.npz", "--lanes", rng.choice(BAD_INTS)], "--lanes"),
        (["convert", str(afile), "--bsnn", f"{d}.npz"], ""),
        (["convert", model, "--bsnn", model], "is the input"),
        (["convert", model, "--bsnn", f"{d}.npz", "--plain", f"{d}.npz"], "both"),
        (["convert", model, "--bsnn", f"{d}.npz", "--percentile", rng.choice(BAD_NUMS)],
         "--percentile"),
        (["inspect", str(afile)], ""),
        (["rtl", str(afile)], ""),
        (["train", "ste-bp", "--out", "/proc/version/t", "--data", nodata], "--out"),
        (["train", "ste-bp", "--out", d, "--data", nodata, rng.choice(
            ["--epochs", "--time-steps", "--batch-size", "--threads"]), rng.choice(BAD_INTS[:3])],
         ""),
        (["train", "ste-bp", "--out", d, "--data", nodata, "--weight-bits",
          rng.choice(("0", "9"))], "bits"),
        (["train", "stidi-bp", "--out", "/proc/version/t", "--data", nodata], "--out"),
        (["train", "stidi-bp", "--out", d, "--data", nodata, "--arch",
          rng.choice(("16c99", "16c17", "512c3", "p99", "16c4", "bogus"))], "--arch"),
        (["train", "stidi-bp", "--out", d, "--data", nodata, "--lr", rng.choice(
            ("nan", "-1", "abc", "1,2,3,4,5,6"))], "--lr"),
        (["train", "hb-stdp", "--out", d, "--data", nodata, "--residual", "--no-residual"],
         "given both"),
        (["train", "hb-stdp", "--out", d, "--data", nodata, "--kernels",
          rng.choice(("4,6", "99", "0,3,3"))], "--kernels"),
        (["train", "hb-stdp", "--out", d, "--data", nodata, "--t-win",
          rng.choice(("99", "-1", "16"))], "--t-win"),
        (["train", "hb-stdp", "--out", d, "--data", nodata, "--channels",
          rng.choice(("0", "-1", "1000"))], "--channels"),
        (["train", "hb-stdp", "--out", "/proc/version/t", "--data", nodata], "--out"),
        (["train", "ann", "--out", "/proc/version/t.npz", "--data", nodata], "--out"),
        (["train", "ann", "--out", f"{d}.npz", "--data", nodata, "--epochs",
          rng.choice(BAD_INTS[:3])], "--epochs"),
        ([rng.choice(["simulate", "inspect", "nir", "train", "bogus"]), "--bogus"], ""),
    ]
    argv, name = choices[rng.randrange(len(choices))]
    return Case(f"cli-{i:04d}", argv, "refuse", name, " ".join(argv[:2]))


SURFACES = {"model": model_case, "nir": nir_case, "idx": idx_case, "events": events_case,
            "cli": cli_case}


def make_cases(folder: Path, seed: int, per_surface: int,
               surfaces: tuple[str, ...] = tuple(SURFACES), heavy: bool = True) -> list[Case]:
    """``per_surface`` cases of each surface, case k of a surface drawn from its own
    seeded stream (so a case does not change when ``per_surface`` grows). Not ``heavy``:
    the two multi-GB model files (items 3 and 4 of issue 28, ~30 s to write) keep their
    declarations but not their gigabytes of zeros; a bounded reader refuses both forms
    before reading data, so only an unbounded one tells them apart."""
    base = Base(folder / "base", heavy)
    cases = []
    for surface in surfaces:
        if surface == "nir" and not base.graphs:
            continue
        out = folder / surface
        out.mkdir(parents=True, exist_ok=True)
        for i in range(per_surface):
            rng = random.Random(f"{seed}-{surface}-{i}")
            cases.append(SURFACES[surface](i, rng, base, out))
    return cases


# ------------------------------------------------------------------ running
def run_cases(cases: list[Case], timeout_s: int = 60, cap: int = MEMORY_CAP) -> list[Case]:
    """Run the cases in worker subprocesses under ``RLIMIT_AS = cap``; a worker that dies
    marks its current case ``crash`` and the next worker goes on after it."""
    todo = list(cases)
    while todo:
        spec = json.dumps([asdict(c) for c in todo])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        proc = subprocess.run([sys.executable, __file__, "--worker", str(cap), str(timeout_s)],
                              input=spec, capture_output=True, text=True, env=env,
                              timeout=timeout_s * len(todo) + 120)
        done = {}
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                done[rec["id"]] = rec
        for c in todo:
            if c.id in done:
                c.result = done[c.id]
        finished = [c for c in todo if c.result]
        rest = [c for c in todo if not c.result]
        if rest and proc.returncode != 0:
            rest[0].result = {"id": rest[0].id, "class": "crash", "code": proc.returncode,
                              "last": proc.stderr.strip().splitlines()[-1:] or [""]}
            rest = rest[1:]
        elif rest:  # the worker ended without reporting them: count them as crashes
            for c in rest:
                c.result = {"id": c.id, "class": "crash", "code": proc.returncode, "last": [""]}
            rest = []
        todo = rest
        del finished
    return cases


def classify(case: Case, code, err: str, exc: str) -> str:
    if exc == "hang":
        return "hang"
    if exc == "memory" or "out of memory" in err:
        return "memory"
    if exc:
        return "traceback"
    lines = err.strip().splitlines()
    last = lines[-1] if lines else ""
    if "Traceback" in err:
        return "traceback"
    if code == 2 and "error:" in last:
        if case.must_name and case.must_name not in last:
            return "silent"  # refused, but not for what made the input invalid
        return "refusal"
    if code in (0, 1):
        return "silent" if case.expect == "refuse" else "ran"
    return "unclear"  # a failure without its one `error:` line


def _worker(cap: int, timeout_s: int) -> None:
    """Run the cases of stdin in this process, one JSON line per case on stdout."""
    import contextlib
    import resource
    import signal
    import traceback

    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    cases = [Case(**c) for c in json.loads(sys.stdin.read())]
    real_stdout = sys.stdout
    from neurochip.cli.main import main

    class Hang(BaseException):
        pass

    def alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    for case in cases:
        out, err = io.StringIO(), io.StringIO()
        code, exc, tb = None, "", ""
        signal.alarm(timeout_s)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(case.argv)
        except SystemExit as e:
            code = e.code
        except Hang:
            exc = "hang"
        except MemoryError:
            exc = "memory"
        except BaseException:  # noqa: BLE001 - every escape is a finding
            exc, tb = "traceback", traceback.format_exc(limit=-3)
        finally:
            signal.alarm(0)
        text = err.getvalue()
        rec = {"id": case.id, "class": classify(case, code, text, exc), "code": code,
               "last": (text.strip().splitlines() or [""])[-1:], "traceback": tb[-2000:]}
        real_stdout.write(json.dumps(rec) + "\n")
        real_stdout.flush()


def summary(cases: list[Case]) -> dict[str, dict[str, int]]:
    """Counts per surface and class."""
    table: dict[str, dict[str, int]] = {}
    for c in cases:
        row = table.setdefault(c.id.split("-")[0], dict.fromkeys(CLASSES, 0))
        row[c.result["class"]] += 1
    return table


def format_summary(table: dict[str, dict[str, int]]) -> str:
    lines = [f"{'surface':<8}" + "".join(f"{k:>10}" for k in CLASSES) + f"{'cases':>8}"]
    total = dict.fromkeys(CLASSES, 0)
    for surface, row in table.items():
        lines.append(f"{surface:<8}" + "".join(f"{row[k]:>10}" for k in CLASSES)
                     + f"{sum(row.values()):>8}")
        for k in CLASSES:
            total[k] += row[k]
    lines.append(f"{'total':<8}" + "".join(f"{total[k]:>10}" for k in CLASSES)
                 + f"{sum(total.values()):>8}")
    return "\n".join(lines)


def failures(cases: list[Case]) -> list[str]:
    return [f"{c.id} [{c.result['class']}] {c.note}: {' '.join(c.argv)} -> "
            f"{c.result.get('last')} {c.result.get('traceback', '')}"
            for c in cases if c.result["class"] in BAD]


def _main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    import tempfile
    import time

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-surface", type=int, default=200)
    p.add_argument("--only", default=None, help="run one case id, e.g. idx-0017")
    p.add_argument("--timeout", type=int, default=60)
    p.add_argument("--light", action="store_true", help="skip the multi-GB model files")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="neurochip-fuzz-") as tmp:
        t0 = time.time()
        cases = make_cases(Path(tmp), args.seed, args.per_surface, heavy=not args.light)
        if args.only:
            cases = [c for c in cases if c.id == args.only]
        t1 = time.time()
        run_cases(cases, args.timeout)
        print(format_summary(summary(cases)))
        print(f"{len(cases)} cases: generated in {t1 - t0:.0f} s, run in {time.time() - t1:.0f} s")
        for line in failures(cases):
            print(line)
        if args.only:
            for c in cases:
                print(json.dumps(asdict(c), indent=1))
    return 1 if any(c.result["class"] in BAD for c in cases) else 0


if __name__ == "__main__":
    sys.exit(_main())

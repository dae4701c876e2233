"""The images of a run and, per model, the workload file every task reads: the integer
network (NetSpec) and the chip's encoded input spikes of those images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.netspec import NetSpec, from_description, save_workload


@dataclass
class Images:
    pixels: np.ndarray  # (n, P) uint8
    indices: np.ndarray  # (n,) positions in the dataset split
    labels: np.ndarray
    source: str


@dataclass
class Workload:
    model: Path
    desc: object  # neurochip CoreDescription
    spec: NetSpec
    path: Path  # the .npz tasks read
    images: int


def load_images(data: Path | None, limit: int = 0) -> Images:
    """The test split of ``data`` (IDX folder) or the shipped 256-image MNIST sample,
    read as ``neurochip simulate`` reads them."""
    from neurochip.inputs import load_images as read_images

    got = read_images(None if data is None else str(data), "test", limit or None)
    pixels = got.data
    return Images(pixels.reshape(len(pixels), -1), np.arange(len(pixels), dtype=np.int64),
                  got.labels, got.source)


def make_workload(model: Path, images: Images, n: int, out_dir: Path) -> Workload:
    """Encode the first ``n`` images for ``model`` (§11) and write the task file."""
    from neurochip.description import load
    from neurochip.sim.simulator import encode_images

    desc = load(model)
    spec = from_description(desc)
    pixels, indices = images.pixels[:n], images.indices[:n]
    spikes = encode_images(desc, pixels, indices)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"workload-{model.stem}-{n}.npz"
    save_workload(path, spec, spikes, images=pixels, indices=indices)
    return Workload(model, desc, spec, path, n)

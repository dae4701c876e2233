"""Dense event tensors: an ``.npz`` with ``counts`` (images, T, C, H, W) non-negative
integers, NIR's and torch's (C, H, W) layout, and ``labels`` (images,) in 0 … 255. Read
within bounded memory (``neurochip.npz``) and returned in the chip's address order."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurochip.events.nmnist import MAX_COUNT_BYTES, EventError
from neurochip.npz import NpzError, read_npz


def load_dense(path: str | os.PathLike, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Counts ``(n, T, H·W·C)`` in address order (y·W + x)·C + c and labels ``(n,)``."""
    path = Path(path)
    try:
        arrays = read_npz(path, MAX_COUNT_BYTES)
    except NpzError as exc:
        raise EventError(str(exc)) from None
    if set(arrays) != {"counts", "labels"}:
        raise EventError(f"{path}: members {sorted(arrays)}; a dense event file holds exactly "
                         "'counts' (images, T, C, H, W) and 'labels' (images,)")
    counts, labels = arrays["counts"], arrays["labels"]
    if counts.ndim != 5 or counts.dtype.kind not in "iu":
        raise EventError(f"{path}: 'counts' has shape {counts.shape} and dtype {counts.dtype}; "
                         "use integers of shape (images, T, C, H, W)")
    if labels.shape != counts.shape[:1] or labels.dtype.kind not in "iu":
        raise EventError(f"{path}: 'labels' has shape {labels.shape}; use one integer per "
                         f"image ({counts.shape[0]})")
    if counts.size and counts.min() < 0:
        raise EventError(f"{path}: 'counts' holds negative values; event counts are ≥ 0")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise EventError(f"{path}: 'labels' must lie in 0 … 255")
    counts, labels = counts[:limit], labels[:limit]
    n, t, c, h, w = counts.shape
    chip = np.ascontiguousarray(counts.transpose(0, 1, 3, 4, 2)).reshape(n, t, h * w * c)
    return chip.astype(np.uint32), labels.astype(np.uint8)

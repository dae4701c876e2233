"""Float checkpoints of the trainers, in one format and one home.

A checkpoint is an ``.npz`` of float arrays plus ``manifest``: a JSON object as UTF-8
bytes in a uint8 array (no pickles anywhere). Its ``format`` key names who can read it
(``neurochip-float-checkpoint``: ste-bp, read by ``neurochip quantize``;
``neurochip-stidi-checkpoint``; ``neurochip-bs4nn-checkpoint``: read by ``--resume``;
``neurochip-ann-checkpoint``: read by ``neurochip convert``). Files are written to a
temporary name first and then renamed, so a checkpoint is never half written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class CheckpointFileError(ValueError):
    """A file that is not a readable checkpoint; the message names the file and the fix."""


def write_checkpoint(path: str | Path, manifest: dict[str, Any],
                     arrays: dict[str, np.ndarray]) -> Path:
    """Write ``manifest`` and ``arrays`` to ``path`` atomically; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    members = {"manifest": np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8),
               **arrays}
    tmp = path.with_name(path.name + ".tmp.npz")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **members)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path, fmt: str | None = None
                    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(manifest, arrays) of a checkpoint, read within bounded memory and never unpickled;
    ``fmt``: the manifest's ``format`` must be this one."""
    from neurochip.npz import MAX_CHECKPOINT_BYTES, read_npz

    path = Path(path)
    if not path.is_file():
        raise CheckpointFileError(f"{path}: no such file; pass a float checkpoint (*.ckpt.npz) "
                                  "written by `neurochip train`")
    try:
        arrays = read_npz(path, MAX_CHECKPOINT_BYTES)
    except ValueError as exc:
        raise CheckpointFileError(f"{exc}; pass a float checkpoint written by `neurochip "
                                  "train`") from exc
    raw = arrays.pop("manifest", None)
    if not isinstance(raw, np.ndarray):
        raise CheckpointFileError(f"{path}: missing 'manifest'; not a neurochip float checkpoint")
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointFileError(f"{path}: 'manifest' is not valid UTF-8 JSON ({exc}); "
                                  "re-create the checkpoint with `neurochip train`") from exc
    if fmt is not None and (not isinstance(manifest, dict) or manifest.get("format") != fmt):
        raise CheckpointFileError(f"{path}: not a {fmt} file; pass one written by `neurochip "
                                  "train`")
    return manifest, arrays

"""Reading ``.npz`` archives within bounded memory, never unpickling.

The zip directory is read first: every member must be ``<name>.npy``, declare at most
``max_bytes`` unpacked bytes in all, and each ``.npy`` header is checked (no pickled
objects, no more values than its member holds or than the caller allows) before its data
is read. A member's data is read only up to the size its header declares, so a small
file cannot make the reader allocate more than it declares (docs/core-description.md,
"Bounded reading")."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np


MAX_CHECKPOINT_BYTES = 1 << 30  # a float checkpoint: every member unpacked, in all


# what zipfile raises on a corrupt archive: a bad directory, an unknown zip version or
# compression method (a flipped byte), a truncated member
ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, OSError, EOFError)


class NpzError(ValueError):
    """An archive that is not a plain ``.npz`` of arrays, or declares too much."""


def member_sizes(zf: zipfile.ZipFile, origin: str, max_bytes: int) -> dict[str, int]:
    """Array name → unpacked size of every member, from the zip directory alone."""
    sizes: dict[str, int] = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise NpzError(f"{origin}: member {info.filename!r} is not a .npy array; every "
                           "member must be '<array>.npy'")
        key = info.filename[:-4]
        if key in sizes:
            raise NpzError(f"{origin}: member {info.filename!r} appears twice")
        sizes[key] = info.file_size
    total = sum(sizes.values())
    if total > max_bytes:
        raise NpzError(f"{origin}: the members would unpack to {total} bytes (limit "
                       f"{max_bytes})")
    return sizes


def read_member(zf: zipfile.ZipFile, key: str, origin: str,
                max_values: int | None = None) -> np.ndarray:
    """One ``.npy`` member, its header checked before its data is read: no pickled
    objects and at most ``max_values`` values (None: what the member's size allows)."""
    try:
        with zf.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            if dtype.hasobject:
                raise NpzError(f"{origin}: array '{key}' contains pickled objects; only plain "
                               "numeric arrays are allowed")
            count = math.prod(shape)
            if max_values is not None and count > max_values:
                raise NpzError(f"{origin}: array '{key}' declares shape {tuple(shape)}, more "
                               f"than the {max_values} values allowed here")
            nbytes = count * dtype.itemsize
            data = f.read(nbytes)  # the zip directory's size bounds what comes back
            if len(data) != nbytes:
                raise NpzError(f"{origin}: array '{key}' is truncated ({len(data)} of "
                               f"{nbytes} bytes)")
            return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    except NpzError:
        raise
    except Exception as exc:  # corrupt members, bad CRCs, bad headers
        raise NpzError(f"{origin}: unreadable member '{key}.npy' ({exc})") from exc


def read_npz(path: str | Path, max_bytes: int) -> dict[str, np.ndarray]:
    """Every array of the archive at ``path``, whose members may unpack to at most
    ``max_bytes`` in all; NpzError (a ValueError) names the problem."""
    origin = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return {key: read_member(zf, key, origin)
                    for key in member_sizes(zf, origin, max_bytes)}
    except ZIP_ERRORS as exc:
        raise NpzError(f"{origin}: not a readable .npz (zip) archive ({exc})") from exc

"""IDX image datasets (MNIST, Fashion-MNIST) and the small MNIST sample shipped with the package.

The loader reads the official distribution files byte for byte, so a user can point it at
the files they downloaded; the project's own copies under ``../shared/datasets/`` use the
same layout. Tests and demos on a fresh clone use :func:`load_sample` instead.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx", "load_split", "load_sample", "write_sample"]

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "IDX file format").
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_DTYPE_CODES: dict[str, int] = {dt.str[1:]: code for code, dt in _IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"

_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
_SAMPLE_IMAGES = "mnist-sample-images-idx3-ubyte.gz"
_SAMPLE_LABELS = "mnist-sample-labels-idx1-ubyte.gz"


# The largest IDX payload a file may declare (MNIST's training images are 47 MB): reading
# never allocates more than the header declares, and the header may not declare more.
MAX_IDX_BYTES = 1 << 30


def _open(path: Path):
    """A binary stream of the decompressed content; gzip is recognised by its magic, not
    the file name. Reading from it decompresses only as much as is asked for."""
    with path.open("rb") as f:
        gzipped = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _read_exactly(stream, count: int, path: Path) -> bytes:
    """``count`` bytes (fewer at the end of the stream), turning corrupt gzip into ValueError."""
    try:
        return stream.read(count)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip-compressed or plain) into an array of native byte order.

    The header is read first and the payload only up to the size it declares (at most
    ``MAX_IDX_BYTES``), so a gzip bomb or a huge file costs no more memory than a valid
    file of the declared shape. Raises ValueError naming the file when the header or the
    size does not match the format.
    """
    path = Path(path)
    with _open(path) as stream:
        head = _read_exactly(stream, 4, path)
        if len(head) < 4:
            raise ValueError(f"{path}: too short for an IDX header ({len(head)} bytes)")
        zero, type_code, ndim = struct.unpack(">HBB", head)
        if zero != 0:
            raise ValueError(f"{path}: bad IDX magic 0x{head.hex()} (must start with 0x0000)")
        if type_code not in _IDX_DTYPES:
            raise ValueError(f"{path}: unknown IDX data type 0x{type_code:02x}")
        if ndim == 0:
            raise ValueError(f"{path}: IDX header declares 0 dimensions")
        header_len = 4 + 4 * ndim
        dims = _read_exactly(stream, 4 * ndim, path)
        if len(dims) < 4 * ndim:
            raise ValueError(f"{path}: truncated IDX header ({4 + len(dims)} of {header_len} bytes)")
        shape = struct.unpack(f">{ndim}I", dims)
        dtype = _IDX_DTYPES[type_code]
        payload = math.prod(shape) * dtype.itemsize  # exact: no integer overflow
        if payload > MAX_IDX_BYTES:
            raise ValueError(f"{path}: header declares shape {shape} of {dtype.name} "
                             f"({payload} bytes), more than the {MAX_IDX_BYTES} bytes an IDX "
                             "file may hold; this is not an image data set")
        data = _read_exactly(stream, payload + 1, path)  # one more byte finds trailing data
    expected = header_len + payload
    if len(data) != payload:
        what = "truncated" if len(data) < payload else "trailing bytes"
        size = f"more than {expected}" if len(data) > payload else str(header_len + len(data))
        raise ValueError(
            f"{path}: {what}: header says shape {shape} of {dtype.name} ({expected} bytes), "
            f"file has {size} bytes"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: name ends in .gz).

    The gzip header carries no time stamp, so the same array always gives the same bytes.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _DTYPE_CODES.get(array.dtype.str[1:])
    if code is None:
        raise ValueError(f"{path}: dtype {array.dtype} has no IDX type code")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"{path}: IDX needs 1..255 dimensions, got {array.ndim}")
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    payload = header + array.astype(_IDX_DTYPES[code], copy=False).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    path.write_bytes(payload)


def _find(data_dir: Path, name: str) -> Path | None:
    for candidate in (data_dir / f"{name}.gz", data_dir / name):
        if candidate.is_file():
            return candidate
    return None


def _check_pair(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")


def load_split(data_dir: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load ``split`` ("train" or "test") from a directory holding the standard IDX file names.

    Returns images uint8 (N, 28, 28) and labels uint8 (N,).
    """
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    data_dir = Path(data_dir)
    prefix = _SPLIT_PREFIX[split]
    names = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    found = [_find(data_dir, name) for name in names]
    if None in found:
        missing = [name for name, path in zip(names, found) if path is None]
        looked_for = ", ".join(f"{n}[.gz]" for n in missing)
        raise FileNotFoundError(f"{split} split not found in {data_dir}: looked for {looked_for}")
    images_path, labels_path = found
    images, labels = read_idx(images_path), read_idx(labels_path)
    _check_pair(images, labels, images_path, labels_path)
    if len(images) == 0:
        raise ValueError(f"{images_path}: the {split} split has no images; pass a folder whose "
                         "IDX files hold at least one image")
    return images, labels


def load_sample() -> tuple[np.ndarray, np.ndarray]:
    """Return the first 256 MNIST test images and labels shipped in ``neurochip/data``.

    Lets tests and examples run on a fresh clone without any external data set.
    """
    data = resources.files("neurochip") / "data"
    with resources.as_file(data / _SAMPLE_IMAGES) as images_path, resources.as_file(data / _SAMPLE_LABELS) as labels_path:
        images, labels = read_idx(images_path), read_idx(labels_path)
        _check_pair(images, labels, images_path, labels_path)
    return images, labels


def write_sample(src_dir: str | os.PathLike, dst_dir: str | os.PathLike, count: int = 256) -> None:
    """Write the first ``count`` test images/labels of ``src_dir`` as the shipped sample files.

    This is how ``neurochip/data/mnist-sample-*`` were made (see ``neurochip/data/README.md``).
    """
    images, labels = load_split(src_dir, "test")
    if not 0 < count <= len(images):
        raise ValueError(f"count must be in 1..{len(images)}, got {count}")
    dst_dir = Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    write_idx(dst_dir / _SAMPLE_IMAGES, images[:count])
    write_idx(dst_dir / _SAMPLE_LABELS, labels[:count])

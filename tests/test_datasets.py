"""IDX loading: round trips, malformed files and the shipped MNIST sample."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from neurochip.datasets import load_sample, load_split, read_idx, write_idx, write_sample


def _digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", "<i4", "f4", "f8"])
def test_round_trip(tmp_path: Path, name: str, dtype: str) -> None:
    array = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype.isnative and back.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(back, array)


def test_plain_file_matches_official_layout(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.array([[1, 2], [3, 4]], dtype=np.uint8))
    assert (tmp_path / "x").read_bytes() == bytes.fromhex("00000802" "00000002" "00000002" "01020304")


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8)
    write_idx(tmp_path / "labels-idx1-ubyte", array, compress=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels-idx1-ubyte"), array)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file_is_value_error(tmp_path: Path, gz: bool) -> None:
    path = tmp_path / "t-idx3-ubyte"
    write_idx(path, np.zeros((4, 28, 28), np.uint8), compress=False)
    data = path.read_bytes()[:-10]
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(ValueError, match=r"t-idx3-ubyte.*truncated"):
        read_idx(path)


def test_truncated_gzip_stream_is_value_error(tmp_path: Path) -> None:
    path = tmp_path / "t.gz"
    write_idx(path, np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=r"t\.gz.*gzip"):
        read_idx(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad IDX magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX data type"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
        (b"\x00\x00", "too short"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", "trailing bytes"),
    ],
)
def test_malformed_header_is_value_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_load_split_standard_names(tmp_path: Path, suffix: str) -> None:
    for split, prefix, seed in (("train", "train", 1), ("test", "t10k", 2)):
        images, labels = _digits(7, seed)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        got_images, got_labels = load_split(tmp_path, split)
        np.testing.assert_array_equal(got_images, images)
        np.testing.assert_array_equal(got_labels, labels)


def test_load_split_missing_dir_names_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\[\.gz\].*t10k-labels-idx1-ubyte\[\.gz\]"):
        load_split(tmp_path / "nowhere", "test")


def test_load_split_missing_labels_only(tmp_path: Path) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", _digits(3)[0])
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte") as info:
        load_split(tmp_path, "train")
    assert "train-images" not in str(info.value)


def test_load_split_rejects_mismatched_files(tmp_path: Path) -> None:
    images, labels = _digits(5)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:4])
    with pytest.raises(ValueError, match="5 images but .* 4 labels"):
        load_split(tmp_path, "test")
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images.reshape(5, 784))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        load_split(tmp_path, "test")


def test_load_split_rejects_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        load_split(tmp_path, "validation")


def test_shipped_sample() -> None:
    images, labels = load_sample()
    assert images.shape == (256, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (256,) and labels.dtype == np.uint8
    assert labels.max() <= 9 and len(np.unique(labels)) == 10
    assert 20 < images.mean() < 60  # real digits, not blank or noise


def test_write_sample_reproduces_bytes(tmp_path: Path) -> None:
    images, labels = _digits(10)
    src = tmp_path / "src"
    src.mkdir()
    write_idx(src / "t10k-images-idx3-ubyte.gz", images)
    write_idx(src / "t10k-labels-idx1-ubyte.gz", labels)
    for out in ("a", "b"):
        write_sample(src, tmp_path / out, 4)
    for name in ("mnist-sample-images-idx3-ubyte.gz", "mnist-sample-labels-idx1-ubyte.gz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    np.testing.assert_array_equal(read_idx(tmp_path / "a" / "mnist-sample-images-idx3-ubyte.gz"), images[:4])
    np.testing.assert_array_equal(read_idx(tmp_path / "a" / "mnist-sample-labels-idx1-ubyte.gz"), labels[:4])

"""Issue 28: every hostile input is refused in one line (exit 2) within bounded memory,
and no command writes over its own input. One test per finding of the fuzzer; the seeded
fuzz suite itself is tests/test_fuzz.py."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from neurochip.cli.main import main
from neurochip.description import save
from neurochip.random_networks import random_description


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, words=()):
    """The command exits 2 with exactly one line on stderr containing ``words``."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurochip: error:"), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture
def pool_model(tmp_path):
    path = tmp_path / "pool.npz"
    save(random_description(0, kinds=("pool",), max_layers=1), path)
    return path


# 1 ---------------------------------------------------------------------------------------
def test_inspect_a_model_without_weight_memory_prints_n_a(capsys, pool_model):
    code, out, err = run(capsys, "inspect", pool_model)
    assert code == 0, err
    assert "n/a smaller than 32-bit weights" in out


# 2, 5 ------------------------------------------------------------------------------------
def idx_header(shape, code=0x08) -> bytes:
    return struct.pack(f">HBB{len(shape)}I", 0, code, len(shape), *shape)


def gzip_bomb(path, header: bytes, zeros: int) -> None:
    """``header`` then ``zeros`` zero bytes, gzipped chunk by chunk (a few hundred kB)."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        chunk = bytes(1 << 20)
        for _ in range(zeros >> 20):
            f.write(chunk)


def data_dir(tmp_path, images_header: bytes, zeros: int, labels: int = 1):
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    gzip_bomb(d / "t10k-images-idx3-ubyte.gz", images_header, zeros)
    (d / "t10k-labels-idx1-ubyte").write_bytes(idx_header((labels,)) + bytes(labels))
    return d


def test_idx_header_declaring_more_than_the_bound_is_refused_before_reading(tmp_path):
    from neurochip.datasets import MAX_IDX_BYTES, read_idx

    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    gzip_bomb(path, idx_header((6_000_000, 28, 28)), 8 << 20)
    with pytest.raises(ValueError, match=f"more than the {MAX_IDX_BYTES} bytes"):
        read_idx(path)


def test_gzip_bomb_within_a_small_header_costs_only_the_declared_size(tmp_path):
    import tracemalloc

    from neurochip.datasets import read_idx

    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    gzip_bomb(path, idx_header((10, 28, 28)), 64 << 20)  # 64 MiB behind a 7.8 kB header
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="trailing bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


@pytest.mark.parametrize("argv", [
    ("simulate", "{model}", "--data", "{data}"),
    ("verify", "{model}", "--data", "{data}"),
])
def test_gzip_bomb_in_data_is_one_line(capsys, tmp_path, small_model_path, argv):
    d = data_dir(tmp_path, idx_header((5_500_000, 28, 28)), 4 << 20)
    refused(capsys, *[a.format(model=small_model_path, data=d) for a in argv],
            words=("more than the",))


def test_a_split_with_no_images_is_named(capsys, tmp_path, small_model_path):
    d = data_dir(tmp_path, idx_header((0, 28, 28)), 0, labels=0)
    refused(capsys, "simulate", small_model_path, "--data", d, words=("has no images",))

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

"""Synthetic float checkpoints, so quantizer and CLI tests need neither torch nor data."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import numpy as np


def write_checkpoint(path: Path, sizes=(784, 48, 10), mode="discontinuous", bits=1, T=4,
                     seed=0, extra=None) -> Path:
    """``extra``: more manifest keys (e.g. dataset, data_dir, test_split_sha256)."""
    rng = np.random.default_rng(seed)
    meta = {"format": "neurochip-float-checkpoint", "version": 1, "trainer": "ste-bp",
            "mode": mode, "weight_bits": bits, "time_steps": T, "threshold": 1.0,
            "layer_sizes": list(sizes), "encoder": "bernoulli", **(extra or {})}
    arrays = {"manifest": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for i in range(len(sizes) - 1):
        arrays[f"layer{i}.weight"] = rng.normal(0, 0.08, (sizes[i], sizes[i + 1])).astype(np.float32)
        arrays[f"layer{i}.bias"] = rng.normal(0.3, 0.5, sizes[i + 1]).astype(np.float32)
    np.savez(path, **arrays)
    return path


def bounds_case(bits: int, overflow: str):
    """One layer of 8-bit weights whose membranes the bias drives to the B-bit bounds
    (B = ``bits``), with two images: exercises saturate/wrap at every storage width."""
    from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer
    from neurochip.neurons.lif import LifNeuron

    rng = np.random.default_rng(bits)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    w = rng.integers(-128, 128, size=(6, 8))
    w[0], w[1] = 127, -128
    layer = Layer(name="out", inputs=6, neurons=8, weight_bits=8, membrane_bits=bits,
                  overflow=overflow, neuron=LifNeuron(reset="subtract", leak="none",
                                                         leak_amount=0,
                                                         integration="continuous"),
                  core=CoreMapping(index=0, lanes=3, fifo_depth=2), weight=w,
                  threshold=np.array([hi, hi, lo, lo, 0, -1, hi, lo]),
                  bias=np.array([hi, lo, hi, lo, hi, lo, 1, -1]), source="input")
    desc = CoreDescription(name="bounds", input_shape=(6,),
                           encoder=Encoder("rate_deterministic", 0), time_steps=4,
                           clock_hz=1e8, count_bits=4, layers=[layer])
    images = np.array([[255, 255, 200, 128, 64, 0], [255, 0, 255, 0, 255, 255]], dtype=np.uint8)
    return desc, images


def client(module: str, install: str):
    """A real framework the tests check against: skipped where it is not installed, but
    required in CI (CI=true), where `install` puts it (a skip there would hide it)."""
    import pytest

    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} not installed ({install})")


def write_idx_split(folder: Path, train: int, test: int) -> Path:
    """An MNIST-format folder made from the shipped sample: the first ``train`` images as
    the training split, the next ``test`` as the test split (train + test ≤ 256)."""
    from neurochip.datasets import load_sample, write_idx

    images, labels = load_sample()
    folder.mkdir(parents=True, exist_ok=True)
    for split, sl in (("train", slice(0, train)), ("t10k", slice(train, train + test))):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images[sl])
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels[sl])
    return folder


def tiny_fc(lanes: int = 4, inputs: int = 64, hidden: int = 16, seed: int = 0):
    """A two-layer binary fc chip small enough for Yosys and nextpnr in seconds (tests of
    `neurochip synth`)."""
    from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer
    from neurochip.neurons.lif import LifNeuron

    rng = np.random.default_rng(seed)

    def fc(name, index, n_in, n_out, source, lanes_):
        return Layer(name=name, inputs=n_in, neurons=n_out, weight_bits=1, membrane_bits=8,
                     overflow="saturate",
                     neuron=LifNeuron(reset="zero", leak="none", leak_amount=0,
                                      integration="discontinuous"),
                     core=CoreMapping(index=index, lanes=lanes_, fifo_depth=4),
                     weight=rng.choice([-1, 1], size=(n_in, n_out)),
                     threshold=rng.integers(1, 8, size=n_out),
                     bias=rng.integers(-2, 3, size=n_out), source=source)

    layers = [fc("fc1", 0, inputs, hidden, "input", lanes),
              fc("out", 1, hidden, 10, "fc1", min(lanes, 10))]
    return CoreDescription(name=f"tiny-fc-l{lanes}", input_shape=(inputs,),
                           encoder=Encoder("rate_deterministic", 0), time_steps=4,
                           clock_hz=1e8, count_bits=4, layers=layers)

"""Quantizer: scales fold into integer thresholds; in discontinuous mode the fold is exact,
so the float model and the chip decide identically on the same input spikes."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import write_checkpoint
from neurochip.description import DescriptionError, load
from neurochip.quantize import float_predict, load_checkpoint, quantize, quantize_checkpoint
from neurochip.random_networks import random_images
from neurochip.sim import simulate
from neurochip.sim.simulator import encode_images


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_discontinuous_fold_is_exact(tmp_path, bits):
    model = load_checkpoint(write_checkpoint(tmp_path / "c.ckpt.npz", bits=bits, seed=bits))
    desc = quantize(model, "t", lanes=16)
    images = random_images(bits, 60, 784)
    sim = simulate(desc, images)
    assert len(set(sim.predictions.tolist())) > 1  # the network is not trivially constant
    np.testing.assert_array_equal(float_predict(model, encode_images(desc, images)), sim.predictions)


def test_continuous_quantization_never_saturates(tmp_path):
    model = load_checkpoint(write_checkpoint(tmp_path / "c.ckpt.npz", mode="continuous", T=6))
    desc = quantize(model, "t")
    res = simulate(desc, random_images(1, 20, 784))
    for i, lay in enumerate(desc.layers):
        lo, hi = -(1 << (lay.membrane_bits - 1)), (1 << (lay.membrane_bits - 1)) - 1
        mem = res.membranes[:, res.neuron_offsets[i]:res.neuron_offsets[i + 1]]
        assert mem.min() > lo and mem.max() < hi
    assert all(lay.neuron.integration == "continuous" for lay in desc.layers)


def test_quantize_checkpoint_writes_valid_description(tmp_path):
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz")
    desc = quantize_checkpoint(ckpt, tmp_path / "m.npz", lanes=8, report=False)
    back = load(tmp_path / "m.npz")
    assert back.content_hash() == desc.content_hash()
    assert [lay.core.lanes for lay in back.layers] == [8, 8]


def test_nan_checkpoint_is_refused(tmp_path):
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz")
    raw = dict(np.load(ckpt))
    raw["layer1.weight"][0, 0] = np.nan
    np.savez(ckpt, **raw)
    with pytest.raises(DescriptionError, match="'layer1.weight' holds NaN"):
        load_checkpoint(ckpt)

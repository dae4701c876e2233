"""Quantizer: scales fold into integer thresholds; in discontinuous mode the fold is exact in
real arithmetic, so the float model and the chip decide identically on the same input
spikes except where scale·Σ + b lies within float32 rounding of the threshold."""

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


# ---------------------------------------------------------------- review regressions

def _rewrite_manifest(ckpt, edit):
    import json
    raw = dict(np.load(ckpt))
    meta = json.loads(raw["manifest"].tobytes().decode())
    edit(meta)
    raw["manifest"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(ckpt, **raw)
    return ckpt


@pytest.mark.parametrize("edit, words", [
    (lambda m: m.pop("mode"), ["manifest key 'mode' is missing", "neurochip train"]),
    (lambda m: m.pop("weight_bits"), ["'weight_bits' is missing"]),
    (lambda m: m.pop("time_steps"), ["'time_steps' is missing"]),
    (lambda m: m.pop("layer_sizes"), ["'layer_sizes' is missing"]),
    (lambda m: m.update(mode="spiky"), ["'mode' is 'spiky'", "discontinuous"]),
    (lambda m: m.update(weight_bits=9), ["'weight_bits' is 9", "1 … 8"]),
    (lambda m: m.update(weight_bits=True), ["'weight_bits' is True"]),
    (lambda m: m.update(time_steps=2.5), ["'time_steps' is 2.5", "1 … 4096"]),
    (lambda m: m.update(layer_sizes=[784]), ["'layer_sizes'", "at least two"]),
    (lambda m: m.update(layer_sizes="784,48,10"), ["'layer_sizes'"]),
    (lambda m: m.update(threshold=0.5), ["'threshold' is 0.5"]),
])
def test_bad_checkpoint_manifest_keys_are_named(tmp_path, edit, words):
    from neurochip.quantize import CheckpointError
    ckpt = _rewrite_manifest(write_checkpoint(tmp_path / "c.ckpt.npz"), edit)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(ckpt)
    assert isinstance(err.value, ValueError)  # the CLI maps it to exit code 2
    for w in words:
        assert w in str(err.value)


def test_checkpoint_manifest_that_is_not_an_object_or_json(tmp_path):
    from neurochip.quantize import CheckpointError
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz")
    raw = dict(np.load(ckpt))
    raw["manifest"] = np.frombuffer(b"[1, 2]", np.uint8)
    np.savez(ckpt, **raw)
    with pytest.raises(CheckpointError, match="must be a JSON object"):
        load_checkpoint(ckpt)
    raw["manifest"] = np.frombuffer(b"{nope", np.uint8)
    np.savez(ckpt, **raw)
    with pytest.raises(CheckpointError, match="not valid UTF-8 JSON"):
        load_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.ckpt.npz")


def test_all_zero_weight_column_is_named_not_divided_by(tmp_path):
    from neurochip.quantize import CheckpointError
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", bits=1)
    raw = dict(np.load(ckpt))
    raw["layer1.weight"][:, 3] = 0  # 1-bit weights: scale = mean |W| = 0
    np.savez(ckpt, **raw)
    model = load_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match=r"'layer1.weight', neuron 3: .*scale is 0.0 "
                                              r"\(column 3 is all zero\).*retrain"):
        quantize(model, "t")
    with pytest.raises(CheckpointError, match="neuron 3"):
        quantize(load_checkpoint(_rewrite_manifest(ckpt, lambda m: m.update(mode="continuous"))), "t")


def test_multi_bit_all_zero_column_folds_exactly(tmp_path):
    # for w >= 2 bits the trainer uses scale 1 for an all-zero column: nothing to refuse
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", bits=4)
    raw = dict(np.load(ckpt))
    raw["layer1.weight"][:, 3] = 0
    raw["layer1.bias"][3] = 1.5  # x = b > 1: fires always
    np.savez(ckpt, **raw)
    desc = quantize(load_checkpoint(ckpt), "t")
    lay = desc.layers[1]
    assert not lay.weight[:, 3].any() and lay.threshold[3] == -1  # Σ = 0 > θ: always fires


def test_continuous_fold_that_needs_more_than_32_bits_is_refused(tmp_path):
    from neurochip.quantize import CheckpointError
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", mode="continuous")
    raw = dict(np.load(ckpt))
    raw["layer0.weight"][:, 5] = 1e-12 * np.sign(raw["layer0.weight"][:, 5])
    np.savez(ckpt, **raw)
    with pytest.raises(CheckpointError, match=r"layer 0: continuous mode needs a \d+-bit "
                                              r"membrane \(neuron 5.*at most 32"):
        quantize(load_checkpoint(ckpt), "t")


def test_discontinuous_fold_is_exact_in_real_arithmetic_at_float_ties(tmp_path):
    """scale = 1/8, b = 2^-60: 8·scale + b = 1 + 2^-60 > 1, so Σ = 8 must fire. A float64
    floor((1 − b)/scale) gives θ = 8 (1 − 2^-60 rounds to 1) and misses it; the exact fold
    gives θ = 7. The float32 forward pass rounds 1 + 2^-60 to 1 and does not fire: the
    documented tie case where float32 forward and chip may differ."""
    from fractions import Fraction
    import json
    from neurochip.quantize import discontinuous_threshold
    b, scale = np.float32(2.0**-60), np.float32(0.125)
    assert float(b) == 2.0**-60
    assert discontinuous_threshold(b, scale) == 7
    assert np.floor((1 - np.float64(b)) / np.float64(scale)) == 8  # what float64 would do
    assert Fraction(float(scale)) * 8 + Fraction(float(b)) > 1  # real arithmetic fires at Σ = 8
    assert not (np.float32(8) * scale + b > np.float32(1))  # float32 forward does not

    # and through quantize(): a 2-bit checkpoint whose neuron 0 has exactly that scale
    meta = {"format": "neurochip-float-checkpoint", "version": 1, "mode": "discontinuous",
            "weight_bits": 2, "time_steps": 1, "layer_sizes": [16, 2]}
    w = np.full((16, 2), 0.125, np.float32)
    w[::2, 1] = -0.25
    bias = np.array([b, 0.5], np.float32)
    path = tmp_path / "tie.ckpt.npz"
    np.savez(path, manifest=np.frombuffer(json.dumps(meta).encode(), np.uint8),
             **{"layer0.weight": w, "layer0.bias": bias})
    desc = quantize(load_checkpoint(path), "tie", lanes=2)
    assert desc.layers[0].threshold[0] == 7

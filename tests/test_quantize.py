"""Quantizer: scales fold into integer thresholds; in discontinuous mode the fold is exact in
real arithmetic, so the float model and the chip decide identically on the same input
spikes except where scale·Σ + b lies within float32 rounding of the threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import write_checkpoint
from neurochip.description import DescriptionError, load
from neurochip.train.quantize import float_predict, load_checkpoint, quantize, quantize_checkpoint
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
    from neurochip.train.quantize import CheckpointError
    ckpt = _rewrite_manifest(write_checkpoint(tmp_path / "c.ckpt.npz"), edit)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(ckpt)
    assert isinstance(err.value, ValueError)  # the CLI maps it to exit code 2
    for w in words:
        assert w in str(err.value)


def test_checkpoint_manifest_that_is_not_an_object_or_json(tmp_path):
    from neurochip.train.quantize import CheckpointError
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
    from neurochip.train.quantize import CheckpointError
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
    from neurochip.train.quantize import CheckpointError
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
    from neurochip.train.quantize import discontinuous_threshold
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


# ------------------------------------- the accuracy report runs on the checkpoint's own data

def _idx_folder(folder, n=24, seed=0):
    """A tiny synthetic Fashion-like IDX folder (test split only, official file names)."""
    from neurochip.datasets import write_idx
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels)
    return images, labels


def _data_keys(folder, images, labels, dataset=None):
    """The manifest keys the trainer writes about its data."""
    from neurochip.train.shell import split_fingerprint
    return {"dataset": dataset or folder.name, "data_dir": str(folder),
            "data_dir_resolved": str(folder.resolve()), "test_images": len(images),
            "test_split_sha256": split_fingerprint(images, labels)}


def test_report_runs_on_the_checkpoints_own_test_split(tmp_path, capsys):
    folder = tmp_path / "fashion-mnist"
    images, labels = _idx_folder(folder, n=24)
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 16, 10),
                            extra=_data_keys(folder, images, labels))
    desc = quantize_checkpoint(ckpt, tmp_path / "m.npz", lanes=8)
    err = capsys.readouterr().err
    line = [ln for ln in err.splitlines() if ln.startswith("quantized ")][-1]
    assert f"on 24 images ({folder.resolve()} test split" in line
    assert "MNIST sample" not in err
    acc = load(tmp_path / "m.npz").provenance["sample_accuracy"]
    assert acc == desc.provenance["sample_accuracy"]
    assert acc["images"] == 24 and acc["data"] == f"{folder.resolve()} test split"
    assert 0.0 <= acc["float"] <= 1.0 and 0.0 <= acc["quantized"] <= 1.0


def test_report_finds_the_data_folder_as_given_when_resolved_path_is_gone(tmp_path, capsys,
                                                                          monkeypatch):
    folder = tmp_path / "fashion"
    images, labels = _idx_folder(folder, n=12)
    keys = _data_keys(folder, images, labels)
    keys.update(data_dir="fashion", data_dir_resolved=str(tmp_path / "elsewhere" / "fashion"))
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 16, 10), extra=keys)
    monkeypatch.chdir(tmp_path)  # the relative folder the trainer was given
    desc = quantize_checkpoint(ckpt, tmp_path / "m.npz", lanes=8)
    assert f"on 12 images ({folder.resolve()} test split" in capsys.readouterr().err
    assert desc.provenance["sample_accuracy"]["data"] == f"{folder.resolve()} test split"


def test_missing_data_folder_is_said_plainly_not_replaced_by_the_mnist_sample(tmp_path, capsys):
    folder = tmp_path / "fashion-mnist"
    images, labels = _idx_folder(folder, n=8)
    keys = _data_keys(folder, images, labels)
    gone = tmp_path / "moved" / "fashion-mnist"
    keys.update(data_dir=str(gone), data_dir_resolved=str(gone))
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 16, 10), extra=keys)
    desc = quantize_checkpoint(ckpt, tmp_path / "m.npz", lanes=8)
    err = capsys.readouterr().err
    assert "no matching test data available" in err and str(gone) in err
    assert "dataset 'fashion-mnist'" in err and "--data DIR" in err
    assert "MNIST sample" not in err and "(no accuracy report)" in err
    assert "sample_accuracy" not in desc.provenance
    assert "sample_accuracy" not in load(tmp_path / "m.npz").provenance


def test_folder_with_different_data_is_not_reported_on(tmp_path, capsys):
    folder = tmp_path / "fashion"
    images, labels = _idx_folder(folder, n=8, seed=1)
    keys = _data_keys(folder, images, labels)
    keys["test_split_sha256"] = "0" * 64  # trained on some other test split
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 16, 10), extra=keys)
    desc = quantize_checkpoint(ckpt, tmp_path / "m.npz", lanes=8)
    err = capsys.readouterr().err
    assert "different test split" in err and str(folder) in err
    assert "sample_accuracy" not in desc.provenance


def test_checkpoint_without_data_keys_gets_no_report(tmp_path, capsys):
    desc = quantize_checkpoint(write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 16, 10)),
                               tmp_path / "m.npz", lanes=8)
    err = capsys.readouterr().err
    assert "does not record its data folder" in err and "MNIST sample" not in err
    assert "sample_accuracy" not in desc.provenance


def test_mnist_checkpoint_without_its_folder_reports_on_the_shipped_sample(tmp_path, capsys):
    gone = tmp_path / "mnist"
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 16, 10),
                            extra={"dataset": "mnist", "data_dir": str(gone),
                                   "data_dir_resolved": str(gone)})
    desc = quantize_checkpoint(ckpt, tmp_path / "m.npz", lanes=8)
    err = capsys.readouterr().err
    assert str(gone) in err and "its dataset is MNIST" in err
    assert "on 256 images (shipped MNIST sample" in err
    acc = desc.provenance["sample_accuracy"]
    # the same keys and data name as before this report learned about data folders
    assert set(acc) == {"images", "data", "float", "quantized", "agreement"}
    assert acc["data"] == "shipped MNIST sample" and acc["images"] == 256


def test_quantize_cli_data_option_names_the_data(tmp_path, capsys):
    from neurochip.cli.main import main
    folder = tmp_path / "my-data"
    _idx_folder(folder, n=10)
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 16, 10),
                            extra={"dataset": "fashion", "test_split_sha256": "0" * 64})
    code = main(["quantize", str(ckpt), "-o", str(tmp_path / "m.npz"), "--lanes", "8",
                 "--data", str(folder)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "not the one the checkpoint was trained with" in err  # said, but reported as asked
    assert f"on 10 images ({folder.resolve()} test split" in err
    assert load(tmp_path / "m.npz").provenance["sample_accuracy"]["images"] == 10

    code = main(["quantize", str(ckpt), "-o", str(tmp_path / "n.npz"),
                 "--data", str(tmp_path / "absent")])
    err = capsys.readouterr().err
    assert code == 2 and f"--data {tmp_path / 'absent'}" in err and "t10k-images" in err
    assert not (tmp_path / "n.npz").exists()


# ------------------------------------------------------ convolutional checkpoints (--arch)

TINY_ARCH = [{"type": "conv", "channels": 4, "kernel": 3, "pad": 0},
             {"type": "pool", "window": 2},
             {"type": "conv", "channels": 6, "kernel": 3, "pad": 1},
             {"type": "pool", "window": 2},
             {"type": "fc", "neurons": 8},
             {"type": "fc", "neurons": 5}]
TINY_INPUT = (10, 11, 1)  # H ≠ W catches swapped axes; 8×9×4 → 4×4×4 (ragged column dropped)


def write_cnn_checkpoint(path, arch=TINY_ARCH, input_shape=TINY_INPUT, bits=1, T=3, seed=0,
                         extra=None):
    """A convolutional float checkpoint as `neurochip train ste-bp --arch` writes it (no
    torch): latent weights in the chip's (fan_in, fan_out) layout, and biases that put each
    neuron's threshold near the middle of its reachable sums, so about half of them fire."""
    from neurochip.train.arch import stream_sizes, weighted_shapes
    rng = np.random.default_rng(seed)
    meta = {"format": "neurochip-float-checkpoint", "version": 1, "trainer": "ste-bp",
            "mode": "discontinuous", "weight_bits": bits, "time_steps": T, "threshold": 1.0,
            "layer_sizes": stream_sizes(arch, input_shape), "arch": arch,
            "input_shape": list(input_shape), "encoder": "bernoulli", **(extra or {})}
    arrays = {"manifest": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for i, (fan_in, fan_out) in weighted_shapes(arch, input_shape):
        w = rng.normal(0, 0.3, (fan_in, fan_out)).astype(np.float32)
        scale = np.abs(w).mean(axis=0)
        # x = scale·Σ + b; Σ of ±1 weights over ~fan_in/3 active inputs is about ±sqrt(fan_in/3)
        arrays[f"layer{i}.weight"] = w
        arrays[f"layer{i}.bias"] = (1 - scale * rng.normal(0, (fan_in / 3) ** 0.5, fan_out)
                                    ).astype(np.float32)
    np.savez(path, **arrays)
    return path


def _float_forward_torch_layout(model, spikes):
    """Independent float32 forward pass of a CNN checkpoint in torch's (C, H, W) layout with
    explicit loops: conv as cross-correlation with zero padding, OR pooling as max, the first
    fc reading the map permuted to (H, W, C) (the chip's address order). Returns the output
    spikes (n, classes) and, per image, the smallest |x − 1| over all neurons (tie margin)."""
    h, w, c = model.input_shape
    n = len(spikes)
    s = spikes.reshape(n, h, w, c).transpose(0, 3, 1, 2).astype(np.float32)  # (n, C, H, W)
    margin = np.full(n, np.inf)
    j = 0
    for i, entry in enumerate(model.arch):
        if entry["type"] == "pool":
            k = entry["window"]
            hh, ww = s.shape[2] // k, s.shape[3] // k
            out = np.zeros((n, s.shape[1], hh, ww), np.float32)
            for oy in range(hh):
                for ox in range(ww):
                    out[:, :, oy, ox] = s[:, :, oy * k:oy * k + k, ox * k:ox * k + k].max(axis=(2, 3))
            s = out
            continue
        ints, scale = model.effective()[j]
        weff, b = ints.astype(np.float32) * scale, model.biases[j]
        j += 1
        if entry["type"] == "conv":
            k, pad, cout = entry["kernel"], entry["pad"], entry["channels"]
            cin = s.shape[1]
            kern = weff.T.reshape(cout, cin, k, k)  # row (c·k + ky)·k + kx
            sp = np.pad(s, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            ho, wo = sp.shape[2] - k + 1, sp.shape[3] - k + 1
            x = np.zeros((n, cout, ho, wo), np.float32)
            for oy in range(ho):
                for ox in range(wo):
                    patch = sp[:, :, oy:oy + k, ox:ox + k]
                    x[:, :, oy, ox] = np.einsum("nckl,ockl->no", patch, kern) + b
        else:
            flat = s.transpose(0, 2, 3, 1).reshape(n, -1) if s.ndim == 4 else s
            x = flat @ weff + b
        margin = np.minimum(margin, np.abs(x - 1).reshape(n, -1).min(axis=1))
        s = (x > 1).astype(np.float32)
    return s.astype(np.int64), margin


def _chip_forward_contract(desc, spikes):
    """The chip's integer behaviour of a conv2d/pool/fc description for one time step, event
    by event as the contract states it (no simulator needed): an input event at address
    (y·W + x)·C + c of a conv2d layer adds kernel row (c·kh + ky)·kw + kx to the output
    neurons (oy·W_out + ox)·C_out + co it touches; a pool event adds 1 to its window's
    neuron (same channel); a neuron fires iff its membrane > θ (per channel)."""
    out_all = []
    for one in spikes:
        active = np.flatnonzero(one)
        for lay in desc.layers:
            m = np.zeros(lay.neurons, np.int64)
            g = lay.geometry
            if lay.kind == "conv2d":
                h, w, c = g["in_shape"]
                kh, kw = g["kernel"]
                pad, cout = g["pad"], g["channels"]
                ho, wo = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
                for a in active:
                    y, x, ci = a // (w * c), (a // c) % w, a % c
                    for oy in range(ho):
                        for ox in range(wo):
                            ky, kx = y + pad - oy, x + pad - ox
                            if 0 <= ky < kh and 0 <= kx < kw:
                                base = (oy * wo + ox) * cout
                                m[base:base + cout] += lay.weight[(ci * kh + ky) * kw + kx]
                theta = np.tile(lay.threshold, ho * wo)
            elif lay.kind == "pool":
                h, w, c = g["in_shape"]
                k = g["window"]
                wo = w // k
                for a in active:
                    y, x, ci = a // (w * c), (a // c) % w, a % c
                    if y // k < h // k and x // k < wo:
                        m[((y // k) * wo + x // k) * c + ci] += 1
                theta = np.tile(lay.threshold, lay.neurons // c)
            else:
                for a in active:
                    m += lay.weight[a]
                theta = lay.threshold
            lo, hi = -(1 << (lay.membrane_bits - 1)), (1 << (lay.membrane_bits - 1)) - 1
            assert lo <= m.min() and m.max() <= hi  # the chosen width never saturates
            active = np.flatnonzero(m > theta)
        fired = np.zeros(desc.layers[-1].neurons, np.int64)
        fired[active] = 1
        out_all.append(fired)
    return np.array(out_all)


def _kinds_available():
    from neurochip.kinds import KINDS
    return {"conv2d", "pool"} <= set(KINDS)


needs_conv_chip = pytest.mark.skipif(not _kinds_available(),
                                     reason="the conv2d/pool layer kinds are not registered yet")


@pytest.mark.parametrize("bits", [1, 2])
def test_cnn_fold_matches_float_forward_away_from_ties(tmp_path, bits):
    from neurochip.train.quantize import cnn_float_step
    model = load_checkpoint(write_cnn_checkpoint(tmp_path / "c.ckpt.npz", bits=bits, seed=bits))
    assert model.arch == TINY_ARCH and model.input_shape == TINY_INPUT
    desc = quantize(model, "tiny-cnn", lanes=4)
    assert [(lay.name, lay.kind) for lay in desc.layers] == [
        ("conv1", "conv2d"), ("pool1", "pool"), ("conv2", "conv2d"), ("pool2", "pool"),
        ("fc1", "fc"), ("out", "fc")]
    assert [lay.source for lay in desc.layers] == ["input", "conv1", "pool1", "conv2", "pool2", "fc1"]
    assert [(lay.inputs, lay.neurons) for lay in desc.layers] == [
        (110, 288), (288, 64), (64, 96), (96, 24), (24, 8), (8, 5)]
    assert [lay.core.lanes for lay in desc.layers] == [4, 4, 4, 4, 4, 4]
    assert [lay.core.index for lay in desc.layers] == list(range(6))
    conv1, pool1, conv2 = desc.layers[:3]
    assert conv1.geometry == {"in_shape": [10, 11, 1], "channels": 4, "kernel": [3, 3],
                              "stride": 1, "pad": 0}
    assert conv2.geometry["pad"] == 1 and conv2.geometry["in_shape"] == [4, 4, 4]
    assert pool1.geometry == {"in_shape": [8, 9, 4], "window": 2, "stride": 2,
                              "emit": "every_step"}
    assert pool1.weight.shape == (0, 0) and not pool1.threshold.any() and not pool1.bias.any()
    assert pool1.membrane_bits == 4 and pool1.neuron.reset == "zero"
    assert conv2.weight.shape == (36, 6) and conv2.threshold.shape == (6,)
    assert not conv2.bias.any() and conv2.neuron.integration == "discontinuous"
    if bits == 1:
        assert set(np.unique(conv2.weight)) == {-1, 1}
    # membrane: reach = Σ|W| of a channel, plus the sign bit
    assert conv2.membrane_bits == max(2, int(np.ceil(np.log2(np.abs(conv2.weight).sum(0).max() + 2))) + 1)
    assert desc.input_shape == (10, 11)

    rng = np.random.default_rng(bits)
    spikes = (rng.random((300, 110)) < 0.4).astype(np.uint8)
    reference, margin = _float_forward_torch_layout(model, spikes)
    chip = _chip_forward_contract(desc, spikes)
    away = margin > 1e-4
    assert away.mean() > 0.9
    np.testing.assert_array_equal(chip[away], reference[away])
    assert 0.1 < chip.mean() < 0.9  # neither silent nor saturated
    x = cnn_float_step(model, spikes)
    np.testing.assert_array_equal((x > 1)[away], reference[away].astype(bool))
    # float_predict: spike counts over T steps of the same spikes → argmax
    stacked = np.repeat(spikes[:, None, :], 3, axis=1)
    np.testing.assert_array_equal(float_predict(model, stacked)[away],
                                  np.argmax(reference, axis=1)[away])


def test_cnn_all_zero_channel_is_named(tmp_path):
    from neurochip.train.quantize import CheckpointError
    ckpt = write_cnn_checkpoint(tmp_path / "c.ckpt.npz")
    raw = dict(np.load(ckpt))
    raw["layer2.weight"][:, 3] = 0
    np.savez(ckpt, **raw)
    with pytest.raises(CheckpointError, match=r"'layer2.weight', channel 3: the per-channel "
                                              r"weight scale is 0.0"):
        quantize(load_checkpoint(ckpt), "t")


def _edit_arrays(ckpt, edit):
    raw = dict(np.load(ckpt))
    edit(raw)
    np.savez(ckpt, **raw)
    return ckpt


@pytest.mark.parametrize("edit_meta, edit_arrays, words", [
    (lambda m: m.pop("input_shape"), None, ["manifest key 'input_shape' is missing"]),
    (lambda m: m.update(input_shape=[10, 11]), None, ["'input_shape' is [10, 11]", "[H, W, C]"]),
    (lambda m: m.update(arch=[]), None, ["'arch' is []"]),
    (lambda m: m["arch"][1].update(type="avgpool"), None, ["'arch[1]'.type is 'avgpool'"]),
    (lambda m: m["arch"][0].update(kernel=0), None, ["'arch[0]'.kernel is 0"]),
    (lambda m: m["arch"][0].update(kernel=12), None, ["'arch[0]'", "does not fit"]),
    (lambda m: m["arch"][2].update(pad=3), None, ["'arch[2]'.pad is 3", "smaller than the kernel"]),
    (lambda m: m["arch"][0].pop("channels"), None, ["'arch[0]'.channels is None"]),
    (lambda m: m["arch"].insert(5, {"type": "pool", "window": 2}), None,
     ["'arch[5]' is a pool layer after a fully connected one"]),
    (lambda m: m.update(arch=m["arch"][:4]), None, ["last 'arch' entry must be the fc output layer"]),
    (lambda m: m.update(layer_sizes=[110, 288]), None, ["'layer_sizes' is [110, 288]", "stream sizes"]),
    (lambda m: m.update(mode="continuous"), None, ["'mode' is 'continuous'", "discontinuous"]),
    (None, lambda a: a.pop("layer2.weight"), ["missing array 'layer2.weight'", "conv layer 'arch[2]'"]),
    (None, lambda a: a.pop("layer4.bias"), ["missing array 'layer4.bias'", "fc layer 'arch[4]'"]),
    (None, lambda a: a.update({"layer0.weight": np.zeros((12, 9), np.float32)}),
     ["'layer0.weight' has shape (12, 9)", "(9, 4)", "C_in·kh·kw, C_out"]),
    (None, lambda a: a.update({"layer2.bias": np.zeros(4, np.float32)}),
     ["'layer2.bias' has shape (4,)", "(6,)"]),
    (None, lambda a: a.update({"layer4.weight": np.zeros((8, 24), np.float32)}),
     ["'layer4.weight' has shape (8, 24)", "(24, 8)"]),
    (None, lambda a: a["layer5.bias"].__setitem__(0, np.inf), ["'layer5.bias' holds NaN or Inf"]),
])
def test_bad_cnn_checkpoints_are_refused_naming_the_key(tmp_path, edit_meta, edit_arrays, words):
    from neurochip.train.quantize import CheckpointError
    ckpt = write_cnn_checkpoint(tmp_path / "c.ckpt.npz")
    if edit_meta is not None:
        _rewrite_manifest(ckpt, edit_meta)
    if edit_arrays is not None:
        _edit_arrays(ckpt, edit_arrays)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(ckpt)
    assert isinstance(err.value, ValueError)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_mlp_checkpoint_still_loads_without_arch(tmp_path):
    model = load_checkpoint(write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 16, 10)))
    assert model.arch is None and model.input_shape is None
    assert [lay.kind for lay in quantize(model, "t").layers] == ["fc", "fc"]


@needs_conv_chip
def test_cnn_fold_on_the_chip_simulator(tmp_path):
    """Once the conv2d/pool kinds exist: the chip's simulator decides as the float model."""
    model = load_checkpoint(write_cnn_checkpoint(tmp_path / "c.ckpt.npz", seed=3))
    desc = quantize_checkpoint(tmp_path / "c.ckpt.npz", tmp_path / "m.npz", lanes=4,
                               report=False)
    assert load(tmp_path / "m.npz").content_hash() == desc.content_hash()
    images = random_images(5, 80, 110).reshape(80, 10, 11)
    spikes = encode_images(desc, images)
    sim = simulate(desc, images)
    assert len(set(sim.predictions.tolist())) > 1
    _, margin = _float_forward_torch_layout(model, spikes.reshape(-1, 110))
    away = (margin.reshape(80, -1) > 1e-4).all(axis=1)
    assert away.mean() > 0.8
    np.testing.assert_array_equal(float_predict(model, spikes)[away], sim.predictions[away])

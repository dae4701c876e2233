"""ANN → chip conversion (neurochip/convert): batch-norm folding, the NumPy forward pass
against torch, the structure of the plain and BSNN descriptions (phases, synchronous
neurons, integer ranges), the SIN count, and the CLI's refusals. Synthetic checkpoints and
the shipped MNIST sample only: no dataset needed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from neurochip.convert.ann import ARCHS, FORMAT, VERSION, AnnCheckpoint, conv_nhwc, folded, forward, shapes
from neurochip.convert.convert import ConvertOptions, convert, sin_ratio
from neurochip.datasets import load_sample, write_idx
from neurochip.description import load, save
from neurochip.sim import simulate


def synthetic(arch_name: str, seed: int = 0) -> AnnCheckpoint:
    """Random weights with a non-trivial batch norm, in the trainer's array layout."""
    rng = np.random.default_rng(seed)
    arch = ARCHS[arch_name]
    shp = shapes(arch, (28, 28, 1))
    arrays = {}
    for node in arch:
        name = node["name"]
        if node["op"] == "conv":
            c_in = shp[node["src"]][2]
            c = node["channels"]
            arrays[f"{name}.weight"] = rng.normal(0, (2 / (9 * c_in)) ** 0.5, (c, c_in, 3, 3)).astype(np.float32)
            arrays[f"{name}.bn_weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
            arrays[f"{name}.bn_bias"] = rng.normal(0, 0.1, c).astype(np.float32)
            arrays[f"{name}.bn_mean"] = rng.normal(0, 0.1, c).astype(np.float32)
            arrays[f"{name}.bn_var"] = rng.uniform(0.5, 2, c).astype(np.float32)
        elif node["op"] == "fc":
            h, w, c = shp[node["src"]]
            arrays[f"{name}.weight"] = rng.normal(0, 0.05, (10, h * w * c)).astype(np.float32)
            arrays[f"{name}.bias"] = rng.normal(0, 0.1, 10).astype(np.float32)
    meta = {"format": FORMAT, "version": VERSION, "arch_name": arch_name, "arch": arch,
            "input_shape": [28, 28, 1]}
    return AnnCheckpoint(meta, arrays)


def test_batch_norm_folding_equals_conv_then_bn():
    ckpt = synthetic("vgg")
    x = load_sample()[0][:4].reshape(4, 28, 28, 1).astype(np.float64) / 255
    a = {k: v.astype(np.float64) for k, v in ckpt.arrays.items()}
    w = a["c0.weight"]
    raw = conv_nhwc(x, w.transpose(1, 2, 3, 0).reshape(-1, w.shape[0]), np.zeros(w.shape[0]), 3, 1, 1)
    bn = (raw - a["c0.bn_mean"]) / np.sqrt(a["c0.bn_var"] + 1e-5) * a["c0.bn_weight"] + a["c0.bn_bias"]
    fw, fb = folded(ckpt)["c0"]
    np.testing.assert_allclose(conv_nhwc(x, fw, fb, 3, 1, 1), bn, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_numpy_forward_equals_torch(arch):
    """The converter's NHWC forward pass is the trainer's torch module in eval mode."""
    torch = pytest.importorskip("torch")
    from neurochip.train.relu_ann import arrays_of, build_module

    torch.manual_seed(0)
    net = build_module(torch, ARCHS[arch], 1)
    pixels = load_sample()[0][:6]
    xt = torch.from_numpy(pixels.astype(np.float32) / 255)[:, None]
    net(xt)
    net.train()
    for _ in range(3):  # move the BN running statistics away from their defaults
        net(xt)
    net.eval()
    with torch.no_grad():
        want = net(xt).numpy()
    ckpt = AnnCheckpoint({"arch": ARCHS[arch], "input_shape": [28, 28, 1]}, arrays_of(net, ARCHS[arch]))
    got = forward(ckpt, pixels.reshape(6, -1))["fc"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_bsnn_structure_phases_and_synchronous_neurons():
    ckpt = synthetic("resnet")
    cal = load_sample()[0][:64].reshape(64, -1)
    desc = convert(ckpt, cal, ConvertOptions(variant="bsnn", time_steps=8, phase_steps=3))
    plain = convert(ckpt, cal, ConvertOptions(variant="plain", time_steps=8))
    by = {lay.name: lay for lay in desc.layers}
    # two synchronous neurons per block (conv → conv on the main path), identity pools
    sns = [lay for lay in desc.layers if "_sn" in lay.name]
    assert len(sns) == 4 and len(desc.layers) == len(plain.layers) + 4
    assert all(lay.kind == "pool" and lay.geometry["window"] == 1 and lay.threshold.tolist() ==
               [1] * lay.geometry["in_shape"][2] for lay in sns)
    assert {lay.neuron.model for lay in desc.layers} == {"bistable"}
    assert {lay.neuron.model for lay in plain.layers} == {"lif"}

    depth = {"input": -1}
    for lay in desc.layers:  # every layer is one phase (N steps) behind its sources
        srcs = [lay.source] if isinstance(lay.source, str) else list(lay.source)
        ds = {depth[s] for s in srcs}
        assert len(ds) == 1, f"{lay.name}: sources at different depths {ds}"
        depth[lay.name] = ds.pop() + 1
        assert lay.neuron.phase == (depth[lay.name] % 2) * 3
    assert by["a0"].source == ("c2", "a0_sn1")
    for lay in desc.layers + plain.layers:
        top = (1 << (lay.weight_bits - 1)) - 1
        assert np.abs(lay.weight).max(initial=0) <= top + 1


def test_converted_network_runs_and_round_trips(tmp_path):
    ckpt = synthetic("vgg")
    images = load_sample()[0][:3].reshape(3, -1)
    # the output core (depth 5) first fires in step 5·N + N = 12: run past it
    desc = convert(ckpt, images, ConvertOptions(variant="bsnn", time_steps=40, phase_steps=2))
    save(desc, tmp_path / "b.npz")
    again = load(tmp_path / "b.npz")
    a, b = simulate(desc, images), simulate(again, images)
    assert (a.counts == b.counts).all() and (a.cycles == b.cycles).all()
    assert a.counts.sum() > 0


def test_sin_ratio_counts_spikes_of_inactive_units():
    from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer
    from neurochip.convert.convert import PLAIN

    lay = Layer(name="c0", kind="fc", source="input", inputs=1, neurons=3, weight_bits=8,
                membrane_bits=8, overflow="saturate", neuron=PLAIN, core=CoreMapping(0, 1, 4),
                weight=np.ones((1, 3), np.int64), threshold=np.ones(3, np.int64),
                bias=np.zeros(3, np.int64))
    out = Layer(name="c1", kind="fc", source="c0", inputs=3, neurons=2, weight_bits=8,
                membrane_bits=8, overflow="saturate", neuron=PLAIN, core=CoreMapping(1, 1, 4),
                weight=np.ones((3, 2), np.int64), threshold=np.ones(2, np.int64),
                bias=np.zeros(2, np.int64))
    desc = CoreDescription("t", (1,), Encoder("latency", 0), 2, 1e8, 4, [lay, out])
    acts = {"c0.pre": np.array([[-1.0, 0.0, 2.0], [1.0, -3.0, -1.0]])}
    counts = {"c0": np.array([[2, 0, 1], [0, 1, 0]])}
    got = sin_ratio(desc, acts, counts)["c0"]
    assert got == {"inactive": 4, "sin": 2, "ratio": 0.5}


def _run(*args):
    return subprocess.run([sys.executable, "-m", "neurochip", *map(str, args)],
                          capture_output=True, text=True)


def test_cli_converts_and_refuses_bad_input(tmp_path):
    images, labels = load_sample()
    for split in ("train", "t10k"):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", images[:40])
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", labels[:40])
    ckpt = synthetic("resnet")
    ckpt.save(tmp_path / "ann.npz")
    run = _run("convert", tmp_path / "ann.npz", "--data", tmp_path, "--plain", tmp_path / "p.npz",
               "--bsnn", tmp_path / "b.npz", "--time-steps", 6, "--phase-steps", 1,
               "--calibration-images", 20, "--report", 4, "--json")
    assert run.returncode == 0, run.stderr
    import json

    summary = json.loads(run.stdout)
    assert set(summary["written"]) == {"plain", "bsnn"} and summary["report_images"] == 4
    assert load(tmp_path / "b.npz").layers[0].neuron.model == "bistable"
    for args, words in (((), "nothing to write"),
                        (("--bsnn", tmp_path / "x.npz", "--percentile", "nan"), "--percentile"),
                        (("--bsnn", tmp_path / "x.npz", "--phase-steps", 0), "--phase-steps")):
        bad = _run("convert", tmp_path / "ann.npz", "--data", tmp_path, *args)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr
    np.savez(tmp_path / "junk.npz", manifest=np.frombuffer(b'{"format": "x"}', np.uint8))
    bad = _run("convert", tmp_path / "junk.npz", "--bsnn", tmp_path / "x.npz")
    assert bad.returncode == 2 and "manifest.format" in bad.stderr
    arrays = dict(ckpt.arrays)
    arrays["c1.weight"] = arrays["c1.weight"][:, :3]
    AnnCheckpoint(ckpt.meta, arrays).save(tmp_path / "short.npz")
    bad = _run("convert", tmp_path / "short.npz", "--data", tmp_path, "--bsnn", tmp_path / "x.npz")
    assert bad.returncode == 2 and "c1.weight" in bad.stderr


def test_sweep_in_chunks_equals_one_pass(monkeypatch):
    """The T sweep simulates a chunk of images at a time (memory bounded whatever the
    split's size); its figures equal one simulate() call over all the images."""
    from neurochip.convert import sweep as sw
    from neurochip.energy import energy_report, load_tech

    ckpt = synthetic("vgg")
    images, labels = load_sample()
    images, labels = images[:10].reshape(10, -1), labels[:10]
    monkeypatch.setattr(sw, "SIM_CHUNK", 3)
    out = sw.sweep(ckpt, images, images, labels, [8], [1], 99.0, 2)
    lam = sw.scales(ckpt, images, 99.0)
    for variant, n, key in (("plain", 1, "plain"), ("bsnn", 1, "bsnn_N1")):
        desc = convert(ckpt, images, ConvertOptions(variant=variant, time_steps=8, phase_steps=n),
                       lam=lam)
        res = simulate(desc, images)
        got = out["rows"][0][key]
        assert got["accuracy"] == np.mean(res.predictions == labels)
        assert got["cycles_per_image"] == res.cycles.mean()
        assert got["spikes_per_image"] == res.counter("spikes").sum(axis=1).mean()
        pj = energy_report(desc, res.core_counters, res.chip_counters, load_tech()).total_pj
        assert got["nj_per_image"] == pytest.approx(pj.mean() / 1e3, rel=1e-12)

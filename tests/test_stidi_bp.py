"""The STiDi-BP trainer (neurochip/train/stidi_bp.py): its forward pass is the chip's, spike
time for spike time, on every layer and for both PSP forms and weight widths; the CLI
trains, writes a valid ttfs description and refuses bad arguments with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurochip.datasets import load_sample, write_idx  # noqa: E402
from neurochip.description import load  # noqa: E402
from neurochip.sim import simulate  # noqa: E402
from neurochip.train import stidi_bp as S  # noqa: E402


def _net(arch: str, T: int, psp: str, bits: int, seed: int):
    torch.set_num_threads(1)
    net = S.TtfsNet(torch, S.parse_arch(arch), T, psp, bits, np.random.default_rng(seed), 0.1, 1.0)
    images, _ = load_sample()
    with torch.no_grad():
        net.calibrate(torch.tensor(S.latency_times(images[:32], T)), 0.5, 0.5)
    return net, images[:24]


@pytest.mark.parametrize("arch, T, psp, bits", [
    ("4c3,p2,6c3,p2", 8, "ramp", 1), ("4c5,p2", 6, "step", 4), ("20", 10, "step", 8),
    ("12,8", 7, "ramp", 2)])
def test_trainer_forward_is_the_chips_spike_for_spike(arch, T, psp, bits):
    net, images = _net(arch, T, psp, bits, seed=len(arch))
    desc = S.to_description(net, "t", 16, 64, {})
    sim = simulate(desc, images.reshape(len(images), -1), record_spikes=True)
    with torch.no_grad():
        recs = net.forward(torch.tensor(S.latency_times(images, T)))
        pred = net.decide(recs[-1][1], recs[-1][2]).numpy()
    fired_somewhere = 0
    for j, (_, t_out, _, _) in enumerate(recs):
        t = t_out.numpy()
        if t.ndim == 4:  # (B, C, H, W) → chip address order
            t = t.transpose(0, 2, 3, 1).reshape(len(t), -1)
        spikes = np.stack([sim.layer_spikes(i, j) for i in range(len(images))])  # (B, T, N)
        chip_t = np.where(spikes.any(1), spikes.argmax(1), T)
        np.testing.assert_array_equal(chip_t, t, err_msg=f"layer {j}")
        assert spikes.sum(1).max() <= 1
        fired_somewhere += int((t < T).sum())
    assert fired_somewhere > 0
    np.testing.assert_array_equal(sim.predictions, pred)


def _dataset(tmp_path):
    images, labels = load_sample()
    for prefix, sl in (("train", slice(0, 96)), ("t10k", slice(96, 160))):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images[sl])
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels[sl])
    return tmp_path


def _cli(*args: str):
    return subprocess.run([sys.executable, "-m", "neurochip", "train", "stidi-bp", *args],
                          capture_output=True, text=True)


def test_cli_trains_and_writes_a_ttfs_model(tmp_path):
    data = _dataset(tmp_path)
    out = tmp_path / "m"
    r = _cli("--data", str(data), "--out", str(out), "--arch", "16", "--epochs", "1",
             "--time-steps", "8", "--weight-bits", "1", "--threads", "1")
    assert r.returncode == 0, r.stderr
    desc = load(out.with_suffix(".npz"))
    assert {lay.neuron.model for lay in desc.layers} == {"ttfs"}
    assert desc.encoder.kind == "latency" and desc.time_steps == 8
    assert all(lay.weight_bits == 1 for lay in desc.layers)


@pytest.mark.parametrize("args, words", [
    (["--weight-bits", "9"], "--weight-bits"), (["--arch", "16x"], "--arch"),
    (["--lr", "1,2,3"], "--lr"), (["--time-steps", "1"], "--time-steps")])
def test_cli_refuses_bad_arguments(tmp_path, args, words):
    r = _cli("--data", str(_dataset(tmp_path)), "--out", str(tmp_path / "m"), "--epochs", "0",
             "--arch", "16", *args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr

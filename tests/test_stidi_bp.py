"""The STiDi-BP trainer (neurochip/train/stidi_bp.py): its forward pass is the chip's, spike
time for spike time, on every layer and for both PSP forms and weight widths; the CLI
trains, writes a valid ttfs description and refuses bad arguments with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurochip.train.checkpoint import read_checkpoint  # noqa: E402
from neurochip.datasets import load_sample, write_idx  # noqa: E402
from neurochip.description import load  # noqa: E402
from neurochip.sim import simulate  # noqa: E402
from neurochip.train import stidi_bp as S  # noqa: E402


def _net(arch: str, T: int, psp: str, bits: int, seed: int):
    torch.set_num_threads(1)
    net = S.TtfsNet(torch, S.layer_plans(arch), T, psp, bits, np.random.default_rng(seed), 0.1, 1.0)
    images, _ = load_sample()
    with torch.no_grad():
        net.calibrate(torch.tensor(S.latency_times(images[:32], T)), 0.5, 0.5)
    return net, images[:24]


@pytest.mark.parametrize("arch, T, psp, bits", [
    ("4c3p1,p2,6c3p1,p2", 8, "ramp", 1), ("4c5p2,p2", 6, "step", 4), ("20", 10, "step", 8),
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


def _train(tmp_path, *extra: str):
    """Train an fc 16-10 net, T = 8, on 96 sample images (64 test images): (run, prefix)."""
    out = tmp_path / "m"
    r = _cli("--data", str(_dataset(tmp_path)), "--out", str(out), "--arch", "16",
             "--time-steps", "8", "--threads", "1", *extra)
    assert r.returncode == 0, r.stderr
    return r, out


def test_cli_trains_and_writes_a_ttfs_model(tmp_path):
    _, out = _train(tmp_path, "--epochs", "1", "--weight-bits", "1")
    desc = load(out.with_suffix(".npz"))
    assert {lay.neuron.model for lay in desc.layers} == {"ttfs"}
    assert desc.encoder.kind == "latency" and desc.time_steps == 8
    assert all(lay.weight_bits == 1 for lay in desc.layers)


@pytest.mark.parametrize("args, words", [
    (["--weight-bits", "9"], "--weight-bits"), (["--arch", "16x"], "--arch"),
    (["--lr", "1,2,3"], "--lr"), (["--time-steps", "1"], "--time-steps"),
    (["--decay-every", "-1"], "--decay-every"), (["--theta-lr", "nan"], "--theta-lr"),
    (["--hidden-error", "bogus"], "--hidden-error"), (["--dead-reset", "1.5"], "--dead-reset"),
    (["--keep", "best"], "--keep"), (["--keep", "first"], "--keep"),
    (["--average", "1"], "--average"), (["--average", "nan"], "--average")])
def test_cli_refuses_bad_arguments(tmp_path, args, words):
    r = _cli("--data", str(_dataset(tmp_path)), "--out", str(tmp_path / "m"), "--epochs", "0",
             "--arch", "16", *args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr


def _train_batch(net, images, labels, rule):
    t0 = torch.tensor(S.latency_times(images, net.T))
    with torch.no_grad():
        return S.train_step(net, t0, torch.tensor(labels.astype(np.int64)), [2.0] * len(net.plans),
                            rule)


@pytest.mark.parametrize("hidden_error", ["displacement", "s4nn"])
def test_both_hidden_error_rules_move_every_weighted_layer(hidden_error):
    net, images = _net("6c3p1,p2,12", 8, "ramp", 1, seed=3)
    _, labels = load_sample()
    before = [None if w is None else w.clone() for w in net.weights]
    _train_batch(net, images, labels[:len(images)], S.Learning(hidden_error=hidden_error))
    moved = [bool((w != b).any()) for w, b in zip(net.weights, before) if w is not None]
    assert moved == [True, True, True]


def test_the_two_hidden_error_rules_differ_below_the_output():
    _, labels = load_sample()
    nets = {}
    for rule in ("displacement", "s4nn"):
        net, images = _net("6c3p1,p2,12", 8, "ramp", 1, seed=3)
        _train_batch(net, images, labels[:len(images)], S.Learning(hidden_error=rule))
        nets[rule] = net
    a, b = nets["displacement"].weights, nets["s4nn"].weights
    assert torch.equal(a[-1], b[-1])  # the output layer's update does not depend on the rule
    assert not torch.equal(a[0], b[0])


def test_learned_threshold_scale_is_exported_and_stays_chip_exact():
    net, images = _net("6c3p1,p2,12", 8, "ramp", 1, seed=5)
    _, labels = load_sample()
    theta0 = list(net.theta0)
    for _ in range(3):
        _train_batch(net, images, labels[:len(images)], S.Learning(theta_lr=5.0))
    assert net.fact != [1.0] * len(net.fact)
    assert net.theta == [int(round(t0 / f)) for t0, f in zip(theta0, net.fact)]
    desc = S.to_description(net, "t", 16, 64, {})
    thresholds = [int(lay.threshold[0]) for lay in desc.layers if lay.kind != "pool"]
    assert thresholds == [t for t, p in zip(net.theta, net.plans) if p.kind != "pool"]
    sim = simulate(desc, images.reshape(len(images), -1))
    with torch.no_grad():
        recs = net.forward(torch.tensor(S.latency_times(images, net.T)))
    np.testing.assert_array_equal(sim.predictions, net.decide(recs[-1][1], recs[-1][2]).numpy())


def test_cli_validation_holds_out_the_last_training_images(tmp_path):
    r, out = _train(tmp_path, "--epochs", "2", "--validation-images", "32")
    assert "64 train / 64 test images" in r.stderr
    history = read_checkpoint(out.with_suffix(".ckpt.npz"), S.CHECKPOINT_FORMAT)[0]["history"]
    assert [sorted(h) for h in history] == [
        ["changed", "epoch", "loss", "thresholds", "train_acc", "validation_acc"]] * 2
    r = _cli("--data", str(tmp_path), "--out", str(out), "--epochs", "1", "--arch", "16",
             "--validation-images", "96")
    assert r.returncode == 2 and "--validation-images" in r.stderr and "Traceback" not in r.stderr


def test_keep_best_writes_the_first_best_held_out_epoch(tmp_path):
    """--keep best: the written network is the epoch with the most held-out images right
    (the first of equals), the same network a run of just that many epochs ends with."""
    common = ("--validation-images", "32", "--lr", "20", "--seed", "1")
    r, out = _train(tmp_path, "--epochs", "5", "--keep", "best", *common)
    meta = read_checkpoint(out.with_suffix(".ckpt.npz"), S.CHECKPOINT_FORMAT)[0]
    held = [h["validation_acc"] for h in meta["history"]]
    assert meta["kept_epoch"] == 1 + int(np.argmax(held))
    assert meta["kept_epoch"] < 5  # this seed's held-out curve peaks before the last epoch
    assert f"kept epoch {meta['kept_epoch']}" in r.stderr
    shorter = tmp_path / "short"
    shorter.mkdir()
    _, out_k = _train(shorter, "--epochs", str(meta["kept_epoch"]), *common)
    a, b = load(out.with_suffix(".npz")), load(out_k.with_suffix(".npz"))
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.threshold, lb.threshold)
    assert read_checkpoint(out_k.with_suffix(".ckpt.npz"), S.CHECKPOINT_FORMAT)[0][
        "kept_epoch"] == meta["kept_epoch"]


def test_average_writes_the_moving_average_of_the_shadow_weights(tmp_path):
    """--average F: the checkpoint holds the average of the shadow weights (F per update,
    from the initial weights), the model its chip integers (binary: the sign), and the
    trainer's held-out figures are the average's, not the current weights'."""
    common = ("--epochs", "2", "--validation-images", "32", "--lr", "20", "--seed", "1")
    _, plain = _train(tmp_path, *common)
    other = tmp_path / "avg"
    other.mkdir()
    _, avg = _train(other, *common, "--average", "0.9")
    m_plain, w_plain = read_checkpoint(plain.with_suffix(".ckpt.npz"), S.CHECKPOINT_FORMAT)
    m_avg, w_avg = read_checkpoint(avg.with_suffix(".ckpt.npz"), S.CHECKPOINT_FORMAT)
    assert [h["train_acc"] for h in m_plain["history"]] == [h["train_acc"] for h in m_avg["history"]]
    assert not all(np.array_equal(w_plain[k], w_avg[k]) for k in w_plain)
    desc = load(avg.with_suffix(".npz"))
    for j, lay in enumerate(desc.layers):
        signs = np.where(w_avg[f"w{j}"] >= 0, 1, -1)
        np.testing.assert_array_equal(lay.weight, signs)
    images, labels = load_sample()  # the held-out images: the last 32 of the 96 trained on
    held = simulate(desc, images[64:96].reshape(32, -1)).predictions == labels[64:96]
    assert float(held.mean()) == m_avg["history"][-1]["validation_acc"]


def test_update_average_moves_each_layer_by_its_factor():
    a = [torch.zeros(3), None, torch.ones(2)]
    S.update_average(a, [torch.ones(3), None, torch.zeros(2)], 0.75)
    assert torch.allclose(a[0], torch.full((3,), 0.25)) and a[1] is None
    assert torch.allclose(a[2], torch.full((2,), 0.75))


def test_changed_since_counts_the_chips_integer_weights_that_moved(tmp_path):
    net, _ = _net("6c3p1,p2,12", 8, "ramp", 1, seed=3)
    before = net.int_weights()
    assert before[1] is None and net.changed_since(before) == [0.0, None, 0.0, 0.0]
    with torch.no_grad():
        net.weights[0].view(-1)[:5] *= -1  # 5 of 54 signs flip (no shadow weight is 0)
        net.weights[2] += 0.25 * torch.sign(net.weights[2])  # shadow moves, signs stay
    assert net.changed_since(before) == [5 / 54, None, 0.0, 0.0]
    _, out = _train(tmp_path, "--epochs", "2", "--weight-bits", "1")
    history = read_checkpoint(out.with_name("m.ckpt.npz"))[0]["history"]
    assert [len(r["changed"]) for r in history] == [2, 2]
    assert all(0 <= c <= 1 for r in history for c in r["changed"])


def test_state_and_restore_bring_back_the_network():
    net, images = _net("6c3p1,p2,12", 8, "ramp", 1, seed=3)
    _, labels = load_sample()
    saved = net.state()
    before = [None if w is None else w.clone() for w in net.weights], list(net.theta)
    _train_batch(net, images, labels[:len(images)], S.Learning(theta_lr=5.0))
    assert any(w is not None and not torch.equal(w, b) for w, b in zip(net.weights, before[0]))
    net.restore(saved)
    assert all(w is None and b is None or torch.equal(w, b) for w, b in zip(net.weights, before[0]))
    assert net.theta == before[1] and net.fact == [1.0] * len(net.fact)


def test_old_spellings_still_work_with_a_note(tmp_path):
    r, out = _train(tmp_path, "--epochs", "1", "--validation", "32", "--batch", "8",
                    "--train-limit", "80", "--test-limit", "40")
    assert "48 train / 40 test images" in r.stderr
    for old, new in (("--validation", "--validation-images"), ("--batch", "--batch-size"),
                     ("--train-limit", "--train-images"), ("--test-limit", "--test-images")):
        assert f"{old} is the old spelling of {new}" in r.stderr


def test_old_same_padded_arch_is_refused_with_the_new_spelling(tmp_path):
    r = _cli("--data", str(_dataset(tmp_path)), "--out", str(tmp_path / "m"),
             "--arch", "16c5,p2,32c5,p2")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "neurochip: error: --arch '16c5,p2,32c5,p2': stidi-bp's convolutions keep the map size "
        "(an odd kernel k padded by k // 2), and a convolution without p<pad> is unpadded in every "
        "trainer: write --arch 16c5p2,p2,32c5p2,p2 (docs/training.md)"]
    assert S.same_padded("16c5,p2,32c5,p2") == "16c5p2,p2,32c5p2,p2"
    assert S.same_padded("16c5p2,p2,400") == "16c5p2,p2,400"


@pytest.mark.parametrize("arch", ["12", "6c3p1,p2"])
def test_dead_reset_redraws_exactly_the_silent_neurons(arch):
    net, images = _net(arch, 8, "ramp", 8, seed=7)
    w = net.weights[0]
    with torch.no_grad():  # silence neuron / channel 1 of the first layer
        if w.dim() == 4:
            w[1] = -net.scale
        else:
            w[:, 1] = -net.scale
    _, labels = load_sample()
    st = _train_batch(net, images, labels[:len(images)], S.Learning())
    counts = net.fired_images(st["records"])
    assert counts[-1] is None and int(counts[0][1]) == 0 and int(counts[0].max()) > 0
    before = w.clone()
    redrawn = net.reinit_dead(counts, len(images), 0.001, np.random.default_rng(0))
    dead = set(np.flatnonzero(counts[0].numpy() == 0))
    assert redrawn[0] == len(dead) and 1 in dead
    for n in range(counts[0].shape[0]):
        changed = bool((w[n] != before[n]).any()) if w.dim() == 4 else bool((w[:, n] != before[:, n]).any())
        assert changed == (n in dead), n

"""The ReStoCNet HB-STDP trainer: the rule learns, reproduces from its seed, ignores silence,
and every spike it learns from is the simulator's."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import pytest

from neurochip.cli.main import main
from neurochip.datasets import load_sample, write_idx
from neurochip.description import load
from neurochip.sim.simulator import encode_images, simulate
from neurochip.train.augment import shifted
from neurochip.train import chip_forward as cf
from neurochip.train import hb_stdp
from neurochip.train import hb_stdp_rule as rule
from neurochip.train.restoc_net import build
from neurochip.train.shell import add_trainer_arguments

TINY = dict(channels=4, kernels=(3, 3, 3), time_steps=6)


def _args(**over) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_trainer_arguments(hb_stdp.TRAINER, parser)
    args = parser.parse_args(["--out", "unused"])
    args.kernels, args.channels, args.time_steps = TINY["kernels"], TINY["channels"], \
        TINY["time_steps"]
    args.stdp_images, args.calib_images, args.train_theta = 6, 4, (3,)
    for k, v in over.items():
        setattr(args, k, v)
    return args


def _train(seed: int, residual: bool = True) -> hb_stdp.LayerwiseStdp:
    images, labels = load_sample()
    args = _args(seed=seed, residual=residual)
    trainer = hb_stdp.LayerwiseStdp(hb_stdp.topology(args), args, (images[:8], labels[:8]), False)
    for i in range(len(args.kernels)):
        trainer.train_layer(i)
    return trainer


def _initial_kernels(seed: int) -> list[np.ndarray]:
    out = []
    for i, k in enumerate(TINY["kernels"]):
        w = np.zeros(((1 if i == 0 else TINY["channels"]) * k * k, TINY["channels"]), np.int64)
        rule.random_kernel(w, 32768, rule.lfsr_state(seed, i))
        out.append(w)
    return out


def test_training_changes_kernels_and_reproduces_bit_for_bit():
    a, b = _train(seed=3), _train(seed=3)
    init = _initial_kernels(3)
    assert any(not np.array_equal(k, k0) for k, k0 in zip(a.kernels, init))
    assert sum(s["kernel_updates"] for s in a.stats) > 0
    for ka, kb in zip(a.kernels, b.kernels):
        assert np.array_equal(ka, kb)
    for ta, tb in zip(a.thetas, b.thetas):
        assert np.array_equal(ta, tb)
    assert a.stats == b.stats
    assert all(set(np.unique(k)) <= {-1, 1} for k in a.kernels)
    c = _train(seed=4)
    assert any(not np.array_equal(ka, kc) for ka, kc in zip(a.kernels, c.kernels))


def test_all_silent_input_changes_nothing():
    w = np.zeros((9, 4), np.int64)
    state = rule.lfsr_state(0, 0)
    rule.random_kernel(w, 32768, state)
    w0, s0 = w.copy(), state.copy()
    theta_h = np.zeros(4, np.int64)
    spikes = np.zeros((8, 28 * 28), np.uint8)
    lut = rule.potentiation_lut(0.1, 4.0, 8)
    updates, flips = rule.train_image(
        spikes, w, 28, 28, 1, 3, 3, 1, 28, 28, np.zeros(4, np.int64), theta_h, -2048, 2047, 5,
        lut, 8, 1311, 1, 7, state, np.zeros(28 * 28 * 4, np.int64), np.zeros(28 * 28, np.int64))
    assert (updates, flips) == (0, 0)
    assert np.array_equal(w, w0) and np.array_equal(state, s0)
    assert not theta_h.any()


def test_lfsr_draws_are_the_specified_galois_sequence():
    state = rule.lfsr_state(5, 2)
    s = int(state[0])
    for _ in range(3):
        for _ in range(16):
            s = (s >> 1) ^ (rule.LFSR_MASK if s & 1 else 0)
        assert rule.lfsr_draw16(state) == s & 0xFFFF


@pytest.mark.parametrize("residual,hidden", [(True, 0), (False, 0), (True, 12)])
def test_trainer_spikes_are_the_simulators(residual, hidden):
    """The trainer's spikes come from the simulator: a layer run alone on its source's
    trains (event input, §11.2: calibration and the fc cores) and the frozen layers'
    trains (STDP input) equal that layer's trains in the whole chip."""
    trainer = _train(seed=1, residual=residual)
    top = replace(trainer.top, hidden=hidden)
    rng = np.random.default_rng(0)
    hid = None
    if hidden:
        hid = (rng.integers(-127, 128, (top.features, hidden)),
               rng.integers(1, 200, hidden), rng.integers(-20, 21, hidden))
    readout = (rng.integers(-127, 128, (hidden or top.features, 10)), np.int64(20),
               rng.integers(-3, 4, 10))
    desc = build(top, trainer.kernels, trainer.thetas, readout, "tiny", hidden=hid)
    idx = np.array([0, 7, 3])
    images = trainer.images[idx]
    res = simulate(desc, images, idx, record_spikes=True)
    off = res.neuron_offsets
    chip = {lay.name: res.spikes[:, :, off[j]:off[j + 1]] for j, lay in enumerate(desc.layers)}
    chip["input"] = encode_images(desc, images, idx)
    assert chip["conv1"].any() and chip["pool"].any()  # not a vacuous comparison
    assert np.array_equal(trainer.layer_input(idx), chip["conv3"])
    assert np.array_equal(cf.layer_trains(desc, images, idx, "pool"), chip["pool"])
    for lay in desc.layers:
        if lay.kind == "add":  # two sources: the host is one stream
            with pytest.raises(ValueError, match="2 sources"):
                cf.run_layer(lay, lay.geometry["in_shape"], chip[lay.sources[0]])
            continue
        in_shape = lay.geometry.get("in_shape", (lay.inputs,))  # fc: flat
        alone = cf.run_layer(lay, in_shape, chip[lay.source])
        assert np.array_equal(alone, chip[lay.name]), lay.name
        if lay.kind == "fc":  # the trainer's fc forward (readout training and search)
            w = (lay.weight, lay.threshold, lay.bias, lay.membrane_bits)
            assert np.array_equal(hb_stdp.fc_trains(chip[lay.source], *w), chip[lay.name])
    assert np.array_equal(res.counts, chip["out"].sum(axis=1))
    if hidden:
        assert chip["hid"].any()
        assert [lay.kind for lay in desc.layers][-2:] == ["fc", "fc"]
        assert desc.layers[-1].source == "hid"


def test_build_refuses_hidden_weights_the_topology_lacks():
    trainer = _train(seed=1)
    readout = (np.zeros((trainer.top.features, 10), np.int64), np.int64(1),
               np.zeros(10, np.int64))
    with pytest.raises(ValueError, match="hidden"):
        build(replace(trainer.top, hidden=4), trainer.kernels, trainer.thetas, readout, "x")


def test_shifted_copies_move_whole_images():
    images = np.zeros((3, 6, 6), np.uint8)
    images[:, 2, 3] = 255
    out = shifted(images, 1, np.random.default_rng(0))
    for img in out:
        ys, xs = np.nonzero(img)
        assert len(ys) == 1 and abs(ys[0] - 2) <= 1 and abs(xs[0] - 3) <= 1
    assert np.array_equal(out, shifted(images, 1, np.random.default_rng(0)))


def _write_split(folder, images, labels, prefix):
    write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)


def _train_tiny(tmp_path, *extra: str) -> tuple[int, object]:
    """Train a 2-channel network on 40 sample images (10 test images); (exit code, prefix)."""
    pytest.importorskip("torch")
    images, labels = load_sample()
    _write_split(tmp_path, images[:40], labels[:40], "train")
    _write_split(tmp_path, images[40:50], labels[40:50], "t10k")
    out = tmp_path / "tiny"
    code = main(["train", "hb-stdp", "--data", str(tmp_path), "--out", str(out),
                 "--channels", "2", "--kernels", "3,3,3", "--time-steps", "4",
                 "--stdp-images", "4", "--calib-images", "4", "--epochs", "2",
                 "--readout-search-images", "10", "--no-progress", "--json", *extra])
    return code, out


def test_cli_trains_a_tiny_network(tmp_path, capsys):
    code, out = _train_tiny(tmp_path, "--no-residual")
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    desc = load(f"{out}.npz")
    assert [lay.kind for lay in desc.layers] == ["conv2d"] * 3 + ["pool", "fc"]
    assert summary["test_images"] == 10
    prov = desc.provenance["checkpoint"]
    assert prov["args"]["seed"] == 0 and "command" in prov and "random" in prov


def test_cli_trains_a_hidden_layer_with_augmentation_and_validation(tmp_path, capsys):
    code, out = _train_tiny(tmp_path, "--hidden", "6", "--hidden-epochs", "2",
                            "--augment-copies", "1", "--validation-images", "10")
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    desc = load(f"{out}.npz")
    assert [lay.kind for lay in desc.layers] == ["conv2d"] * 3 + ["add", "pool", "fc", "fc"]
    assert desc.layers[-2].neurons == 6 and desc.layers[-1].inputs == 6
    assert summary["validation_images"] == 10 and 0 <= summary["chip_validation_accuracy"] <= 1
    assert desc.provenance["checkpoint"]["trainer_validation"]["validation_images"] == 10


def test_cli_refuses_bad_options(capsys):
    code = main(["train", "hb-stdp", "--out", "x", "--t-win", "20"])
    assert code == 2
    assert "--t-win" in capsys.readouterr().err
    assert main(["train", "hb-stdp", "--out", "x", "--hidden", "-1"]) == 2
    assert "--hidden" in capsys.readouterr().err

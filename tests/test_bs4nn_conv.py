"""BS4NN's rule on a convolutional network (`neurochip train bs4nn --arch` with
convolutions): the trainer's forward pass against the chip simulator (decisions and every
layer's first-spike times, before and after training), the pool's and the convolution's
backward step against a NumPy writing of the module docstring's rule, the CLI end to end,
and refusals before any data is read."""

from __future__ import annotations

import numpy as np
import pytest

from neurochip.cli.main import main
from neurochip.datasets import load_sample
from neurochip.sim import simulate
from neurochip.train import bs4nn, bs4nn_conv as bc
from neurochip.train.stidi_bp import layer_plans

T = bs4nn.T_MAX
ARCH = "4c5p2,p2,6c3p1,p2"


@pytest.fixture(scope="module")
def sample():
    images, labels = load_sample()
    return images[:96], labels[:96].astype(np.int64)


def _net(bits=1, seed=3):
    return bc.init_net(layer_plans(ARCH), [4, 12, 8], [-0.5, -0.5, -2], [1, 1, 10], seed,
                       bits, [1, 1, 10])


def _chip_times(res, layer):
    sp = res.spikes[:, :, res.neuron_offsets[layer]:res.neuron_offsets[layer + 1]]
    return np.where(sp.any(axis=1), sp.argmax(axis=1), T)


def _trainer_times(net, t_chip):
    from numba.typed import List

    times, vs, win, bufs = bc.forward_buffers(net.meta)
    out = []
    for i in range(len(t_chip)):
        bc.forward(t_chip[i].astype(np.int64), net.meta, List(net.signs()), net.thetas, times,
                   vs, win, bufs)
        out.append([t.copy() for t in times])
    return out


@pytest.mark.parametrize("bits", [1, 4])
def test_trainer_forward_is_the_simulators_before_and_after_training(sample, bits):
    images, labels = sample
    net = _net(bits)
    t_chip, t_rule = bs4nn.input_times(images)
    for trained in (False, True):
        if trained:
            bc.train_epoch(net, np.arange(64), t_chip, t_rule, labels, [0.01, 0, 0.01, 0, 0.1],
                           20, True, [1, 0, 1, 0, 10])
        desc = bc.to_description(net, "conv-test")
        res = simulate(desc, images, record_spikes=True)
        decision, first = bc.decide(net, t_chip)
        assert np.array_equal(decision, res.predictions)
        ours = _trainer_times(net, t_chip)
        for j in range(len(net.plans)):
            chip = _chip_times(res, j)
            assert np.array_equal(np.array([o[j] for o in ours]), chip), (trained, j)
            assert (chip < T).any(), j  # every layer fires, no hidden layer fires entirely
            assert (chip == T).any() or j == len(net.plans) - 1, j
        assert np.array_equal(first, _chip_times(res, len(net.plans) - 1))
    assert [lay.weight_bits for lay in desc.layers if lay.kind != "pool"] == [bits] * 3


def test_pool_passes_its_error_to_the_earliest_input_and_the_conv_step_is_the_rule():
    """A first-spike pool's winner and a convolution's step written out in NumPy: Δw[r, co]
    = −lr·Σ_positions δ·HF over the in-map inputs, back_i = Σ w·δ·HF with the weights
    before the step, bound and signs after it."""
    rng = np.random.default_rng(0)
    h = w = 6
    cin, cout, k, pad = 2, 3, 3, 1
    t_in = rng.integers(0, 40, h * w * cin)
    t_in[rng.random(t_in.size) < 0.3] = T
    t_in[1::cin] = T  # channel 1 silent: its kernel rows are causal to nothing and stay
    t_pool, v_pool, win = (np.empty(9 * cin, np.int64) for _ in range(3))
    bc.pool_forward(t_in, h, w, cin, 2, t_pool, v_pool, win)
    for oy in range(3):
        for ox in range(3):
            for c in range(cin):
                idx = [((oy * 2 + dy) * w + ox * 2 + dx) * cin + c for dy in range(2) for dx in range(2)]
                times = t_in[idx]
                j = (oy * 3 + ox) * cin + c
                assert t_pool[j] == times.min() and v_pool[j] == (times < T).sum()
                assert win[j] == (idx[int(np.argmin(times))] if times.min() < T else -1)
    t_out = rng.integers(0, 60, h * w * cout)
    delta = rng.normal(size=h * w * cout) * (rng.random(h * w * cout) < 0.5)
    wt = rng.normal(size=(cin * k * k, cout))
    expect_w, expect_back = wt.copy(), np.zeros(h * w * cin)
    for oy in range(h):
        for ox in range(w):
            for co in range(cout):
                j = (oy * w + ox) * cout + co
                for c in range(cin):
                    for ky in range(k):
                        for kx in range(k):
                            y, x = oy + ky - pad, ox + kx - pad
                            if 0 <= y < h and 0 <= x < w:
                                i = (y * w + x) * cin + c
                                r = (c * k + ky) * k + kx
                                if t_in[i] < t_out[j] and delta[j] != 0:
                                    expect_w[r, co] -= 0.1 * delta[j]
                                    expect_back[i] += wt[r, co] * delta[j]
    moved = expect_w != wt
    expect_w = np.where(moved, np.clip(expect_w, -1.5, 1.5), expect_w)  # the bound: moved ones
    sg = np.zeros(wt.shape, np.int8)  # the signs of the weights the step moves follow them
    back = np.empty(h * w * cin)
    bc._conv_update(delta, t_in, t_out, h, w, cin, cout, k, pad, wt, sg, 0.1, 1.0, 1, 1.5, back,
                    np.zeros(wt.shape))
    np.testing.assert_allclose(back, expect_back, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wt, expect_w, rtol=1e-12, atol=1e-12)
    assert moved.any() and (~moved).any()
    assert np.array_equal(sg[moved], np.where(wt[moved] < 0, -1, 1).astype(np.int8))


def test_dead_channels_get_new_kernels_and_live_ones_keep_theirs(sample):
    """reset_dead_channels: a conv channel whose kernel is all −1 never fires (its V only
    falls); it, and only the channels firing at fewer than the fraction of their positions
    (counted against the trainer's forward pass), gets a new kernel in [low, high) from the
    generator, layer by layer, channel by channel."""
    images, _ = sample
    t_chip = bs4nn.input_times(images)[0]
    net = _net()
    net.weights[0][:, 1] = -1.0  # conv1's channel 1: dead
    net.weights[2][:, 4] = -1.0  # conv2's channel 4: dead
    before = [w.copy() for w in net.weights]
    times = _trainer_times(net, t_chip)
    rates = {}
    for j in (0, 2):
        C = net.meta[j, bc.M_COUT]
        fired = np.array([t[j].reshape(-1, C) < bc.NOT_FIRED for t in times])
        rates[j] = fired.mean(axis=(0, 1))
    assert rates[0][1] == 0 and rates[2][4] == 0
    fraction = 0.02
    expect = [(j, int(c)) for j in (0, 2) for c in np.flatnonzero(rates[j] < fraction)]
    assert (0, 1) in expect and (2, 4) in expect and len(expect) < 10
    reset = bc.reset_dead_channels(net, t_chip, fraction, [-0.5, 0, -0.5, 0, -2],
                                   [1, 0, 1, 0, 10], np.random.default_rng(5))
    assert reset == expect
    rng = np.random.default_rng(5)
    for j, w in enumerate(net.weights):
        for c in range(w.shape[1]):
            if (j, c) in reset:
                assert np.array_equal(w[:, c], rng.random(w.shape[0]) * 1.5 - 0.5), (j, c)
            else:
                assert np.array_equal(w[:, c], before[j][:, c]), (j, c)


def test_cli_trains_writes_a_description_that_decides_as_the_trainer(tmp_path, capsys):
    import json

    from helpers import write_idx_split
    from neurochip.description import load
    from neurochip.train.checkpoint import read_checkpoint

    data = write_idx_split(tmp_path / "d", 120, 30)
    args = ["train", "bs4nn", "--data", str(data), "--out", str(tmp_path / "m"), "--arch", ARCH,
            "--thr", "4,12,20", "--init-low=-0.5,-0.5,-10", "--init-high", "1,1,10",
            "--lr", "0.01,0.01,0.1", "--gamma", "20", "--silent-target", "s4nn",
            "--weight-bound", "1,1,10", "--draws", "40", "--epochs", "2",
            "--validation-images", "20", "--dead-reset", "0.01"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    desc = load(tmp_path / "m.npz")
    assert [lay.kind for lay in desc.layers] == ["conv2d", "pool", "conv2d", "pool", "fc"]
    meta, arrays = read_checkpoint(tmp_path / "m.ckpt.npz")
    assert len(meta["history"]) == 2 and meta["chosen_epoch"] == summary["epoch"]
    assert all(isinstance(h["channels_reset"], list) for h in meta["history"])  # --dead-reset
    assert set(arrays) == {f"w{j}" for j in range(5)}
    from neurochip.datasets import load_split

    x, y = load_split(data, "test")
    res = simulate(desc, x)
    assert summary["test_chip_forward"] == float(np.mean(res.predictions == y))


@pytest.mark.parametrize("option, message", [
    (["--thr", "4,12"], "--thr"), (["--thr", "4.5,12,20"], "--thr"),
    (["--lr", "0.1,0.1"], "--lr"), (["--init-low=2,0,0"], "--init-low"),
    (["--weight-bound", "1,0,1"], "--weight-bound"), (["--fact", "1,5"], "--fact"),
    (["--dead-reset", "1.5"], "--dead-reset"), (["--resume", "x.ckpt.npz"], "--resume"),
    (["--augment-shift", "1"], "--augment-shift"),
    (["--arch", "4c4p2,p2"], "--arch"), (["--arch", "4c5,p2"], "--arch"),
])
def test_conv_mode_refuses_bad_options_before_data_is_read(option, message, capsys, tmp_path):
    args = ["train", "bs4nn", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
            "--arch", ARCH, "--thr", "4,12,20", "--init-low=0,0,0", "--init-high", "1,1,10",
            "--lr", "0.01,0.01,0.1"]
    assert main(args + option) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err

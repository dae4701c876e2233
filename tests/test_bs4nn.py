"""BS4NN as the authors' notebook has it: the notebook's forward pass and update written
out literally (NumPy) against the Numba trainer, the trainer's forward against the chip
simulator, resumable training, and refusals before any data is read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurochip.cli.main import main
from neurochip.datasets import load_sample
from neurochip.sim import simulate
from neurochip.train import bs4nn

T = bs4nn.T_MAX


def notebook_forward(ft, weight, thre, chip=np.sign):
    """Forward_FC of BS4NN_mnist.ipynb: weight (out, in), ft (in,) firing indices; ``chip``
    maps real weights to the forward pass's (the notebook: their signs)."""
    spikes = np.zeros((ft.size, T + 1))
    spikes[np.arange(ft.size), ft.astype(int)] = 1
    v = np.cumsum(chip(weight) @ spikes, axis=1)
    v[:, T] = thre + 1
    st = np.argmax(v > thre, axis=1) + 1
    st[st > T] = T
    return st


def notebook_step(w0, w1, fact, ft0, label, thr, lr, lr_f, gamma, chip=(np.sign, np.sign)):
    """One training iteration of the notebook (forward, target_function, backward_FC);
    ``chip``: per layer, real weights and threshold to the forward pass's (the notebook:
    signs, thr/f)."""
    st1 = notebook_forward(ft0, w0, thr[0] / fact[0], chip[0])
    st = notebook_forward(st1, w1, thr[1] / fact[1], chip[1])
    m = st.min()
    if m == T:
        target = np.full(st.size, float(T))
    else:
        target = st.astype(float)
        target[(st - m) < gamma] = min(m + gamma, T)
        target[label] = m
    d3 = (target - st) / T
    if np.linalg.norm(d3):
        d3 = d3 / np.linalg.norm(d3)
    for layer, (w, inp, out, d) in enumerate([(w1, st1, st, d3)]):
        hf = inp[None, :] < out[:, None]
        w -= lr[1] * d[:, None] * hf
        fact[1] -= (lr_f[1] * d[:, None] * hf * np.sign(w)).mean()
        d2 = np.sum(w * d[:, None] * hf, 0)
    if np.linalg.norm(d2):
        d2 = d2 / np.linalg.norm(d2)
    hf = ft0[None, :] < st1[:, None]
    w0 -= lr[0] * d2[:, None] * hf
    fact[0] -= (lr_f[0] * d2[:, None] * hf * np.sign(w0)).mean()
    return st1, st


@pytest.fixture(scope="module")
def sample():
    images, labels = load_sample()
    return images, labels.astype(np.int64)


def _net(hidden=40, seed=0, fact=(5.0, 5.0)):
    return bs4nn.init_net(bs4nn.Bs4nnConfig(hidden=hidden, seed=seed, fact=fact))


def test_chip_times_are_the_notebooks_shifted_by_the_layer_depth(sample):
    images, _ = sample
    net = _net(hidden=50, fact=(4.0, 12.0))
    rng = np.random.default_rng(1)
    net.w0 -= rng.random(net.w0.shape) * 3  # mixed signs, so times spread
    net.w1 -= rng.random(net.w1.shape) * 30
    s0, s1 = net.signs()
    th0, th1 = net.thetas()
    t_chip, t_rule = bs4nn.input_times(images[:40])
    fired_any = 0
    for i in range(40):
        h, vh = np.empty(50, np.int64), np.empty(50, np.int64)
        o, vo = np.empty(10, np.int64), np.empty(10, np.int64)
        bs4nn.layer_forward(t_chip[i], s0, th0, h, vh, np.empty(784, np.int64))
        bs4nn.layer_forward(h, s1, th1, o, vo, np.empty(50, np.int64))
        st1 = notebook_forward(t_rule[i].astype(float), s0.T.astype(float), net.thr[0] / net.fact[0])
        st = notebook_forward(st1, s1.T.astype(float), net.thr[1] / net.fact[1])
        assert np.array_equal(st1, np.where(h < T, np.minimum(h + 1, T), T))
        assert np.array_equal(st, np.where(o < T, np.minimum(o + 2, T), T))
        fired_any += int((o < T).any())
    assert fired_any > 5


def test_training_step_equals_the_notebook(sample):
    images, labels = sample
    net = _net(hidden=30)
    ref_w0, ref_w1, ref_fact = net.w0.T.copy(), net.w1.T.copy(), net.fact.copy()
    s0, s1 = net.signs()
    t_chip, t_rule = bs4nn.input_times(images[:6])
    lr, lr_f = np.array([0.1, 0.1]), np.array([0.01, 0.01])
    for i in range(6):  # six images one after another: weights, signs and scales carry over
        bs4nn.train_epoch(np.array([i]), t_chip, t_rule, labels, net.w0, net.w1, s0, s1,
                          net.fact, net.thr, lr, lr_f, 1)
        notebook_step(ref_w0, ref_w1, ref_fact, t_rule[i].astype(float), labels[i], net.thr,
                      lr, lr_f, 1)
        assert np.allclose(net.w0, ref_w0.T, rtol=0, atol=1e-12)
        assert np.allclose(net.w1, ref_w1.T, rtol=0, atol=1e-12)
        assert np.allclose(net.fact, ref_fact, rtol=0, atol=1e-12)
        assert np.array_equal(s0, np.where(net.w0 < 0, -1, 1)) and np.array_equal(
            s1, np.where(net.w1 < 0, -1, 1))
    assert not np.array_equal(net.w0, _net(hidden=30).w0)


def test_trainer_decisions_are_the_simulators(sample):
    images, labels = sample
    net = _net(hidden=48)
    s0, s1 = net.signs()
    t_chip, t_rule = bs4nn.input_times(images)
    bs4nn.train_epoch(np.arange(200), t_chip, t_rule, labels, net.w0, net.w1, s0, s1, net.fact,
                      net.thr, np.array([0.1, 0.1]), np.array([0.01, 0.01]), 1)
    desc = bs4nn.to_description(net, "bs4nn-test")
    ours = bs4nn.predict(t_chip, *net.signs(), *net.thetas())
    chip = simulate(desc, images, record_spikes=True)
    assert np.array_equal(ours, chip.predictions)
    h, vh = np.empty(48, np.int64), np.empty(48, np.int64)
    bs4nn.layer_forward(t_chip[3], s0, net.thetas()[0], h, vh, np.empty(784, np.int64))
    hid = chip.spikes[3, :, chip.neuron_offsets[0]:chip.neuron_offsets[1]]
    first = np.where(hid.any(axis=0), hid.argmax(axis=0), T)
    assert np.array_equal(first, h) and (h < T).any()
    # both scores from one pass: the chip's is the simulator's; the notebook's is its test
    # loop written out (the true class among the earliest outputs, else the largest V)
    chip_acc, nb_acc = bs4nn.scores(net, t_chip, labels)
    assert chip_acc == np.mean(chip.predictions == labels)
    nb = 0
    for i in range(len(labels)):
        st1 = notebook_forward(t_rule[i].astype(float), s0.T.astype(float), net.thr[0] / net.fact[0])
        st = notebook_forward(st1, s1.T.astype(float), net.thr[1] / net.fact[1])
        nb += st[labels[i]] == st.min() if st.min() < T else chip.predictions[i] == labels[i]
    assert nb_acc == nb / len(labels) and nb_acc >= chip_acc


@pytest.mark.parametrize("extra", [[], ["--weight-bits", "4", "--weight-clip", "2,20"],
                                   ["--dead-reset", "0.5", "--weight-bound", "3,30", "--fact", "0.2,5"],
                                   ["--average", "0.5"], ["--augment-shift", "2"]],
                         ids=["binary", "twin", "reset-bound", "average", "augment"])
def test_resume_goes_on_bit_for_bit(tmp_path, extra):
    from neurochip.train.checkpoint import read_checkpoint
    from helpers import write_idx_split

    data = write_idx_split(tmp_path / "d", 120, 30)
    common = ["train", "bs4nn", "--data", str(data), "--arch", "20", "--draws", "40",
              "--validation-images", "20", *extra]
    assert main(common + ["--out", str(tmp_path / "a"), "--epochs", "3"]) == 0
    assert main(common + ["--out", str(tmp_path / "b"), "--epochs", "2"]) == 0
    assert main(common + ["--out", str(tmp_path / "b"), "--epochs", "3",
                          "--resume", str(tmp_path / "b.ckpt.npz")]) == 0
    a, b = (read_checkpoint(tmp_path / f"{x}.ckpt.npz")[1] for x in "ab")
    for key in ("w0", "w1", "fact", "best_w0") + (("avg_w0",) if "--average" in extra else ()):
        assert np.array_equal(a[key], b[key]), key
    assert (tmp_path / "a.npz").is_file()
    from neurochip.description import load

    history = read_checkpoint(tmp_path / "b.ckpt.npz")[0]["history"]
    assert all("hidden_rarely_firing" in h for h in history)
    if "--dead-reset" in extra:  # resets drawn from the run's generator, resumed with it
        assert sum(h["hidden_reset"] for h in history) > 0
    bits = int(extra[1]) if "--weight-bits" in extra else 1
    assert [lay.weight_bits for lay in load(tmp_path / "b.npz").layers] == [bits, bits]


@pytest.mark.parametrize("option, message", [
    (["--gamma", "-1"], "--gamma"), (["--lr", "0,0.1"], "--lr"), (["--arch", "0"], "--arch"),
    (["--arch", "20,20"], "--arch"), (["--batch-size", "8"], "--batch-size"),
    (["--fact", "5"], "--fact"), (["--out", "/proc/version/x"], "--out"),
    (["--lr-decay", "0"], "--lr-decay"), (["--lr-decay", "1.5"], "--lr-decay"),
    (["--init-low=5,0"], "--init-low"), (["--init-low", "nan,0"], "--init-low"),
    (["--weight-bits", "0"], "--weight-bits"), (["--weight-bits", "9"], "--weight-bits"),
    (["--weight-clip", "0,5"], "--weight-clip"), (["--weight-clip", "5"], "--weight-clip"),
    (["--dead-reset", "-0.1"], "--dead-reset"), (["--dead-reset", "1.5"], "--dead-reset"),
    (["--weight-bound", "0,5"], "--weight-bound"), (["--weight-bound", "inf,5"], "--weight-bound"),
    (["--average", "1"], "--average"), (["--average", "-0.5"], "--average"),
    (["--start-from", "/nonexistent.ckpt.npz"], "--start-from"),
    (["--start-from", "/etc/hostname"], "--start-from"),
    (["--start-from", "/etc/hostname", "--notebook-weights", "/tmp"], "one starting point"),
    (["--augment-shift", "-1"], "--augment-shift"), (["--augment-shift", "14"], "--augment-shift"),
    (["--arch", "4c5p2,p2", "--augment-shift", "1"], "--augment-shift"),
    (["--select-train-images", "-1"], "--select-train-images"),
    (["--arch", "4c5p2,p2", "--select-train-images", "10"], "--select-train-images"),
])
def test_bad_options_are_refused_before_data_is_read(option, message, capsys, tmp_path):
    args = ["train", "bs4nn", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]
    assert main(args + option) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_init_low_and_decay_are_the_notebooks_a_and_a_schedule(tmp_path, capsys):
    """w ~ U[a, b) as the notebook's (b − a)·U + a; a = 0 keeps the default draw bit for bit;
    the decayed run differs from the constant one only from its second epoch on."""
    cfg = bs4nn.Bs4nnConfig(hidden=20, init_low=(-2.0, -10.0))
    net, plain = bs4nn.init_net(cfg), bs4nn.init_net(bs4nn.Bs4nnConfig(hidden=20))
    rng = np.random.default_rng(0)
    assert np.array_equal(net.w0, rng.random((784, 20)) * 7.0 - 2.0)
    assert net.w0.min() >= -2.0 and (net.w0 < 0).any() and plain.w0.min() >= 0
    from helpers import write_idx_split
    from neurochip.train.checkpoint import read_checkpoint

    data = write_idx_split(tmp_path / "d", 120, 30)
    common = ["train", "bs4nn", "--data", str(data), "--arch", "40", "--draws", "40",
              "--validation-images", "20", "--fact", "5,10"]  # θ = 20, 10: outputs fire
    for name, extra in (("c", []), ("d", ["--lr-decay", "0.5"]), ("d1", ["--lr-decay", "0.5"])):
        assert main(common + ["--out", str(tmp_path / name),
                              "--epochs", "1" if name == "d1" else "2"] + extra) == 0
    c, d, d1 = (read_checkpoint(tmp_path / f"{x}.ckpt.npz") for x in ("c", "d", "d1"))
    assert not np.array_equal(c[1]["w1"], d[1]["w1"])  # epoch 2 at half the rates
    assert not np.array_equal(c[1]["w0"], d[1]["w0"])
    c1 = read_checkpoint(tmp_path / "c.ckpt.npz")[0]["history"][0]
    assert d1[0]["history"][0]["validation"] == c1["validation"]  # epoch 1: the same rates
    assert "validation_notebook_scoring" in c1


def test_notebook_weights_are_read_in_the_notebooks_layout(tmp_path, capsys, sample):
    """W0_binary.npy (hidden, 784, 1) and W1_binary.npy (10, hidden, 1) as the notebook saves
    them become the chip layout; --epochs 0 describes that network; bad files are one line."""
    images, labels = sample
    rng = np.random.default_rng(3)
    w0, w1 = rng.normal(1, 2, (30, 784, 1)), rng.normal(2, 20, (10, 30, 1))
    folder = tmp_path / "nb"
    folder.mkdir()
    np.save(folder / "W0_binary.npy", w0)
    np.save(folder / "W1_binary.npy", w1)
    net = bs4nn.from_notebook(folder, (4.0, 3.0))
    assert np.array_equal(net.w0, w0[:, :, 0].T) and np.array_equal(net.w1, w1[:, :, 0].T)
    assert net.thetas() == (25, 33)
    from helpers import write_idx_split

    data = write_idx_split(tmp_path / "d", 60, 20)
    out = tmp_path / "m"
    assert main(["train", "bs4nn", "--data", str(data), "--arch", "30", "--epochs", "0",
                 "--validation-images", "10", "--notebook-weights", str(folder), "--fact", "4,3",
                 "--out", str(out)]) == 0
    from neurochip.description import load

    desc = load(f"{out}.npz")
    assert np.array_equal(desc.layers[0].weight, np.where(w0[:, :, 0].T < 0, -1, 1))
    assert int(desc.layers[1].threshold[0]) == 33
    capsys.readouterr()
    np.save(folder / "W1_binary.npy", w1[:, :20])  # 20 inputs against 30 hidden
    common = ["train", "bs4nn", "--data", str(data), "--arch", "30", "--epochs", "0",
              "--validation-images", "10", "--out", str(tmp_path / "x"),
              "--notebook-weights", str(folder)]
    assert main(common) == 2
    np.save(folder / "W1_binary.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(common) == 2
    (folder / "W0_binary.npy").unlink()
    assert main(common) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("--notebook-weights" in e for e in err)
    assert "inputs" in err[0] and "npy" in err[1] and "no such file" in err[2]


def test_silent_target_s4nn_pulls_the_true_class_when_no_output_fires(sample):
    """BS4NN gives an image with no output spike no error; S4NN's rule pulls the true class
    to T_max − γ: w1 moves on its causal inputs, toward an earlier spike of that class."""
    images, labels = sample
    t_chip, t_rule = bs4nn.input_times(images[:1])
    args = (np.array([0]), t_chip, t_rule, labels)
    nets = [_net(hidden=40, fact=(5.0, 0.5)) for _ in range(2)]  # θ₁ = 200 > 40: silent
    for net, pull in zip(nets, (False, True)):
        s0, s1 = net.signs()
        bs4nn.train_epoch(*args, net.w0, net.w1, s0, s1, net.fact, net.thr,
                          np.array([0.1, 0.1]), np.array([0.01, 0.01]), 2, pull)
    plain, pulled = nets
    ref = _net(hidden=40, fact=(5.0, 0.5))
    assert np.array_equal(plain.w1, ref.w1) and np.array_equal(plain.w0, ref.w0)
    moved = pulled.w1 - ref.w1
    lab = labels[0]
    assert (moved[:, lab] > 0).any() and (moved[:, lab] >= 0).all()
    assert not np.delete(moved, lab, axis=1).any()


def test_models_record_the_software_that_trained_them(tmp_path):
    """A float reduction's bits depend on library versions and threads: the provenance
    records them (trainer shell), so a rebuild that differs can say why."""
    import numba
    from helpers import write_idx_split
    from neurochip.description import load

    data = write_idx_split(tmp_path / "d", 60, 20)
    assert main(["train", "bs4nn", "--data", str(data), "--arch", "30", "--epochs", "1",
                 "--draws", "10", "--validation-images", "10", "--out", str(tmp_path / "m")]) == 0
    env = load(tmp_path / "m.npz").provenance["checkpoint"]["environment"]
    assert env["numpy"] == np.__version__ and env["numba"] == numba.__version__
    assert env["python"].count(".") == 2


def test_multi_bit_twin_is_the_same_rule_on_integer_weights(sample, tmp_path):
    """The twin (ours): the notebook's update on the real weights, the forward pass with
    q = ⌊w·s + ½⌋ within ±qmax (s = qmax/clip) and θ = ⌊s·thr/f⌋, step for step against the
    notebook written out with that forward pass; its description decides as the trainer and
    the simulator do; ±1 stays the default and is what bits = 1 gives."""
    images, labels = sample
    cfg = bs4nn.Bs4nnConfig(hidden=30, weight_bits=4, weight_clip=(2.0, 20.0), fact=(1.0, 1.0),
                            init_low=(-1.0, -10.0))
    net = bs4nn.init_net(cfg)
    assert net.qmax == 7 and np.allclose(net.scales(), [3.5, 0.35])
    s0, s1 = net.signs()
    assert s0.min() >= -7 and s0.max() <= 7 and len(np.unique(s0)) > 3
    assert np.array_equal(s0, np.clip(np.floor(net.w0 * 3.5 + 0.5), -7, 7))
    ref_w0, ref_w1, ref_fact = net.w0.T.copy(), net.w1.T.copy(), net.fact.copy()
    t_chip, t_rule = bs4nn.input_times(images[:8])
    sc = net.scales()
    # integer V > ⌊s·thr/f⌋ ⇔ V > s·thr/f: the notebook's forward on q with thre = s·thr/f
    chip = tuple((lambda w, s=s: np.clip(np.floor(w * s + 0.5), -7, 7)) for s in sc)
    thr_scaled = net.thr * sc
    for i in range(8):
        bs4nn.train_epoch(np.array([i]), t_chip, t_rule, labels, net.w0, net.w1, s0, s1,
                          net.fact, net.thr, np.array([0.1, 0.1]), np.array([0.01, 0.01]), 1,
                          False, sc, net.qmax)
        notebook_step(ref_w0, ref_w1, ref_fact, t_rule[i].astype(float), labels[i], thr_scaled,
                      [0.1, 0.1], [0.01, 0.01], 1, chip)
        assert np.allclose(net.w0, ref_w0.T, rtol=0, atol=1e-12)
        assert np.allclose(net.w1, ref_w1.T, rtol=0, atol=1e-12)
        assert np.allclose(net.fact, ref_fact, rtol=0, atol=1e-12)
        assert all(np.array_equal(a, b) for a, b in zip((s0, s1), net.signs()))
    desc = bs4nn.to_description(net, "twin-test")
    assert [lay.weight_bits for lay in desc.layers] == [4, 4]
    assert np.array_equal(desc.layers[0].weight, s0) and desc.layers[1].threshold[0] == net.thetas()[1]
    t_all = bs4nn.input_times(images[:64])[0]
    assert np.array_equal(bs4nn.predict(t_all, *net.signs(), *net.thetas()),
                          simulate(desc, images[:64]).predictions)
    binary = bs4nn.init_net(bs4nn.Bs4nnConfig(hidden=30))
    assert binary.bits == 1 and set(np.unique(binary.signs()[0])) <= {-1, 1}


def test_dead_reset_redraws_the_rarely_firing_hidden_neurons(sample):
    """S4NN's reset: a hidden neuron that fired on fewer than fraction·draws of the epoch's
    draws gets new incoming weights from U[low, high), drawn from the run's generator
    neuron by neuron in index order; the others and the output layer are left alone, and
    the chip weights follow. The epoch counts each neuron's firing draws."""
    images, labels = sample
    net = _net(hidden=30, fact=(1.0, 5.0))
    s0, s1 = net.signs()
    t_chip, t_rule = bs4nn.input_times(images[:50])
    fired = np.zeros(30, np.int64)
    bs4nn.train_epoch(np.arange(50), t_chip, t_rule, labels, net.w0, net.w1, s0, s1, net.fact,
                      net.thr, np.array([0.1, 0.1]), np.zeros(2), 1, fired=fired)
    h, vh, buf = np.empty(30, np.int64), np.empty(30, np.int64), np.empty(784, np.int64)
    assert fired.max() <= 50 and fired.sum() > 0
    fired[:] = 10
    fired[[3, 17]] = 0  # two silent neurons; a count of 10 of 50 draws is kept at 0.2
    w0, w1 = net.w0.copy(), net.w1.copy()
    rng = np.random.default_rng(7)
    dead = bs4nn.reset_dead(net, s0, fired, 50, 0.2, -2.5, 5.0, rng)
    assert dead.tolist() == [3, 17]
    ref = np.random.default_rng(7)
    assert np.array_equal(net.w0[:, 3], ref.random(784) * 7.5 - 2.5)
    assert np.array_equal(net.w0[:, 17], ref.random(784) * 7.5 - 2.5)
    keep = np.setdiff1d(np.arange(30), dead)
    assert np.array_equal(net.w0[:, keep], w0[:, keep]) and np.array_equal(net.w1, w1)
    assert np.array_equal(s0, net.signs()[0])
    bs4nn.layer_forward(t_chip[0], s0, net.thetas()[0], h, vh, buf)  # the chip's weights
    assert bs4nn.reset_dead(net, s0, fired, 50, 0.0, -2.5, 5.0, rng).size == 0


def test_weight_bound_holds_every_real_weight_within_it(sample):
    """--weight-bound: after every update each real weight lies within ±bound; an infinite
    bound is the notebook's unbounded rule, bit for bit."""
    images, labels = sample
    t_chip, t_rule = bs4nn.input_times(images)
    args = (np.arange(len(images)), t_chip, t_rule, labels)
    lr, lr_f = np.array([5.0, 50.0]), np.zeros(2)  # large steps: weights leave [−b, b)
    free, free_s = _net(hidden=30, fact=(1.0, 5.0)), None
    free_s = free.signs()
    bs4nn.train_epoch(*args, free.w0, free.w1, *free_s, free.fact, free.thr, lr, lr_f, 3)
    inf = _net(hidden=30, fact=(1.0, 5.0))
    bs4nn.train_epoch(*args, inf.w0, inf.w1, *inf.signs(), inf.fact, inf.thr, lr, lr_f, 3,
                      bound=(np.inf, np.inf))
    assert np.array_equal(free.w0, inf.w0) and np.array_equal(free.w1, inf.w1)
    assert np.abs(free.w0).max() > 5 or np.abs(free.w1).max() > 48
    held = _net(hidden=30, fact=(1.0, 5.0))
    s = held.signs()
    bs4nn.train_epoch(*args, held.w0, held.w1, *s, held.fact, held.thr, lr, lr_f, 3,
                      bound=(5.0, 48.0))
    assert np.abs(held.w0).max() <= 5.0 and np.abs(held.w1).max() <= 48.0
    assert np.array_equal(s[0], held.signs()[0]) and np.array_equal(s[1], held.signs()[1])
    assert not np.array_equal(held.w0, free.w0)


def test_average_judges_the_running_mean_of_the_real_weights(tmp_path):
    """--average D: after epoch 2 the average is D·w(epoch 1) + (1 − D)·w(epoch 2); training
    goes on from the weights themselves (the same as without the option), and the chosen
    network is the average's."""
    from helpers import write_idx_split
    from neurochip.train.checkpoint import read_checkpoint

    data = write_idx_split(tmp_path / "d", 120, 30)
    common = ["train", "bs4nn", "--data", str(data), "--arch", "20", "--draws", "40",
              "--validation-images", "20", "--fact", "5,10"]
    assert main(common + ["--out", str(tmp_path / "one"), "--epochs", "1"]) == 0
    assert main(common + ["--out", str(tmp_path / "two"), "--epochs", "2"]) == 0
    assert main(common + ["--out", str(tmp_path / "avg"), "--epochs", "2", "--average", "0.75"]) == 0
    one, two, avg = (read_checkpoint(tmp_path / f"{x}.ckpt.npz")[1] for x in ("one", "two", "avg"))
    assert np.array_equal(avg["w0"], two["w0"]) and np.array_equal(avg["w1"], two["w1"])
    assert np.allclose(avg["avg_w0"], 0.75 * one["w0"] + 0.25 * two["w0"], rtol=0, atol=1e-12)
    assert np.allclose(avg["avg_w1"], 0.75 * one["w1"] + 0.25 * two["w1"], rtol=0, atol=1e-12)
    chosen = avg["best_w0"]
    assert np.array_equal(chosen, avg["avg_w0"]) or np.array_equal(chosen, one["w0"])


def test_record_test_scores_every_epoch_and_changes_nothing(tmp_path):
    """--record-test: each epoch's record carries the test split's chip and notebook scores
    of that epoch's network (the final epoch's equal bs4nn.scores on the final weights); the
    weights, the chosen epoch and the model are those of the run without it."""
    from helpers import write_idx_split
    from neurochip.datasets import load_split
    from neurochip.train.checkpoint import read_checkpoint

    data = write_idx_split(tmp_path / "d", 120, 30)
    common = ["train", "bs4nn", "--data", str(data), "--arch", "20", "--draws", "40",
              "--validation-images", "20", "--fact", "5,10", "--epochs", "3"]
    assert main(common + ["--out", str(tmp_path / "plain")]) == 0
    assert main(common + ["--out", str(tmp_path / "rec"), "--record-test"]) == 0
    (pm, pa), (rm, ra) = (read_checkpoint(tmp_path / f"{x}.ckpt.npz") for x in ("plain", "rec"))
    for key in ("w0", "w1", "fact", "best_w0", "best_w1"):
        assert np.array_equal(pa[key], ra[key]), key
    assert [h["validation"] for h in pm["history"]] == [h["validation"] for h in rm["history"]]
    assert all("test" not in h for h in pm["history"])
    last = rm["history"][-1]
    net = bs4nn.Bs4nnNet(ra["w0"], ra["w1"], ra["fact"], ra["thr"])
    x, y = load_split(data, "test")
    assert (last["test"], last["test_notebook_scoring"]) == bs4nn.scores(
        net, bs4nn.input_times(x)[0], y)
    assert 0 <= last["test"] <= last["test_notebook_scoring"] <= 1
    plain, rec = (np.load(tmp_path / f"{x}.npz") for x in ("plain", "rec"))
    assert plain.files == rec.files
    for key in plain.files:
        if key != "manifest":  # the manifest records the command line
            assert np.array_equal(plain[key], rec[key]), key


def test_augment_shift_trains_on_moved_images_only(tmp_path, monkeypatch):
    """--augment-shift S: each epoch trains on its drawn images moved by at most S pixels
    (zero-filled), the same images in the same order as without it; the held-out and test
    images are scored unmoved. S = 0 is the run without the option, bit for bit."""
    from helpers import write_idx_split
    from neurochip.train.checkpoint import read_checkpoint

    data = write_idx_split(tmp_path / "d", 120, 30)
    common = ["train", "bs4nn", "--data", str(data), "--arch", "20", "--draws", "40",
              "--validation-images", "20", "--fact", "5,10", "--epochs", "2"]
    seen = []
    real = bs4nn.train_epoch

    def spy(draws, t_chip, t_rule, labels, *rest):
        seen.append((t_rule[draws].copy(), labels[draws].copy()))
        return real(draws, t_chip, t_rule, labels, *rest)

    monkeypatch.setattr(bs4nn, "train_epoch", spy)
    runs = {}
    for name, extra in (("plain", []), ("zero", ["--augment-shift", "0"]),
                        ("moved", ["--augment-shift", "2"])):
        seen.clear()
        assert main(common + ["--out", str(tmp_path / name), *extra]) == 0
        runs[name] = (list(seen), read_checkpoint(tmp_path / f"{name}.ckpt.npz")[1])
    for key in ("w0", "w1", "best_w0"):
        assert np.array_equal(runs["plain"][1][key], runs["zero"][1][key]), key
    assert not np.array_equal(runs["plain"][1]["w0"], runs["moved"][1]["w0"])
    (plain_rule, plain_lab), (moved_rule, moved_lab) = runs["plain"][0][0], runs["moved"][0][0]
    assert np.array_equal(plain_lab, moved_lab)  # the same draws, in the same order
    side = 28
    for a, b in zip(255 - plain_rule, 255 - moved_rule):  # pixels back from the rule's times
        img, mov = a.reshape(side, side), b.reshape(side, side)
        assert img.sum() >= mov.sum()  # moved, zero-filled: nothing added
        assert any(np.array_equal(np.pad(img, 2)[2 - dy:2 - dy + side, 2 - dx:2 - dx + side], mov)
                   for dy in range(-2, 3) for dx in range(-2, 3))
    assert any(not np.array_equal(a, b) for a, b in zip(plain_rule, moved_rule))


def test_start_from_takes_the_chosen_weights_of_an_earlier_run(tmp_path):
    """--start-from CKPT: a new run from the real weights of the epoch the earlier run chose
    (best_w0, best_w1), with its own --fact and --weight-bits: the twin trained on from the
    binary network. With --epochs 0 the model is that start, quantised."""
    from helpers import write_idx_split
    from neurochip.description import load
    from neurochip.train.checkpoint import read_checkpoint

    data = write_idx_split(tmp_path / "d", 120, 30)
    common = ["train", "bs4nn", "--data", str(data), "--arch", "20", "--draws", "40",
              "--validation-images", "20"]
    assert main(common + ["--out", str(tmp_path / "bin"), "--epochs", "2", "--fact", "5,10"]) == 0
    binary = read_checkpoint(tmp_path / "bin.ckpt.npz")[1]
    twin = common + ["--start-from", str(tmp_path / "bin.ckpt.npz"), "--weight-bits", "8",
                     "--weight-clip", "1,5", "--fact", "5,2"]
    assert main(twin + ["--out", str(tmp_path / "t0"), "--epochs", "0"]) == 0
    desc = load(tmp_path / "t0.npz")  # (no checkpoint without an epoch)
    assert desc.provenance["checkpoint"]["options"]["start_from"].endswith("bin.ckpt.npz")
    assert [lay.weight_bits for lay in desc.layers] == [8, 8]
    for layer, w, scale in zip(desc.layers, (binary["best_w0"], binary["best_w1"]), (127.0, 25.4)):
        assert np.array_equal(layer.weight, bs4nn.chip_weights(w, scale, 127)), layer.name
    assert [int(layer.threshold[0]) for layer in desc.layers] == [2540, 1270]
    assert main(twin + ["--out", str(tmp_path / "t2"), "--epochs", "2"]) == 0  # and it trains
    assert not np.array_equal(read_checkpoint(tmp_path / "t2.ckpt.npz")[1]["w0"], binary["best_w0"])


def test_select_train_images_chooses_on_held_out_and_training_images(tmp_path, capsys):
    """--select-train-images N: each epoch is scored on the first N training images as well
    (the chip's forward pass), and the epoch kept is the first with the most right answers
    on those and the held-out images together. Training is the run without the option, bit
    for bit; the kept epoch's weights are the description's."""
    from helpers import write_idx_split
    from neurochip.description import load
    from neurochip.train.checkpoint import read_checkpoint

    data = write_idx_split(tmp_path / "d", 120, 30)
    common = ["train", "bs4nn", "--data", str(data), "--arch", "20", "--draws", "40",
              "--validation-images", "20", "--fact", "5,10", "--lr", "0.5,0.5", "--epochs", "6"]
    assert main(common + ["--out", str(tmp_path / "plain")]) == 0
    assert main(common + ["--out", str(tmp_path / "sel"), "--select-train-images", "60"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (_, plain), (meta, sel) = (read_checkpoint(tmp_path / f"{x}.ckpt.npz") for x in ("plain", "sel"))
    assert np.array_equal(plain["w0"], sel["w0"]) and np.array_equal(plain["w1"], sel["w1"])
    history = meta["history"]
    for h in history:
        assert h["selection"] == (round(h["validation"] * 20) + round(h["train_selection"] * 60)) / 80
    scores = [h["selection"] for h in history]
    kept = scores.index(max(scores)) + 1
    assert summary["epoch"] == kept and summary["selection"] == max(scores)
    desc = load(tmp_path / "sel.npz")
    assert desc.provenance["checkpoint"]["epoch"] == kept
    assert desc.provenance["checkpoint"]["options"]["select_train_images"] == 60
    # the kept epoch's score on the training images is the chip's on those images
    x, y = read_idx_train(data)
    t_first = bs4nn.input_times(x[:60])[0]
    net = bs4nn.Bs4nnNet(sel["best_w0"], sel["best_w1"], sel["best_fact"], sel["thr"])
    assert bs4nn.scores(net, t_first, y[:60].astype(np.int64))[0] == history[kept - 1]["train_selection"]
    assert np.array_equal(simulate(desc, x[:60]).predictions,
                          bs4nn.predict(t_first, *net.signs(), *net.thetas()))
    # a resume must keep the rule; too many images is one line
    assert main(common + ["--out", str(tmp_path / "sel"), "--epochs", "7",
                          "--resume", str(tmp_path / "sel.ckpt.npz")]) == 2
    assert "--select-train-images" in capsys.readouterr().err
    assert main(common + ["--out", str(tmp_path / "big"), "--select-train-images", "1000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--select-train-images 1000" in err[0]


def read_idx_train(data):
    """The training images and labels as the trainer splits them (held-out images last)."""
    from neurochip.datasets import load_split

    x, y = load_split(data, "train")
    return x[:-20], y[:-20]

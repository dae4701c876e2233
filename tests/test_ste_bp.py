"""The ste-bp trainer: STE values, effective weights, and a tiny end-to-end training run."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurochip.datasets import load_sample, write_idx
from neurochip.train import arch as grammar
from neurochip.train import shell, ste, ste_bp

torch = pytest.importorskip("torch")

CHECKPOINT_KEYS = {
    "format", "version", "trainer", "mode", "weight_bits", "time_steps", "threshold", "layer_sizes",
    "encoder", "dataset", "train_images", "epochs", "seed", "command", "float_test_accuracy",
    "data_dir", "data_dir_resolved", "test_images", "test_split_sha256", "threads",
    "validation_images", "environment",
}


def test_binary_activation_forward_and_backward() -> None:
    x = torch.tensor([-1.0, 0.0, 0.5, 1.0, 1.0001, 1.5, 1.9999, 2.0, 3.0], requires_grad=True)
    s = ste.binary_activation(x)
    assert s.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    grad_s = torch.arange(1.0, 10.0)
    s.backward(grad_s)
    window = torch.tensor([0, 0, 1, 1, 1, 1, 1, 0, 0], dtype=torch.float32)
    assert torch.equal(x.grad, 0.5 * grad_s * window)


def _weights_with_edge_cases(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 0.3, (50, 12)).astype(np.float32)
    w[:, 0] = 0.0  # all-zero column: scale 1.0 (bits >= 2), alpha 0 (bits == 1)
    w[::3, 1] = 0.0  # sign(0) = +1
    w[:, 2] = np.float32(0.25) * np.arange(-25, 25)  # exact .5 ratios for round-half-even
    w[:7, 3] = -0.0
    return w


@pytest.mark.parametrize("bits", range(1, 9))
def test_effective_weight_numpy_matches_torch(bits: int) -> None:
    w = _weights_with_edge_cases(bits)
    ints, scale = ste.effective_weight_numpy(w, bits)
    assert ints.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (12,)
    w_eff = ste.effective_weight(torch.from_numpy(w), bits).numpy()
    np.testing.assert_allclose(w_eff, ints * scale, rtol=1e-6, atol=0)
    if bits == 1:
        assert set(np.unique(ints)) <= {-1, 1}
        assert (ints[w == 0] == 1).all()
        np.testing.assert_allclose(scale, np.abs(w).mean(axis=0), rtol=1e-6)
    else:
        qmax = 2 ** (bits - 1) - 1
        assert np.abs(ints).max() == qmax
        assert scale[0] == 1.0 and (ints[:, 0] == 0).all()
        np.testing.assert_array_equal(scale[1:], np.abs(w[:, 1:]).max(axis=0) / np.float32(qmax))
        expected = np.clip(np.round(w.astype(np.float64) / scale.astype(np.float64)), -qmax, qmax)
        np.testing.assert_array_equal(ints, expected)
        # the forward weight is the same float32 product in both implementations
        np.testing.assert_array_equal(w_eff, ints.astype(np.float32) * scale)


def test_effective_weight_round_half_to_even() -> None:
    w = np.array([[3.0], [0.5], [1.5], [2.5], [-0.5], [-2.5]], dtype=np.float32)
    ints, scale = ste.effective_weight_numpy(w, 3)  # qmax 3, scale 1.0
    assert scale.tolist() == [1.0]
    assert ints[:, 0].tolist() == [3, 0, 2, 2, 0, -2]


def test_effective_weight_gradient_is_straight_through() -> None:
    w = torch.tensor(_weights_with_edge_cases(0), requires_grad=True)
    grad = torch.randn(w.shape)
    for bits in (1, 4):
        w.grad = None
        ste.effective_weight(w, bits).backward(grad)
        assert torch.equal(w.grad, grad)


def test_bits_out_of_range() -> None:
    with pytest.raises(ValueError, match="1..8"):
        ste.effective_weight_numpy(np.zeros((2, 2), np.float32), 9)


def test_prediction_ties_go_to_lowest_index() -> None:
    counts = np.array([[0, 0, 0], [1, 3, 3], [2, 0, 2], [0, 1, 0]])
    assert ste_bp.predict(counts).tolist() == [0, 1, 0, 1]


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    """512 training images (the shipped sample and a shifted copy) and the sample as test split."""
    images, labels = load_sample()
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.concatenate([images, np.roll(images, 1, axis=2)]))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.concatenate([labels, labels]))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    return tmp_path


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    shell.add_trainer_arguments(ste_bp.TRAINER, parser)
    return parser.parse_args(list(argv))


def _run(args: argparse.Namespace) -> int:
    return shell.run_trainer(ste_bp.TRAINER, args)


def _train(data_dir: Path, prefix: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> list[tuple[Path, Path]]:
    """Run a tiny training; return the calls that would have gone to neurochip.quantize."""
    calls: list[tuple[Path, Path]] = []
    monkeypatch.setattr(ste_bp, "write_model", lambda ckpt, out: calls.append((ckpt, out)))
    args = _parse("--data", str(data_dir), "--out", str(prefix), "--arch", "32", "--epochs", "5",
                  "--batch-size", "32", "--lr", "3e-3", "--time-steps", "4", "--seed", "3", *extra)
    assert _run(args) == 0
    return calls


@pytest.mark.parametrize("mode", ["discontinuous", "continuous"])
def test_tiny_training_writes_checkpoint(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    prefix = tmp_path / "out" / "tiny"
    calls = _train(data_dir, prefix, monkeypatch, "--mode", mode)
    ckpt = tmp_path / "out" / "tiny.ckpt.npz"
    assert calls == [(ckpt, tmp_path / "out" / "tiny.npz")]
    with np.load(ckpt, allow_pickle=False) as data:
        assert set(data.files) == {"manifest", "layer0.weight", "layer0.bias", "layer1.weight", "layer1.bias"}
        assert all(data[k].dtype != object for k in data.files)
        assert data["manifest"].dtype == np.uint8
        manifest = json.loads(data["manifest"].tobytes().decode("utf-8"))
        shapes = {k: data[k].shape for k in data.files if k != "manifest"}
        assert all(data[k].dtype == np.float32 for k in shapes)
    assert shapes == {"layer0.weight": (784, 32), "layer0.bias": (32,), "layer1.weight": (32, 10), "layer1.bias": (10,)}
    assert set(manifest) == CHECKPOINT_KEYS
    assert manifest["format"] == "neurochip-float-checkpoint" and manifest["version"] == 1
    assert manifest["trainer"] == "ste-bp" and manifest["mode"] == mode
    assert manifest["weight_bits"] == 1 and manifest["time_steps"] == 4 and manifest["threshold"] == 1.0
    assert manifest["layer_sizes"] == [784, 32, 10] and manifest["encoder"] == "bernoulli"
    assert manifest["dataset"] == data_dir.name and manifest["train_images"] == 512
    assert manifest["data_dir"] == str(data_dir) and manifest["data_dir_resolved"] == str(data_dir.resolve())
    assert manifest["test_images"] == 256
    assert manifest["environment"]["torch_threads"] == manifest["threads"]
    assert manifest["test_split_sha256"] == shell.split_fingerprint(*load_sample())
    assert manifest["threads"] == shell.default_threads() == torch.get_num_threads()
    assert manifest["epochs"] == 5 and manifest["seed"] == 3
    assert isinstance(manifest["command"], str) and manifest["command"]
    assert 0.2 < manifest["float_test_accuracy"] <= 1.0  # learns something in five epochs
    loaded, weights, biases = ste_bp.load_checkpoint(ckpt)
    assert loaded == manifest and [w.shape for w in weights] == [(784, 32), (32, 10)]


@pytest.fixture()
def keep_torch_threads():
    """run() sets torch's thread count for the process; restore it for the other tests."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_threads_are_set_printed_and_recorded(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    keep_torch_threads: None,
) -> None:
    _train(data_dir, tmp_path / "t", monkeypatch, "--epochs", "1", "--threads", "1")
    startup = capsys.readouterr().err.splitlines()[0]
    assert startup.startswith("ste-bp: training 784-32-10") and str(data_dir) in startup
    assert "1 torch threads" in startup and "default" not in startup
    assert torch.get_num_threads() == 1
    manifest, _, _ = ste_bp.load_checkpoint(tmp_path / "t.ckpt.npz")
    assert manifest["threads"] == 1
    # without --threads: the documented default, said to be one, and how to change it
    _train(data_dir, tmp_path / "d", monkeypatch, "--epochs", "1")
    startup = capsys.readouterr().err.splitlines()[0]
    assert f"{shell.default_threads()} torch threads (default; --threads N to change)" in startup
    assert shell.default_threads() == max(1, shell.available_cpus() // 2)
    with pytest.raises(SystemExit):
        _parse("--data", str(data_dir), "--out", str(tmp_path / "x"), "--threads", "0")
    assert "--threads: 0: use 1 or more" in capsys.readouterr().err


def test_help_explains_threads(capsys: pytest.CaptureFixture[str]) -> None:
    from neurochip.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["train", "ste-bp", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--threads" in text and "half the usable CPUs" in text
    assert "spin-waits" in text and "--threads 1" in text  # why, and how to change it


def test_trained_checkpoint_is_reported_on_its_own_data(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    keep_torch_threads: None,
) -> None:
    from neurochip.train.quantize import quantize_checkpoint

    _train(data_dir, tmp_path / "q", monkeypatch, "--epochs", "1")
    capsys.readouterr()
    monkeypatch.chdir(tmp_path.parent)  # quantized from another working directory
    desc = quantize_checkpoint(tmp_path / "q.ckpt.npz", tmp_path / "q.npz", lanes=8)
    err = capsys.readouterr().err
    assert f"on 256 images ({data_dir.resolve()} test split" in err and "MNIST sample" not in err
    assert desc.provenance["sample_accuracy"]["data"] == f"{data_dir.resolve()} test split"


def test_training_is_deterministic(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b"):
        _train(data_dir, tmp_path / name, monkeypatch, "--weight-bits", "3", "--augment-shift", "1")
    with np.load(tmp_path / "a.ckpt.npz") as a, np.load(tmp_path / "b.ckpt.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_command_line_is_shell_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/bin/neurochip", "train", "ste-bp", "--out", "models/x y"])
    assert shell.command_line("ste-bp") == "neurochip train ste-bp --out 'models/x y'"
    monkeypatch.setattr(sys, "argv", ["/x/__main__.py", "train", "ste-bp", "--out", "m"])
    assert shell.command_line("ste-bp") == "neurochip train ste-bp --out m"


def test_bad_arguments_and_missing_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(_parse("--data", str(tmp_path), "--out", str(tmp_path / "x"))) == 2
    assert "train-images-idx3-ubyte[.gz]" in capsys.readouterr().err
    assert _run(_parse("--out", "x", "--weight-bits", "0")) == 2
    assert "1..8" in capsys.readouterr().err
    assert _run(_parse("--out", "x", "--arch", "64,0")) == 2
    assert "1 … 32768" in capsys.readouterr().err


def test_works_without_torch() -> None:
    """Importing the trainer must not need torch; running it names the install command."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from neurochip.train import ste, ste_bp  # noqa: F401\n"
        "print(ste.effective_weight_numpy(np.ones((2, 1), np.float32), 1)[1][0])\n"
        "try:\n"
        "    ste.binary_activation(None)\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "1.0"
    assert "PyTorch" in out and "neurochip[train]" in out


# ------------------------------------------------------------ convolutional networks (--arch)

from neurochip.train import ste_bp_cnn  # noqa: E402

TINY_CNN = "4c5,p2,6c3p1,p2,16"  # 28×28 → 24×24×4 → 12×12×4 → 12×12×6 → 6×6×6 → 16 → 10


def test_arch_strings() -> None:
    yin = grammar.parse_arch("cnn")
    assert yin == [{"type": "conv", "channels": 12, "kernel": 5, "pad": 0}, {"type": "pool", "window": 2},
                   {"type": "conv", "channels": 64, "kernel": 5, "pad": 0}, {"type": "pool", "window": 2},
                   {"type": "fc", "neurons": 512}]
    assert grammar.format_arch(yin) == grammar.YIN_CNN == "12c5,p2,64c5,p2,512"
    full = grammar.with_output(yin)
    assert grammar.stream_sizes(full, (28, 28, 1)) == [784, 6912, 1728, 4096, 1024, 512, 10]
    assert grammar.weighted_shapes(full, (28, 28, 1)) == [
        (0, (25, 12)), (2, (300, 64)), (4, (1024, 512)), (5, (512, 10))]
    assert grammar.parse_arch("32c5p2, p2")[0] == {"type": "conv", "channels": 32, "kernel": 5, "pad": 2}
    assert grammar.parse_arch("512") == [{"type": "fc", "neurons": 512}] and grammar.parse_arch("") == []
    for bad, words in (("12c5,512,p2", "after a fully connected"),
                       ("12x5", "token '12x5'"), ("12c5p5", "smaller than the kernel"),
                       ("12c9,p2,p2,12c7", "does not fit"), ("12c17", "1 … 16"), ("64c3p1", "at most 32768")):
        with pytest.raises(grammar.ArchError, match=words):
            grammar.parse_arch(bad)


def test_arch_option_default_is_the_mlp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("--out", "x")
    assert args.arch == "1024,1024"
    ste_bp.TRAINER.check(args)
    assert args.hidden == [1024, 1024] and args.arch_layers is None  # the MLP, as before
    args = _parse("--out", "x", "--arch", "cnn")
    ste_bp.TRAINER.check(args)
    assert args.hidden is None and args.arch_layers == grammar.parse_arch(grammar.YIN_CNN)
    assert _run(_parse("--out", str(tmp_path / "x"), "--arch", "12c5,512,p2")) == 2
    assert "after a fully connected one" in capsys.readouterr().err
    assert _run(_parse("--out", str(tmp_path / "x"), "--arch", "mlp")) == 2
    assert "--arch 1024,1024" in capsys.readouterr().err


def test_old_hidden_option_is_an_alias_of_arch(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("--out", "x", "--hidden", "64,32")
    assert args.arch == "64,32"
    assert "--hidden is the old spelling of --arch" in capsys.readouterr().err
    ste_bp.TRAINER.check(args)
    assert args.hidden == [64, 32]


def test_arch_conflicts_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(_parse("--out", str(tmp_path / "x"), "--arch", "cnn", "--mode", "continuous")) == 2
    assert "discontinuous integration only" in capsys.readouterr().err


def test_cnn_torch_forward_matches_the_quantizers_float_step(tmp_path: Path) -> None:
    """The trainer's (C, H, W) torch forward and the quantizer's address-order NumPy forward
    (what float_predict runs) compute the same x: same kernel layout, same fc row order."""
    from neurochip.train.quantize import cnn_float_step, load_checkpoint

    arch = grammar.with_output(grammar.parse_arch("3c3,p2,5c3p1,7"))
    shape = (12, 13, 2)  # C > 1 and H ≠ W: the input permutation matters
    gen = torch.Generator().manual_seed(0)
    model = ste_bp_cnn.SpikingCNN(arch, shape, 1, gen)
    with torch.no_grad():
        for b in model.biases:
            b.copy_(torch.randn(b.shape, generator=gen))
    manifest = {"format": "neurochip-float-checkpoint", "version": 1, "mode": "discontinuous",
                "weight_bits": 1, "time_steps": 1, "threshold": 1.0, "layer_sizes": model.layer_sizes,
                "arch": arch, "input_shape": list(shape)}
    ste_bp.save_checkpoint(tmp_path / "c.ckpt.npz", manifest, model)
    with np.load(tmp_path / "c.ckpt.npz") as data:
        assert set(data.files) == {"manifest", "layer0.weight", "layer0.bias", "layer2.weight",
                                   "layer2.bias", "layer3.weight", "layer3.bias", "layer4.weight",
                                   "layer4.bias"}
        # 12×13×2 → 10×11×3 → 5×5×3 → 5×5×5 (padded) → fc 7 reading the conv map directly
        assert data["layer0.weight"].shape == (18, 3) and data["layer3.weight"].shape == (5 * 5 * 5, 7)
    spikes = torch.rand(64, 12 * 13 * 2, generator=gen) < 0.4
    with torch.no_grad():
        x_torch = model.step_discontinuous(spikes.float(), model.effective_weights(), None).numpy()
    x_numpy = cnn_float_step(load_checkpoint(tmp_path / "c.ckpt.npz"), spikes.numpy())
    np.testing.assert_allclose(x_numpy, x_torch, rtol=1e-5, atol=1e-5)
    assert 0.05 < (x_torch > 1).mean() < 0.95


def test_cnn_dropout_masks_follow_the_spike_maps() -> None:
    model = ste_bp_cnn.SpikingCNN(grammar.with_output(grammar.parse_arch("cnn")), (28, 28, 1), 1,
                                  torch.Generator().manual_seed(0))
    # after pool1 (feeds conv2), after pool2 (feeds fc1), after fc1 (feeds out)
    assert model.mask_after == [1, 3, 4] and model.dropout_sizes == [1728, 1024, 512]
    masks = [torch.zeros(2, n) for n in model.dropout_sizes]
    x = model.step_discontinuous(torch.ones(2, 784), model.effective_weights(), masks)
    assert torch.equal(x, model.biases[-1].expand(2, -1))  # everything dropped: x = b


def test_tiny_cnn_training_writes_checkpoint(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    keep_torch_threads: None,
) -> None:
    from neurochip.kinds import KINDS
    from neurochip.train.quantize import float_predict, load_checkpoint, quantize, quantize_checkpoint
    from neurochip.sim.simulator import encode_images

    calls: list[tuple[Path, Path]] = []
    monkeypatch.setattr(ste_bp, "write_model", lambda ckpt, out: calls.append((ckpt, out)))
    prefix = tmp_path / "cnn"
    args = _parse("--data", str(data_dir), "--out", str(prefix), "--arch", TINY_CNN, "--epochs", "1",
                  "--batch-size", "32", "--lr", "3e-3", "--time-steps", "2", "--seed", "3",
                  "--augment-shift", "1", "--dropout", "0.1", "--threads", "1")
    assert _run(args) == 0
    startup = capsys.readouterr().err.splitlines()[0]
    assert startup.startswith("ste-bp: training 28x28x1-4c5-p2-6c3p1-p2-16-10 (discontinuous, T=2")
    ckpt = tmp_path / "cnn.ckpt.npz"
    assert calls == [(ckpt, tmp_path / "cnn.npz")]
    with np.load(ckpt, allow_pickle=False) as data:
        manifest = json.loads(data["manifest"].tobytes().decode("utf-8"))
        shapes = {k: data[k].shape for k in data.files if k != "manifest"}
        assert all(data[k].dtype == np.float32 for k in shapes)
    assert shapes == {"layer0.weight": (25, 4), "layer0.bias": (4,), "layer2.weight": (36, 6),
                      "layer2.bias": (6,), "layer4.weight": (216, 16), "layer4.bias": (16,),
                      "layer5.weight": (16, 10), "layer5.bias": (10,)}
    assert set(manifest) == CHECKPOINT_KEYS | {"arch", "input_shape"}
    assert manifest["arch"] == grammar.with_output(grammar.parse_arch(TINY_CNN))
    assert manifest["input_shape"] == [28, 28, 1]
    assert manifest["layer_sizes"] == [784, 2304, 576, 864, 216, 16, 10]
    assert manifest["mode"] == "discontinuous" and manifest["epochs"] == 1 and manifest["threads"] == 1
    assert 0.0 <= manifest["float_test_accuracy"] <= 1.0  # one epoch of 16 batches learns little
    _, weights, biases = ste_bp.load_checkpoint(ckpt)
    assert [w.shape for w in weights] == [(25, 4), (36, 6), (216, 16), (16, 10)]

    model = load_checkpoint(ckpt)
    desc = quantize(model, "cnn", lanes=8)
    assert [lay.kind for lay in desc.layers] == ["conv2d", "pool", "conv2d", "pool", "fc", "fc"]
    images, labels = load_sample()
    pred = float_predict(model, encode_images(desc, images))
    assert pred.shape == labels.shape and 0 <= pred.min() and pred.max() < 10
    if {"conv2d", "pool"} <= set(KINDS):  # the chip's conv kinds: the whole quantize report
        desc = quantize_checkpoint(ckpt, tmp_path / "cnn.npz", lanes=8)
        acc = desc.provenance["sample_accuracy"]
        assert acc["images"] == 256 and acc["agreement"] > 0.95

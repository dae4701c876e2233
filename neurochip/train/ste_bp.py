"""Back propagation with binary activations (Yin et al., BioCAS 2017), for the chip's IF neurons.

A layer computes ``x = s_in @ W_eff + b`` and spikes ``s = 1[x > 1]``; the step function is
trained with a straight-through estimator and the weights are quantized in the forward pass
(``--weight-bits``), so the float network is the spiking network the chip runs:

* ``discontinuous``: every time step is an independent one-step network (membranes start at
  0 each step); trained on one Bernoulli sample of the input per example.
* ``continuous``: membranes carry over with reset by subtraction and the network is trained
  unrolled over the T time steps.

Inference runs T time steps on independent Bernoulli samples and predicts the class with the
most output spikes, ties to the lowest class index (the chip's rule, docs/architecture.md §6).

``--arch`` trains a convolutional network instead (discontinuous integration only; Yin et
al.'s binary CNN is ``--arch cnn``): see :mod:`neurochip.train.ste_bp_cnn`.

Torch is imported only when training is run, so the rest of the package works without it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import shlex
import sys
import time
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from neurochip.train.latent import LatentBinaryNet
from neurochip.datasets import load_split
from neurochip.train.ste_bp_cnn import (YIN_CNN, ArchError, SpikingCNN, format_arch, parse_arch,
                                        weighted_shapes)

if TYPE_CHECKING:
    import torch

THRESHOLD = 1.0
INPUT_SIZE = 28 * 28
INPUT_SHAPE = (28, 28, 1)  # (H, W, C) of a CNN's input stream: address = pixel index
NUM_CLASSES = 10
MODES = ("discontinuous", "continuous")
CHECKPOINT_FORMAT = "neurochip-float-checkpoint"
CHECKPOINT_VERSION = 1
TORCH_HINT = "pip install torch==2.13.0 (or pip install neurochip[train])"
EVAL_BATCH = 1000


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    """Default torch intra-op thread count: half the usable CPUs, at least 1.

    torch's own default (one thread per core) makes its OpenMP workers spin-wait for each
    other at every matrix product; when another process holds one of those cores, every
    product waits for a descheduled worker (a user saw training slow ~30x). Leaving half
    the cores free keeps the trainer robust to that, and the products of a batch of 100
    gain little from more threads (784-1024-1024-10 on a 2-core machine: 36 ms/batch with
    1 thread, 26 ms with 2 while idle, but 40 ms vs 70 ms with one core busy).
    ``--threads N`` overrides it; the count used is printed and written to the checkpoint."""
    return max(1, available_cpus() // 2)


def split_fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of a split's decoded images (shape and bytes) and labels: the identity of the
    data whatever its file names, compression or folder. The checkpoint manifest records it
    for the test split so the quantizer can tell whether a folder holds the same data."""
    h = hashlib.sha256(repr((tuple(images.shape), str(images.dtype), len(labels))).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"the ste-bp trainer needs PyTorch, which is not installed: {TORCH_HINT}") from exc
    return torch


def _check_bits(bits: int) -> None:
    if not 1 <= bits <= 8:
        raise ValueError(f"weight bits must be in 1..8, got {bits}")


def effective_weight_numpy(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Split latent weights W (fan_in, fan_out) into integer weights and a scale per output neuron.

    ``int * scale`` is the trainer's forward weight W_eff (same float32 arithmetic), so a
    quantizer can put the integers in the weight SRAM and fold the scale into threshold and bias.
    bits == 1: int = sign(W) (sign(0) = +1), scale = mean_i |W[i, j]|.
    bits >= 2: scale = max_i |W[i, j]| / qmax (1.0 if 0), int = clip(round_half_even(W / scale), ±qmax).
    """
    _check_bits(bits)
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"weights must have shape (fan_in, fan_out), got {w.shape}")
    if bits == 1:
        scale = np.abs(w).mean(axis=0, dtype=np.float32)
        ints = np.where(w >= 0, 1, -1).astype(np.int8)
        return ints, scale
    qmax = 2 ** (bits - 1) - 1
    scale = np.abs(w).max(axis=0) / np.float32(qmax)
    scale[scale == 0] = np.float32(1.0)
    ints = np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int8)
    return ints, scale


@lru_cache(maxsize=None)
def _ops() -> SimpleNamespace:
    """Build the autograd functions once torch is known to be importable."""
    torch = _import_torch()

    class BinaryActivation(torch.autograd.Function):
        """s = 1[x > 1]; backward: 0.5 * grad_s inside the window 0 < x < 2."""

        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x)
            return (x > THRESHOLD).to(x.dtype)

        @staticmethod
        def backward(ctx: Any, grad_s: torch.Tensor) -> torch.Tensor:
            (x,) = ctx.saved_tensors
            window = (x > THRESHOLD - 1.0) & (x < THRESHOLD + 1.0)
            return 0.5 * grad_s * window.to(grad_s.dtype)

    class QuantizeWeight(torch.autograd.Function):
        """Forward: W_eff exactly as effective_weight_numpy; backward: straight through to W."""

        @staticmethod
        def forward(ctx: Any, w: torch.Tensor, bits: int) -> torch.Tensor:
            if bits == 1:
                return torch.where(w >= 0, 1.0, -1.0).to(w.dtype) * w.abs().mean(dim=0)
            qmax = 2 ** (bits - 1) - 1
            scale = w.abs().amax(dim=0) / qmax
            scale = torch.where(scale == 0, torch.ones_like(scale), scale)
            return torch.clamp(torch.round(w / scale), -qmax, qmax) * scale

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
            return grad, None

    return SimpleNamespace(binary_activation=BinaryActivation.apply, quantize_weight=QuantizeWeight.apply)


def binary_activation(x: torch.Tensor) -> torch.Tensor:
    """Spike ``1[x > 1]`` with the straight-through gradient ``0.5 * 1[0 < x < 2]``."""
    return _ops().binary_activation(x)


def effective_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Forward weight W_eff of latent weights ``w`` (torch twin of :func:`effective_weight_numpy`)."""
    _check_bits(bits)
    return _ops().quantize_weight(w, bits)


def _bernoulli(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Input spikes 1[u < pixel/256]: ``pixels`` already holds pixel/256."""
    torch = _import_torch()
    return (torch.rand(pixels.shape, generator=generator) < pixels).to(pixels.dtype)


def _shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each (28, 28) image by a random offset in ±max_shift pixels, filling with 0.

    With only 8,000 training digits this augmentation is what closes most of the gap to
    the full data set.
    """
    torch = _import_torch()
    if max_shift == 0:
        return images
    n, size = len(images), images.shape[-1]
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator)
    rows = (dy + torch.arange(size))[:, :, None]
    cols = (dx + torch.arange(size))[:, None, :]
    return padded[torch.arange(n)[:, None, None], rows, cols]


def _dropout_masks(
    batch: int, sizes: list[int], p: float, generator: torch.Generator
) -> list[torch.Tensor] | None:
    """Inverted-dropout masks for the hidden layers (kept for all time steps of an example)."""
    if p == 0.0:
        return None
    torch = _import_torch()
    return [(torch.rand(batch, n, generator=generator) >= p).float() / (1.0 - p) for n in sizes]


class SpikingMLP(LatentBinaryNet):
    """Latent weights and biases of a fully connected binary spiking network."""

    def __init__(self, layer_sizes: list[int], weight_bits: int, generator: torch.Generator) -> None:
        torch = _import_torch()
        self.layer_sizes = layer_sizes
        self.weight_bits = weight_bits
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
            # Uniform in ±a with mean|W| = a/2 = 2/sqrt(fan_in): at init a layer's x has a std
            # of a few units for typical spike counts, so a good fraction of neurons fire.
            bound = 4.0 / fan_in**0.5
            w = (torch.rand(fan_in, fan_out, generator=generator) * 2.0 - 1.0) * bound
            self.weights.append(w.requires_grad_())
            self.biases.append(torch.zeros(fan_out, requires_grad=True))

    @property
    def dropout_sizes(self) -> list[int]:
        """Sizes of the hidden spike vectors dropout masks apply to."""
        return self.layer_sizes[1:-1]


    def step_discontinuous(
        self, s: torch.Tensor, w_eff: list[torch.Tensor], masks: list[torch.Tensor] | None
    ) -> torch.Tensor:
        """One independent time step: return the output layer's pre-threshold x."""
        last = len(w_eff) - 1
        for i, (w, b) in enumerate(zip(w_eff, self.biases)):
            x = s @ w + b
            if i == last:
                return x
            s = binary_activation(x)
            if masks is not None:
                s = s * masks[i]
        raise AssertionError("unreachable: a network has at least one layer")

    def run_continuous(
        self,
        pixels: torch.Tensor,
        time_steps: int,
        generator: torch.Generator,
        w_eff: list[torch.Tensor],
        masks: list[torch.Tensor] | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Unroll V_t = V_{t-1} - s_{t-1} + I_t; return output spike counts and summed V."""
        n_layers = len(w_eff)
        v: list[Any] = [0.0] * n_layers
        s_prev: list[Any] = [0.0] * n_layers
        counts: Any = 0.0
        v_sum: Any = 0.0
        for _ in range(time_steps):
            h = _bernoulli(pixels, generator)
            for i, (w, b) in enumerate(zip(w_eff, self.biases)):
                v[i] = v[i] - s_prev[i] + (h @ w + b)
                s_prev[i] = binary_activation(v[i])
                h = s_prev[i] if masks is None or i == n_layers - 1 else s_prev[i] * masks[i]
            counts = counts + s_prev[-1]
            v_sum = v_sum + v[-1]
        return counts, v_sum


def _squared_hinge(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """mean(max(0, 1 - t*x)^2) with t = +1 for the true class and -1 for the others."""
    torch = _import_torch()
    targets = torch.full_like(x, -1.0)
    targets[torch.arange(len(labels)), labels] = 1.0
    return torch.clamp(1.0 - targets * x, min=0.0).pow(2).mean()


def spiking_inference(
    model: SpikingMLP | SpikingCNN, pixels: torch.Tensor, mode: str, time_steps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Run the T-step spiking network; return output spike counts and summed pre-threshold values.

    The summed value is x (discontinuous) or V (continuous) of the output layer over the steps;
    it is returned only to study tie breaking, the prediction uses the counts alone.
    """
    torch = _import_torch()
    generator = torch.Generator().manual_seed(seed)
    counts, potentials = [], []
    with torch.no_grad():
        w_eff = model.effective_weights()
        for start in range(0, len(pixels), EVAL_BATCH):
            batch = pixels[start : start + EVAL_BATCH]
            if mode == "continuous":
                c, p = model.run_continuous(batch, time_steps, generator, w_eff, None)
            else:
                c = p = 0.0
                for _ in range(time_steps):
                    x = model.step_discontinuous(_bernoulli(batch, generator), w_eff, None)
                    c, p = c + (x > THRESHOLD).float(), p + x
            counts.append(c.numpy())
            potentials.append(p.numpy())
    return np.concatenate(counts).astype(np.int64), np.concatenate(potentials)


def predict(counts: np.ndarray) -> np.ndarray:
    """Class with the most spikes; np.argmax returns the first maximum, i.e. the lowest index."""
    return np.argmax(counts, axis=1)


def _pixels(images: np.ndarray) -> torch.Tensor:
    torch = _import_torch()
    return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 256.0)


def train(
    args: argparse.Namespace,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
) -> tuple[SpikingMLP | SpikingCNN, float]:
    """Train a SpikingMLP (or, with ``args.arch``, a SpikingCNN) as configured by ``args``;
    return it and its final test accuracy."""
    torch = _import_torch()
    from tqdm import tqdm

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    arch = getattr(args, "arch", None)
    model: SpikingMLP | SpikingCNN
    if arch is not None:
        model = SpikingCNN(full_arch(arch), INPUT_SHAPE, args.weight_bits, generator)
    else:
        layer_sizes = [INPUT_SIZE, *args.hidden, NUM_CLASSES]
        model = SpikingMLP(layer_sizes, args.weight_bits, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay)

    x_train, y_train = _pixels(train_images), torch.from_numpy(train_labels.astype(np.int64))
    x_test = _pixels(test_images)
    n = len(x_train)
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        started = time.monotonic()
        order = torch.randperm(n, generator=generator)
        total_loss = 0.0
        batches = range(0, n, args.batch_size)
        for start in tqdm(batches, desc=f"epoch {epoch}/{args.epochs}", file=sys.stderr, leave=False):
            index = order[start : start + args.batch_size]
            labels = y_train[index]
            pixels = _shift(x_train[index].view(-1, 28, 28), args.augment_shift, generator).reshape(len(index), -1)
            masks = _dropout_masks(len(index), model.dropout_sizes, args.dropout, generator)
            w_eff = model.effective_weights()
            if args.mode == "continuous":
                _, v_sum = model.run_continuous(pixels, args.time_steps, generator, w_eff, masks)
                loss = _squared_hinge(v_sum / args.time_steps, labels)
            else:
                x = model.step_discontinuous(_bernoulli(pixels, generator), w_eff, masks)
                loss = _squared_hinge(x - args.hinge_offset, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.clip_latent()
            total_loss += loss.item() * len(index)
        scheduler.step()
        counts, _ = spiking_inference(model, x_test, args.mode, args.time_steps, args.seed)
        accuracy = float(np.mean(predict(counts) == test_labels))
        print(
            f"epoch {epoch}/{args.epochs}: loss {total_loss / n:.4f}, "
            f"test accuracy {accuracy:.4f} (T={args.time_steps} spiking), "
            f"lr {optimizer.param_groups[0]['lr']:.2e}, {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
    return model, accuracy


def save_checkpoint(path: str | os.PathLike, manifest: dict[str, Any], model: SpikingMLP | SpikingCNN) -> None:
    """Write the float checkpoint: a JSON manifest as uint8 bytes and float32 arrays, no pickles.

    MLP: ``layer{i}.weight``/``.bias`` for the i-th weight layer; CNN: i is the layer's
    position in the manifest's ``arch`` (pooling layers have no arrays)."""
    arrays = {"manifest": np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)}
    prefixes = getattr(model, "array_prefixes", None) or [f"layer{i}" for i in range(len(model.weights))]
    for prefix, w, b in zip(prefixes, model.weights, model.biases):
        arrays[f"{prefix}.weight"] = w.detach().numpy().astype(np.float32)
        arrays[f"{prefix}.bias"] = b.detach().numpy().astype(np.float32)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], list[np.ndarray], list[np.ndarray]]:
    """Read a float checkpoint: (manifest, latent weights, biases); for a CNN (manifest key
    ``arch``) the weights and biases of its conv and fc layers in order."""
    with np.load(path, allow_pickle=False) as data:
        manifest = json.loads(data["manifest"].tobytes().decode("utf-8"))
        if manifest.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} file")
        if "arch" in manifest:
            indices = [i for i, _ in weighted_shapes(manifest["arch"], tuple(manifest["input_shape"]))]
        else:
            indices = list(range(len(manifest["layer_sizes"]) - 1))
        weights = [data[f"layer{i}.weight"] for i in indices]
        biases = [data[f"layer{i}.bias"] for i in indices]
    return manifest, weights, biases


def _command_line() -> str:
    """The command that started this process, as the user would type it."""
    program = Path(sys.argv[0]).name
    if Path(sys.argv[0]).resolve() == Path(__file__).resolve():
        program = "python -m neurochip.train.ste_bp"
    return " ".join([program, shlex.join(sys.argv[1:])]).strip()


def _quantize(ckpt_path: Path, out_path: Path) -> None:
    """Hand the checkpoint to neurochip.quantize when that module is available."""
    if importlib.util.find_spec("neurochip.quantize") is None:
        print(f"note: neurochip.quantize not found; skipped writing {out_path}", file=sys.stderr)
        return
    quantize_checkpoint = getattr(importlib.import_module("neurochip.quantize"), "quantize_checkpoint", None)
    if quantize_checkpoint is None:
        print(f"note: neurochip.quantize has no quantize_checkpoint; skipped writing {out_path}", file=sys.stderr)
        return
    quantize_checkpoint(str(ckpt_path), str(out_path))
    print(f"wrote {out_path}", file=sys.stderr)


def _layer_list(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"layer sizes must be positive integers, got {text!r}")
    return sizes


def _arch(text: str) -> list[dict[str, Any]] | None:
    """``--arch``: None for the MLP, else the CNN's layers without the output layer."""
    if text.strip().lower() == "mlp":
        return None
    try:
        return parse_arch(text)
    except ArchError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def full_arch(arch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A CNN's layers with the output layer of NUM_CLASSES neurons appended."""
    return [*arch, {"type": "fc", "neurons": NUM_CLASSES}]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``neurochip train ste-bp``."""
    parser.add_argument("--data", default="../shared/datasets/mnist", help="directory with the IDX files (default: %(default)s)")
    parser.add_argument("--out", required=True, help="output prefix: writes PREFIX.ckpt.npz (and PREFIX.npz via neurochip.quantize)")
    parser.add_argument("--mode", choices=MODES, default="discontinuous", help="membrane integration across time steps (default: %(default)s)")
    parser.add_argument(
        "--arch", type=_arch, default="mlp",
        help="network: 'mlp' (default: the fully connected network of --hidden) or a binary CNN "
        "as comma-separated layers, convolutions and pooling first: <C>c<k> = C channels, k×k "
        "kernel, stride 1, no padding (<C>c<k>p<pad> pads), p<w> = w×w OR (spike max) pooling, "
        f"<N> = fully connected; the {NUM_CLASSES}-class output layer is implied. 'cnn' = Yin "
        f"et al.'s {YIN_CNN} (28×28 → 24×24×12 → 12×12×12 → 8×8×64 → 4×4×64 → 512 → 10). "
        "CNNs train with discontinuous integration only",
    )
    parser.add_argument("--hidden", type=_layer_list, default=None, help="hidden layer sizes of the MLP, comma-separated (default: 1024,1024; with a CNN --arch put the fc sizes in --arch)")
    parser.add_argument("--weight-bits", type=int, default=1, help="weight precision 1..8 (default: %(default)s)")
    parser.add_argument("--time-steps", type=int, default=8, help="time steps T of spiking inference (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=30, help="(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=100, help="(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--lr-decay", type=float, default=0.95, help="learning-rate factor per epoch (default: %(default)s)")
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout probability on hidden spikes (default: %(default)s)")
    parser.add_argument("--hinge-offset", type=float, default=1.0, help="squared hinge on x − OFFSET: 1 centres the ±1 targets on the firing threshold (default: %(default)s)")
    parser.add_argument("--augment-shift", type=int, default=0, help="random translation of training images by up to this many pixels (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument(
        "--threads", type=int, default=None,
        help=f"torch CPU threads (default: half the usable CPUs, at least 1; here {default_threads()}). "
        "torch's own default of one thread per core spin-waits, so training slows many times over "
        "when another process holds a core; raise it (e.g. --threads $(nproc)) on an otherwise idle "
        "machine, lower it (--threads 1) on a shared one. The count used is printed at start-up "
        "and written to the checkpoint manifest",
    )


def _validate(args: argparse.Namespace) -> None:
    _check_bits(args.weight_bits)
    arch = getattr(args, "arch", None)
    if arch is None:
        if args.hidden is None:
            args.hidden = [1024, 1024]
    else:
        if args.hidden is not None:
            raise ValueError("--hidden sets the hidden layers of the MLP; with a CNN --arch put the "
                             f"fully connected sizes in --arch (e.g. --arch {YIN_CNN})")
        if args.mode != "discontinuous":
            raise ValueError(f"--mode {args.mode}: convolutional networks (--arch) train with "
                             "discontinuous integration only; use --mode discontinuous")
    if args.time_steps < 1 or args.epochs < 1 or args.batch_size < 1:
        raise ValueError("--time-steps, --epochs and --batch-size must be at least 1")
    if not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.lr <= 0 or args.lr_decay <= 0:
        raise ValueError("--lr and --lr-decay must be positive")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")


def run(args: argparse.Namespace) -> int:
    """Train, write PREFIX.ckpt.npz and (if available) the quantized PREFIX.npz; return the exit code."""
    from neurochip.cli.plot import check_creatable

    try:  # every option and the output path before torch, the data and any epoch
        _validate(args)
        for suffix in (".ckpt.npz", ".npz"):
            check_creatable(args.out + suffix, "--out")
        torch = _import_torch()
        train_images, train_labels = load_split(args.data, "train")
        test_images, test_labels = load_split(args.data, "test")
    except (ImportError, ValueError, FileNotFoundError) as exc:
        print(f"neurochip: error: {exc}", file=sys.stderr)
        return 2
    threads = args.threads if args.threads is not None else default_threads()
    torch.set_num_threads(threads)  # always: torch's default spins (see default_threads)
    arch = getattr(args, "arch", None)
    if arch is None:
        sizes = "-".join(str(n) for n in [INPUT_SIZE, *args.hidden, NUM_CLASSES])
    else:
        sizes = "x".join(map(str, INPUT_SHAPE)) + "-" + format_arch(full_arch(arch)).replace(",", "-")
    print(
        f"ste-bp: training {sizes} ({args.mode}, T={args.time_steps}, {args.weight_bits}-bit weights) "
        f"on {args.data} ({len(train_images)} train / {len(test_images)} test images), "
        f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}, {torch.get_num_threads()} torch threads"
        f"{'' if args.threads is not None else ' (default; --threads N to change)'}",
        file=sys.stderr,
    )
    started = time.monotonic()
    model, accuracy = train(args, train_images, train_labels, test_images, test_labels)
    manifest = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "trainer": "ste-bp",
        "mode": args.mode,
        "weight_bits": args.weight_bits,
        "time_steps": args.time_steps,
        "threshold": THRESHOLD,
        "layer_sizes": model.layer_sizes,
        **({} if arch is None else {"arch": model.arch, "input_shape": list(model.input_shape)}),
        "encoder": "bernoulli",
        "dataset": Path(os.path.normpath(args.data)).name,
        # where the data was, so `neurochip quantize` can report on the same test split
        "data_dir": str(args.data),
        "data_dir_resolved": str(Path(args.data).resolve()),
        "test_images": len(test_images),
        "test_split_sha256": split_fingerprint(test_images, test_labels),
        "train_images": len(train_images),
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": torch.get_num_threads(),
        "command": _command_line(),
        "float_test_accuracy": accuracy,
    }
    prefix = Path(args.out)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    ckpt_path = prefix.with_name(prefix.name + ".ckpt.npz")
    save_checkpoint(ckpt_path, manifest, model)
    print(
        f"wrote {ckpt_path}: test accuracy {accuracy:.4f} (T={args.time_steps} spiking, float weights), "
        f"{time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    _quantize(ckpt_path, prefix.with_name(prefix.name + ".npz"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurochip.train.ste_bp", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

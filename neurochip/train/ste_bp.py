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

``--arch`` in the architecture grammar (:mod:`neurochip.train.arch`): fully connected
sizes (``--arch 1024,1024``) train the MLP; with convolutions a convolutional network
(discontinuous integration only; Yin et al.'s binary CNN is ``--arch cnn``): see
:mod:`neurochip.train.ste_bp_cnn`. The common options and the split are the trainer
shell's (:mod:`neurochip.train.shell`).

Torch is imported only when training is run, so the rest of the package works without it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from neurochip.train.arch import ArchError, format_arch, parse_arch, weighted_shapes, with_output
from neurochip.train.checkpoint import read_checkpoint, write_checkpoint
from neurochip.train.latent import LatentBinaryNet
from neurochip.train.ste import THRESHOLD, _check_bits, _import_torch, binary_activation
from neurochip.train.shell import Data, TrainerError, command_line, lr_values, out_paths
from neurochip.train.ste_bp_cnn import SpikingCNN

if TYPE_CHECKING:
    import torch

INPUT_SIZE = 28 * 28
INPUT_SHAPE = (28, 28, 1)  # (H, W, C) of a CNN's input stream: address = pixel index
NUM_CLASSES = 10
MODES = ("discontinuous", "continuous")
CHECKPOINT_FORMAT = "neurochip-float-checkpoint"
CHECKPOINT_VERSION = 1
EVAL_BATCH = 1000


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
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[SpikingMLP | SpikingCNN, float]:
    """Train a SpikingMLP (or, with convolutions in ``args.arch_layers``, a SpikingCNN) as
    configured by ``args``; return it and its final test accuracy. With ``validation``
    images, each epoch also reports the accuracy on them."""
    torch = _import_torch()
    from tqdm import tqdm

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    arch = args.arch_layers
    model: SpikingMLP | SpikingCNN
    if arch is not None:
        model = SpikingCNN(with_output(arch, NUM_CLASSES), INPUT_SHAPE, args.weight_bits, generator)
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
        held = ""
        if validation is not None and len(validation[0]):
            v_counts, _ = spiking_inference(model, _pixels(validation[0]), args.mode,
                                            args.time_steps, args.seed)
            held = f"validation accuracy {np.mean(predict(v_counts) == validation[1]):.4f}, "
        print(
            f"epoch {epoch}/{args.epochs}: loss {total_loss / n:.4f}, {held}"
            f"test accuracy {accuracy:.4f} (T={args.time_steps} spiking), "
            f"lr {optimizer.param_groups[0]['lr']:.2e}, {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
    return model, accuracy


def save_checkpoint(path: str | os.PathLike, manifest: dict[str, Any], model: SpikingMLP | SpikingCNN) -> None:
    """Write the float checkpoint (:func:`neurochip.train.checkpoint.write_checkpoint`).

    MLP: ``layer{i}.weight``/``.bias`` for the i-th weight layer; CNN: i is the layer's
    position in the manifest's ``arch`` (pooling layers have no arrays)."""
    prefixes = getattr(model, "array_prefixes", None) or [f"layer{i}" for i in range(len(model.weights))]
    arrays = {}
    for prefix, w, b in zip(prefixes, model.weights, model.biases):
        arrays[f"{prefix}.weight"] = w.detach().numpy().astype(np.float32)
        arrays[f"{prefix}.bias"] = b.detach().numpy().astype(np.float32)
    write_checkpoint(path, manifest, arrays)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], list[np.ndarray], list[np.ndarray]]:
    """Read a float checkpoint: (manifest, latent weights, biases); for a CNN (manifest key
    ``arch``) the weights and biases of its conv and fc layers in order."""
    manifest, arrays = read_checkpoint(path, CHECKPOINT_FORMAT)
    if "arch" in manifest:
        indices = [i for i, _ in weighted_shapes(manifest["arch"], tuple(manifest["input_shape"]))]
    else:
        indices = list(range(len(manifest["layer_sizes"]) - 1))
    return (manifest, [arrays[f"layer{i}.weight"] for i in indices],
            [arrays[f"layer{i}.bias"] for i in indices])


def write_model(ckpt_path: os.PathLike, model_path: os.PathLike) -> None:
    """Quantize the checkpoint into the core description (``neurochip quantize``)."""
    from neurochip.train.quantize import quantize_checkpoint

    quantize_checkpoint(str(ckpt_path), str(model_path))
    print(f"wrote {model_path}", file=sys.stderr)


def _layer_sizes(arch: list[dict[str, Any]]) -> list[int] | None:
    """The hidden sizes of an MLP (``--arch`` of fully connected layers only), else None."""
    if all(layer["type"] == "fc" for layer in arch):
        return [layer["neurons"] for layer in arch]
    return None


class SteBp:
    """``neurochip train ste-bp``: its own options and the STE rule; the rest is the shell's."""

    name = "ste-bp"
    help = ("Yin et al. 2017: back-propagation with binary activations and a straight-through "
            "estimator (an MLP, or a CNN when --arch has convolutions)")
    needs_torch = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        a = parser.add_argument
        a("--mode", choices=MODES, default="discontinuous", help="membrane integration across time steps; CNNs: discontinuous only (default: %(default)s)")
        a("--weight-bits", type=int, default=1, help="weight precision 1..8 (default: %(default)s)")
        a("--time-steps", type=int, default=8, help="time steps T of spiking inference (default: %(default)s)")
        a("--lr-decay", type=float, default=0.95, help="learning-rate factor per epoch (default: %(default)s)")
        a("--dropout", type=float, default=0.2, help="dropout probability on hidden spikes (default: %(default)s)")
        a("--hinge-offset", type=float, default=1.0, help="squared hinge on x − OFFSET: 1 centres the ±1 targets on the firing threshold (default: %(default)s)")
        a("--augment-shift", type=int, default=0, help="random translation of training images by up to this many pixels (default: %(default)s)")

    def check(self, args: argparse.Namespace) -> None:
        _check_bits(args.weight_bits)
        if str(args.arch).strip().lower() == "mlp":
            raise TrainerError("--arch mlp: write the MLP's hidden sizes in the grammar, e.g. "
                               "--arch 1024,1024 (docs/training.md)")
        try:
            arch = parse_arch(args.arch)
        except ArchError as exc:
            raise TrainerError(str(exc)) from None
        if not arch:
            raise TrainerError(f"--arch {args.arch!r}: ste-bp needs at least one hidden layer, "
                               "e.g. --arch 1024,1024")
        args.hidden = _layer_sizes(arch)
        args.arch_layers = None if args.hidden is not None else arch
        if args.arch_layers is not None and args.mode != "discontinuous":
            raise TrainerError(f"--mode {args.mode}: convolutional networks train with "
                               "discontinuous integration only; use --mode discontinuous")
        if args.time_steps < 1 or args.epochs < 1:
            raise TrainerError("--time-steps and --epochs must be at least 1")
        if not 0.0 <= args.dropout < 1.0:
            raise TrainerError(f"--dropout must be in [0, 1), got {args.dropout}")
        args.lr = lr_values(args, None)[0]
        if args.lr_decay <= 0:
            raise TrainerError("--lr-decay must be positive")

    def train(self, args: argparse.Namespace, data: Data) -> int:
        torch = _import_torch()
        arch = args.arch_layers
        if arch is None:
            sizes = "-".join(str(n) for n in [INPUT_SIZE, *args.hidden, NUM_CLASSES])
        else:
            sizes = "x".join(map(str, INPUT_SHAPE)) + "-" + format_arch(with_output(arch)).replace(",", "-")
        print(
            f"ste-bp: training {sizes} ({args.mode}, T={args.time_steps}, {args.weight_bits}-bit weights) "
            f"on {args.data} ({len(data.train_x)} train / {len(data.test_x)} test images), "
            f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}, {torch.get_num_threads()} torch threads"
            f"{' (default; --threads N to change)' if args.threads_default else ''}",
            file=sys.stderr,
        )
        started = time.monotonic()
        model, accuracy = train(args, data.train_x, data.train_y, data.test_x, data.test_y,
                                validation=(data.validation_x, data.validation_y))
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
            # where the data was, so `neurochip quantize` can report on the same test split
            **data.provenance(),
            "epochs": args.epochs,
            "seed": args.seed,
            "threads": torch.get_num_threads(),
            "command": command_line(self.name),
            "float_test_accuracy": accuracy,
        }
        model_path, ckpt_path = out_paths(args)
        save_checkpoint(ckpt_path, manifest, model)
        print(
            f"wrote {ckpt_path}: test accuracy {accuracy:.4f} (T={args.time_steps} spiking, float weights), "
            f"{time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
        write_model(ckpt_path, model_path)
        return 0


TRAINER = SteBp()

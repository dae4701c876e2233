"""The recipes of every shipped model (``models/*.npz``): ``make models`` runs them all.

usage: python models/recipes.py [--data-root DIR] [--out DIR] [--quick] [--list] [MODEL ...]

Each recipe is the exact command line (or lines) that built its models, in the trainer
shell's options (docs/training.md). Run from the repository root. Without MODEL names it
rebuilds all 18 shipped models into ``--out`` (default ``models``; needs the [train] extra
and ``--data-root`` holding ``mnist/`` and ``fashion-mnist/``), printing the wall time of
each recipe. ``--quick`` (``make models QUICK=1``, CI): every recipe on a tiny slice (48
training images of the shipped MNIST sample, 1 epoch) into a temporary folder, then
checks that every model loads and simulates (``neurochip simulate --limit 4``). Which
recipe rebuilds which model, and whether that was checked bit for bit, is in
models/README.md ("Rebuilding the shipped models").
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEUROCHIP = [sys.executable, "-m", "neurochip"]


@dataclass(frozen=True)
class Recipe:
    """Commands (``neurochip`` arguments; ``{mnist}``, ``{fmnist}``, ``{out}`` filled in)
    and the shipped models they write into ``{out}``."""

    name: str
    models: tuple[str, ...]
    steps: tuple[tuple[str, ...], ...]


STE = ("--lr", "2e-3", "--augment-shift", "2", "--hinge-offset", "1", "--seed", "0")
RESTOC = ("--encoder", "rate_deterministic", "--t-win", "1", "--eta-dep", "0.1", "--target-rate",
          "0.05", "--stdp-images", "500", "--epochs", "60", "--readout-decay", "1e-4", "--hidden",
          "256", "--hidden-threshold", "0.5", "--augment-copies", "4", "--validation-images", "1000",
          "--seed", "0", "--threads", "1", "--no-progress", "--json")
STIDI = ("--threads", "1", "--seed", "0", "--validation-images", "1000")
STIDI_CNN = ("--arch", "16c5p2,p2,32c5p2,p2", "--time-steps", "16", "--psp", "ramp",
             "--lr-decay", "0.8", "--batch-size", "16")
# MNIST: 12 epochs; the convolutions at their own rate, 100 (at one common rate of 3 they
# barely learn), the moving average of the shadow weights evaluated and written, the epoch
# kept chosen on the held-out images; the binary network with S4NN's hidden error, the
# 8-bit twin without (each held out more that way; models/README.md, "Convolutions that
# learn")
STIDI_MNIST = ("--epochs", "12", "--lr", "100,100,3", "--average", "0.999", "--keep", "best")
# Fashion-MNIST: the 59,000 non-held-out images 6 times, the learning rate decayed after
# every 30,000; the moving average of the shadow weights is evaluated and written, and the
# epoch with the most held-out images right is kept (models/README.md, "Longer
# Fashion-MNIST training and averaged weights")
STIDI_FASHION = ("--data", "{fmnist}", "--epochs", "6", "--decay-every", "30000", "--lr", "3",
                 "--average", "0.999", "--keep", "best")


def _train(trainer: str, data: str, model: str, *options: str) -> tuple[str, ...]:
    return ("train", trainer, "--data", data, "--out", f"{{out}}/{model}", *options)


RECIPES: tuple[Recipe, ...] = (
    Recipe("ste-bp-mnist-small", ("ste-bp-mnist-small",), (_train(
        "ste-bp", "{mnist}", "ste-bp-mnist-small", "--mode", "discontinuous", "--arch", "64",
        "--time-steps", "4", "--epochs", "30", "--lr-decay", "0.95", "--dropout", "0.1", *STE),)),
    Recipe("ste-bp-mnist-default", ("ste-bp-mnist-default",), (_train(
        "ste-bp", "{mnist}", "ste-bp-mnist-default", "--mode", "discontinuous", "--arch",
        "1024,1024", "--time-steps", "8", "--epochs", "100", "--lr-decay", "0.96", "--dropout",
        "0.3", *STE),)),
    Recipe("ste-bp-mnist-continuous", ("ste-bp-mnist-continuous",), (_train(
        "ste-bp", "{mnist}", "ste-bp-mnist-continuous", "--mode", "continuous", "--arch",
        "256,256", "--time-steps", "8", "--epochs", "30", "--lr-decay", "0.93", "--dropout", "0.1",
        *STE),)),
    # Yin et al.'s binary CNN widened to 32C5-MP2-128C5-MP2-512; --threads 1: float
    # reductions depend on the thread count
    Recipe("ste-bp-mnist-cnn", ("ste-bp-mnist-cnn",), (_train(
        "ste-bp", "{mnist}", "ste-bp-mnist-cnn", "--arch", "32c5,p2,128c5,p2,512", "--time-steps",
        "8", "--epochs", "60", "--lr-decay", "0.95", "--dropout", "0.1", *STE, "--threads", "1"),)),
    # ReStoCNet (Srinivasan & Roy 2019): residual and plain, same depth
    Recipe("restocnet-mnist", ("restocnet-mnist",), (_train(
        "hb-stdp", "{mnist}", "restocnet-mnist", *RESTOC),)),
    Recipe("restocnet-mnist-plain", ("restocnet-mnist-plain",), (_train(
        "hb-stdp", "{mnist}", "restocnet-mnist-plain", "--no-residual", *RESTOC),)),
    Recipe("restocnet-fmnist", ("restocnet-fmnist",), (_train(
        "hb-stdp", "{fmnist}", "restocnet-fmnist", "--train-images", "8000", "--test-images", "1000",
        *RESTOC),)),
    # STiDi-BP single-spike (ttfs): every choice made on the validation images
    Recipe("stidi-bp-mnist-binary", ("stidi-bp-mnist-binary",), (_train(
        "stidi-bp", "{mnist}", "stidi-bp-mnist-binary", *STIDI, *STIDI_CNN, *STIDI_MNIST,
        "--hidden-error", "s4nn", "--weight-bits", "1"),)),
    Recipe("stidi-bp-mnist-8bit", ("stidi-bp-mnist-8bit",), (_train(
        "stidi-bp", "{mnist}", "stidi-bp-mnist-8bit", *STIDI, *STIDI_CNN, *STIDI_MNIST,
        "--weight-bits", "8"),)),
    Recipe("stidi-bp-fmnist-binary", ("stidi-bp-fmnist-binary",), (_train(
        "stidi-bp", "{fmnist}", "stidi-bp-fmnist-binary", *STIDI, *STIDI_FASHION, *STIDI_CNN,
        "--weight-bits", "1"),)),
    Recipe("stidi-bp-fmnist-8bit", ("stidi-bp-fmnist-8bit",), (_train(
        "stidi-bp", "{fmnist}", "stidi-bp-fmnist-8bit", *STIDI, *STIDI_FASHION, *STIDI_CNN,
        "--weight-bits", "8"),)),
    # the S4NN-style anchor: fully connected 784-400-10, instantaneous (step) PSP
    Recipe("stidi-bp-mnist-fc-s4nn", ("stidi-bp-mnist-fc-s4nn",), (_train(
        "stidi-bp", "{mnist}", "stidi-bp-mnist-fc-s4nn", *STIDI, "--arch", "400", "--time-steps",
        "64", "--psp", "step", "--lr", "3", "--lr-decay", "0.85", "--batch-size", "16",
        "--weight-bits", "8", "--epochs", "15"),)),
    # BS4NN's binary fc network (784-600-10, T = 256, step PSP) by the authors' procedure
    # (neurochip/train/bs4nn.py); the options besides the notebook's chosen on the held-out
    # images (models/README.md, "BS4NN as its authors' code has it")
    # Its multi-bit twin (ours): the same rule with 8-bit weights, trained on from the
    # binary network's chosen weights (clip 1 and 5 per layer, θ unchanged in ±1 units)
    # three steps: the binary network from scratch (G30, kept as bs4nn/fmnist-g30), its
    # 8-bit twin trained on from it, then the shipped binary network trained on from the
    # twin, its epoch chosen on the held-out and 10,000 training images together
    Recipe("bs4nn-fmnist-binary", ("bs4nn-fmnist-binary", "bs4nn-fmnist-8bit"), (_train(
        "bs4nn", "{fmnist}", "bs4nn/fmnist-g30", "--threads", "1", "--fact", "1,5",
        "--lr-fact", "0,0", "--init-low=-2.5,-24", "--lr", "0.1,0.1", "--lr-decay", "0.98",
        "--silent-target", "s4nn", "--gamma", "30", "--dead-reset", "0.001", "--weight-bound",
        "5,48", "--epochs", "200"), _train(
        "bs4nn", "{fmnist}", "bs4nn-fmnist-8bit", "--threads", "1", "--start-from",
        "{out}/bs4nn/fmnist-g30.ckpt.npz", "--weight-bits", "8", "--weight-clip", "1,5",
        "--fact", "1,1", "--lr-fact", "0,0", "--lr", "0.01,0.01", "--lr-decay", "0.95",
        "--silent-target", "s4nn", "--gamma", "30", "--epochs", "5"), _train(
        "bs4nn", "{fmnist}", "bs4nn-fmnist-binary", "--threads", "1", "--start-from",
        "{out}/bs4nn-fmnist-8bit.ckpt.npz", "--weight-bits", "1", "--fact", "1,5",
        "--lr-fact", "0,0", "--lr", "0.001,0.001", "--lr-decay", "0.85", "--silent-target",
        "s4nn", "--gamma", "30", "--dead-reset", "0", "--weight-bound", "5,48", "--epochs",
        "20", "--select-train-images", "10000"))),
    # the same-author fc anchors on MNIST (7,000 training images, 1,000 held out): BS4NN's
    # binary network with the Fashion-MNIST recipe's rule and θ chosen on the held-out
    # images, and S4NN's real-valued 784-400-10 network as its code has it (lr 0.2, γ = 3,
    # θ = 100, S4NN's no-spike target and dead-neuron reset), its weights in 8 bits
    Recipe("bs4nn-mnist-binary", ("bs4nn-mnist-binary",), (_train(
        "bs4nn", "{mnist}", "bs4nn-mnist-binary", "--threads", "1", "--fact", "4,5",
        "--lr-fact", "0,0", "--init-low=-2.5,-24", "--lr", "0.1,0.1", "--lr-decay", "0.98",
        "--silent-target", "s4nn", "--gamma", "30", "--dead-reset", "0.001", "--weight-bound",
        "5,48", "--epochs", "200"),)),
    Recipe("s4nn-mnist-8bit", ("s4nn-mnist-8bit",), (_train(
        "bs4nn", "{mnist}", "s4nn-mnist-8bit", "--threads", "1", "--arch", "400",
        "--weight-bits", "8", "--fact", "1,1", "--lr-fact", "0,0", "--lr", "0.2,0.2", "--gamma",
        "3", "--silent-target", "s4nn", "--dead-reset", "0.001", "--epochs", "100"),)),
    # ANN-to-SNN conversion (models/bsnn/recipe.sh runs the study around it): the ReLU
    # ResNet, then its plain-IF and BSNN conversions (percentile 99, chosen on training
    # images 1000-1099, not the test split)
    Recipe("bsnn-fmnist-resnet", ("plain-fmnist-resnet", "bsnn-fmnist-resnet"), (
        _train("ann", "{fmnist}", "bsnn/ann-fmnist-resnet", "--arch", "resnet", "--epochs", "8",
               "--threads", "1"),
        ("convert", "{out}/bsnn/ann-fmnist-resnet.npz", "--data", "{fmnist}", "--percentile", "99",
         "--time-steps", "128", "--phase-steps", "2", "--plain", "{out}/plain-fmnist-resnet.npz",
         "--bsnn", "{out}/bsnn-fmnist-resnet.npz"))),
)

# --quick: every trainer on a tiny slice, 1 epoch (appended: the last value of an option wins)
QUICK_TRAIN = ("--train-images", "48", "--test-images", "16", "--epochs", "1")
QUICK_EXTRA = {
    "ste-bp": ("--validation-images", "8"),
    "stidi-bp": ("--validation-images", "8"),
    "hb-stdp": ("--validation-images", "8", "--stdp-images", "8", "--calib-images", "8",
                "--readout-search-images", "16", "--augment-copies", "0", "--hidden-epochs", "1"),
    "ann": (),
    "bs4nn": ("--validation-images", "8"),
}
QUICK_CONVERT = ("--calibration-images", "16")


def command(step: tuple[str, ...], data_root: Path, out: Path, quick: bool) -> list[str]:
    """The ``neurochip`` argument list of a step, placeholders filled in."""
    fill = {"{mnist}": str(data_root / "mnist"), "{fmnist}": str(data_root / "fashion-mnist")}
    args = [fill.get(a, a).replace("{out}", str(out)) for a in step]
    if quick and args[0] == "train":
        args += [*QUICK_TRAIN, *QUICK_EXTRA[args[1]]]
        if "--select-train-images" in args:  # the slice has 40 training images
            args[args.index("--select-train-images") + 1] = "16"
    elif quick and args[0] == "convert":
        args += list(QUICK_CONVERT)
    return args


def write_quick_data(root: Path) -> Path:
    """``mnist/`` and ``fashion-mnist/`` of the shipped MNIST sample: 192 training and 64
    test images (both folders the same digits: the quick run checks the plumbing only)."""
    from neurochip.datasets import load_sample, write_idx

    images, labels = load_sample()
    for name in ("mnist", "fashion-mnist"):
        folder = root / name
        folder.mkdir(parents=True)
        for prefix, part in (("train", slice(0, 192)), ("t10k", slice(192, 256))):
            write_idx(folder / f"{prefix}-images-idx3-ubyte", images[part])
            write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels[part])
    return root


def check_model(path: Path) -> None:
    """The model loads and simulates on the shipped sample (4 images)."""
    from neurochip.description import load

    load(path)
    run([*NEUROCHIP, "simulate", str(path), "--limit", "4"], f"simulate {path.name}")


def run(argv: list[str], what: str) -> float:
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"recipes.py: {what} failed (exit {done.returncode}): "
                         f"{' '.join(argv[2:])}")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python models/recipes.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", metavar="MODEL", help="shipped model names (default: all)")
    parser.add_argument("--data-root", default="../shared/datasets", help="folder holding mnist/ "
                        "and fashion-mnist/ (default: %(default)s; --quick: a slice of the shipped sample)")
    parser.add_argument("--out", default="models", help="where the models go (default: %(default)s; "
                        "--quick: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="tiny slice, 1 epoch, temporary "
                        "folder; check each model loads and simulates")
    parser.add_argument("--list", action="store_true", help="print recipe and model names and stop")
    args = parser.parse_args(argv)
    known = {m: r for r in RECIPES for m in r.models}
    unknown = [m for m in args.models if m not in known]
    if unknown:
        print(f"recipes.py: error: no recipe for {', '.join(unknown)}; one of "
              f"{', '.join(sorted(known))}", file=sys.stderr)
        return 2
    chosen = [r for r in RECIPES if not args.models or set(r.models) & set(args.models)]
    if args.list:
        for r in chosen:
            print(f"{r.name}: {' '.join(r.models)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="neurochip-recipes-") as tmp:
        data_root, out = Path(args.data_root), Path(args.out)
        if args.quick:
            data_root, out = write_quick_data(Path(tmp) / "data"), Path(tmp) / "models"
        for recipe in chosen:
            seconds = sum(run([*NEUROCHIP, *command(step, data_root, out, args.quick)], recipe.name)
                          for step in recipe.steps)
            print(f"recipes.py: {recipe.name}: {seconds:.0f} s wall", file=sys.stderr, flush=True)
            if args.quick:
                for model in recipe.models:
                    check_model(out / f"{model}.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())

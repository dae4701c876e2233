"""The trainer shell: what every ``neurochip train <trainer>`` shares, in one place.

A trainer (ste-bp, stidi-bp, bs4nn, ann, hb-stdp) is a :class:`Trainer`: a name, a help
line, its own options and its rule. The shell owns the rest:

* the **common options** (:data:`COMMON`): ``--data --out --seed --threads --epochs
  --batch-size --lr --train-images --validation-images --test-images --arch``, with one
  name, meaning and help text everywhere. Where a trainer's algorithm needs another
  default than the others, the one help line lists it for every trainer
  (:data:`TRAINER_DEFAULTS`), so ``--help`` shows each common option identically;
* the **old spellings** (:data:`OLD_SPELLINGS`: ``--batch``, ``--validation``,
  ``--train-limit``, ...) keep working as hidden aliases; each use prints one
  deprecation note naming the new spelling (docs/training.md, "Common options");
* the **checks before any heavy import**: every option and the output path are checked
  before torch, Numba or the data are touched; bad input is one line and exit code 2;
* the **thread setting** (torch and Numba alike, :func:`set_threads`), the **data split**
  (:func:`load_data`: first N training images, the last of those held out for
  validation, first N test images), the **provenance** (:func:`command_line`,
  :func:`split_fingerprint`) and where the model and checkpoint go (:func:`out_paths`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

DEFAULT_DATA = "../shared/datasets/mnist"
TORCH_HINT = "pip install 'neurochip[train]' (PyTorch)"
TRAINER_NAMES = ("ste-bp", "stidi-bp", "bs4nn", "ann", "hb-stdp")


class TrainerError(ValueError):
    """Bad input to a trainer: reported as one line, exit code 2."""


class Trainer(Protocol):
    """One algorithm behind ``neurochip train NAME``."""

    name: str  # the sub-command, one of TRAINER_NAMES
    help: str  # one line for ``neurochip train --help``
    needs_torch: bool

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The trainer's own options (the common ones are the shell's)."""

    def check(self, args: argparse.Namespace) -> None:
        """Check the trainer's own options (raise TrainerError); no heavy import here."""

    def train(self, args: argparse.Namespace, data: "Data") -> int:
        """Run the rule on the split data, write the outputs; return the exit code."""


# ----------------------------------------------------------------------------- options

def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    """Default thread count: half the usable CPUs, at least 1.

    torch's own default (one thread per core) makes its OpenMP workers spin-wait for each
    other at every matrix product; when another process holds one of those cores, every
    product waits for a descheduled worker (a user saw training slow ~30x). Leaving half
    the cores free keeps a trainer robust to that (784-1024-1024-10 on a 2-core machine:
    36 ms/batch with 1 thread, 26 ms with 2 while idle, but 40 ms vs 70 ms with one core
    busy). ``--threads N`` overrides it."""
    return max(1, available_cpus() // 2)


# the common options' defaults where a trainer's algorithm needs its own (listed in --help)
TRAINER_DEFAULTS: dict[str, dict[str, Any]] = {
    "ste-bp": {"epochs": 30, "batch_size": 100, "lr": "1e-3", "arch": "1024,1024"},
    "stidi-bp": {"epochs": 10, "batch_size": 16, "lr": "0.1", "arch": "16c5p2,p2,32c5p2,p2"},
    "bs4nn": {"epochs": 200, "batch_size": 1, "lr": "0.1,0.1", "arch": "600",
              "validation_images": 1000},
    "ann": {"epochs": 3, "batch_size": 64, "lr": "2e-3", "arch": "resnet"},
    "hb-stdp": {"epochs": 60, "batch_size": 100, "lr": "3e-3", "arch": "fixed"},
}


@dataclass(frozen=True)
class CommonOption:
    """One common option: the same flag, metavar, type and meaning in every trainer."""

    flag: str
    metavar: str
    type: Callable[[str], Any] | None
    meaning: str
    default: Any = None  # the shared default, or None where TRAINER_DEFAULTS has it
    required: bool = False

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")

    def help(self) -> str:
        """The help text: the meaning and every trainer's default, identical everywhere."""
        if self.required:
            return f"{self.meaning} (required)"
        if self.default is not None:
            shared = self.default
            special = [f"{n} {d[self.dest]}" for n, d in TRAINER_DEFAULTS.items() if self.dest in d]
            return f"{self.meaning} (default: {shared}{'; ' if special else ''}{', '.join(special)})"
        per = [f"{n} {d[self.dest]}" for n, d in TRAINER_DEFAULTS.items()]
        return f"{self.meaning} (default: {', '.join(per)})"


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; use 0 or more")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: use 1 or more")
    return value


COMMON: tuple[CommonOption, ...] = (
    CommonOption("--data", "DIR", None, "folder with the MNIST-format IDX files "
                 "(train-/t10k-images-idx3-ubyte[.gz] and labels)", DEFAULT_DATA),
    CommonOption("--out", "PREFIX", None, "output prefix: PREFIX.npz is the model (ann: the "
                 "float ANN for `neurochip convert`), PREFIX.ckpt.npz the float checkpoint of "
                 "the trainers that keep one; a trailing .npz is dropped", required=True),
    CommonOption("--seed", "N", _count, "seed of every random draw of the run", 0),
    CommonOption("--threads", "N", _positive, "torch and Numba CPU threads; the count used is "
                 "printed and recorded. torch's own one-per-core spin-waits, so training slows "
                 "many times over when another process holds a core: --threads 1 on a shared "
                 "machine, --threads $(nproc) on an idle one",
                 f"half the usable CPUs, at least 1: here {default_threads()}"),
    CommonOption("--epochs", "N", _count, "passes over the training images (hb-stdp: of its "
                 "readout)"),
    CommonOption("--batch-size", "N", _positive, "training images per update (hb-stdp: of its "
                 "readout; bs4nn: per-sample SGD, 1 only)"),
    CommonOption("--lr", "RATE", None, "learning rate: one value, or one per weighted layer "
                 "comma-separated where the trainer takes that (stidi-bp, bs4nn); ste-bp, ann: "
                 "Adam's; hb-stdp: its readout's Adam"),
    CommonOption("--train-images", "N", _count, "use the first N images of the train split "
                 "(0: all); the validation images are the last of these", 0),
    CommonOption("--validation-images", "N", _count, "hold out the last N training images and "
                 "report accuracy on them, for choices made without the test split", 0),
    CommonOption("--test-images", "N", _count, "evaluate on the first N images of the test "
                 "split (0: all)", 0),
    CommonOption("--arch", "LAYERS", None, "the layers before the 10-class output in the "
                 "architecture grammar of docs/training.md (e.g. 16c5p2,p2,32c5p2,p2,128: "
                 "16c5p2 a 5x5 convolution of 16 channels padded by 2, p2 a 2x2 pool, 128 a fully "
                 "connected layer), or a named network (ste-bp: cnn; ann: resnet, vgg); "
                 "hb-stdp: fixed, set by --channels --kernels --residual --hidden"),
)
COMMON_FLAGS = tuple(o.flag for o in COMMON)
COMMON_TITLE = "common options (every trainer, same meaning; docs/training.md)"

# old spelling -> (trainers that had it, new spelling)
OLD_SPELLINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "--batch": (("stidi-bp",), "--batch-size"),
    "--train-limit": (("stidi-bp",), "--train-images"),
    "--test-limit": (("stidi-bp", "bs4nn"), "--test-images"),
    "--validation": (("stidi-bp", "bs4nn"), "--validation-images"),
    "--hidden": (("ste-bp", "bs4nn"), "--arch"),
    "--readout-epochs": (("hb-stdp",), "--epochs"),
    "--readout-lr": (("hb-stdp",), "--lr"),
}


class _OldSpelling(argparse.Action):
    """A hidden alias: stores into the new option's place and prints one note."""

    def __call__(self, parser, namespace, values, option_string=None):
        new = OLD_SPELLINGS[option_string][1]
        print(f"neurochip: note: {option_string} is the old spelling of {new}; it still works, "
              f"but write {new} (docs/training.md)", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_common_arguments(parser: argparse.ArgumentParser, trainer: str) -> None:
    """The common options (one group, listed first) and the trainer's old spellings."""
    group = parser.add_argument_group(COMMON_TITLE)
    defaults = TRAINER_DEFAULTS[trainer]
    for option in COMMON:
        default = defaults.get(option.dest, option.default)
        if option.dest == "threads":
            default = None
        kwargs: dict[str, Any] = {"metavar": option.metavar, "help": option.help(),
                                  "default": default}
        if option.type is not None:
            kwargs["type"] = option.type
        if option.required:
            kwargs["required"] = True
        group.add_argument(option.flag, **kwargs)
    for old, (trainers, new) in OLD_SPELLINGS.items():
        if trainer in trainers:
            option = next(o for o in COMMON if o.flag == new)
            parser.add_argument(old, dest=option.dest, type=option.type or str,
                                action=_OldSpelling, help=argparse.SUPPRESS)


def add_trainer_arguments(trainer: Trainer, parser: argparse.ArgumentParser) -> None:
    """Every option of ``neurochip train NAME``: the common group first, then the trainer's."""
    add_common_arguments(parser, trainer.name)
    trainer.add_arguments(parser.add_argument_group(f"{trainer.name} options"))


def common_help() -> str:
    """The common options' section of ``--help``, as every trainer's ``--help`` shows it."""
    parser = argparse.ArgumentParser(prog="neurochip train TRAINER", add_help=False)
    add_common_arguments(parser, TRAINER_NAMES[0])
    text = parser.format_help()
    return text[text.index(COMMON_TITLE):].rstrip() + "\n"


def lr_values(args: argparse.Namespace, layers: int | None) -> list[float]:
    """``--lr`` as floats: one value (``layers`` None: exactly one), or one per weighted layer."""
    try:
        values = [float(v) for v in str(args.lr).split(",")]
    except ValueError:
        values = []
    if len(values) == 1 and layers is not None:
        values = values * layers
    want = 1 if layers is None else layers
    if len(values) != want or not all(np.isfinite(v) and v > 0 for v in values):
        what = "one positive number" if layers is None else \
            f"one positive number or {layers}, comma-separated (one per weighted layer)"
        raise TrainerError(f"--lr {str(args.lr)!r}: give {what}")
    return values


# ----------------------------------------------------------------------------- running

def out_prefix(args: argparse.Namespace) -> Path:
    """``--out`` without a trailing ``.npz``."""
    return Path(str(args.out).removesuffix(".npz"))


def out_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """(model PREFIX.npz, checkpoint PREFIX.ckpt.npz)."""
    prefix = out_prefix(args)
    return prefix.with_name(prefix.name + ".npz"), prefix.with_name(prefix.name + ".ckpt.npz")


def _check_outputs(args: argparse.Namespace) -> None:
    from neurochip.cli.plot import check_creatable

    for path in out_paths(args):
        check_creatable(path, "--out")


def run_trainer(trainer: Trainer, args: argparse.Namespace) -> int:
    """Check everything, import torch if needed, set the threads, load and split the data,
    then train. Bad input anywhere before training: one line on stderr, exit code 2."""
    try:
        _check_outputs(args)
        trainer.check(args)
        if trainer.needs_torch:
            require_torch(trainer.name)
        args.threads_default = args.threads is None
        args.threads = default_threads() if args.threads is None else args.threads
        set_threads(args.threads)
        data = load_data(args)
    except (TrainerError, ValueError, OSError) as exc:
        print(f"neurochip: error: {exc}", file=sys.stderr)
        return 2
    return trainer.train(args, data)


def require_torch(trainer: str) -> Any:
    """torch, or a TrainerError naming the install command."""
    try:
        import torch
    except ImportError:
        raise TrainerError(f"the {trainer} trainer needs PyTorch, which is not installed: "
                           f"{TORCH_HINT}") from None
    return torch


def set_threads(threads: int) -> None:
    """The CPU threads of Numba and torch (if installed). Numba first: starting its
    threading layer resets the OpenMP thread count that torch reads."""
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- data

@dataclass
class Data:
    """The split a trainer sees: training, validation (held out of training) and test."""

    folder: str
    train_x: np.ndarray
    train_y: np.ndarray
    validation_x: np.ndarray
    validation_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    def provenance(self) -> dict[str, Any]:
        """Where the data came from, the identity of each split and the software that
        trains on it (:func:`environment`)."""
        return {"environment": environment(),
                "dataset": Path(os.path.normpath(self.folder)).name, "data_dir": self.folder,
                "data_dir_resolved": str(Path(self.folder).resolve()),
                "train_images": int(len(self.train_x)),
                "validation_images": int(len(self.validation_x)),
                "test_images": int(len(self.test_x)),
                "test_split_sha256": split_fingerprint(self.test_x, self.test_y)}


def environment() -> dict[str, Any]:
    """The library versions and thread count a float reduction's result depends on: the
    same code and options reproduce a model bit for bit only with these equal (models
    shipped before this was recorded are not reproduced here; models/README.md)."""
    import platform

    import numba
    import numpy

    env: dict[str, Any] = {"python": platform.python_version(), "numpy": numpy.__version__,
                           "numba": numba.__version__, "machine": platform.machine()}
    torch = sys.modules.get("torch")  # only a trainer that imported it depends on it
    if torch is not None:
        env |= {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    return env


def load_data(args: argparse.Namespace) -> Data:
    """``--data`` split by ``--train-images``, ``--validation-images`` and ``--test-images``."""
    from neurochip.datasets import load_split

    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "test")
    if train_x.shape[1:] != (28, 28) or test_x.shape[1:] != (28, 28):
        raise TrainerError(f"--data {args.data}: images must be 28x28")
    if args.train_images:
        train_x, train_y = train_x[:args.train_images], train_y[:args.train_images]
    if args.test_images:
        test_x, test_y = test_x[:args.test_images], test_y[:args.test_images]
    held = args.validation_images
    if held >= len(train_x):
        raise TrainerError(f"--validation-images {held} leaves no training image of "
                           f"{len(train_x)}; hold out fewer")
    cut = len(train_x) - held
    return Data(str(args.data), train_x[:cut], train_y[:cut], train_x[cut:], train_y[cut:],
                test_x, test_y)


def split_fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of a split's decoded images (shape and bytes) and labels: the identity of the
    data whatever its file names, compression or folder. Checkpoints record it for the test
    split so the quantizer and the converter can tell whether a folder holds the same data."""
    h = hashlib.sha256(repr((tuple(images.shape), str(images.dtype), len(labels))).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()


def command_line(trainer: str) -> str:
    """The command that started this run, shell-quoted so that it can be pasted back."""
    argv = sys.argv
    if trainer in argv:
        return shlex.join(["neurochip", "train", trainer, *argv[argv.index(trainer) + 1:]])
    return shlex.join([Path(argv[0]).name, *argv[1:]])

"""What one benchmark run does: images per implementation, repetitions, models, peers.
Two presets: full (``make bench``) and quick (``make bench QUICK=1``, under a minute)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
DEFAULT_MODEL = MODELS / "ste-bp-mnist-default.npz"
SMALL_MODEL = MODELS / "ste-bp-mnist-small.npz"
MNIST_DIR = ROOT.parent / "shared" / "datasets" / "mnist"
CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results"
BRIAN2_VENV_PYTHON = CACHE / "brian2-venv" / "bin" / "python"
PEERS = ("numpy", "snntorch", "brian2", "verilator")


@dataclass
class BenchConfig:
    mode: str  # full | quick
    model: Path = DEFAULT_MODEL
    data: Path | None = MNIST_DIR  # IDX folder (test split); None: the shipped 256-image sample
    images: int = 0  # neurochip's images (0: all of the data)
    reps: int = 7  # neurochip repetitions
    peer_reps: int = 3  # repetitions of the slower peers
    workers: int = 2  # the multi-worker neurochip row
    numpy_images: int = 64
    snntorch_b1_images: int = 256
    snntorch_batch: int = 128
    snntorch_batch_images: int = 0  # 0: all images
    torch_threads: int = 1
    brian2_images: int = 256
    brian2_target: str = "cython"
    brian2_python: str | None = None  # interpreter with a working brian2 (else auto)
    verilator_images: int = 256
    verilator_model: Path = DEFAULT_MODEL
    verilator_jobs: int = 2
    verilator_reps: int = 3
    peers: tuple[str, ...] = PEERS
    scaling: bool = True
    cli_check: bool = True  # also run `neurochip simulate --workers W --json` (W = 1, workers)
    in_process: bool = False  # run tasks in this process (tests); no per-row memory
    out: Path = RESULTS
    stem: str = "latest"
    task_timeout: float = 3600.0
    cache: Path = CACHE


def full() -> BenchConfig:
    return BenchConfig(mode="full", data=MNIST_DIR if MNIST_DIR.is_dir() else None)


def quick() -> BenchConfig:
    """Under a minute on a fresh clone: the shipped sample, few images and repetitions,
    Brian2's numpy target (cython's first compile alone takes minutes), and the small
    model for the Verilator row (the default model's first Verilator build takes ~40 s)."""
    return replace(full(), mode="quick", data=None, reps=5, peer_reps=3, numpy_images=8,
                   snntorch_b1_images=32, snntorch_batch_images=256, brian2_images=16,
                   brian2_target="numpy", verilator_images=16, verilator_model=SMALL_MODEL,
                   verilator_reps=2,
                   scaling=False, cli_check=False, stem="quick", task_timeout=300.0)

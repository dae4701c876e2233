"""What one benchmark run does: images per implementation, repetitions, models, peers.
Two presets: full (``make bench``) and quick (``make bench QUICK=1``, ~1 min)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
DEFAULT_MODEL = MODELS / "ste-bp-mnist-default.npz"
SMALL_MODEL = MODELS / "ste-bp-mnist-small.npz"
# The convolutional network (Yin et al.: 28×28 → 12C5 → OR-pool2 → 64C5 → OR-pool2 → 512 →
# 10). Until this trained file exists the CNN rows use bench.cnn's synthetic stand-in of the
# same topology, and say so; switching is this one line (or --cnn-model PATH).
CNN_MODEL = MODELS / "ste-bp-mnist-cnn.npz"
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
    # alternating 1- and N-worker rounds for the workers speed-up (and as many for its
    # process ceiling): on a shared VM the rounds fall into fast and slow spells, and 7
    # rounds (the rows' own) left the median at the mercy of which spell came more often
    workers_rounds: int = 21
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
    # the CNN rows: 'auto' = CNN_MODEL if it exists, else the synthetic stand-in;
    # 'synthetic'; 'none' (no CNN rows); or the path of a core description
    cnn_model: str = "auto"
    cnn_images: int = 256  # neurochip's CNN images (0: all of the data)
    cnn_workers: bool = True  # also the multi-worker neurochip row on the CNN
    cnn_numpy_images: int = 4  # the reference walks every touched position in Python
    cnn_numpy_reps: int = 0  # 0: peer_reps
    cnn_snntorch_b1_images: int = 256
    cnn_snntorch_batch_images: int = 0  # 0: all CNN images; < 0: no batch row
    cnn_brian2_images: int = 64
    # numpy: on the CNN faster than cython (0.17 vs 0.30 s/image measured on 2 cores) and
    # without cython's first compile of its ~30 code objects (~5 min)
    cnn_brian2_target: str = "numpy"
    cnn_verilator_images: int = 16  # 0: no Verilator row on the CNN
    scaling: bool = True
    # every shipped model: sim ÷ chip time, the functional-only ceiling, snnTorch batch B
    per_model: bool = True
    per_model_models: tuple[str, ...] = ()  # model stems (empty: all shipped)
    per_model_seconds: float = 2.0  # about this much simulation per repetition
    per_model_min_images: int = 128  # at least one snnTorch batch
    per_model_max_images: int = 1000
    per_model_reps: int = 5
    cli_check: bool = True  # also run `neurochip simulate --workers W --json` (W = 1, workers)
    in_process: bool = False  # run tasks in this process (tests); no per-row memory
    out: Path = RESULTS
    stem: str = "latest"
    task_timeout: float = 3600.0
    cache: Path = CACHE


def full() -> BenchConfig:
    return BenchConfig(mode="full", data=MNIST_DIR if MNIST_DIR.is_dir() else None)


def quick() -> BenchConfig:
    """About a minute on a fresh clone: the shipped sample, few images and repetitions,
    Brian2's numpy target (cython's first compile alone takes minutes), the small model
    for the Verilator row (the default model's first Verilator build takes ~40 s), and a
    slice of the CNN rows (neurochip, NumPy reference, snnTorch batch 1, Brian2)."""
    return replace(full(), mode="quick", data=None, reps=5, peer_reps=3, numpy_images=8,
                   snntorch_b1_images=32, snntorch_batch_images=256, brian2_images=16,
                   brian2_target="numpy", verilator_images=16, verilator_model=SMALL_MODEL,
                   verilator_reps=2,
                   # a slice of the CNN rows: few images, no workers/batch/Verilator rows
                   cnn_images=32, cnn_workers=False, cnn_numpy_images=1, cnn_numpy_reps=1,
                   cnn_snntorch_b1_images=8, cnn_snntorch_batch_images=-1,
                   cnn_brian2_images=4, cnn_verilator_images=0,
                   scaling=False, per_model=False, cli_check=False, stem="quick",
                   workers_rounds=5,
                   task_timeout=300.0)

"""Helpers for tasks: reading the workload slice a job asks for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.netspec import NetSpec, load_workload
from bench.protocol import Job


@dataclass
class Batch:
    """The images of one job: network, encoded spikes, raw pixels and dataset indices."""

    spec: NetSpec
    spikes: np.ndarray  # (n, T, P) uint8, exactly what the chip's host sends (§11)
    images: np.ndarray  # (n, P) uint8
    indices: np.ndarray  # (n,) int64, positions in the dataset split (seed the encoder)

    @property
    def n(self) -> int:
        return int(len(self.spikes))


def load_batch(job: Job, synapses: bool = False) -> Batch:
    """The job's images; ``synapses``: also the explicit synapse lists (Brian2)."""
    spec, spikes, arrays = load_workload(Path(job.workload), synapses=synapses)
    n = job.images or len(spikes)
    return Batch(spec, spikes[:n], arrays["images"][:n], arrays["indices"][:n])


def out_path(job: Job, stem: str) -> Path:
    path = Path(job.out_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path / f"{stem}.npz"


@dataclass(frozen=True)
class Declined:
    """A peer's "cannot run this neuron model or kind", with the reason shown in reports
    (duck-typed like neurochip.backends.NotExpressible: peers import no neurochip)."""

    reason: str


TTFS_WHY = ("the single-spike ttfs neuron (§6.1: a current register I ramping the membrane "
            "V, a fired bit) has no {peer} neuron here; the chip-equivalence suite checks it "
            "against the NumPy reference and the RTL instead")

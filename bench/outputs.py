"""What a benchmark peer produced for a batch, and its exact comparison with neurochip.

``Outputs`` is the subset of ``neurochip.observe.Observation`` a peer can report, with
the same ``.npz`` field names, for peers that must not import neurochip (Brian2 runs in its
own environment). The comparison is neurochip's one comparator
(``neurochip.observe.compare``), summarised per field: every field is optional except
predictions and counts, every field both sides have is checked with no tolerance, and the
first difference is named."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

# (field, what it means in a report), in the order they are checked
FIELDS: tuple[tuple[str, str], ...] = (
    ("predictions", "predictions"),
    ("counts", "output spike counts"),
    ("spikes", "spike trains of every layer"),
    ("membranes", "final membranes"),
    ("cycles", "cycles"),
    ("core_counters", "event counters"),
    ("chip_counters", "chip counters"),
)


@dataclass
class Outputs:
    """Per-image results stacked over a batch of n images."""

    predictions: np.ndarray  # (n,)
    counts: np.ndarray  # (n, classes)
    spikes: np.ndarray | None = None  # (n, T, total neurons) uint8, layers concatenated
    membranes: np.ndarray | None = None  # (n, total neurons)
    cycles: np.ndarray | None = None  # (n,)
    core_counters: np.ndarray | None = None  # (n, layers, 12)
    chip_counters: np.ndarray | None = None  # (n, 3)

    @property
    def images(self) -> int:
        return int(len(self.predictions))

    def head(self, n: int) -> "Outputs":
        """The first n images (peers that run fewer images compare against this)."""
        return Outputs(**{f.name: (None if getattr(self, f.name) is None
                                   else getattr(self, f.name)[:n]) for f in fields(self)})

    def save(self, path: Path) -> None:
        np.savez(path, **{f.name: getattr(self, f.name) for f in fields(self)
                          if getattr(self, f.name) is not None})

    @classmethod
    def load(cls, path: Path) -> "Outputs":
        with np.load(path, allow_pickle=False) as z:
            return cls(**{k: z[k] for k in z.files})


@dataclass
class Match:
    """Result of comparing a peer with neurochip on the same images."""

    images: int
    compared: list[str]  # field names checked
    differing_images: int  # images where any compared field differs
    per_field: dict[str, int] = field(default_factory=dict)  # field -> differing images
    first: str = ""  # the first difference, in words

    @property
    def identical(self) -> bool:
        return self.differing_images == 0 and bool(self.compared)

    def summary(self) -> str:
        if not self.compared:
            return "not compared (no outputs)"
        what = ", ".join(dict(FIELDS)[f] for f in self.compared)
        if self.identical:
            return f"identical ({what}; {self.images} images)"
        bad = ", ".join(f"{dict(FIELDS)[f]} in {k}" for f, k in self.per_field.items() if k)
        return f"DIFFERS in {self.differing_images} of {self.images} images ({bad})"

    def to_json(self) -> dict:
        return {"identical": self.identical, "images": self.images, "compared": self.compared,
                "differing_images": self.differing_images, "per_field": self.per_field,
                "first_difference": self.first, "summary": self.summary()}


def compare(reference, peer, timed_images: int | None = None) -> Match:
    """Compare ``peer`` with the first ``peer.images`` images of ``reference`` (an
    ``neurochip.observe.Observation``), exactly, with neurochip's one comparator.

    ``timed_images``: how many images the peer's row was timed on; outputs for fewer (a
    peer that stopped early) count as a difference, never as a smaller identical check."""
    from neurochip.observe import Observation, compare as exact

    n = peer.images
    if n > reference.images:
        raise ValueError(f"peer has {n} images, the reference only {reference.images}")
    if timed_images is not None and n != timed_images:
        return Match(timed_images, ["predictions"], timed_images, {"predictions": timed_images},
                     f"peer returned outputs for {n} images, its row was timed on "
                     f"{timed_images}")
    if not isinstance(peer, Observation):
        peer = Observation(**{name: getattr(peer, name) for name, _ in FIELDS},
                           neuron_offsets=reference.neuron_offsets,
                           layer_names=reference.layer_names)
    result = exact(reference, peer, limit=1, labels=("neurochip", "peer"),
                   fields_=tuple(name for name, _ in FIELDS))
    return Match(n, result.compared, result.differing_images, result.per_field(), result.first)

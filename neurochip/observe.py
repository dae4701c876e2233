"""What the chip produced for a batch of images, and the one exact comparison.

Every implementation of the chip (the golden reference, the Numba simulator, the RTL read
back by the testbench, the benchmark's peers) reports an :class:`Observation`; the
simulator's ``SimulationResult`` is one with its wall time. :func:`compare` checks every
field both sides have, with no tolerance, and names each difference by image, quantity,
layer, neuron and time step; ``neurochip verify``, the tests and ``make bench`` all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from neurochip.counters import CHIP_COUNTERS, CORE_COUNTERS

# (field, words), in the order they are compared and reported; the state words the neuron
# models declare (neurochip.neurons.state_fields, in ``Observation.states``) follow
# "membranes"
FIELDS: tuple[tuple[str, str], ...] = (
    ("done", "done status"),
    ("predictions", "prediction"),
    ("counts", "output spike count"),
    ("cycles", "cycles"),
    ("chip_counters", "chip counter"),
    ("core_counters", "counter"),
    ("membranes", "final membrane"),
    ("spikes", "spike"),
)


def all_fields() -> tuple[tuple[str, str], ...]:
    """FIELDS with every declared state word after "membranes"."""
    from neurochip.neurons import state_fields

    at = [name for name, _ in FIELDS].index("membranes") + 1
    return FIELDS[:at] + tuple((w.name, w.words) for w in state_fields()) + FIELDS[at:]


def state_names() -> tuple[str, ...]:
    from neurochip.neurons import state_fields

    return tuple(w.name for w in state_fields())


@dataclass
class Observation:
    """Per-image results stacked over a batch of n images. Only ``predictions`` and
    ``counts`` are required; an implementation that cannot see a quantity leaves it None.
    Layer l owns columns ``neuron_offsets[l]:neuron_offsets[l + 1]`` of ``membranes`` and
    ``spikes``."""

    predictions: np.ndarray  # (n,)
    counts: np.ndarray  # (n, classes), output spike counts
    cycles: np.ndarray | None = None  # (n,) cycles_per_image
    core_counters: np.ndarray | None = None  # (n, layers, len(CORE_COUNTERS))
    chip_counters: np.ndarray | None = None  # (n, len(CHIP_COUNTERS))
    membranes: np.ndarray | None = None  # (n, total neurons), after the last step
    spikes: np.ndarray | None = None  # (n, T, total neurons) uint8
    done: np.ndarray | None = None  # (n,) the chip's done flag after the image (1)
    neuron_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    layer_names: tuple[str, ...] = ()
    # declared state word name -> (n, total neurons), after the last step; 0 in the columns
    # of layers whose model lacks the word (e.g. "potentials": ttfs V, §6.1)
    states: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def images(self) -> int:
        return int(len(self.predictions))

    def layer_membranes(self, image: int, layer: int) -> np.ndarray:
        return self.membranes[image, self.neuron_offsets[layer]:self.neuron_offsets[layer + 1]]

    def layer_spikes(self, image: int, layer: int) -> np.ndarray:
        assert self.spikes is not None, "spike trains were not recorded (record_spikes=True)"
        return self.spikes[image, :, self.neuron_offsets[layer]:self.neuron_offsets[layer + 1]]

    def value(self, name: str) -> np.ndarray | None:
        """Field ``name`` of :func:`all_fields`: an attribute, or a declared state word."""
        if name in self.states or name in state_names():
            return self.states.get(name)
        return getattr(self, name)

    def counter(self, name: str) -> np.ndarray:
        """One core counter, (n, layers)."""
        return self.core_counters[:, :, CORE_COUNTERS.index(name)]

    def chip_counter(self, name: str) -> np.ndarray:
        """One chip counter, (n,)."""
        return self.chip_counters[:, CHIP_COUNTERS.index(name)]

    def head(self, n: int) -> "Observation":
        """The first n images."""
        return replace(self, **{name: getattr(self, name)[:n] for name, _ in FIELDS
                                if getattr(self, name) is not None},
                       states={name: v[:n] for name, v in self.states.items()})

    def arrays(self) -> dict[str, np.ndarray]:
        out = {name: self.value(name) for name, _ in all_fields()
               if self.value(name) is not None}
        out["neuron_offsets"] = np.asarray(self.neuron_offsets, dtype=np.int64)
        return out

    def save(self, path: str | Path) -> None:
        np.savez(path, **self.arrays(),
                 layer_names=np.array(self.layer_names if self.layer_names else [""]))

    @classmethod
    def load(cls, path: str | Path, like: "Observation | None" = None) -> "Observation":
        """Read a saved observation (or a peer's ``.npz`` with the same field names); the
        layer layout comes from the file or, for peers that do not know it, from ``like``."""
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        names = tuple(str(x) for x in data.pop("layer_names", [])) if "layer_names" in data else ()
        offsets = data.pop("neuron_offsets", None)
        if like is not None:
            names = names if any(names) else like.layer_names
            offsets = like.neuron_offsets if offsets is None else offsets
        known = {f.name for f in fields(cls)} - {"states"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   neuron_offsets=np.zeros(1, np.int64) if offsets is None else offsets,
                   layer_names=names if any(names) else (),
                   states={k: v for k, v in data.items() if k in state_names()})


@dataclass(frozen=True)
class Mismatch:
    """One difference: ``expected`` is the reference side's value, ``actual`` the other's."""

    image: int
    what: str
    expected: int
    actual: int
    layer: str | None = None
    neuron: int | None = None
    step: int | None = None
    labels: tuple[str, str] = ("simulator", "RTL")

    def __str__(self) -> str:
        where = [f"image {self.image}"]
        if self.layer is not None:
            where.append(f"layer {self.layer}")
        if self.neuron is not None:
            where.append(f"neuron {self.neuron}")
        if self.step is not None:
            where.append(f"step {self.step}")
        return (f"{', '.join(where)}: {self.what}: {self.labels[0]} {self.expected}, "
                f"{self.labels[1]} {self.actual}")

    def to_json(self) -> dict:
        out = {"image": self.image, "what": self.what, "expected": self.expected,
               "actual": self.actual}
        for key in ("layer", "neuron", "step"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class Comparison:
    """The outcome of :func:`compare`: which fields were compared, which images differ in
    each, how many values differ in all, and the first differences in detail."""

    images: int
    compared: list[str]
    differing: dict[str, np.ndarray]  # field -> (images,) bool
    count: int  # differing values, all fields
    mismatches: list[Mismatch]  # the first ``limit`` of them, image by image
    first: str = ""

    @property
    def identical(self) -> bool:
        return self.count == 0 and bool(self.compared)

    @property
    def differing_images(self) -> int:
        if not self.differing:
            return 0
        return int(np.logical_or.reduce(list(self.differing.values())).sum())

    def per_field(self) -> dict[str, int]:
        return {k: int(v.sum()) for k, v in self.differing.items()}


def _locate(obs: Observation, name: str, index: tuple[int, ...]) -> dict:
    """Layer, neuron, step and wording of element ``index`` (image excluded) of a field."""
    names = obs.layer_names
    if name == "counts":
        return {"layer": names[-1] if names else None, "neuron": index[0]}
    if name == "chip_counters":
        return {"what": f"chip counter {CHIP_COUNTERS[index[0]]}"}
    if name == "core_counters":
        return {"what": f"counter {CORE_COUNTERS[index[1]]}",
                "layer": names[index[0]] if names else str(index[0])}
    if name in ("membranes", "spikes") + state_names():
        col = index[-1]
        layer = int(np.searchsorted(obs.neuron_offsets, col, side="right") - 1)
        out = {"layer": names[layer] if names else str(layer),
               "neuron": int(col - obs.neuron_offsets[layer])}
        if name == "spikes":
            out["step"] = index[0]
        return out
    return {}


def compare(expected: Observation, actual: Observation, limit: int | None = 1000,
            labels: tuple[str, str] = ("simulator", "RTL"),
            fields_: tuple[str, ...] | None = None) -> Comparison:
    """Compare ``actual`` with the first ``actual.images`` images of ``expected``, exactly,
    on every field both have (or ``fields_``). A field whose shapes differ counts as
    differing on every image."""
    n = actual.images
    if n > expected.images:
        raise ValueError(f"{labels[1]} has {n} images, {labels[0]} only {expected.images}")
    ref = expected.head(n)
    compared, differing, diffs = [], {}, {}
    count = 0
    first = ""
    for name, words in all_fields():
        if fields_ is not None and name not in fields_:
            continue
        a, b = ref.value(name), actual.value(name)
        if a is None or b is None:
            continue
        compared.append(name)
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            differing[name] = np.ones(n, dtype=bool)
            count += n
            first = first or f"{words}: shape {b.shape} in {labels[1]}, {a.shape} in {labels[0]}"
            continue
        diff = a.reshape(n, -1) != b.reshape(n, -1)
        differing[name] = diff.any(axis=1)
        count += int(diff.sum())
        diffs[name] = (a, b, diff)
    mismatches: list[Mismatch] = []
    bad_images = np.flatnonzero(np.logical_or.reduce(list(differing.values()))) if differing else []
    for i in bad_images:
        for name, (a, b, diff) in diffs.items():
            for j in np.flatnonzero(diff[i]):
                if limit is not None and len(mismatches) >= limit:
                    break
                index = tuple(int(x) for x in np.unravel_index(j, a.shape[1:]))
                where = {"what": dict(all_fields())[name], **_locate(ref, name, index)}
                mismatches.append(Mismatch(int(i), where.pop("what"), int(a[i].flat[j]),
                                           int(b[i].flat[j]), labels=labels, **where))
    if mismatches and not first:
        first = str(mismatches[0])
    return Comparison(n, compared, differing, count, mismatches, first)

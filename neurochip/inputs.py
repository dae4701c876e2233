"""What a model's input comes from, for every command that runs images through a chip.

A model whose encoder is a pixel encoder (§11) takes images: an IDX folder, or the MNIST
test sample shipped with neurochip. A model with event input (§11.2) takes per-step event
counts in its own address order, from

* an **N-MNIST folder** (``Train/`` and ``Test/``, ``<label>/<id>.bin``): binned into steps
  of ``window_us`` µs (default 1,000, the NIR paper's 1 ms frames) as tonic's ``ToFrame``
  bins them (``neurochip.events.nmnist``); the model's ``input.shape`` (H, W, 2) is the
  sensor; the events of a recording's last, incomplete window and of steps past T are
  dropped and counted;
* a **dense ``.npz``** (``counts`` (samples, T', C, H, W), ``labels``): steps past the
  model's T are dropped and counted, a shorter recording is followed by silent steps;
* nothing: the shipped MNIST sample moved along saccades by neurochip's own N-MNIST-like
  generator (``neurochip.events.saccades``), for a model whose input is (H, W, 2).

An address that receives more than 255 events in one step is refused (§11.2): pass a
shorter ``window_us``. Memory is bounded: N-MNIST folders are read ``chunk`` samples at a
time (:func:`iter_inputs`), dense files within ``neurochip.events.MAX_COUNT_BYTES``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurochip.description import MAX_EVENT_COUNT, CoreDescription
from neurochip.events.nmnist import SPLIT_FOLDERS, EventError

DEFAULT_WINDOW_US = 1000
CHUNK = 64  # N-MNIST samples binned at a time


class InputError(ValueError):
    """Data that does not fit the model or its format: one line naming the fix."""


@dataclass
class Inputs:
    """A batch of a model's inputs: pixels (n, ...) or event counts (n, T, P) uint8."""

    data: np.ndarray
    labels: np.ndarray
    source: str
    dropped_events: int = 0  # event input: events past the model's last step
    start: int = 0  # position of data[0] in its split

    def __len__(self) -> int:
        return int(len(self.labels))


def data_layout(data: str | None) -> str:
    """"sample", "nmnist" (a folder with Train/ or Test/), "dense" (an .npz file) or "idx"."""
    if data is None:
        return "sample"
    path = Path(data)
    if path.is_dir() and any((path / f).is_dir() for f in SPLIT_FOLDERS.values()):
        return "nmnist"
    if path.suffix.lower() == ".npz":
        return "dense"
    return "idx"


def check_window(desc: CoreDescription, data: str | None, window_us: int | None) -> int:
    """The time window to bin N-MNIST recordings with; refused where it means nothing."""
    if window_us is None:
        return DEFAULT_WINDOW_US
    if not desc.event_input or data_layout(data) not in ("nmnist", "sample"):
        raise InputError(f"--time-window {window_us} applies to event recordings (N-MNIST "
                         "folders, or the generated sample) run by a model with event input")
    if not 1 <= window_us <= 1 << 23:
        raise InputError(f"--time-window {window_us} µs is out of range; use 1 … 8388608")
    return window_us


def _sensor(desc: CoreDescription, what: str) -> tuple[int, int]:
    shape = tuple(desc.input_shape)
    if len(shape) != 3 or shape[2] != 2:
        raise InputError(f"{what}: event recordings have two polarities, so the model's "
                         f"input.shape must be (H, W, 2); this model's is {list(shape)} "
                         "(pass a dense .npz of its counts, or --random-images to verify)")
    return shape[0], shape[1]


def _as_counts(counts: np.ndarray, labels: np.ndarray, where: str, start: int) -> np.ndarray:
    """uint8 counts, or InputError naming the first sample with more than 255 events."""
    if counts.size and counts.max() > MAX_EVENT_COUNT:
        i = int(np.argmax(counts.reshape(len(counts), -1).max(axis=1) > MAX_EVENT_COUNT))
        raise InputError(f"{where}: sample {start + i} has {int(counts[i].max())} events at one "
                         f"address in one step, more than {MAX_EVENT_COUNT}; bin it into "
                         "shorter steps (--time-window)")
    return counts.astype(np.uint8)


def _fit_steps(counts: np.ndarray, steps: int) -> tuple[np.ndarray, int]:
    """Cut to ``steps`` (counting the events dropped) or pad with silent steps."""
    have = counts.shape[1]
    if have >= steps:
        return counts[:, :steps], int(counts[:, steps:].sum())
    pad = np.zeros((counts.shape[0], steps - have, counts.shape[2]), dtype=counts.dtype)
    return np.concatenate([counts, pad], axis=1), 0


def _saccade_sample(desc: CoreDescription, limit: int | None, window_us: int) -> Inputs:
    from neurochip.datasets import load_sample
    from neurochip.events.nmnist import bin_events
    from neurochip.events.saccades import saccade_events

    sensor = _sensor(desc, "the generated event sample")
    images, labels = load_sample()
    images, labels = images[:limit], labels[:limit]
    counts = np.zeros((len(images), desc.time_steps, desc.input_size), dtype=np.uint32)
    dropped = 0
    for i, image in enumerate(images):
        counts[i], late = bin_events(saccade_events(image, i, sensor), window_us,
                                     desc.time_steps, sensor)
        dropped += late
    return Inputs(_as_counts(counts, labels, "generated sample", 0), labels,
                  f"shipped MNIST test sample moved along saccades (generated N-MNIST-like "
                  f"events, {window_us} µs steps)", dropped)


def _dense(desc: CoreDescription, data: str, limit: int | None) -> Inputs:
    from neurochip.events import load_dense

    counts, labels = load_dense(data, limit)
    if counts.shape[2] != desc.input_size:
        raise InputError(f"{data}: samples have {counts.shape[2]} addresses per step but the "
                         f"model's input.shape {list(desc.input_shape)} has {desc.input_size}")
    counts, dropped = _fit_steps(counts, desc.time_steps)
    return Inputs(_as_counts(counts, labels, data, 0), labels, f"{data} (dense events)",
                  dropped)


def _nmnist(desc: CoreDescription, data: str, split: str, window_us: int, start: int,
            limit: int | None) -> Inputs:
    from neurochip.events import load_nmnist

    counts, labels, dropped = load_nmnist(data, split, window_us, desc.time_steps, limit,
                                          _sensor(desc, data), start)
    return Inputs(_as_counts(counts, labels, data, start), labels,
                  f"{data} ({split}, N-MNIST, {window_us} µs steps)", dropped, start)


def _images(desc: CoreDescription, data: str | None, split: str, limit: int | None) -> Inputs:
    if data_layout(data) in ("nmnist", "dense"):
        raise InputError(f"--data {data} holds events, but the model encodes pixels "
                         f"({desc.encoder.kind}, §11); event data needs a model with "
                         "input.encoder.kind = events (e.g. `neurochip nir import --encoder "
                         "events`)")
    return load_images(data, split, limit)


def load_images(data: str | None, split: str = "test", limit: int | None = None) -> Inputs:
    """Images of an IDX folder's ``split``, or the shipped MNIST test sample."""
    from neurochip.datasets import load_sample, load_split

    if data is None:
        images, labels = load_sample()
        source = "shipped MNIST test sample"
    else:
        images, labels = load_split(data, split)
        source = f"{data} ({split})"
    return Inputs(images[:limit], labels[:limit], source)


def load_inputs(desc: CoreDescription, data: str | None, split: str = "test",
                limit: int | None = None, window_us: int | None = None) -> Inputs:
    """All of the first ``limit`` inputs of ``data`` for ``desc`` (see the module text)."""
    return _join(list(iter_inputs(desc, data, split, limit, window_us)))


def iter_inputs(desc: CoreDescription, data: str | None, split: str = "test",
                limit: int | None = None, window_us: int | None = None,
                chunk: int = CHUNK) -> Iterator[Inputs]:
    """The inputs of ``data`` in order, N-MNIST folders ``chunk`` samples at a time (the
    rest in one piece). Errors raise :class:`InputError` (or EventError, OSError,
    ValueError from the readers) before the first chunk where the layout allows."""
    window = check_window(desc, data, window_us)
    if not desc.event_input:
        yield _images(desc, data, split, limit)
        return
    layout = data_layout(data)
    try:
        if layout == "sample":
            yield _saccade_sample(desc, limit, window)
        elif layout == "dense":
            yield _dense(desc, data, limit)
        elif layout == "idx":
            raise InputError(f"--data {data}: the model takes event input (§11.2); pass an "
                             "N-MNIST folder (Train/, Test/) or a dense .npz of event counts")
        else:
            from neurochip.events import count_samples

            total = count_samples(data, split)
            total = total if limit is None else min(limit, total)
            for start in range(0, total, chunk):
                yield _nmnist(desc, data, split, window, start, min(chunk, total - start))
    except EventError as exc:
        raise InputError(str(exc)) from None


def _join(parts: list[Inputs]) -> Inputs:
    if len(parts) == 1:
        return parts[0]
    return Inputs(np.concatenate([p.data for p in parts]),
                  np.concatenate([p.labels for p in parts]), parts[0].source,
                  sum(p.dropped_events for p in parts))

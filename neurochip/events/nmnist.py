"""The N-MNIST recording format (Orchard et al. 2015) as published, and its folder layout.

A recording is a ``.bin`` file of 40-bit big-endian events, 5 bytes each:

====  ===========================================================
bits  field
====  ===========================================================
39-32 x address (pixels)
31-24 y address (pixels)
23    polarity (0 OFF, 1 ON)
22-0  timestamp (µs from the start of the recording)
====  ===========================================================

A dataset is ``<root>/Train`` and ``<root>/Test``, each with one folder per label named by
its digit (``0`` … ``9``) holding ``<id>.bin`` files; samples are read in label order,
then by numeric id. The sensor is 34 × 34 (N-MNIST's ATIS crop) unless stated.

Binning (:func:`bin_events`) is tonic's ``ToFrame(time_window=window_us)``, the frames the
NIR paper's N-MNIST pipeline fed every platform: with τ0 the recording's first timestamp,
event (x, y, p, τ) falls in step ``(τ − τ0) // window_us``, and only whole windows are
kept (tonic's default ``include_incomplete=False``): a recording spanning τ0 … τ_last has
``(τ_last − τ0) // window_us`` steps, so the events of its last, incomplete window are
dropped, as are those at or past the model's last step (their number is reported). A
recording with fewer steps than the model is followed by silent steps. Several events of
one address in one step are a count, not one spike: the chip receives that many pushes of
the address."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EVENT_BYTES = 5
TIMESTAMP_BITS = 23
NMNIST_SENSOR = (34, 34)  # (height, width)
POLARITIES = 2
MAX_FILE_EVENTS = 1 << 22  # 20 MiB of events in one recording (N-MNIST's are ~4,000-10,000)
MAX_COUNT_BYTES = 1 << 30  # the count tensor of a whole split
SPLIT_FOLDERS = {"train": "Train", "test": "Test"}


class EventError(ValueError):
    """Event data that does not follow its format; the message names the file and the fix."""


@dataclass(frozen=True)
class Events:
    """One recording: parallel arrays, timestamps non-decreasing."""

    x: np.ndarray  # uint8
    y: np.ndarray  # uint8
    p: np.ndarray  # uint8, 0 OFF / 1 ON
    t: np.ndarray  # int64 µs

    def __len__(self) -> int:
        return int(self.t.size)


def decode(raw: bytes, origin: str = "<bytes>") -> Events:
    """The events of one ``.bin`` recording; EventError for a truncated record or
    timestamps that go backwards."""
    if len(raw) % EVENT_BYTES:
        raise EventError(f"{origin}: {len(raw)} bytes is not a whole number of 5-byte "
                         f"events (a truncated record at byte {len(raw) - len(raw) % EVENT_BYTES})")
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, EVENT_BYTES)
    t = ((rec[:, 2].astype(np.int64) & 0x7F) << 16) | (rec[:, 3].astype(np.int64) << 8) | rec[:, 4]
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise EventError(f"{origin}: event {i} has timestamp {int(t[i])} µs, before the "
                         f"previous event's {int(t[i - 1])} µs; N-MNIST recordings are sorted "
                         "by time")
    return Events(rec[:, 0].copy(), rec[:, 1].copy(), (rec[:, 2] >> 7).astype(np.uint8), t)


def encode(ev: Events) -> bytes:
    """``ev`` as N-MNIST bytes (the inverse of :func:`decode`)."""
    t = np.asarray(ev.t, dtype=np.int64)
    if t.size and (t.min() < 0 or t.max() >= 1 << TIMESTAMP_BITS or np.any(np.diff(t) < 0)):
        raise EventError("timestamps must be sorted and within 0 … 2^23 − 1 µs")
    rec = np.empty((t.size, EVENT_BYTES), dtype=np.uint8)
    rec[:, 0], rec[:, 1] = ev.x, ev.y
    rec[:, 2] = (np.asarray(ev.p, np.uint8) << 7) | ((t >> 16) & 0x7F).astype(np.uint8)
    rec[:, 3], rec[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return rec.tobytes()


def read_events(path: str | os.PathLike, sensor: tuple[int, int] = NMNIST_SENSOR) -> Events:
    """One recording, refused in one line when it is too large, truncated, unsorted or
    has an address outside the ``(height, width)`` sensor."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_FILE_EVENTS * EVENT_BYTES:
        raise EventError(f"{path}: {size} bytes is more than {MAX_FILE_EVENTS} events; not an "
                         "N-MNIST recording")
    with path.open("rb") as f:
        ev = decode(f.read(MAX_FILE_EVENTS * EVENT_BYTES + 1), str(path))
    h, w = sensor
    bad = np.flatnonzero((ev.x >= w) | (ev.y >= h))
    if bad.size:
        i = int(bad[0])
        raise EventError(f"{path}: event {i} at (x={int(ev.x[i])}, y={int(ev.y[i])}) lies "
                         f"outside the {w}×{h} sensor; pass the recording's sensor size")
    return ev


def bin_events(ev: Events, window_us: int, steps: int,
               sensor: tuple[int, int] = NMNIST_SENSOR) -> tuple[np.ndarray, int]:
    """Per-step counts ``(steps, H·W·2)`` in chip address order (y·W + x)·2 + p, binned as
    tonic's ``ToFrame(time_window=window_us)`` (module text), and how many events were
    dropped (the last, incomplete window, and steps past ``steps``)."""
    if window_us < 1 or steps < 1:
        raise EventError(f"time window {window_us} µs and {steps} steps: both must be ≥ 1")
    h, w = sensor
    if len(ev) == 0:
        return np.zeros((steps, h * w * POLARITIES), dtype=np.uint32), 0
    t0 = int(ev.t[0])
    whole = (int(ev.t[-1]) - t0) // window_us  # complete windows of the recording
    step = (ev.t - t0) // window_us
    keep = step < min(steps, whole)
    addr = (ev.y[keep].astype(np.int64) * w + ev.x[keep]) * POLARITIES + ev.p[keep]
    flat = step[keep] * (h * w * POLARITIES) + addr
    counts = np.bincount(flat, minlength=steps * h * w * POLARITIES)
    return counts.reshape(steps, h * w * POLARITIES).astype(np.uint32), int((~keep).sum())


def _samples(root: Path, split: str) -> list[tuple[Path, int]]:
    """(file, label) of every recording of the split, in label then numeric-id order."""
    if split not in SPLIT_FOLDERS:
        raise EventError(f"split {split!r}: use one of {sorted(SPLIT_FOLDERS)}")
    folder = root / SPLIT_FOLDERS[split]
    if not folder.is_dir():
        raise EventError(f"{root}: no {SPLIT_FOLDERS[split]}/ folder; an N-MNIST dataset has "
                         "Train/ and Test/ with one folder per label")
    out: list[tuple[Path, int]] = []
    for sub in sorted(folder.iterdir(), key=lambda p: p.name):
        if not sub.is_dir():
            continue
        if not re.fullmatch(r"[0-9]", sub.name):
            raise EventError(f"{sub}: label folder {sub.name!r} is not a digit 0 … 9")
        files = [f for f in sub.iterdir() if f.suffix == ".bin"]
        for f in files:
            if not re.fullmatch(r"[0-9]+", f.stem):
                raise EventError(f"{f}: recording names are numeric ids (<id>.bin)")
        out += [(f, int(sub.name)) for f in sorted(files, key=lambda f: int(f.stem))]
    if not out:
        raise EventError(f"{folder}: no recordings (<label>/<id>.bin); the split has no samples")
    return out


def count_samples(root: str | os.PathLike, split: str) -> int:
    """How many recordings ``split`` of an N-MNIST folder holds (checking its layout)."""
    return len(_samples(Path(root), split))


def load_nmnist(root: str | os.PathLike, split: str, window_us: int, steps: int,
                limit: int | None = None, sensor: tuple[int, int] = NMNIST_SENSOR,
                start: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Counts ``(n, steps, H·W·2)``, labels ``(n,)`` and the number of events dropped past
    the last step, for ``limit`` samples of ``split`` from sample ``start`` on (label
    order, then numeric id)."""
    samples = _samples(Path(root), split)[start:None if limit is None else start + limit]
    h, w = sensor
    need = len(samples) * steps * h * w * POLARITIES * 4
    if need > MAX_COUNT_BYTES:
        raise EventError(f"{root}: {len(samples)} samples × {steps} steps of {h}×{w}×2 counts "
                         f"need {need} bytes (limit {MAX_COUNT_BYTES}); pass a smaller limit")
    counts = np.zeros((len(samples), steps, h * w * POLARITIES), dtype=np.uint32)
    dropped = 0
    for i, (path, _) in enumerate(samples):
        counts[i], late = bin_events(read_events(path, sensor), window_us, steps, sensor)
        dropped += late
    return counts, np.array([lab for _, lab in samples], dtype=np.uint8), dropped

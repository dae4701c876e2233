"""N-MNIST-format recordings made from static images, for tests and demos without a
download: the image is moved along three saccades in front of a simulated event camera,
and every pixel whose log intensity changes by a contrast step emits an event, as an
ATIS or DVS pixel does.

This is our own generator, shaped like N-MNIST (34 × 34 sensor, three straight saccades
of ``saccade_us`` each, the 28 × 28 image centred with a 3-pixel margin), not a model of
the ATIS recordings: their noise, refractory periods and exact motion are not reproduced.
The output is deterministic for a seed (NumPy ``default_rng``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurochip.events.nmnist import NMNIST_SENSOR, SPLIT_FOLDERS, Events, encode

# the saccades' corners in pixels (dx, dy), a triangle as N-MNIST's three movements
PATH = ((0.0, 0.0), (1.5, 1.5), (3.0, 0.0), (0.0, 0.0))
LOG_FLOOR = 0.05  # log(I + floor): a dark pixel's log intensity stays finite


def _frame(image: np.ndarray, dx: float, dy: float, sensor: tuple[int, int]) -> np.ndarray:
    """The image (0 … 1) shifted by (dx, dy) with bilinear weights, on the sensor."""
    h, w = sensor
    ih, iw = image.shape
    oy, ox = (h - ih) // 2 - 1.5, (w - iw) // 2 - 1.5  # the path is centred on the sensor
    canvas = np.zeros((h + 1, w + 1))
    fy, fx = oy + dy, ox + dx
    y0, x0 = int(np.floor(fy)), int(np.floor(fx))
    ay, ax = fy - y0, fx - x0
    for wy, sy in ((1 - ay, 0), (ay, 1)):
        for wx, sx in ((1 - ax, 0), (ax, 1)):
            ys, xs = y0 + sy, x0 + sx
            canvas[ys:ys + ih, xs:xs + iw] += wy * wx * image
    return canvas[:h, :w]


def saccade_events(image: np.ndarray, seed: int, sensor: tuple[int, int] = NMNIST_SENSOR,
                   saccade_us: int = 100_000, substep_us: int = 1_000,
                   contrast: float = 0.2) -> Events:
    """The events of ``image`` (uint8, at most the sensor less 4 pixels) moved along
    :data:`PATH`, one contrast step of log intensity per event, timestamps jittered within
    each ``substep_us`` by ``default_rng(seed)`` and sorted."""
    rng = np.random.default_rng(seed)
    img = np.asarray(image, dtype=np.float64) / 255.0
    ref = np.log(_frame(img, *PATH[0], sensor) + LOG_FLOOR)
    xs, ys, ps, ts = [], [], [], []
    steps = saccade_us // substep_us
    for k, ((ax, ay), (bx, by)) in enumerate(zip(PATH, PATH[1:])):
        for j in range(1, steps + 1):
            f = j / steps
            now = np.log(_frame(img, ax + f * (bx - ax), ay + f * (by - ay), sensor) + LOG_FLOOR)
            n = np.trunc((now - ref) / contrast).astype(np.int64)  # signed events per pixel
            ref += n * contrast
            yy, xx = np.nonzero(n)
            reps = np.abs(n[yy, xx])
            t0 = (k * steps + j - 1) * substep_us
            xs.append(np.repeat(xx, reps))
            ys.append(np.repeat(yy, reps))
            ps.append(np.repeat((n[yy, xx] > 0).astype(np.uint8), reps))
            ts.append(t0 + rng.integers(0, substep_us, int(reps.sum())))
    x, y, p, t = (np.concatenate(a) if a else np.zeros(0, np.int64) for a in (xs, ys, ps, ts))
    order = np.lexsort((x, y, t))
    return Events(x[order].astype(np.uint8), y[order].astype(np.uint8),
                  p[order].astype(np.uint8), t[order].astype(np.int64))


def write_dataset(images: np.ndarray, labels: np.ndarray, root: str | os.PathLike,
                  split: str = "test", seed: int = 0, **kwargs) -> list[Path]:
    """Write ``<root>/<Train|Test>/<label>/<id>.bin`` (ids 1, 2, … in image order), one
    recording per image from :func:`saccade_events` with seed ``seed + index``."""
    folder = Path(root) / SPLIT_FOLDERS[split]
    paths = []
    for i, (image, label) in enumerate(zip(images, labels)):
        sub = folder / str(int(label))
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{i + 1:05d}.bin"
        path.write_bytes(encode(saccade_events(image, seed + i, **kwargs)))
        paths.append(path)
    return paths

"""Event-camera data: the N-MNIST binary format and folder layout (``nmnist``), dense
event-count tensors (``dense``), and a generator of N-MNIST-format recordings from static
images moved along saccades (``saccades``), so tests never need a download.

Every reader returns per-step event counts in the chip's input layout, one row per
sample: ``counts[i, t, a]`` is how many events address ``a = (y·W + x)·C + c`` (§3, c the
polarity: 0 OFF, 1 ON) received in step ``t``. Memory is bounded by what the files declare
and by :data:`MAX_COUNT_BYTES`, whatever they hold."""

from neurochip.events.dense import load_dense
from neurochip.events.nmnist import (MAX_COUNT_BYTES, NMNIST_SENSOR, EventError, Events,
                                     bin_events, count_samples, decode, encode, load_nmnist,
                                     read_events)

__all__ = ["MAX_COUNT_BYTES", "NMNIST_SENSOR", "EventError", "Events", "bin_events", "count_samples", "decode",
           "encode", "load_dense", "load_nmnist", "read_events"]

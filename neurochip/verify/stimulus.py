"""The host's item streams (§4, §11) for a batch of images, and the ``$readmemh`` files
the HDL testbench plays: per image a header word (item count) followed by the items."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurochip.description import CoreDescription
from neurochip.golden.encoders import host_addresses
from neurochip.hw.config import EOS_BIT
from neurochip.sim.simulator import encode_images

EOS_ITEM = 1 << EOS_BIT


def item_streams(desc: CoreDescription, images: np.ndarray,
                 indices: np.ndarray | None = None) -> list[np.ndarray]:
    """Per image: the host's input addresses of step t (§4, §11.2), then an EOS token, for
    every t."""
    spikes = encode_images(desc, images, indices)
    streams = []
    for img in spikes:
        parts = []
        for t in range(desc.time_steps):
            parts.append(host_addresses(img[t]))
            parts.append(np.array([EOS_ITEM]))
        streams.append(np.concatenate(parts).astype(np.int64))
    return streams


def write_stimulus(path: Path, streams: list[np.ndarray], header: str) -> int:
    """Write the stimulus memory; returns its depth in 32-bit words."""
    words: list[str] = []
    for items in streams:
        words.append(f"{len(items):08x}")
        words.extend(f"{int(x):08x}" for x in items)
    path.write_text(header + "\n".join(words) + "\n")
    return len(words)


def write_addresses(path: Path, addresses: tuple[int, ...], header: str) -> int:
    path.write_text(header + "\n".join(f"{a:08x}" for a in addresses) + "\n")
    return len(addresses)

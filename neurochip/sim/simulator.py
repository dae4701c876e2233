"""Python face of the Numba simulator: packs a core description (``neurochip.sim.pack``),
runs images in chunks (with a progress bar) and returns typed results."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from neurochip.counters import CHIP_COUNTERS, CORE_COUNTERS
from neurochip.description import MAX_EVENT_COUNT, CoreDescription
from neurochip.observe import Observation
from neurochip.sim import kernel, worker_pool
from neurochip.sim.pack import ENCODER_CODES, PackedModel

@dataclass
class SimulationResult(Observation):
    """The simulator's :class:`~neurochip.observe.Observation` of a batch, with the wall
    time of its kernel calls (compile excluded after warm_up)."""

    seconds: float = 0.0


def simulate(desc: CoreDescription, images: np.ndarray, indices: np.ndarray | None = None,
             record_spikes: bool = False, progress: bool = False,
             chunk: int = 128, workers: int = 1, timing: bool = True,
             keep_state: bool = True) -> SimulationResult:
    """Run ``images`` ((n, ...) uint8 pixels) through the chip of ``desc``; for a model with
    event input (§11.2) ``images`` are the samples' event counts, (n, T, ...) integers
    0 … 255 (see :func:`check_events`).

    ``indices`` are the images' positions in their dataset split (they seed the LFSR
    encoder, §11); by default 0 … n-1, so a shuffled or subsetted batch must pass its
    original indices: under another index a ``bernoulli_lfsr`` image gets other input
    spikes and can give another result. ``workers`` > 1 runs chunks on threads (the
    kernel releases the GIL), kept between calls (``neurochip.sim.worker_pool``); images
    are independent (§9), so neither the chunking nor the order in which images run
    changes a result, as long as each keeps its index.
    ``timing=False`` skips the cycle model (the bench's functional-only ceiling): spikes,
    membranes, counts and event counters are the same, cycles, stalls and idles are 0.
    ``chunk``: images per kernel call (and progress-bar step); each call costs a fixed
    dispatch (~30 µs), so small models want large chunks (128: ~7 % faster than 32 on the
    784-64-10 MLP).
    ``keep_state=False`` keeps no neuron's final membrane or state word (``membranes`` is
    None, ``states`` empty): the result then takes O(n · (classes + counters)) memory
    instead of O(n · neurons) (8 bytes per neuron and word: 3.4 GB for the 8,000
    Fashion-MNIST test images on ``restocnet-fmnist``). ``neurochip simulate`` runs so.
    """
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    flat = check_images(desc, images)
    n = flat.shape[0]
    idx = check_indices(indices, n)
    packed = PackedModel.from_description(desc)
    if workers == 1:
        return _simulate(desc, flat, idx, record_spikes, progress, chunk, timing, keep_state,
                         packed, map)
    chunk = max(1, min(chunk, math.ceil(n / (4 * workers))))  # >= 4 chunks a worker
    return _simulate(desc, flat, idx, record_spikes, progress, chunk, timing, keep_state,
                     packed, lambda fn, chunks: worker_pool.map_in_order(workers, fn, chunks))


def _simulate(desc: CoreDescription, flat: np.ndarray, idx: np.ndarray, record_spikes: bool,
              progress: bool, chunk: int, timing: bool, keep_state: bool, packed: PackedModel,
              map_fn) -> SimulationResult:
    """simulate() after its checks: ``map_fn`` runs the chunks (map, or the worker pool's
    ``map_in_order``)."""
    n = flat.shape[0]
    L = len(desc.layers)
    total = int(packed.n_off[-1])
    T = desc.time_steps
    counts = np.zeros((n, desc.classes), dtype=np.int64)
    cycles = np.zeros(n, dtype=np.int64)
    core = np.zeros((n, L, len(CORE_COUNTERS)), dtype=np.int64)
    chip = np.zeros((n, len(CHIP_COUNTERS)), dtype=np.int64)
    kept = n if keep_state else 0  # 0 rows: the kernel writes neither
    mem = np.zeros((kept, total), dtype=np.int64)
    state_out = np.zeros((kept,) + packed.state_reset.shape, dtype=np.int64)
    pred = np.zeros(n, dtype=np.int64)
    spikes = np.zeros((n, T, total) if record_spikes else (1, 1, 1), dtype=np.uint8)
    scratch_dtype = membrane_dtype(desc)
    model_args = packed.kernel_args()
    bar = _progress_bar(n, progress)

    def run_chunk(sl: slice) -> int:
        ok = kernel.simulate_batch(flat[sl], idx[sl], *model_args, record_spikes, counts[sl],
                                   cycles[sl], core[sl], chip[sl], mem[sl],
                                   spikes[sl] if record_spikes else spikes,
                                   np.zeros(total, dtype=scratch_dtype), packed.state_reset,
                                   state_out[sl], pred[sl], timing)
        if not ok:
            raise RuntimeError("the FIFOs deadlocked (a description that validates cannot)")
        return sl.stop - sl.start

    chunks = [slice(s, min(n, s + chunk)) for s in range(0, n, chunk)]
    t0 = time.perf_counter()
    for done in map_fn(run_chunk, chunks):
        if bar is not None:
            bar.update(done)
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return SimulationResult(predictions=pred, counts=counts, cycles=cycles,
                            core_counters=core, chip_counters=chip,
                            membranes=mem if keep_state else None,
                            states=packed.state_columns(desc, state_out) if keep_state else {},
                            spikes=spikes if record_spikes else None,
                            done=np.ones(n, dtype=np.int64), neuron_offsets=packed.n_off,
                            layer_names=tuple(lay.name for lay in desc.layers),
                            seconds=seconds)


def membrane_dtype(desc: CoreDescription) -> type:
    """Narrowest membrane storage the kernel's vectorised add cannot overflow: int16 holds
    a B <= 15 membrane plus an int8 weight, int32 B <= 31 (B = 32 adds in int64)."""
    return np.int16 if max(lay.membrane_bits for lay in desc.layers) <= 15 else np.int32


def warm_up(desc: CoreDescription) -> float:
    """Compile (or load from cache) the kernels on one image; return the seconds taken."""
    t0 = time.perf_counter()
    simulate(desc, blank_input(desc, 1))
    return time.perf_counter() - t0


def blank_input(desc: CoreDescription, n: int) -> np.ndarray:
    """n all-zero inputs of ``desc``: black images, or samples without events (§11.2)."""
    shape = (n, desc.time_steps, desc.input_size) if desc.event_input else (n, desc.input_size)
    return np.zeros(shape, dtype=np.uint8)


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="simulate", leave=False)


def encode_images(desc: CoreDescription, images: np.ndarray,
                  indices: np.ndarray | None = None) -> np.ndarray:
    """The chip's input events for ``images`` as a dense (n, T, P) uint8 array: how many
    times the host pushes address p in step t (0 or 1 for the pixel encoders of §11; the
    given counts for event input, §11.2).

    ``images`` and ``indices`` are checked as in :func:`simulate`."""
    flat = check_images(desc, images)
    idx = check_indices(indices, flat.shape[0])
    out = np.zeros((len(flat), desc.time_steps, desc.input_size), dtype=np.uint8)
    kernel.encode_batch(ENCODER_CODES[desc.encoder.kind], flat, idx, desc.time_steps,
                   desc.encoder.seed, out)
    return out


# --------------------------------------------------------------------------- argument checks

_PIXEL_HINT = "pass 8-bit pixels 0 … 255 (uint8; scale 0..1 floats with np.rint(x * 255))"


_EVENT_HINT = ("pass event counts of shape (samples, T, P) or (samples, T, *input.shape), "
               "integers 0 … 255 (neurochip.events reads N-MNIST folders and dense files)")


def check_events(desc: CoreDescription, counts: np.ndarray) -> np.ndarray:
    """Event counts (§11.2) as the kernel's contiguous (n, T·P) uint8 array, step-major.

    ``counts[i, t, p]`` (or ``counts[i, t, y, x, c]`` in ``input.shape``) is how many
    events address p receives in step t of sample i, 0 … 255; exactly T = ``time_steps``
    steps. Anything else raises ValueError instead of wrapping or truncating."""
    arr = np.asarray(counts)
    T, P = desc.time_steps, desc.input_size
    if arr.ndim < 3 or arr.shape[1] != T or math.prod(arr.shape[2:]) != P:
        raise ValueError(f"event input has shape {arr.shape}; this model (T = {T}, input.shape "
                         f"{list(desc.input_shape)}) needs ({arr.shape[0] if arr.ndim else 'n'}, "
                         f"{T}, {P}); {_EVENT_HINT}")
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "biu":
            raise ValueError(f"event counts have dtype {arr.dtype}; {_EVENT_HINT}")
        if arr.size and (arr.min() < 0 or arr.max() > MAX_EVENT_COUNT):
            bad = arr.min() if arr.min() < 0 else arr.max()
            raise ValueError(f"event counts hold {bad}, outside 0 … {MAX_EVENT_COUNT} events "
                             f"per address and step; {_EVENT_HINT}")
        arr = arr.astype(np.uint8)
    return np.ascontiguousarray(arr.reshape(arr.shape[0], T * P))


def check_images(desc: CoreDescription, images: np.ndarray) -> np.ndarray:
    """``images`` ((n, ...) pixels) as a contiguous (n, P) uint8 array; for event input
    (§11.2) the counts as :func:`check_events` returns them.

    uint8 passes through unchanged. Any other integer, bool or float array is accepted
    only if the conversion loses nothing: every value an integer in 0 … 255 (no NaN,
    no fractions); anything else raises ValueError instead of wrapping or truncating."""
    if desc.event_input:
        return check_events(desc, images)
    arr = np.asarray(images)
    if arr.ndim < 2:
        raise ValueError(f"images has shape {arr.shape}; pass a batch of shape (n, ...) whose "
                         f"images[i] holds the {desc.input_size} pixels of image i")
    if arr.dtype != np.uint8:
        kind = arr.dtype.kind
        if kind not in "biuf":
            raise ValueError(f"images has dtype {arr.dtype}; {_PIXEL_HINT}")
        if arr.size:
            if kind == "f" and not np.all(np.isfinite(arr)):
                raise ValueError(f"images hold NaN or Inf; {_PIXEL_HINT}")
            lo, hi = arr.min(), arr.max()
            if lo < 0 or hi > 255:
                raise ValueError(f"images hold the pixel value {lo if lo < 0 else hi}, outside "
                                 f"0 … 255; {_PIXEL_HINT}")
            if kind == "f":
                frac = arr != np.floor(arr)
                if frac.any():
                    raise ValueError(f"images hold the non-integer pixel value "
                                     f"{arr[frac].ravel()[0]}; {_PIXEL_HINT}")
        arr = arr.astype(np.uint8)
    flat = np.ascontiguousarray(arr.reshape(arr.shape[0], math.prod(arr.shape[1:])))
    if flat.shape[1] != desc.input_size:
        raise ValueError(f"images have {flat.shape[1]} pixels but the model's input.shape "
                         f"{list(desc.input_shape)} needs {desc.input_size}")
    return flat


def check_indices(indices: np.ndarray | None, n: int) -> np.ndarray:
    """Dataset positions of the n images (they seed the LFSR encoder, §11) as int64;
    None means 0 … n−1. Wrong length, non-integer dtype or negative values raise."""
    if indices is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.shape[0] != n:
        raise ValueError(f"indices has shape {idx.shape}; pass a 1-D array of length {n}, one "
                         "dataset position per image (or None for 0 … n−1)")
    if idx.dtype.kind not in "iu" and not (idx.size == 0 and idx.dtype.kind == "f"):
        raise ValueError(f"indices has dtype {idx.dtype}; pass integer dataset positions "
                         "(e.g. np.int64)")
    if idx.size:
        if idx.min() < 0:
            raise ValueError(f"indices hold {int(idx.min())}; dataset positions must be >= 0")
        if idx.dtype.kind == "u" and idx.max() > np.iinfo(np.int64).max:
            raise ValueError(f"indices hold {int(idx.max())}; dataset positions must fit int64")
    return np.ascontiguousarray(idx, dtype=np.int64)

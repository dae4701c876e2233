"""Event-camera data: the N-MNIST format bit for bit, the folder layout, binning, dense
tensors, the saccade generator, and one-line refusals of malformed recordings."""

from __future__ import annotations

import numpy as np
import pytest

from neurochip.datasets import load_sample
from neurochip.events import EventError, Events, bin_events, decode, encode, load_dense, load_nmnist
from neurochip.events.saccades import saccade_events, write_dataset


def test_the_40_bit_layout_is_the_published_one():
    # x = 33, y = 2, ON, t = 0x123456 µs → bytes x, y, p·128 | t[22:16], t[15:8], t[7:0]
    ev = Events(np.array([33], np.uint8), np.array([2], np.uint8), np.array([1], np.uint8),
                np.array([0x123456]))
    assert encode(ev) == bytes([33, 2, 0x80 | 0x12, 0x34, 0x56])
    back = decode(encode(ev))
    assert (back.x[0], back.y[0], back.p[0], back.t[0]) == (33, 2, 1, 0x123456)


def test_generator_is_seeded_sorted_and_inside_the_sensor():
    image = load_sample()[0][0]
    a, b, c = saccade_events(image, 1), saccade_events(image, 1), saccade_events(image, 2)
    assert np.array_equal(encode(a), encode(b)) and not np.array_equal(encode(a), encode(c))
    assert len(a) > 1000 and np.all(np.diff(a.t) >= 0)
    assert a.x.max() < 34 and a.y.max() < 34 and set(np.unique(a.p)) == {0, 1}
    assert a.t.max() < 300_000  # three saccades of 100 ms


@pytest.fixture(scope="module")
def nmnist(tmp_path_factory):
    images, labels = load_sample()
    root = tmp_path_factory.mktemp("nmnist")
    write_dataset(images[:12], labels[:12], root, "test", seed=5)
    write_dataset(images[12:15], labels[12:15], root, "train", seed=50)
    return root, labels[:12]


def test_folder_reads_in_label_then_id_order_and_bins_every_event(nmnist):
    root, labels = nmnist
    counts, got, dropped = load_nmnist(root, "test", window_us=10_000, steps=40)
    assert got.tolist() == sorted(labels.tolist()) and counts.shape == (12, 40, 34 * 34 * 2)
    first = sorted((p for p in (root / "Test").rglob("*.bin")),
                   key=lambda p: (int(p.parent.name), int(p.stem)))[0]
    ev = decode(first.read_bytes())
    rel = ev.t - ev.t[0]  # steps count from the first event (tonic's ToFrame)
    whole = int(rel[-1]) // 10_000  # only whole windows are kept
    assert counts[0].sum() == np.sum(rel < whole * 10_000) and counts[0, whole:].sum() == 0
    # address (y·34 + x)·2 + p of step (t − t0) // window
    e = len(ev) // 2
    step, addr = rel[e] // 10_000, (int(ev.y[e]) * 34 + int(ev.x[e])) * 2 + int(ev.p[e])
    same = np.sum((rel // 10_000 == step) & (ev.y == ev.y[e]) & (ev.x == ev.x[e]) & (ev.p == ev.p[e]))
    assert counts[0, step, addr] == same
    assert dropped == sum(len(decode(p.read_bytes())) for p in (root / "Test").rglob("*.bin")) \
        - counts.sum()


def test_binning_is_tonics_to_frame(nmnist):
    """The NIR paper binned N-MNIST with tonic's ToFrame(time_window=1000); our frames are
    tonic's, event for event, on N-MNIST files (tonic reads them with its own reader)."""
    from helpers import client

    tonic = client("tonic", "pip install -e '.[events]'")
    root, _ = nmnist
    for path in sorted((root / "Test").rglob("*.bin"))[:5]:
        raw = tonic.io.read_mnist_file(str(path), dtype=tonic.datasets.NMNIST.dtype)
        for window in (1000, 7000):
            frames = tonic.transforms.ToFrame(sensor_size=tonic.datasets.NMNIST.sensor_size,
                                              time_window=window)(raw)
            ours, _ = bin_events(decode(path.read_bytes()), window, len(frames) + 3)
            ours = ours.reshape(-1, 34, 34, 2).transpose(0, 3, 1, 2)  # (T, p, y, x)
            assert np.array_equal(ours[:len(frames)], frames) and ours[len(frames):].sum() == 0


def test_events_past_the_last_step_are_dropped_and_counted(nmnist):
    root, _ = nmnist
    full, _, incomplete = load_nmnist(root, "train", window_us=10_000, steps=40)
    cut, _, dropped = load_nmnist(root, "train", window_us=10_000, steps=10)
    assert np.array_equal(cut, full[:, :10])
    assert dropped == full[:, 10:].sum() + incomplete and full[:, 10:].sum() > 0


def test_counts_have_multiplicity(nmnist):
    root, _ = nmnist
    coarse = load_nmnist(root, "test", window_us=100_000, steps=2, limit=2)[0]
    assert coarse.max() > 1  # several events of one address in one step are a count


def _write(path, raw: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


@pytest.mark.parametrize("case, message", [
    ("truncated", "not a whole number of 5-byte events"),
    ("unsorted", "before the previous event"),
    ("outside", "outside the 34×34 sensor"),
    ("label", "is not a digit"),
    ("name", "numeric ids"),
    ("empty", "has no samples"),
    ("nosplit", "no Test/ folder"),
])
def test_malformed_recordings_are_refused_in_one_line(tmp_path, case, message):
    good = encode(Events(np.array([1, 2], np.uint8), np.array([1, 1], np.uint8),
                         np.array([0, 1], np.uint8), np.array([5, 9])))
    target = tmp_path / "Test" / "3" / "1.bin"
    raw = {"truncated": good[:-2],
           "unsorted": encode(Events(np.array([1], np.uint8), np.array([1], np.uint8),
                                     np.array([0], np.uint8), np.array([9]))) + good[:5],
           "outside": bytes([34, 0, 0, 0, 1])}.get(case, good)
    if case == "label":
        target = tmp_path / "Test" / "three" / "1.bin"
    if case == "name":
        target = tmp_path / "Test" / "3" / "first.bin"
    if case == "empty":
        (tmp_path / "Test" / "3").mkdir(parents=True)
    elif case != "nosplit":
        _write(target, raw)
    with pytest.raises(EventError, match=message) as err:
        load_nmnist(tmp_path, "test", 1000, 4)
    assert "\n" not in str(err.value)


def test_a_huge_split_is_refused_before_allocating(nmnist):
    root, _ = nmnist
    with pytest.raises(EventError, match="pass a smaller limit"):
        load_nmnist(root, "test", window_us=1, steps=10**6)


def test_dense_tensors_come_back_in_address_order(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 3, (3, 4, 2, 5, 6))  # (images, T, C, H, W)
    np.savez(tmp_path / "ev.npz", counts=counts, labels=np.array([1, 0, 7]))
    chip, labels = load_dense(tmp_path / "ev.npz")
    assert labels.tolist() == [1, 0, 7] and chip.shape == (3, 4, 5 * 6 * 2)
    y, x, c = 4, 2, 1
    assert chip[2, 3, (y * 6 + x) * 2 + c] == counts[2, 3, c, y, x]
    np.savez(tmp_path / "neg.npz", counts=-counts, labels=np.array([1, 0, 7]))
    with pytest.raises(EventError, match="negative"):
        load_dense(tmp_path / "neg.npz")
    np.savez(tmp_path / "extra.npz", counts=counts, labels=np.array([1, 0, 7]), x=np.zeros(1))
    with pytest.raises(EventError, match="exactly 'counts'"):
        load_dense(tmp_path / "extra.npz")


def test_binning_rejects_a_zero_window():
    with pytest.raises(EventError, match="must be ≥ 1"):
        bin_events(Events(*(np.zeros(1, np.uint8),) * 3, np.zeros(1, np.int64)), 0, 4)

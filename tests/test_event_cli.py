"""`simulate`, `verify` and `nir import` on event data (§11.2): N-MNIST folders in the
published format (made by neurochip's saccade generator, never downloaded), dense .npz
counts and the generated default sample; bad data is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from neurochip import description
from neurochip.datasets import load_sample
from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer
from neurochip.events import load_nmnist
from neurochip.events.nmnist import EVENT_BYTES
from neurochip.events.saccades import write_dataset
from neurochip.inputs import iter_inputs, load_inputs
from neurochip.neurons.lif import LifNeuron
from neurochip.sim import simulate

T, WINDOW = 12, 25_000  # 12 steps of 25 ms: every whole window of a ~300 ms recording


def _lif() -> LifNeuron:
    return LifNeuron(reset="subtract", leak="none", leak_amount=0, integration="continuous")


def event_model(path, steps: int = T) -> str:
    """34×34×2 → conv2d (4 channels, 6×6, stride 4) → fc 10: a small N-MNIST network."""
    rng = np.random.default_rng(0)
    geometry = {"in_shape": [34, 34, 2], "channels": 4, "kernel": [6, 6], "stride": 4, "pad": 0}
    conv = Layer(name="conv", kind="conv2d", inputs=34 * 34 * 2, neurons=8 * 8 * 4,
                 weight_bits=4, membrane_bits=16, overflow="saturate", neuron=_lif(),
                 core=CoreMapping(index=0, lanes=4, fifo_depth=16),
                 weight=rng.integers(-8, 8, size=(72, 4)), threshold=np.full(4, 6),
                 bias=np.zeros(4, dtype=np.int64), source="input", geometry=geometry)
    fc = Layer(name="out", kind="fc", inputs=256, neurons=10, weight_bits=4, membrane_bits=16,
               overflow="saturate", neuron=_lif(), core=CoreMapping(index=1, lanes=10, fifo_depth=16),
               weight=rng.integers(-8, 8, size=(256, 10)), threshold=np.full(10, 4),
               bias=np.zeros(10, dtype=np.int64), source="conv")
    desc = CoreDescription(name="nmnist-tiny", input_shape=(34, 34, 2),
                           encoder=Encoder("events", 0), time_steps=steps, clock_hz=1e8,
                           count_bits=6, layers=[conv, fc])
    description.save(desc, path)
    return str(path)


@pytest.fixture(scope="module")
def nmnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("nmnist")
    images, labels = load_sample()
    write_dataset(images[:7], labels[:7], root, "test")
    write_dataset(images[7:10], labels[7:10], root, "train", seed=100)
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return event_model(tmp_path_factory.mktemp("model") / "tiny.npz")


def cli(*args, check: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "neurochip", *map(str, args)],
                          capture_output=True, text=True, timeout=600)
    if check is not None:
        assert proc.returncode == check, proc.stderr
    return proc


def test_simulate_reads_an_nmnist_folder(nmnist, model):
    out = json.loads(cli("simulate", model, "--data", nmnist, "--time-window", WINDOW,
                         "--json").stdout)
    desc = description.load(model)
    counts, labels, dropped = load_nmnist(nmnist, "test", WINDOW, T, sensor=(34, 34))
    res = simulate(desc, counts.astype(np.uint8))
    assert out["images"] == 7 and out["input_events_dropped"] == dropped  # the last, incomplete window
    assert out["accuracy"] == pytest.approx(float(np.mean(res.predictions == labels)))
    assert out["cycles_per_image"] == pytest.approx(float(res.cycles.mean()))
    assert out["input_spikes_per_image"] == pytest.approx(counts.sum() / 7)
    assert "N-MNIST" in out["data"]


def test_chunks_do_not_change_a_result(nmnist, model):
    desc = description.load(model)
    whole = load_inputs(desc, str(nmnist), "test", None, WINDOW)
    parts = list(iter_inputs(desc, str(nmnist), "test", None, WINDOW, chunk=3))
    assert [len(p) for p in parts] == [3, 3, 1] and [p.start for p in parts] == [0, 3, 6]
    np.testing.assert_array_equal(np.concatenate([p.data for p in parts]), whole.data)
    a = simulate(desc, whole.data)
    b = [simulate(desc, p.data) for p in parts]
    np.testing.assert_array_equal(a.cycles, np.concatenate([r.cycles for r in b]))
    np.testing.assert_array_equal(a.core_counters, np.concatenate([r.core_counters for r in b]))


def test_short_window_drops_and_counts_late_events(nmnist, model):
    out = json.loads(cli("simulate", model, "--data", nmnist, "--time-window", 1000,
                         "--json").stdout)
    _, _, dropped = load_nmnist(nmnist, "test", 1000, T, sensor=(34, 34))
    assert out["input_events_dropped"] == dropped > 0


def test_dense_npz_equals_the_folder_it_came_from(nmnist, model, tmp_path):
    desc = description.load(model)
    got = load_inputs(desc, str(nmnist), "test", None, WINDOW)
    chw = got.data.reshape(7, T, 34, 34, 2).transpose(0, 1, 4, 2, 3)
    longer = np.concatenate([chw, np.ones((7, 3, 2, 34, 34), chw.dtype)], axis=1)
    path = tmp_path / "dense.npz"
    np.savez(path, counts=longer, labels=got.labels)
    dense = load_inputs(desc, str(path), limit=None)
    np.testing.assert_array_equal(dense.data, got.data)
    assert dense.dropped_events == 3 * 2 * 34 * 34 * 7  # the steps past T
    short = load_inputs(description.load(event_model(tmp_path / "long.npz", T + 5)), str(path))
    assert short.data.shape[1] == T + 5 and short.data[:, T + 3:].sum() == 0  # silent steps


def test_no_data_runs_the_generated_sample(model):
    out = json.loads(cli("simulate", model, "--limit", 5, "--time-window", WINDOW,
                         "--json").stdout)
    assert out["images"] == 5 and "saccades" in out["data"]


def test_time_steps_is_set_time_steps(nmnist, model):
    out = json.loads(cli("simulate", model, "--data", nmnist, "--time-window", WINDOW,
                         "--time-steps", 4, "--json").stdout)
    assert out["overrides"] == ["time_steps=4"] and out["input_events_dropped"] > 0


def test_verify_takes_the_folder(nmnist, model, tmp_path):
    from test_chip_equivalence import need

    need("icarus")
    out = json.loads(cli("verify", model, "--data", nmnist, "--split", "train",
                         "--time-window", WINDOW, "--images", 2, "--simulator", "icarus",
                         "--json", check=None).stdout)
    assert out["images"] == 2 and out["mismatches"] == 0 and out["cycles_equal"]


def _bad_file(root, name: str, raw: bytes):
    sub = root / "Test" / name
    sub.mkdir(parents=True)
    (sub / "1.bin").write_bytes(raw)
    return root


def _event(x, y, p, t) -> bytes:
    return bytes([x, y, (p << 7) | (t >> 16) & 0x7F, (t >> 8) & 0xFF, t & 0xFF])


@pytest.mark.parametrize("case, words", [
    ("outside", "outside the 34×34 sensor"),
    ("unsorted", "before the previous event"),
    ("truncated", "truncated record"),
    ("label", "is not a digit"),
])
def test_malformed_folders_are_one_line_and_exit_2(model, tmp_path, case, words):
    raw = {"outside": _event(40, 3, 1, 10), "unsorted": _event(1, 1, 0, 500) + _event(1, 1, 0, 20),
           "truncated": _event(1, 1, 0, 5)[:EVENT_BYTES - 2], "label": _event(1, 1, 0, 5)}[case]
    root = _bad_file(tmp_path, "x" if case == "label" else "3", raw)
    proc = cli("simulate", model, "--data", root, check=2)
    assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_mismatched_data_and_models_are_refused(nmnist, model, tmp_path):
    pixel = "models/ste-bp-mnist-small.npz"
    assert "holds events, but the model encodes pixels" in cli("simulate", pixel, "--data", nmnist,
                                                               check=2).stderr
    assert "--time-window 1000 applies to event recordings" in cli(
        "simulate", pixel, "--time-window", 1000, check=2).stderr
    from helpers import write_idx_split

    idx = write_idx_split(tmp_path / "idx", 4, 4)
    assert "the model takes event input" in cli("simulate", model, "--data", idx, check=2).stderr
    dense = tmp_path / "big.npz"
    np.savez(dense, counts=np.full((1, T, 2, 34, 34), 300, np.int32), labels=np.zeros(1, np.uint8))
    assert "more than 255" in cli("simulate", model, "--data", dense, check=2).stderr
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, counts=np.ones((1, T, 2, 30, 34), np.int32), labels=np.zeros(1, np.uint8))
    assert "addresses per step" in cli("simulate", model, "--data", wrong, check=2).stderr


# ------------------------------------------------- the NIR paper's N-MNIST CNN, from Sinabs
def _paper_cnn(torch, sl, rng):
    """The architecture of the NIR paper's `cnn_sinabs.nir` (neuromorphs/NIR,
    paper/02_cnn/sinabs.py), with random integer weights and IAF thresholds halfway
    between integers (so Sinabs' v ≥ θ and NIR's and the chip's v > θ agree), single
    spikes and reset to zero (a subtracted θ of x.5 is not an integer: the chip would
    round it), as Sinabs builds it and exports it with `to_nir`."""
    from sinabs.activation import MembraneReset, SingleSpike

    def iaf(th):
        return sl.IAFSqueeze(batch_size=1, spike_threshold=th, spike_fn=SingleSpike,
                             reset_fn=MembraneReset(), min_v_mem=None)

    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(2, 16, 5, stride=2, padding=1, bias=False), iaf(2.5),
        nn.Conv2d(16, 16, 3, stride=1, padding=1, bias=False), iaf(3.5),
        sl.SumPool2d(2),
        nn.Conv2d(16, 8, 3, stride=1, padding=1, bias=False), iaf(4.5),
        sl.SumPool2d(2), nn.Flatten(),
        nn.Linear(4 * 4 * 8, 256, bias=False), iaf(2.5),
        nn.Linear(256, 10, bias=False), iaf(1.5))
    with torch.no_grad():
        for m in net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.tensor(rng.integers(-1, 2, tuple(m.weight.shape)),
                                            dtype=torch.float32))
    return net


@pytest.fixture(scope="module")
def paper_cnn(tmp_path_factory):
    from helpers import client

    torch = pytest.importorskip("torch")
    sinabs = client("sinabs", "bash tests/setup_nir_clients.sh")
    import nir
    import sinabs.layers as sl

    net = _paper_cnn(torch, sl, np.random.default_rng(5))
    path = tmp_path_factory.mktemp("paper") / "cnn_sinabs.nir"
    graph = sinabs.to_nir(net, torch.zeros(1, 2, 34, 34))
    graph.infer_types()  # as the paper's sinabs.py does before nir.write
    nir.write(path, graph)
    return torch, net, path


def test_the_paper_cnn_from_sinabs_runs_exactly_on_event_input(paper_cnn, nmnist, tmp_path):
    """`nir import --encoder events` folds both linear chains, and the chip's output spikes
    equal Sinabs' own on N-MNIST-format recordings (bursts of several events included)."""
    torch, net, path = paper_cnn
    out = tmp_path / "paper.npz"
    rep = json.loads(cli("nir", "import", path, "-o", out, "--encoder", "events",
                         "--time-steps", T, "--data", nmnist,
                         "--time-window", WINDOW, "--images", 7, "--json").stdout)
    assert rep["fidelity"]["decision_agreement"] == 1.0
    assert [lay["kind"] for lay in rep["layers"]] == ["conv2d", "conv2d", "conv2d", "fc", "fc"]
    desc = description.load(out)
    got = load_inputs(desc, str(nmnist), "test", None, WINDOW)
    assert got.data.max() > 1  # several events at one address in one step
    chip = simulate(desc, got.data, record_spikes=True)
    o0 = chip.neuron_offsets[-2]
    for i, sample in enumerate(got.data):
        for m in net:
            if hasattr(m, "reset_states"):
                m.reset_states()
        frames = sample.reshape(T, 34, 34, 2).transpose(0, 3, 1, 2).astype(np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(frames)).numpy()
        assert ref.sum() > 0
        np.testing.assert_array_equal(chip.spikes[i, :, o0:], ref)


@pytest.mark.slow
def test_the_paper_cnn_verifies_on_verilator(paper_cnn, nmnist, tmp_path):
    from test_chip_equivalence import need

    need("verilator")
    out = tmp_path / "paper.npz"
    cli("nir", "import", paper_cnn[2], "-o", out, "--encoder", "events", "--time-steps", T,
        "--images", 0)
    rep = json.loads(cli("verify", out, "--data", nmnist, "--time-window", WINDOW,
                         "--images", 2, "--jobs", 2, "--json", check=None).stdout)
    assert rep["mismatches"] == 0 and rep["cycles_equal"] and rep["images"] == 2

"""NIR in and out (docs/nir.md): exact round trips of every shipped model and of random
descriptions, real clients (snnTorch, Norse) on both sides, residual graphs, and hostile
files refused in one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="NIR interchange needs the optional 'nir' package "
                                        "(pip install 'neurochip[nir]')")

from neurochip.cli.main import main  # noqa: E402
from neurochip.datasets import load_sample  # noqa: E402
from neurochip.description import (CoreDescription, CoreMapping,  # noqa: E402
                                   DescriptionError, Encoder, Layer, description_files,
                                   load, validate)
from neurochip.interchange.nir_export import export, export_file  # noqa: E402
from neurochip.interchange.nir_fidelity import measure  # noqa: E402
from neurochip.interchange.nir_import import ImportOptions, import_file  # noqa: E402
from neurochip.interchange.nir_io import NirError  # noqa: E402
from neurochip.neurons.lif import LifNeuron  # noqa: E402
from neurochip.random_networks import random_description, random_images, random_inputs  # noqa: E402
from neurochip.sim import simulate  # noqa: E402
from neurochip.sim.simulator import encode_images  # noqa: E402
from helpers import client  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = [str(p) for p in description_files(ROOT / "models")]
DIS = LifNeuron(reset="zero", leak="none", leak_amount=0, integration="discontinuous")


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).name)
def test_every_shipped_model_round_trips_to_the_identical_description(path, tmp_path):
    desc = load(path)
    export_file(desc, tmp_path / "m.nir")
    res, _ = import_file(tmp_path / "m.nir")
    assert res.exact and res.desc.content_hash() == desc.content_hash()
    assert res.desc.manifest() == desc.manifest()


def _model_tags(desc) -> set[str]:
    """lif, ttfs/ramp, ttfs/step, bistable, lif_refractory: the neuron variants a description
    uses."""
    return {lay.neuron.model + (f"/{lay.neuron.psp}" if lay.neuron.model == "ttfs" else "")
            for lay in desc.layers}


@pytest.mark.parametrize("extremes", [False, True], ids=["plain", "extremes"])
def test_random_descriptions_round_trip(tmp_path, extremes):
    """Every drawn description (all kinds, all neuron models; with ``extremes`` thresholds
    and biases on the B-bit bounds, where bistable's θ − ½ must still come back exactly)
    reads back with the same content hash; the drawn set must contain every kind and
    every model variant, so the test cannot pass vacuously."""
    kinds, models = set(), set()
    for seed in range(40 if not extremes else 20):
        desc = random_description(seed, extremes=extremes)
        kinds |= {lay.kind for lay in desc.layers}
        models |= _model_tags(desc)
        export_file(desc, tmp_path / "r.nir")
        res, _ = import_file(tmp_path / "r.nir")
        assert res.exact and res.desc.content_hash() == desc.content_hash(), f"seed {seed}"
        assert res.desc.manifest() == desc.manifest(), f"seed {seed}"
    assert kinds == {"fc", "conv2d", "pool", "add"}
    assert models == {"lif", "ttfs/ramp", "ttfs/step", "bistable", "lif_refractory"}


def test_export_uses_standard_primitives(tmp_path):
    desc = load(ROOT / "models" / "ste-bp-mnist-cnn.npz")
    export_file(desc, tmp_path / "c.nir")
    graph = nir.read(tmp_path / "c.nir")  # type-checked by nir itself
    types = {type(n).__name__ for n in graph.nodes.values()}
    assert types <= {"Input", "Output", "Conv2d", "SumPool2d", "Affine", "Flatten", "LIF", "IF",
                     "Scale"}
    assert {"Conv2d", "SumPool2d", "Flatten", "Affine", "LIF"} <= types


def _standard_primitives_suffice(desc) -> bool:
    """NIR's standard fields carry a lif network whose continuous layers share one reset
    (the importer's --reset states it; the input encoder is stated with --encoder)."""
    resets = {lay.neuron.reset for lay in desc.layers
              if lay.neuron.model == "lif" and lay.neuron.integration == "continuous"}
    return all(lay.neuron.model == "lif" for lay in desc.layers) and len(resets) <= 1


@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).name)
def test_foreign_reimport_of_every_shipped_model(path, tmp_path):
    """Without the metadata, the float graph (standard primitives only) of a shipped model
    whose standard fields suffice quantizes back to a network whose spikes equal the
    original chip's, step by step; only the reset of continuous layers and the input
    encoder have to be stated (NIR cannot say them). A model they do not suffice for (ttfs,
    bistable, resets that differ between layers) imports with its approximated nodes named,
    or is refused in one line."""
    desc = load(path)
    export_file(desc, tmp_path / "s.nir")
    subtract = any(lay.neuron.model == "lif" and lay.neuron.reset == "subtract"
                   and lay.neuron.integration == "continuous" for lay in desc.layers)
    options = ImportOptions(foreign=True, time_steps=desc.time_steps, encoder=desc.encoder.kind,
                            seed=desc.encoder.seed, reset="subtract" if subtract else "zero")
    if not _standard_primitives_suffice(desc):
        try:
            res, _ = import_file(tmp_path / "s.nir", options)
        except (NirError, DescriptionError) as exc:  # refused in one line, naming the node
            assert "\n" not in str(exc) and str(exc)
            return
        assert not res.exact
        assert any(m.approximated for m in res.layers) or any(
            lay.neuron.reset != lay2.neuron.reset
            for lay, lay2 in zip(desc.layers, res.desc.layers))
        return
    res, g = import_file(tmp_path / "s.nir", options)
    assert not res.exact
    assert [lay.kind for lay in res.desc.layers] == [lay.kind for lay in desc.layers]
    images = load_sample()[0][:12]
    a = simulate(desc, images, record_spikes=True)
    b = simulate(res.desc, images, record_spikes=True)
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.counts, b.counts)
    f = measure(g, res, images, None, "sample")
    assert f.decision_agreement == 1.0
    assert all(lay.identical_spike_fraction == 1.0 for lay in f.layers)


# ------------------------------------------------------------------ snnTorch
def _snn_if_net(torch, snn, rng):
    """784-32-10 IF net (β = 1, subtract reset) with integer weights, biases, thresholds."""
    l1, l2 = torch.nn.Linear(784, 32), torch.nn.Linear(32, 10)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor(rng.integers(-2, 3, (32, 784)), dtype=torch.float32))
        l1.bias.copy_(torch.tensor(rng.integers(-3, 2, 32), dtype=torch.float32))
        l2.weight.copy_(torch.tensor(rng.integers(-3, 4, (10, 32)), dtype=torch.float32))
        l2.bias.copy_(torch.zeros(10))

    def neuron(n, lo, hi):
        return snn.Leaky(beta=torch.ones(n), threshold=torch.tensor(
            rng.integers(lo, hi, n), dtype=torch.float32), init_hidden=True)

    return torch.nn.Sequential(torch.nn.Flatten(), l1, neuron(32, 4, 30), l2, neuron(10, 2, 8))


def _run_torch(torch, net, spikes, layers):
    """Spikes of the given modules of ``net`` per step: (n, T, N) each."""
    seen = {i: [] for i in layers}
    hooks = [net[i].register_forward_hook(lambda m, a, o, i=i: seen[i].append(
        (o[0] if isinstance(o, tuple) else o).detach().numpy().copy())) for i in layers]
    with torch.no_grad():
        for t in range(spikes.shape[1]):
            net(torch.tensor(spikes[:, t].astype(np.float32)).reshape(len(spikes), 1, 28, 28))
    for h in hooks:
        h.remove()
    return {i: np.stack(v, axis=1).reshape(len(spikes), spikes.shape[1], -1) for i, v in seen.items()}


def test_snntorch_if_network_runs_exactly_on_the_chip(tmp_path):
    torch = _torch()
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    net = _snn_if_net(torch, snn, np.random.default_rng(3))
    graph = export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    nir.write(tmp_path / "if.nir", graph)
    # snnTorch simulates reset by subtraction (its default); NIR cannot say so: --reset subtract
    res, g = import_file(tmp_path / "if.nir", ImportOptions(reset="subtract", time_steps=8))
    assert [lay.neuron.leak for lay in res.desc.layers] == ["none", "none"]
    assert all(lay.weight_bits <= 3 for lay in res.desc.layers)
    images = load_sample()[0][:24]
    spikes = encode_images(res.desc, images)
    for m in net.modules():
        if isinstance(m, snn.Leaky):
            m.reset_hidden()
    ours = _run_torch(torch, net, spikes, [2, 4])
    chip = simulate(res.desc, images, record_spikes=True)
    assert ours[2].sum() > 0 and ours[4].sum() > 0
    assert np.array_equal(chip.spikes[:, :, :32], ours[2])
    assert np.array_equal(chip.spikes[:, :, 32:], ours[4])
    f = measure(g, res, images, None, "sample")
    assert f.decision_agreement == 1.0 and all(x.max_abs_count_error == 0 for x in f.layers)


def test_snntorch_lif_network_agrees_within_the_reported_fidelity(tmp_path):
    torch = _torch()
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 48),
        snn.Leaky(beta=torch.full((48,), 0.75), threshold=torch.full((48,), 0.5),
                  init_hidden=True, reset_mechanism="zero"),
        torch.nn.Linear(48, 10),
        snn.Leaky(beta=torch.full((10,), 0.75), threshold=torch.full((10,), 0.2),
                  init_hidden=True, reset_mechanism="zero"))
    with torch.no_grad():
        net[1].weight.mul_(3.0)
    graph = export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    nir.write(tmp_path / "lif.nir", graph)
    res, g = import_file(tmp_path / "lif.nir", ImportOptions(time_steps=8))
    assert [lay.neuron.leak for lay in res.desc.layers] == ["shift", "shift"]
    assert [lay.neuron.leak_amount for lay in res.desc.layers] == [2, 2]  # β = 1 − 2^-2
    images = load_sample()[0][:48]
    f = measure(g, res, images, None, "sample")
    spikes = encode_images(res.desc, images)
    ours = _run_torch(torch, net, spikes, [2, 4])
    chip = simulate(res.desc, images, record_spikes=True)
    for i, (mod, lay) in enumerate(zip((2, 4), f.layers)):
        lo, hi = chip.neuron_offsets[i], chip.neuron_offsets[i + 1]
        err = np.abs(chip.spikes[:, :, lo:hi].sum(1).astype(int) - ours[mod].sum(1)).mean()
        # snnTorch (float32) is the float reference the report measured against (float64)
        assert abs(err - lay.mean_abs_count_error) <= 0.02, (lay.layer, err, lay.mean_abs_count_error)
        assert lay.approximated and any("shift leak" in n for n in lay.notes)
    agree = np.mean(np.argmax(ours[4].sum(1), 1) == chip.predictions)
    assert abs(agree - f.decision_agreement) <= 0.05
    assert ours[2].sum() > 0


def _uniform_threshold_model() -> CoreDescription:
    rng = np.random.default_rng(0)
    l1 = Layer("fc1", 784, 64, 1, 10, "saturate", DIS, CoreMapping(0, 64, 64),
               rng.choice([-1, 1], (784, 64)), np.full(64, 5), np.zeros(64, np.int64))
    l2 = Layer("out", 64, 10, 1, 8, "saturate", DIS, CoreMapping(1, 10, 64),
               rng.choice([-1, 1], (64, 10)), np.full(10, 2), np.zeros(10, np.int64), source="fc1")
    desc = CoreDescription("uniform", (28, 28), Encoder(), 8, 100e6, 4, [l1, l2])
    validate(desc)
    return desc


def test_exported_model_imports_into_snntorch_with_the_chips_spikes():
    """snnTorch's importer takes one threshold per layer, so the model has uniform ones."""
    torch = _torch()
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir

    desc = _uniform_threshold_model()
    net = import_from_nir(export(desc))
    images = load_sample()[0][:16]
    spikes = encode_images(desc, images)
    chip = simulate(desc, images, record_spikes=True)
    out = []
    with torch.no_grad():
        for t in range(desc.time_steps):
            o = net(torch.tensor(spikes[:, t].astype(np.float32)))
            out.append((o[0] if isinstance(o, tuple) else o).numpy())
    out = np.stack(out, axis=1)
    assert out.sum() > 0
    assert np.array_equal(out, chip.spikes[:, :, 64:])


# ------------------------------------------------------------------ Norse
def test_norse_if_network_runs_exactly_on_the_chip(tmp_path):
    torch = _torch()
    norse = client("norse.torch", "bash tests/setup_nir_clients.sh")
    rng = np.random.default_rng(5)
    l1, l2 = torch.nn.Linear(784, 24), torch.nn.Linear(24, 10)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor(rng.integers(-1, 2, (24, 784)) * 0.5, dtype=torch.float32))
        l1.bias.zero_()
        l2.weight.copy_(torch.tensor(rng.integers(-2, 3, (10, 24)) * 0.5, dtype=torch.float32))
        l2.bias.zero_()
    # per-neuron thresholds: nir.write cannot store Norse's scalar (0-d) parameters
    net = norse.SequentialState(
        l1, norse.IAFCell(norse.IAFParameters(v_th=torch.full((24,), 4.0))),
        l2, norse.IAFCell(norse.IAFParameters(v_th=torch.full((10,), 1.0))))
    nir.write(tmp_path / "norse.nir", norse.to_nir(net, torch.zeros(1, 784)))
    res, g = import_file(tmp_path / "norse.nir", ImportOptions(time_steps=8))
    images = load_sample()[0][:24]
    spikes = encode_images(res.desc, images)
    state, outs, hidden = None, [], []
    hook = net[1].register_forward_hook(lambda m, a, o: hidden.append(o[0].detach().numpy()))
    with torch.no_grad():
        for t in range(8):
            o, state = net(torch.tensor(spikes[:, t].astype(np.float32)), state)
            outs.append(o.numpy())
    hook.remove()
    chip = simulate(res.desc, images, record_spikes=True)
    assert np.stack(hidden, 1).sum() > 0
    assert np.array_equal(chip.spikes[:, :, :24], np.stack(hidden, 1))
    assert np.array_equal(chip.spikes[:, :, 24:], np.stack(outs, 1))


# ------------------------------------------------------------------ residual graphs
def _residual_graph(rng) -> object:
    def conv(cin, cout, padding):
        return nir.Conv2d(input_shape=(6, 6), weight=rng.integers(-2, 3, (cout, cin, 3, 3)).astype(float),
                          stride=1, padding=padding, dilation=1, groups=1, bias=np.zeros(cout))

    def neuron(shape, th):
        return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, th), v_reset=np.zeros(shape))

    nodes = {"input": nir.Input(input_type={"input": np.array([2, 6, 6])}),
             "c1": conv(2, 4, 1), "n1": neuron((4, 6, 6), 2.0),
             "c2": conv(4, 4, "same"), "n2": neuron((4, 6, 6), 3.0),
             "g": nir.Scale(scale=np.full((4, 6, 6), 2.0)),
             "sum": neuron((4, 6, 6), 1.0),
             "flat": nir.Flatten(input_type={"input": np.array([4, 6, 6])}, start_dim=0, end_dim=-1),
             "fc": nir.Affine(weight=rng.integers(-2, 3, (5, 144)).astype(float), bias=np.zeros(5)),
             "out": neuron((5,), 2.0),
             "output": nir.Output(output_type={"output": np.array([5])})}
    edges = [("input", "c1"), ("c1", "n1"), ("n1", "c2"), ("c2", "n2"), ("n2", "sum"),
             ("n1", "g"), ("g", "sum"), ("sum", "flat"), ("flat", "fc"), ("fc", "out"),
             ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def test_residual_graph_maps_onto_add_and_runs_exactly(tmp_path):
    nir.write(tmp_path / "res.nir", _residual_graph(np.random.default_rng(1)))
    res, g = import_file(tmp_path / "res.nir", ImportOptions(time_steps=6, encoder="rate_deterministic"))
    assert [lay.kind for lay in res.desc.layers] == ["conv2d", "conv2d", "add", "fc"]
    add = res.desc.layers[2]
    assert add.sources == ("n2", "n1") and add.weight.tolist() == [[1] * 4, [2] * 4]
    f = measure(g, res, random_images(2, 16, 72), None, "random")
    assert f.decision_agreement == 1.0
    assert all(x.identical_spike_fraction == 1.0 for x in f.layers)
    assert sum(x.chip_spikes_per_image for x in f.layers) > 0
    export_file(res.desc, tmp_path / "back.nir")  # and the imported description round-trips
    assert import_file(tmp_path / "back.nir")[0].desc.content_hash() == res.desc.content_hash()


# ------------------------------------------------------------------ hostile files and the CLI
def _write_bad(tmp_path, case: str) -> Path:
    path = tmp_path / f"{case}.nir"
    inp = nir.Input(input_type={"input": np.array([4])})
    out = nir.Output(output_type={"output": np.array([3])})
    w = np.ones((3, 4))
    neuron = nir.IF(r=np.ones(3), v_threshold=np.ones(3))
    nodes = {"input": inp, "fc": nir.Affine(weight=w, bias=np.zeros(3)), "n": neuron, "output": out}
    edges = [("input", "fc"), ("fc", "n"), ("n", "output")]
    if case == "text":
        path.write_text("not a NIR file")
        return path
    if case == "nan":
        nodes["fc"] = nir.Affine(weight=np.full((3, 4), np.nan), bias=np.zeros(3))
    elif case == "cycle":
        nodes["rec"] = nir.Linear(weight=np.ones((3, 3)))
        edges += [("n", "rec"), ("rec", "n")]
    elif case == "unknown_type":
        nodes["n"] = nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3))
    elif case == "wrong_shape":
        nodes["input"] = nir.Input(input_type={"input": np.array([5])})
    elif case == "cuba_current":
        nodes["n"] = nir.CubaLIF(tau_syn=np.full(3, 5e-4), tau_mem=np.full(3, 1e-3), r=np.ones(3),
                                 v_leak=np.zeros(3), v_threshold=np.ones(3))
    elif case == "inf_threshold":
        nodes["n"] = nir.IF(r=np.ones(3), v_threshold=np.full(3, np.inf))
    elif case == "v_reset":
        nodes["n"] = nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.full(3, 0.5))
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    if case == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    if case == "bomb":
        import h5py

        with h5py.File(path, "r+") as f:  # 2^40 zeros compress to almost nothing
            f.create_dataset("node/pad", shape=(1 << 37,), dtype="f8", chunks=(1 << 20,),
                             compression="gzip")
    if case == "bad_metadata":
        export_file(random_description(0), path)
        import h5py

        with h5py.File(path, "r+") as f:
            meta = f["node/metadata/neurochip"]
            text = meta[()].decode() if isinstance(meta[()], bytes) else str(meta[()])
            del f["node/metadata/neurochip"]
            f["node/metadata/neurochip"] = text.replace('"version": 1', '"version": 7')
    return path


HOSTILE = {"text": "not an HDF5 file", "truncated": "unreadable NIR file", "nan": "holds NaN",
           "cycle": "cycle", "unknown_type": "type LI", "wrong_shape": "5 values",
           "cuba_current": "synaptic-current register", "v_reset": "v_reset = 0.5",
           "bad_metadata": "version 7", "bomb": "would unpack",
           "inf_threshold": "holds ±inf"}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_are_refused_in_one_line(case, tmp_path, capsys):
    path = _write_bad(tmp_path, case)
    with pytest.raises(NirError, match=HOSTILE[case]):
        import_file(path)
    rc = main(["nir", "import", str(path), "-o", str(tmp_path / "x.npz"), "--images", "2"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("neurochip: error:") and HOSTILE[case] in err
    assert not (tmp_path / "x.npz").exists()


def test_cli_export_then_import_json(tmp_path, capsys):
    model = ROOT / "models" / "ste-bp-mnist-small.npz"
    assert main(["nir", "export", str(model), "-o", str(tmp_path / "s.nir"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["content_hash"] == load(model).content_hash()
    assert main(["nir", "import", str(tmp_path / "s.nir"), "-o", str(tmp_path / "s.npz"),
                 "--images", "8", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["exact_import"] and rep["content_hash"] == out["content_hash"]
    assert rep["fidelity"]["decision_agreement"] == 1.0
    assert load(tmp_path / "s.npz").content_hash() == out["content_hash"]
    assert main(["nir", "import", str(tmp_path / "s.nir"), "-o", str(tmp_path / "t.npz"),
                 "--time-steps", "0"]) == 2


def test_cli_import_of_an_snntorch_file_then_simulate_and_calibrate(tmp_path, capsys):
    """The user's path: snnTorch's .nir → `nir import` → `simulate`; --calibrate sizes the
    membranes from the float graph (never wider than the worst case)."""
    torch = _torch()
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    from neurochip.datasets import write_idx

    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 32),
        snn.Leaky(beta=torch.full((32,), 0.9), threshold=torch.ones(32), init_hidden=True),
        torch.nn.Linear(32, 10),
        snn.Leaky(beta=torch.full((10,), 0.9), threshold=torch.ones(10), init_hidden=True))
    nir.write(tmp_path / "m.nir", export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0]))
    images, labels = load_sample()
    cal = tmp_path / "cal"
    cal.mkdir()
    write_idx(cal / "train-images-idx3-ubyte", images[:64])
    write_idx(cal / "train-labels-idx1-ubyte", labels[:64])
    assert main(["nir", "import", str(tmp_path / "m.nir"), "-o", str(tmp_path / "m.npz"),
                 "--images", "16"]) == 0
    text = capsys.readouterr().out
    assert "decisions" in text and "shift leak λ = 3" in text and "reset: zero" in text
    assert main(["nir", "import", str(tmp_path / "m.nir"), "-o", str(tmp_path / "c.npz"),
                 "--images", "0", "--calibrate", str(cal)]) == 0
    capsys.readouterr()
    worst, calibrated = load(tmp_path / "m.npz"), load(tmp_path / "c.npz")
    for a, b in zip(worst.layers, calibrated.layers):
        assert b.membrane_bits <= a.membrane_bits
    assert main(["simulate", str(tmp_path / "m.npz"), "--limit", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 8


def test_cli_help_and_missing_action(capsys):
    for argv in (["nir", "--help"], ["nir", "import", "--help"], ["nir", "export", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    assert "--calibrate" in capsys.readouterr().out
    assert main(["nir"]) == 2


def test_snntorch_cnn_with_avgpool_runs_exactly_on_the_chip(tmp_path):
    """Conv2d → Leaky(β=0) → AvgPool2d → Leaky(β=0) → Flatten → Linear → Leaky(β=1), integer
    weights: the (C, H, W) ↔ (H, W, C) layouts, the Flatten permutation and the average's
    1/p² against snnTorch's own simulation, spike for spike."""
    torch = _torch()
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    from neurochip.interchange.nir_fidelity import chip_to_nir
    from neurochip.kinds import get_kind

    rng = np.random.default_rng(7)
    conv = torch.nn.Conv2d(1, 4, 5)
    fc = torch.nn.Linear(4 * 12 * 12, 10)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(rng.integers(-1, 2, (4, 1, 5, 5)), dtype=torch.float32))
        conv.bias.copy_(torch.tensor([0.0, -1.0, 1.0, 0.0]))
        fc.weight.copy_(torch.tensor(rng.integers(-2, 3, (10, 576)), dtype=torch.float32))
        fc.bias.zero_()

    def leaky(shape, beta, th, reset):
        return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.full(shape, th),
                         init_hidden=True, reset_mechanism=reset)

    # β = 0 with snnTorch's (delayed) subtract reset would subtract θ from the next step's
    # input, which is not memoryless; with reset to zero it is the chip's discontinuous layer
    net = torch.nn.Sequential(conv, leaky((4, 24, 24), 0.0, 2.0, "zero"), torch.nn.AvgPool2d(2),
                              leaky((4, 12, 12), 0.0, 0.5, "zero"), torch.nn.Flatten(), fc,
                              leaky((10,), 1.0, 6.0, "subtract"))
    nir.write(tmp_path / "cnn.nir", export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0]))
    res, g = import_file(tmp_path / "cnn.nir", ImportOptions(reset="subtract", time_steps=6))
    assert [lay.kind for lay in res.desc.layers] == ["conv2d", "pool", "fc"]
    assert res.desc.layers[1].threshold.tolist() == [2] * 4  # avg > 0.5 ⟺ count > 2
    images = load_sample()[0][:12]
    spikes = encode_images(res.desc, images)
    ours = _run_torch(torch, net, spikes, [1, 3, 6])
    chip = simulate(res.desc, images, record_spikes=True)
    for i, mod in enumerate((1, 3, 6)):
        lay = res.desc.layers[i]
        ch = chip.spikes[:, :, chip.neuron_offsets[i]:chip.neuron_offsets[i + 1]]
        ch = chip_to_nir(ch, get_kind(lay.kind).output_shape(lay), lay.kind == "fc")
        assert ours[mod].sum() > 0, mod
        assert np.array_equal(ch, ours[mod]), lay.name


def _one_layer(tmp_path, neuron, weight) -> Path:
    n_out, n_in = weight.shape
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc": nir.Affine(weight=weight, bias=np.zeros(n_out)), "n": neuron,
             "output": nir.Output(output_type={"output": np.array([n_out])})}
    path = tmp_path / "one.nir"
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "n"),
                                                      ("n", "output")]))
    return path


def test_cubalif_with_tau_syn_dt_is_an_lif(tmp_path):
    dt, n = 1e-3, 6
    w = np.random.default_rng(0).integers(-2, 3, (n, 16)).astype(float)
    cuba = nir.CubaLIF(tau_syn=np.full(n, dt), tau_mem=np.full(n, dt), r=np.ones(n),
                       v_leak=np.zeros(n), v_threshold=np.full(n, 1.0), w_in=np.ones(n))
    res, g = import_file(_one_layer(tmp_path, cuba, w), ImportOptions(dt=dt, time_steps=5))
    assert res.desc.layers[0].neuron.integration == "discontinuous"
    f = measure(g, res, random_images(1, 32, 16), None, "random")
    assert f.decision_agreement == 1.0 and f.layers[0].identical_spike_fraction == 1.0
    assert f.layers[0].chip_spikes_per_image > 0


@pytest.mark.parametrize("mode,leak,amount", [("shift", "shift", 2), ("subtract", "subtract", 1),
                                              ("none", "none", 0)])
def test_leak_modes_are_applied_and_stated(tmp_path, mode, leak, amount):
    n, dt = 4, 1e-4
    lif = nir.LIF(tau=np.full(n, 4 * dt), r=np.full(n, 4.0), v_leak=np.zeros(n),
                  v_threshold=np.full(n, 5.0))  # β = 0.75, gain 1
    w = np.ones((n, 8))
    res, _ = import_file(_one_layer(tmp_path, lif, w), ImportOptions(leak=mode))
    p = res.desc.layers[0].neuron
    assert (p.leak, p.leak_amount, p.integration) == (leak, amount, "continuous")
    assert res.layers[0].approximated  # β = 0.75 is exact only as a shift leak's β
    assert any(mode in note or "leak" in note for note in res.layers[0].notes)


def test_mutated_files_import_or_are_refused_never_crash(tmp_path):
    """Seeded mutations of exported files (datasets deleted, reshaped, scaled, replaced by
    text), drawn from random descriptions with every neuron model: each one imports (and
    its fidelity report runs) or raises a one-line NirError / DescriptionError, never
    another exception."""
    import random

    import h5py

    rng = random.Random(0)
    src, path = tmp_path / "src.nir", tmp_path / "fz.nir"
    outcomes = {"imported": 0, "refused": 0}
    for trial in range(80):
        export_file(random_description(trial % 40), src)
        path.write_bytes(src.read_bytes())
        with h5py.File(path, "r+") as f:
            names: list[str] = []
            f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            for name in rng.sample(names, k=min(len(names), rng.randint(1, 3))):
                value = np.asarray(f[name][()])
                del f[name]
                op = rng.choice(["delete", "shape", "scale", "text"])
                if op == "shape":
                    f[name] = np.zeros((2, 3, 1))
                elif op == "scale" and value.dtype.kind in "fiu":
                    f[name] = value * rng.choice([0.0, -1.0, 0.5, 1e30])
                elif op == "text":
                    f[name] = "garbage"
        for foreign in (False, True):
            try:
                res, g = import_file(path, ImportOptions(foreign=foreign, time_steps=3))
                measure(g, res, random_inputs(0, 2, res.desc), None, "random")
                outcomes["imported"] += 1
            except DescriptionError as exc:  # NirError is one; a bare ValueError is a crash
                assert "\n" not in str(exc)
                outcomes["refused"] += 1
    assert outcomes["imported"] > 0 and outcomes["refused"] > 0


def test_sinabs_if_network_runs_exactly_on_the_chip(tmp_path):
    """Sinabs IAF (SingleSpike, reset to zero) with integer weights and thresholds halfway
    between integers, so Sinabs' v >= θ and NIR's (and the chip's) v > θ agree; Sinabs
    writes the input type as (T, N)."""
    torch = _torch()
    sinabs = client("sinabs", "bash tests/setup_nir_clients.sh")
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    rng = np.random.default_rng(0)
    l1, l2 = torch.nn.Linear(784, 16, bias=False), torch.nn.Linear(16, 10, bias=False)
    with torch.no_grad():
        l1.weight.copy_(torch.tensor(rng.integers(-1, 2, (16, 784)), dtype=torch.float32))
        l2.weight.copy_(torch.tensor(rng.integers(-2, 3, (10, 16)), dtype=torch.float32))

    def iaf(th):
        return sl.IAF(spike_threshold=th, spike_fn=SingleSpike, reset_fn=MembraneReset(),
                      min_v_mem=None)

    net = torch.nn.Sequential(l1, iaf(3.5), l2, iaf(1.5))
    nir.write(tmp_path / "sinabs.nir", sinabs.to_nir(net, torch.zeros(1, 8, 784)))
    res, g = import_file(tmp_path / "sinabs.nir", ImportOptions(time_steps=8))
    assert [lay.threshold[0] for lay in res.desc.layers] == [3, 1]
    images = load_sample()[0][:24]
    spikes = encode_images(res.desc, images)
    for m in net:
        if hasattr(m, "reset_states"):
            m.reset_states()
    hidden = []
    hook = net[1].register_forward_hook(lambda m, a, o: hidden.append(o.detach().numpy()))
    with torch.no_grad():
        out = net(torch.tensor(spikes.astype(np.float32))).numpy()
    hook.remove()
    chip = simulate(res.desc, images, record_spikes=True)
    assert hidden[0].sum() > 0 and out.sum() > 0
    assert np.array_equal(chip.spikes[:, :, :16], hidden[0])
    assert np.array_equal(chip.spikes[:, :, 16:], out)


# ------------------------------------------------------------------ ttfs and bistable
def _one_model(model: str, seed: int = 3, **neuron):
    """A one-layer fc description of ``model`` (settings overridden by ``neuron``)."""
    from dataclasses import replace

    desc = random_description(seed, models=(model,), kinds=("fc",), max_layers=1,
                              max_steps=5)
    lay = desc.layers[0]
    lay.neuron = replace(lay.neuron, **neuron)
    validate(desc)
    return desc


@pytest.mark.parametrize("psp,node_type", [("step", "IF"), ("ramp", "CubaLIF")])
def test_ttfs_exports_the_closest_primitive_and_states_what_is_lost(tmp_path, psp, node_type):
    desc = _one_model("ttfs", psp=psp)
    lost = export_file(desc, tmp_path / "t.nir")
    graph = nir.read(tmp_path / "t.nir")
    node = graph.nodes["l0"]
    assert type(node).__name__ == node_type
    assert np.array_equal(np.asarray(node.v_threshold), desc.layers[0].threshold)
    assert not np.any(np.asarray(graph.nodes["l0_syn"].bias))  # ttfs has no bias
    meta = json.loads(node.metadata["neurochip"])
    assert meta["layer"]["neuron"] == {"model": "ttfs", "psp": psp}
    assert any("single spike" in x for x in lost) and any("first-spike" in x for x in lost)
    assert (psp == "ramp") == any("ramp PSP" in x for x in lost)


@pytest.mark.parametrize("psp", ["step", "ramp"])
def test_ttfs_float_primitive_first_spikes_equal_the_chip(tmp_path, psp):
    """The IF / α = β = 1 CubaLIF written for a ttfs layer, run as written in float (the
    fidelity report's reference), fires each neuron's FIRST spike in the same step as the
    chip; only the later spikes (which the fired bit suppresses) differ."""
    from neurochip.interchange import nir_float
    from neurochip.interchange.nir_fidelity import nir_input

    desc = _one_model("ttfs", psp=psp)
    export_file(desc, tmp_path / "t.nir")
    res, g = import_file(tmp_path / "t.nir")
    images = random_inputs(1, 16, desc)
    chip = simulate(desc, images, record_spikes=True).spikes.astype(bool)
    ref = nir_float.run(g, nir_input(res, encode_images(desc, images)), res.dt,
                        {"l0": "zero"}).spikes["l0"].astype(bool)

    def first(s):  # step of the first spike per (image, neuron), T where none
        return np.where(s.any(axis=1), s.argmax(axis=1), s.shape[1])

    assert chip.sum() > 0 and np.array_equal(first(chip), first(ref))
    assert chip.sum(axis=1).max() <= 1


def test_bistable_exports_an_if_at_theta_minus_half_with_the_phase_in_metadata(tmp_path):
    desc = _one_model("bistable", phase_steps=2, phase=1)
    lost = export_file(desc, tmp_path / "b.nir")
    graph = nir.read(tmp_path / "b.nir")
    node = graph.nodes["l0"]
    assert type(node).__name__ == "IF"
    assert np.array_equal(np.asarray(node.v_threshold) + 0.5, desc.layers[0].threshold)
    assert np.array_equal(np.asarray(graph.nodes["l0_syn"].bias), desc.layers[0].bias)
    meta = json.loads(node.metadata["neurochip"])
    assert meta["layer"]["neuron"] == {"model": "bistable", "phase_steps": 2, "phase": 1}
    for word in ("phase gating", "integrate steps", "subtraction", "v ≥ θ"):
        assert any(word in x for x in lost), word


def test_foreign_import_of_exported_ttfs_and_bistable_maps_or_refuses(tmp_path, capsys):
    """--foreign ignores the metadata: a ttfs/step or bistable node's IF becomes lif with
    the approximation stated; a ttfs/ramp node (CubaLIF, α = 1) is refused naming the node
    and why, with exit code 2 from the CLI."""
    for model, settings, word in (("ttfs", {"psp": "step"}, "single spike"),
                                  ("bistable", {"phase_steps": 1, "phase": 0}, "phase gating")):
        export_file(_one_model(model, **settings), tmp_path / "f.nir")
        res, _ = import_file(tmp_path / "f.nir", ImportOptions(foreign=True, time_steps=4))
        assert not res.exact and res.desc.layers[0].neuron.model == "lif"
        assert res.layers[0].approximated
        assert any(model in n and word in n for n in res.layers[0].notes)
    export_file(_one_model("ttfs", psp="ramp"), tmp_path / "r.nir")
    with pytest.raises(NirError, match=r"node 'l0' is a neurochip ttfs layer with psp = ramp"):
        import_file(tmp_path / "r.nir", ImportOptions(foreign=True))
    code = main(["nir", "import", str(tmp_path / "r.nir"), "--foreign", "--out",
                 str(tmp_path / "r.npz")])
    err = capsys.readouterr().err
    assert code == 2 and "current register" in err and "Traceback" not in err
    res, _ = import_file(tmp_path / "r.nir")  # without --foreign: exact
    assert res.exact and res.desc.layers[0].neuron.psp == "ramp"


def test_foreign_cubalif_without_metadata_is_still_refused(tmp_path):
    """A foreign CubaLIF with a decaying current never becomes ttfs (no metadata, no
    single-spike semantics): refused as before."""
    n = 4
    cuba = nir.CubaLIF(tau_syn=np.full(n, 2e-4), tau_mem=np.full(n, 1e-3), r=np.ones(n),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), w_in=np.ones(n))
    nodes = {"input": nir.Input(input_type={"input": np.array([8])}),
             "fc": nir.Affine(weight=np.ones((n, 8)), bias=np.zeros(n)), "lif": cuba,
             "output": nir.Output(output_type={"output": np.array([n])})}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    nir.write(tmp_path / "c.nir", g)
    with pytest.raises(NirError, match="synaptic-current register"):
        import_file(tmp_path / "c.nir")


# ------------------------------------------------------------------ linear chains (Speck style)
def _if(shape, th):
    return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, th), v_reset=np.zeros(shape))


def _speck_graph(rng, pool_pool: bool = False):
    """Sinabs/Speck-style: SumPool2d feeding Conv2d, and SumPool2d → Flatten → Affine →
    Affine, with no neuron node in between (as the NIR paper's N-MNIST CNN); thresholds
    halfway between integers so float and chip decisions coincide exactly."""
    def conv(cin, cout, hw, stride=1, padding=1):
        return nir.Conv2d(input_shape=hw, weight=rng.integers(-1, 2, (cout, cin, 3, 3)).astype(float),
                          stride=stride, padding=padding, dilation=1, groups=1,
                          bias=rng.integers(-1, 2, cout).astype(float))

    def pool():
        return nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                             padding=np.array([0, 0]))

    nodes = {"input": nir.Input(input_type={"input": np.array([2, 16, 16])}),
             "c1": conv(2, 4, (16, 16)), "n1": _if((4, 16, 16), 1.5),
             "p1": pool(), "c2": conv(4, 3, (4, 4) if pool_pool else (8, 8)),
             "n2": _if((3, 4, 4) if pool_pool else (3, 8, 8), 2.5),
             "p2": pool(), "flat": nir.Flatten(input_type={"input": np.array([3, 4, 4])},
                                               start_dim=0, end_dim=-1),
             "a1": nir.Affine(weight=rng.integers(-1, 2, (6, 48)).astype(float),
                              bias=rng.integers(-1, 2, 6).astype(float)),
             "a2": nir.Affine(weight=rng.integers(-1, 2, (5, 6)).astype(float), bias=np.zeros(5)),
             "out": _if((5,), 0.5), "output": nir.Output(output_type={"output": np.array([5])})}
    edges = [("input", "c1"), ("c1", "n1"), ("n1", "p1"), ("p1", "c2"), ("c2", "n2"),
             ("n2", "p2"), ("p2", "flat"), ("flat", "a1"), ("a1", "a2"), ("a2", "out"),
             ("out", "output")]
    if pool_pool:  # n1 → p1 → p0 → c2: two pools folded into one, then into the conv
        nodes["p0"] = pool()
        nodes["flat"] = nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0,
                                    end_dim=-1)
        nodes["a1"] = nir.Affine(weight=rng.integers(-1, 2, (6, 12)).astype(float),
                                 bias=np.zeros(6))
        edges = [e for e in edges if e != ("p1", "c2")] + [("p1", "p0"), ("p0", "c2")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@pytest.mark.parametrize("pool_pool", [False, True])
def test_linear_chains_fold_into_one_layer_and_run_exactly(tmp_path, pool_pool):
    nir.write(tmp_path / "speck.nir", _speck_graph(np.random.default_rng(3), pool_pool))
    res, g = import_file(tmp_path / "speck.nir",
                         ImportOptions(time_steps=6, encoder="rate_deterministic"))
    kinds = [(lay.kind, lay.geometry.get("kernel"), lay.geometry.get("stride"))
             for lay in res.desc.layers]
    k = 4 if pool_pool else 2  # the pooled conv's kernel grows by the pool's window
    assert kinds == [("conv2d", [3, 3], 1), ("conv2d", [3 * k, 3 * k], k), ("fc", None, None)]
    assert res.desc.layers[1].geometry["pad"] == k
    assert res.desc.layers[2].inputs == (3 * 4 * 4 if pool_pool else 3 * 8 * 8)
    notes = [n for m in res.layers for n in m.notes if "linear chain folded" in n]
    assert len(notes) == (4 if pool_pool else 3)  # a layer lists every fold it carries
    f = measure(g, res, random_inputs(4, 24, res.desc), None, "random")
    assert f.decision_agreement == 1.0
    assert all(x.identical_spike_fraction == 1.0 for x in f.layers), [
        (x.node, x.identical_spike_fraction) for x in f.layers]
    assert all(x.chip_spikes_per_image > 0 for x in f.layers)


def test_conv_into_conv_is_refused_naming_both_nodes(tmp_path):
    """A convolution straight into a convolution has no exact chip layer (the folded
    kernel differs from a chip convolution at the padded borders)."""
    def conv(cin, cout):
        return nir.Conv2d(input_shape=(8, 8), weight=np.ones((cout, cin, 3, 3)), stride=1,
                          padding=1, dilation=1, groups=1, bias=np.zeros(cout))

    nodes = {"input": nir.Input(input_type={"input": np.array([1, 8, 8])}),
             "c1": conv(1, 2), "c2": conv(2, 2), "n": _if((2, 8, 8), 0.5),
             "output": nir.Output(output_type={"output": np.array([2, 8, 8])})}
    edges = [("input", "c1"), ("c1", "c2"), ("c2", "n"), ("n", "output")]
    nir.write(tmp_path / "c2c.nir", nir.NIRGraph(nodes=nodes, edges=edges))
    with pytest.raises(NirError, match=r"node 'c2' \(conv2d\) follows 'c1' \(conv2d\) with no "
                                       r"neuron node in between"):
        import_file(tmp_path / "c2c.nir", ImportOptions(time_steps=4))

"""The command line: results on stdout, errors on stderr with exit 2, --json parses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers import write_checkpoint
from neurochip.cli.main import main
from neurochip.train.quantize import quantize_checkpoint


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("m")
    quantize_checkpoint(write_checkpoint(d / "c.ckpt.npz", sizes=(784, 32, 10)), d / "m.npz",
                        lanes=8, report=False)
    return d / "m.npz"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_json_has_the_contract_keys(capsys, model):
    code, out, err = run(capsys, "simulate", str(model), "--limit", "20", "--json")
    assert code == 0, err
    r = json.loads(out)
    for key in ("images", "accuracy", "cycles_per_image", "energy_nj_per_image", "sops_per_image"):
        assert key in r
    assert r["images"] == 20
    assert r["cycles_per_image"] > 0 and r["energy_nj_per_image"] > 0
    assert abs(sum(r["energy_breakdown_nj"].values()) - r["energy_nj_per_image"]) < 1e-9 * r["energy_nj_per_image"] + 1e-12


def test_simulate_human_report(capsys, model):
    code, out, _ = run(capsys, "simulate", str(model), "--limit", "5")
    assert code == 0
    for word in ("accuracy", "cycles/image", "latency", "nJ/image", "pJ/SOP", "images/s"):
        assert word in out


def test_simulate_reads_idx_folders(capsys, model, tmp_path):
    from neurochip.datasets import load_sample
    from neurochip.datasets import write_idx
    images, labels = load_sample()
    write_sample_dir = tmp_path / "data"  # official file names, built from the sample
    write_sample_dir.mkdir()
    write_idx(write_sample_dir / "t10k-images-idx3-ubyte.gz", images[:12])
    write_idx(write_sample_dir / "t10k-labels-idx1-ubyte.gz", labels[:12])
    code, out, err = run(capsys, "simulate", str(model), "--data", str(write_sample_dir), "--json")
    assert code == 0, err
    assert json.loads(out)["images"] == 12


def test_same_images_same_results_through_cli_and_api(capsys, model):
    _, out1, _ = run(capsys, "simulate", str(model), "--limit", "10", "--json")
    _, out2, _ = run(capsys, "simulate", str(model), "--limit", "10", "--json")
    a, b = json.loads(out1), json.loads(out2)
    for key in ("accuracy", "cycles_per_image", "energy_nj_per_image", "sops_per_image"):
        assert a[key] == b[key]


@pytest.mark.parametrize("argv, words", [
    (["simulate", "absent.npz"], ["no such file"]),
    (["simulate", "{model}", "--limit", "0"], ["--limit"]),
    (["simulate", "{model}", "--data", "/nonexistent-dir"], ["/nonexistent-dir"]),
    (["simulate", "{model}", "--tech", "/nonexistent.json"], ["cannot read technology table"]),
    (["inspect", "{bad}"], ["not an .npz"]),
])
def test_bad_input_exits_2_with_a_message(capsys, model, tmp_path, argv, words):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    argv = [a.format(model=model, bad=bad) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    for w in words:
        assert w in err


def test_bad_tech_table_field_is_named(capsys, model, tmp_path):
    from importlib import resources
    table = json.loads(resources.files("neurochip.data").joinpath("tech_40nm.json").read_text())
    table["energy_pj"]["add_per_bit"] = -1
    path = tmp_path / "t.json"
    path.write_text(json.dumps(table))
    code, _, err = run(capsys, "simulate", str(model), "--tech", str(path), "--limit", "1")
    assert code == 2 and "energy_pj.add_per_bit" in err


def test_tech_table_scales_energy(capsys, model, tmp_path):
    from importlib import resources
    table = json.loads(resources.files("neurochip.data").joinpath("tech_40nm.json").read_text())
    table["energy_pj"] = {k: 2 * v for k, v in table["energy_pj"].items()}
    table["static_uw"] = {k: 2 * v for k, v in table["static_uw"].items()}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(table))
    _, base, _ = run(capsys, "simulate", str(model), "--limit", "3", "--json")
    _, doubled, _ = run(capsys, "simulate", str(model), "--limit", "3", "--json", "--tech", str(path))
    assert json.loads(doubled)["energy_nj_per_image"] == pytest.approx(2 * json.loads(base)["energy_nj_per_image"], rel=1e-12)


def test_inspect_reports_memory_and_compression(capsys, model):
    code, out, _ = run(capsys, "inspect", str(model), "--json")
    s = json.loads(out)
    assert code == 0
    assert s["synapses"] == 784 * 32 + 32 * 10
    # binary weights, lanes 8 divide 32 and pad 10 -> 16: 32x minus the padding
    assert s["weight_memory_bits"] == 784 * 32 + 32 * 16
    assert s["compression_vs_32bit"] == pytest.approx(32 * s["synapses"] / s["weight_memory_bits"])
    assert s["stored_weights"] == s["synapses"]  # fc: every synapse is a stored weight
    assert s["parameters"] == 2 * (32 + 10)  # threshold and bias per neuron
    all_bits = s["weight_memory_bits"] + s["parameter_bits"]
    assert s["compression_all_parameters"] == pytest.approx(32 * (s["synapses"] + 84) / all_bits)
    code, out, _ = run(capsys, "inspect", str(model))
    assert "smaller than 32-bit weights" in out


def test_inspect_reports_kernel_memory_of_a_conv_network(capsys, tmp_path):
    """conv2d stores its kernel, not an unrolled matrix: C_in·kh·kw·K_c·L·w bits."""
    from neurochip.description import save
    from neurochip.random_networks import random_description

    desc = next(d for d in (random_description(s, kinds=("conv2d", "pool"), max_layers=2)
                            for s in range(50)) if d.layers[0].kind == "conv2d")
    save(desc, tmp_path / "c.npz")
    code, out, _ = run(capsys, "inspect", str(tmp_path / "c.npz"), "--json")
    s = json.loads(out)
    lay = s["layers"][0]
    c_in = lay["in_shape"][0][2]
    kh, kw = lay["kernel"]
    kc = -(-lay["channels"] // lay["lanes"])
    assert lay["stored_weights"] == c_in * kh * kw * lay["channels"]
    assert lay["weight_memory_bits"] == c_in * kh * kw * kc * lay["lanes"] * lay["weight_bits"]
    h, w, c = lay["out_shape"]
    assert lay["synapses"] == h * w * c * c_in * kh * kw
    assert s["kernel_compression_vs_32bit"] == pytest.approx(
        32 * s["kernel_weights"] / s["kernel_memory_bits"])
    conv = [x for x in s["layers"] if x["kind"] == "conv2d"]
    assert s["conv_parameters"] == sum(2 * x["channels"] for x in conv)  # lif: θ and b
    assert s["conv_compression_all_parameters"] == pytest.approx(
        32 * (s["kernel_weights"] + s["conv_parameters"])
        / (s["kernel_memory_bits"] + sum(2 * x["channels"] * x["membrane_bits"] for x in conv)))
    code, out, _ = run(capsys, "inspect", str(tmp_path / "c.npz"))
    assert code == 0 and "conv kernels:" in out


def test_console_script_help_and_usage_errors():
    exe = shutil.which("neurochip") or None
    cmd = [exe] if exe else [sys.executable, "-m", "neurochip.cli.main"]
    assert subprocess.run(cmd + ["--help"], capture_output=True).returncode == 0
    res = subprocess.run(cmd + ["simulate"], capture_output=True, text=True)
    assert res.returncode == 2 and "usage" in res.stderr
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2


def test_simulate_plot_writes_a_png(capsys, model, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "sim.png"
    code, out, err = run(capsys, "simulate", str(model), "--limit", "4", "--plot", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- review regressions

@pytest.mark.parametrize("target, words", [
    ("{dir}", ["--plot", "is a directory"]),
    ("{dir}/missing/sim.png", ["--plot", "does not exist"]),
])
def test_simulate_plot_to_a_bad_path_exits_2_naming_plot(capsys, model, tmp_path, target, words):
    code, out, err = run(capsys, "simulate", str(model), "--limit", "2", "--plot",
                         target.format(dir=tmp_path))
    assert code == 2
    assert out == ""
    assert err.startswith("neurochip: error: --plot") and err.count("\n") == 1
    for w in words:
        assert w in err


def _per_image_rows(path):
    """--per-image records as dicts of the JSON Lines layout, whatever the file format."""
    import csv

    if path.suffix == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        out = []
        for row in rows:
            rec = {k: v for k, v in row.items()
                   if not k.startswith(("spikes_", "count_"))}
            rec = {k: float(v) if k == "energy_nj" else int(v) for k, v in rec.items()}
            rec["correct"] = bool(rec["correct"])
            rec["spikes_per_layer"] = {k[len("spikes_"):]: int(v) for k, v in row.items()
                                       if k.startswith("spikes_")}
            counts = sorted((int(k[len("count_"):]), int(v)) for k, v in row.items()
                            if k.startswith("count_"))
            rec["counts"] = [v for _, v in counts]
            out.append(rec)
        return out
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("name", ["per.jsonl", "per.json", "per.csv"])
def test_simulate_per_image_agrees_with_the_totals(capsys, model, tmp_path, name):
    path = tmp_path / name
    code, out, err = run(capsys, "simulate", str(model), "--limit", "12", "--json",
                         "--per-image", str(path))
    assert code == 0, err
    total = json.loads(out)
    rows = _per_image_rows(path)
    assert len(rows) == total["images"] == 12
    assert [r["image"] for r in rows] == list(range(12))

    def mean(key):
        return float(np.mean([r[key] for r in rows]))

    assert mean("correct") == pytest.approx(total["accuracy"], rel=1e-12)
    assert mean("cycles") == pytest.approx(total["cycles_per_image"], rel=1e-12)
    assert min(r["cycles"] for r in rows) == total["cycles_min"]
    assert max(r["cycles"] for r in rows) == total["cycles_max"]
    assert mean("input_spikes") == pytest.approx(total["input_spikes_per_image"], rel=1e-12)
    assert mean("synaptic_ops") == pytest.approx(total["sops_per_image"], rel=1e-12)
    assert mean("stall_cycles") == pytest.approx(total["stall_cycles_per_image"],
                                                 rel=1e-12, abs=1e-12)
    assert mean("host_stall_cycles") == pytest.approx(total["host_stall_cycles_per_image"],
                                                      rel=1e-12, abs=1e-12)
    assert mean("energy_nj") == pytest.approx(total["energy_nj_per_image"], rel=1e-9)
    layers = list(total["spikes_per_layer"])
    for name_ in layers:
        assert float(np.mean([r["spikes_per_layer"][name_] for r in rows])) == \
            pytest.approx(total["spikes_per_layer"][name_], rel=1e-12, abs=1e-12)
    assert float(np.mean([sum(r["spikes_per_layer"].values()) for r in rows])) == \
        pytest.approx(total["spikes_per_image"], rel=1e-12, abs=1e-12)
    for r in rows:
        assert len(r["counts"]) == 10
        assert r["prediction"] == int(np.argmax(r["counts"]))  # lowest index on ties
        assert r["correct"] == (r["prediction"] == r["label"])


@pytest.mark.parametrize("target, words", [
    ("{dir}/per.txt", ["--per-image", "unknown extension '.txt'", ".jsonl", ".csv"]),
    ("{dir}/per", ["--per-image", "unknown extension"]),
    ("{dir}", ["--per-image", "is a directory"]),
    ("{dir}/missing/per.csv", ["--per-image", "does not exist"]),
])
def test_simulate_per_image_bad_path_exits_2_naming_the_option(capsys, model, tmp_path,
                                                                 target, words):
    path = target.format(dir=tmp_path)
    code, out, err = run(capsys, "simulate", str(model), "--limit", "2", "--per-image", path)
    assert code == 2
    assert out == ""
    assert err.startswith("neurochip: error: --per-image") and err.count("\n") == 1
    for w in words:
        assert w in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # refused before writing anything


def test_plot_write_errors_name_plot(tmp_path):
    pytest.importorskip("matplotlib")
    from neurochip.cli.plot import plot_simulation
    desc = load_desc()
    report = {"energy_breakdown_nj": {"a": 1.0}, "energy_nj_per_image": 1.0, "pj_per_sop": 1.0,
              "model_name": "m", "accuracy": 1.0, "images": 1, "cycles_per_image": 1.0}
    spikes = [np.zeros((desc.time_steps, lay.neurons), np.uint8) for lay in desc.layers]
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ValueError, match=r"^--plot .*cannot write the picture"):
        plot_simulation(tmp_path / "dir.png", desc, report, spikes)  # IsADirectoryError before
    with pytest.raises(ValueError, match=r"^--plot .*\.png, \.pdf or \.svg"):
        plot_simulation(tmp_path / "sim.nosuchformat", desc, report, spikes)


def load_desc():
    from neurochip.random_networks import random_description
    return random_description(2, kinds=("fc",))


@pytest.mark.parametrize("argv, words", [
    (["-o", "{dir}"], ["--out", "is a directory"]),
    (["-o", "{dir}/missing/m.npz"], ["--out", "does not exist"]),
    (["-o", "{dir}/m.npz", "--lanes", "0"], ["--lanes 0", "1 … 256"]),
    (["-o", "{dir}/m.npz", "--fifo-depth", "70000"], ["--fifo-depth 70000"]),
    (["-o", "{dir}/m.npz", "--clock-hz", "inf"], ["--clock-hz inf"]),
    (["-o", "{dir}/m.npz", "--clock-hz", "0"], ["--clock-hz 0"]),
])
def test_quantize_bad_options_exit_2(capsys, tmp_path, argv, words):
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 8, 10))
    code, out, err = run(capsys, "quantize", str(ckpt), *[a.format(dir=tmp_path) for a in argv])
    assert code == 2
    assert out == ""
    assert err.startswith("neurochip: error: ") and err.count("\n") == 1
    for w in words:
        assert w in err


def test_quantize_write_failure_exits_2_naming_out(capsys, tmp_path, monkeypatch):
    """An OSError while writing (here: the path became a directory after the early
    check) is bad input naming --out, not a traceback."""
    import neurochip.cli.plot as plot
    monkeypatch.setattr(plot, "check_output_path", lambda path, option, inputs=(): None)
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 8, 10))
    code, out, err = run(capsys, "quantize", str(ckpt), "-o", str(tmp_path))
    assert code == 2
    assert "neurochip: error: --out" in err and "cannot write the core description" in err


@pytest.mark.parametrize("edit, words", [
    (lambda raw: raw.update(manifest=np.frombuffer(b'{"format": "neurochip-float-checkpoint", '
                                                   b'"version": 1}', np.uint8)),
     ["manifest key 'mode' is missing"]),
    (lambda raw: raw["layer0.weight"].__setitem__((slice(None), 2), 0), ["'layer0.weight', neuron 2"]),
])
def test_quantize_bad_checkpoint_exits_2(capsys, tmp_path, edit, words):
    ckpt = write_checkpoint(tmp_path / "c.ckpt.npz", sizes=(784, 8, 10))
    raw = dict(np.load(ckpt))
    edit(raw)
    np.savez(ckpt, **raw)
    code, out, err = run(capsys, "quantize", str(ckpt), "-o", str(tmp_path / "m.npz"))
    assert code == 2
    assert err.startswith("neurochip: error: ") and err.count("\n") == 1
    for w in words:
        assert w in err
    assert not (tmp_path / "m.npz").exists()


def test_quantize_missing_checkpoint_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "quantize", str(tmp_path / "absent.ckpt.npz"), "-o",
                       str(tmp_path / "m.npz"))
    assert code == 2 and "absent.ckpt.npz: no such file" in err

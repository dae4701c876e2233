"""`neurochip rtl`: the generated files (headers, memory images, names) and lint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from neurochip.cli.main import main
from neurochip.description import load
from neurochip.hw.config import ChipConfig
from neurochip.hw.emit import FILELIST, MANIFEST, WAIVERS, generate
from neurochip.random_networks import random_description
from neurochip.verify.runner import missing_simulator

MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = MODELS / "ste-bp-mnist-small.npz"


def decode_words(path: Path, lanes: int, bits: int) -> np.ndarray:
    rows = [line for line in path.read_text().splitlines() if not line.startswith("//")]
    out = np.zeros((len(rows), lanes), dtype=np.int64)
    for r, h in enumerate(rows):
        word = int(h, 16)
        for lane in range(lanes):
            out[r, lane] = (word >> (lane * bits)) & ((1 << bits) - 1)
    return out


@pytest.mark.parametrize("seed", [0, 1, 6])
def test_every_generated_file_carries_the_content_hash(tmp_path, seed):
    desc = random_description(seed)
    bundle = generate(desc, tmp_path)
    h = desc.content_hash()
    files = bundle.verilog + bundle.data + [tmp_path / FILELIST, tmp_path / WAIVERS]
    for f in files:
        head = f.read_text().splitlines()[:3]
        assert "DO NOT EDIT" in head[0] and h in head[1], f.name
    assert json.loads((tmp_path / MANIFEST).read_text())["content_hash"] == h


@pytest.mark.parametrize("seed", [2, 3, 8, 0])
def test_weight_images_round_trip_to_the_model(tmp_path, seed):
    """R rows × K_c words (fc: N_in × K, conv2d: the kernel rows, add: the 2 sources),
    lane l of word k = channel k·L + l; a pool has no weight memory and no image."""
    desc = random_description(seed, models=("lif",))  # the networks these seeds were chosen for
    generate(desc, tmp_path)
    cfg = ChipConfig.from_description(desc)
    kinds = set()
    for c, lay in zip(cfg.cores, desc.layers):
        kinds.add(c.kind)
        path = tmp_path / f"{c.name}_weights.hex"
        if c.kind == "pool":
            assert not path.exists()
            continue
        raw = decode_words(path, c.lanes, c.weight_bits)
        rows = lay.weight.shape[0]
        raw = raw.reshape(rows, c.wpp * c.lanes)[:, :c.channels]
        if c.weight_bits == 1:
            w = np.where(raw == 1, 1, -1)
        else:
            w = np.where(raw >= 1 << (c.weight_bits - 1), raw - (1 << c.weight_bits), raw)
        np.testing.assert_array_equal(w, lay.weight)
    assert seed != 0 or kinds == {"fc", "pool", "conv2d", "add"}


def test_memory_wrappers_are_named_by_size(tmp_path):
    desc = load(SMALL)
    bundle = generate(desc, tmp_path)
    names = {p.stem for p in bundle.verilog}
    # fc1: 784 rows x 1 word x 64 lanes of 1 bit; parameters 1 word x 64·2·11 bits
    assert {"sram_784x1x64", "rom_1x1408", "regfile_1x704", "neurochip_top"} <= names


def test_memory_wrappers_of_map_kinds_are_named_by_size(tmp_path):
    """conv2d: the kernel, C_in·kh·kw rows × K_c words; pool: no weight memory, and with
    emit = once a sent bitmap of K words × L bits; param memories have K_c words."""
    desc = random_description(2, models=("lif",))  # conv2d (3×4 kernel, 3 channels) → pool (once) → fc
    assert [lay.kind for lay in desc.layers] == ["conv2d", "pool", "fc"]
    bundle = generate(desc, tmp_path)
    names = {p.stem for p in bundle.verilog}
    conv, pool, _ = ChipConfig.from_description(desc).cores
    assert f"sram_36x{conv.wpp}x{conv.lanes * conv.weight_bits}" in names  # 3·3·4 rows
    assert f"rom_{conv.wpp}x{conv.param_width}" in names
    assert f"regfile_{pool.words}x{pool.lanes}" in names  # the sent bitmap
    assert not (tmp_path / f"{pool.name}_weights.hex").exists()
    assert {"sram_36x2x3", "regfile_18x3"} <= names


def need_verilator() -> None:
    """Skip on a developer machine without Verilator; fail under CI, which installs it."""
    why = missing_simulator("verilator")
    if why and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must lint with Verilator: {why}")
    if why:
        pytest.skip(why)


# lif-only 0: every kind, a fan-out and an add; 2: emit once; all models 1 and 13:
# bistable cores (phase counters) and synchronous neurons on residual shortcuts; ttfs 2 and
# lif_refractory 0: the state-word register files and unit ports (§6.3)
@pytest.mark.parametrize("seed, models", [(0, ("lif",)), (4, ("lif",)), (9, ("lif",)),
                                          (2, ("lif",)), (1, None), (13, None),
                                          (2, ("ttfs",)), (0, ("lif_refractory",))])
def test_generated_verilog_is_lint_clean(tmp_path, seed, models):
    from neurochip.cli.rtl_cmd import lint

    need_verilator()
    generate(random_description(seed, **({"models": models} if models else {})), tmp_path)
    clean, text = lint(tmp_path)
    assert clean, text


def test_rtl_command_writes_and_lints_the_small_model(tmp_path, capsys):
    need_verilator()
    code = main(["rtl", str(SMALL), "-o", str(tmp_path / "rtl"), "--lint", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["lint_clean"] is True
    assert out["hash"] == load(SMALL).content_hash()
    assert (tmp_path / "rtl" / "neurochip_top.v").is_file()


def test_rtl_command_rejects_a_missing_model(tmp_path, capsys):
    assert main(["rtl", str(tmp_path / "nope.npz"), "-o", str(tmp_path)]) == 2


@pytest.mark.slow
def test_make_rtl_writes_lint_clean_verilog_of_the_default_model(tmp_path):
    """`make rtl` exactly as a user types it, into a scratch folder via RTL_DIR."""
    import shutil
    import subprocess

    need_verilator()
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "rtl"
    proc = subprocess.run(["make", "-s", "rtl", f"RTL_DIR={out}"], cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "clean" in proc.stdout
    assert (out / "neurochip_top.v").read_text().startswith("// DO NOT EDIT")


def test_rtl_command_refuses_a_file_as_output_folder(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    assert main(["rtl", str(SMALL), "-o", str(target)]) == 2
    assert "-o" in capsys.readouterr().err and target.read_text() == "x"

"""The shipped models' generated Verilog on Verilator and Icarus (cocotb) against the Numba
simulator, the checker's teeth and the `verify` command. (Random networks on every backend:
tests/test_chip_equivalence.py.)
Skips only when a simulator binary is genuinely missing on a developer's machine; under
CI (CI=true, where .ci/run installs both) a missing simulator fails the run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from neurochip.cli.main import main
from neurochip.datasets import load_sample
from neurochip.description import load
from neurochip.random_networks import random_description, random_images, random_inputs
from neurochip.sim import simulate
from neurochip.observe import compare
from neurochip.verify.flow import verify
from neurochip.verify.runner import missing_simulator, run_rtl

MODELS = Path(__file__).resolve().parents[1] / "models"
SMALL = MODELS / "ste-bp-mnist-small.npz"
DEFAULT = MODELS / "ste-bp-mnist-default.npz"


def need(simulator: str) -> None:
    why = missing_simulator(simulator)
    if why and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must co-simulate on {simulator}: {why}")
    if why:
        pytest.skip(why)


def assert_clean(report) -> None:
    assert report.ok, "\n".join(map(str, report.mismatches[:20]))
    assert report.cycles_equal and report.predictions_equal


# The shipped models on the shipped MNIST sample. Verilator runs every model on 128
# images; Icarus is an event-driven interpreter (the default model runs at a few hundredths
# of an image per second there), so it takes all 128 images only on the small model.
SHIPPED = ["ste-bp-mnist-small", "ste-bp-mnist-continuous", "ste-bp-mnist-default",
           "ste-bp-mnist-cnn"]
ICARUS_IMAGES = {"ste-bp-mnist-small": 128, "ste-bp-mnist-continuous": 4,
                 "ste-bp-mnist-default": 1, "ste-bp-mnist-cnn": 1}
# the CNN runs ~200k cycles an image (1.4 images/s on Verilator here): 32 images; the
# BSNN ResNet (13 cores, T = 128) ~0.4M cycles an image at ~20k cycles/s here: 2 images
VERILATOR_IMAGES = {"ste-bp-mnist-cnn": 32, "bsnn-fmnist-resnet": 2}


@pytest.mark.slow
@pytest.mark.parametrize("model", SHIPPED + ["bsnn-fmnist-resnet"])
def test_shipped_model_on_verilator(tmp_path, model):
    need("verilator")
    images, _ = load_sample()
    n = VERILATOR_IMAGES.get(model, 128)
    report = verify(load(MODELS / f"{model}.npz"), images[:n], "verilator", tmp_path, jobs=2)
    assert_clean(report)
    assert report.images == n


@pytest.mark.slow
@pytest.mark.parametrize("model", SHIPPED)
def test_shipped_model_on_icarus(tmp_path, model):
    need("icarus")
    images, _ = load_sample()
    n = ICARUS_IMAGES[model]
    report = verify(load(MODELS / f"{model}.npz"), images[:n], "icarus", tmp_path)
    assert_clean(report)
    assert report.images == n


def test_a_different_chip_is_caught_and_named(tmp_path):
    """Teeth: RTL of a model whose bias differs from the simulated one must mismatch,
    and the report names image, layer, neuron and time step."""
    need("icarus")
    desc = random_description(2, models=("lif",))  # layer 0 fires in these steps
    images = random_inputs(2, 2, desc)
    rtl = run_rtl(desc, images, "icarus", tmp_path, budget_cycles=100_000)
    before = simulate(desc, images, record_spikes=True)
    desc.layers[0].bias = desc.layers[0].bias + 1
    sim = simulate(desc, images, record_spikes=True)
    assert not np.array_equal(before.spikes, sim.spikes)  # the change is visible at all
    mismatches = compare(sim, rtl.observation).mismatches
    assert mismatches
    spike = next(m for m in mismatches if m.what == "spike")
    assert spike.layer == "l0" and spike.step is not None and spike.neuron is not None
    assert "image" in str(spike) and "simulator" in str(spike) and "RTL" in str(spike)


def test_verify_command_json(tmp_path, capsys):
    need("icarus")
    code = main(["verify", str(SMALL), "--images", "3", "--simulator", "icarus",
                 "--work", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["images"] == 3 and out["mismatches"] == 0
    assert out["cycles_equal"] is True and out["simulator"] == "icarus"


def test_verify_command_rejects_bad_image_count(capsys):
    assert main(["verify", str(SMALL), "--images", "0"]) == 2
    assert "--images" in capsys.readouterr().err
    assert main(["verify", str(SMALL), "--images", "300"]) == 2
    assert "only 256 images" in capsys.readouterr().err


@pytest.mark.parametrize("events", [0.0, 1.0])
def test_verify_command_names_an_input_size_mismatch(tmp_path, capsys, events):
    desc = random_description(2, events=events)
    path = tmp_path / "tiny.npz"
    from neurochip.description import save

    save(desc, path)
    assert main(["verify", str(path), "--images", "2"]) == 2
    assert "--random-images" in capsys.readouterr().err


def test_verify_command_on_random_images(tmp_path, capsys):
    need("icarus")
    desc = random_description(3)
    from neurochip.description import save

    save(desc, tmp_path / "tiny.npz")
    code = main(["verify", str(tmp_path / "tiny.npz"), "--images", "3", "--random-images",
                 "--simulator", "icarus", "--work", str(tmp_path / "work"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["mismatches"] == 0 and out["images"] == 3

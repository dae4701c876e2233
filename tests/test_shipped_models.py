"""The shipped models load, run on a fresh install, and keep their measured results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neurochip.cli.main import main
from neurochip.description import description_files, load

MODELS = Path(__file__).resolve().parents[1] / "models"
EXPECTED = json.loads((MODELS / "expected-sample-results.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_model_reproduces_its_recorded_sample_results(name, capsys):
    """Bit-exact regression lock: accuracy, total cycles, spikes and SOPs on the shipped
    256-image sample are integers/ratios that must not drift. Regenerate the file with
    `python models/record_expected.py` only when the chip specification changes."""
    exp = EXPECTED[name]
    code = main(["simulate", str(MODELS / f"{name}.npz"), "--json", "--limit", str(exp["images"])])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["images"] == exp["images"]
    assert round(out["accuracy"] * out["images"]) == exp["correct"]
    assert round(out["cycles_per_image"] * out["images"]) == exp["total_cycles"]
    assert round(out["sops_per_image"] * out["images"]) == exp["total_sops"]
    assert round(out["spikes_per_image"] * out["images"]) == exp["total_spikes"]


def test_every_shipped_model_has_a_recipe():
    readme = (MODELS / "README.md").read_text()
    for path in description_files(MODELS):
        desc = load(path)
        assert path.name in readme, f"{path.name} is not documented in models/README.md"
        assert "command" in desc.provenance.get("checkpoint", {}), path.name

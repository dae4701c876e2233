"""``--set FIELD=VALUE``: overrides of declared fields, validated like a file, hashed."""

from __future__ import annotations

import json

import pytest

from neurochip.cli.main import main
from neurochip.description import DescriptionError, load
from neurochip.description.overrides import apply_overrides, parse_override, parse_value


@pytest.fixture(scope="module")
def small(small_model_path):
    return load(small_model_path)


def test_values_parse_as_json_scalars_or_words():
    assert parse_value("16") == 16 and isinstance(parse_value("16"), int)
    assert parse_value("50e6") == 50e6
    assert parse_value("wrap") == "wrap"
    assert parse_value("[1, 2]") == "[1, 2]"  # no lists or objects: kept as text


def test_every_layer_field_one_layer_and_chip_field(small):
    out = apply_overrides(small, ["core.lanes=16", "out.core.fifo_depth=3", "clock_hz=50e6"])
    assert [lay.core.lanes for lay in out.layers] == [16, 16]
    assert [lay.core.fifo_depth for lay in out.layers] == [small.layers[0].core.fifo_depth, 3]
    assert out.clock_hz == 50e6
    assert small.layers[0].core.lanes != 16  # the loaded description is untouched
    assert out.content_hash() != small.content_hash()
    # the same values as the file: same hardware, same hash
    same = apply_overrides(small, [f"fc1.core.lanes={small.layers[0].core.lanes}"])
    assert same.content_hash() == small.content_hash()


def test_later_assignment_wins(small):
    out = apply_overrides(small, ["core.lanes=8", "fc1.core.lanes=4"])
    assert [lay.core.lanes for lay in out.layers] == [4, 8]


@pytest.mark.parametrize("text, message", [
    ("core.lane=16", "did you mean 'core.lanes'"),
    ("fc9.core.lanes=4", "no settable field"),
    ("fc1.core.lanes=0", "out of range; use 1 … 256"),
    ("overflow=bogus", "use one of ['saturate', 'wrap']"),
    ("clock_hz=-1", "clock_hz"),
    ("input.shape=4", "cannot be overridden"),
    ("fc1.neurons=5", "cannot be overridden"),
    ("lanes", "use FIELD=VALUE"),
    ("core.lanes=", "use FIELD=VALUE"),
])
def test_refusals_name_the_field(small, text, message):
    with pytest.raises(DescriptionError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace(".", r"\.")):
        apply_overrides(small, [text])


def test_neuron_field_reaches_layers_of_that_model(small):
    o = parse_override("neuron.leak=shift", small)
    assert o.layer is None and o.path == "neuron.leak"
    out = apply_overrides(small, [o, "neuron.leak_amount=2"])
    assert {lay.neuron.leak for lay in out.layers} == {"shift"}


def test_simulate_set_changes_hash_and_cycles(small_model_path, capsys):
    assert main(["simulate", str(small_model_path), "--limit", "4", "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    assert main(["simulate", str(small_model_path), "--limit", "4", "--json",
                 "--set", "core.lanes=1", "--set", "clock_hz=50e6"]) == 0
    changed = json.loads(capsys.readouterr().out)
    assert changed["overrides"] == ["core.lanes=1", "clock_hz=50e6"]
    assert changed["model_hash"] != base["model_hash"]
    assert changed["cycles_per_image"] > base["cycles_per_image"]  # fewer lanes, more words
    assert changed["clock_hz"] == 50e6
    assert changed["accuracy"] == base["accuracy"]  # lanes and clock change no decision


def test_simulate_refuses_unknown_field_in_one_line(small_model_path, capsys):
    assert main(["simulate", str(small_model_path), "--set", "core.lane=4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'core.lanes'" in err[0]

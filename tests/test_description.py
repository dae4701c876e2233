"""Core description files: round trip, and every kind of bad file is refused with a
message that names the field and says what to do."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from neurochip import description as D
from neurochip.random_networks import random_description


def _raw(desc: D.CoreDescription) -> dict:
    raw = {"manifest": np.frombuffer(json.dumps(desc.manifest()).encode(), np.uint8)}
    raw.update(desc.arrays())
    return raw


def _write(tmp_path, raw: dict, name="m.npz"):
    path = tmp_path / name
    np.savez(path, **raw)
    return path


def test_round_trip_keeps_everything(tmp_path):
    desc = random_description(3)
    D.save(desc, tmp_path / "m.npz")
    back = D.load(tmp_path / "m.npz")
    assert back.manifest() == desc.manifest()
    assert back.content_hash() == desc.content_hash()
    for a, b in zip(back.layers, desc.layers):
        np.testing.assert_array_equal(a.weight, b.weight)


def _mutated(tmp_path, mutate_manifest=None, mutate_arrays=None):
    desc = random_description(11)
    raw = _raw(desc)
    if mutate_manifest:
        man = desc.manifest()
        mutate_manifest(man)
        raw["manifest"] = np.frombuffer(json.dumps(man).encode(), np.uint8)
    if mutate_arrays:
        mutate_arrays(raw, desc)
    return _write(tmp_path, raw)


@pytest.mark.parametrize("mutate, words", [
    (lambda m: m.update(version=2), ["'version'", "upgrade"]),
    (lambda m: m.update(format="other"), ["'format'"]),
    (lambda m: m.pop("time_steps"), ["missing field 'time_steps'"]),
    (lambda m: m.update(time_steps="8"), ["'time_steps'", "integer"]),
    (lambda m: m.update(time_steps=True), ["'time_steps'"]),
    (lambda m: m.update(clock_hz=-1), ["'clock_hz'"]),
    (lambda m: m["input"]["encoder"].update(kind="poisson"), ["'input.encoder.kind'", "bernoulli_lfsr"]),
    (lambda m: m["layers"][0].update(weight_bits=9), ["'layers[0].weight_bits'", "1 … 8"]),
    (lambda m: m["layers"][0]["core"].update(lanes=0), ["'layers[0].core.lanes'"]),
    (lambda m: m["layers"][0]["core"].update(index=5), ["'layers[0].core.index'"]),
    (lambda m: m["layers"][0]["neuron"].update(reset="soft"), ["'layers[0].neuron.reset'"]),
    (lambda m: m["layers"][0].update(inputs=m["layers"][0]["inputs"] + 1), ["'layers[0].inputs'"]),
    (lambda m: m.update(layers=[]), ["'layers' is empty"]),
])
def test_bad_manifest_fields_are_named(tmp_path, mutate, words):
    path = _mutated(tmp_path, mutate_manifest=mutate)
    with pytest.raises(D.DescriptionError) as err:
        D.load(path)
    for w in words:
        assert w in str(err.value)


def test_nan_or_float_weights_are_refused(tmp_path):
    def nan(raw, desc):
        w = raw["l0.weight"].astype(np.float32)
        w[0, 0] = np.nan
        raw["l0.weight"] = w
    with pytest.raises(D.DescriptionError, match=r"'l0.weight' has dtype float32.*quantize"):
        D.load(_mutated(tmp_path, mutate_arrays=nan))


def test_values_outside_declared_bits_are_refused(tmp_path):
    def big(raw, desc):
        raw["l0.threshold"] = raw["l0.threshold"].copy()
        raw["l0.threshold"][0] = 1 << desc.layers[0].membrane_bits
    with pytest.raises(D.DescriptionError, match=r"'l0.threshold' holds .*membrane_bits"):
        D.load(_mutated(tmp_path, mutate_arrays=big))


def test_wrong_shape_and_unknown_and_missing_arrays(tmp_path):
    def shape(raw, desc):
        raw["l0.bias"] = raw["l0.bias"][:-1] if raw["l0.bias"].size > 1 else np.zeros(2, np.int64)
    with pytest.raises(D.DescriptionError, match=r"'l0.bias' has shape"):
        D.load(_mutated(tmp_path, mutate_arrays=shape))
    with pytest.raises(D.DescriptionError, match=r"unexpected arrays \['extra'\]"):
        D.load(_mutated(tmp_path, mutate_arrays=lambda r, d: r.update(extra=np.zeros(1))))
    with pytest.raises(D.DescriptionError, match=r"missing array 'l0.weight'"):
        D.load(_mutated(tmp_path, mutate_arrays=lambda r, d: r.pop("l0.weight")))


def test_binary_weights_cannot_be_zero(tmp_path):
    desc = random_description(2)
    desc.layers[0] = D.Layer(**{**desc.layers[0].__dict__, "weight_bits": 1,
                                "weight": np.zeros_like(desc.layers[0].weight)})
    with pytest.raises(D.DescriptionError, match="weight_bits >= 2 for ternary"):
        D.validate(desc)


def test_pickled_objects_are_never_loaded(tmp_path):
    desc = random_description(1)
    raw = _raw(desc)
    raw["l0.weight"] = np.array([{"evil": 1}], dtype=object)
    path = tmp_path / "p.npz"
    np.savez(path, **raw)
    with pytest.raises(D.DescriptionError, match="pickled"):
        D.load(path)


@pytest.mark.parametrize("content, match", [
    (b"not a zip", "not an .npz"),
    (b"", "not an .npz"),
])
def test_garbage_files(tmp_path, content, match):
    path = tmp_path / "g.npz"
    path.write_bytes(content)
    with pytest.raises(D.DescriptionError, match=match):
        D.load(path)


def test_missing_file_and_bad_manifest_json(tmp_path):
    with pytest.raises(D.DescriptionError, match="no such file"):
        D.load(tmp_path / "absent.npz")
    path = _write(tmp_path, {"manifest": np.frombuffer(b"{nope", np.uint8)})
    with pytest.raises(D.DescriptionError, match="not valid UTF-8 JSON"):
        D.load(path)
    path = _write(tmp_path, {"manifest": np.zeros(3, np.float64)})
    with pytest.raises(D.DescriptionError, match="1-D uint8"):
        D.load(path)


def test_truncated_archive_is_refused(tmp_path):
    D.save(random_description(4), tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(D.DescriptionError):
        D.load(tmp_path / "t.npz")


def test_oversized_member_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "MAX_ARRAY_BYTES", 10)
    D.save(random_description(4), tmp_path / "m.npz")
    with pytest.raises(D.DescriptionError, match="would unpack to"):
        D.load(tmp_path / "m.npz")


def test_hostile_manifests(tmp_path):
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(D.DescriptionError, match="not valid UTF-8 JSON"):
        D.load(_write(tmp_path, {"manifest": np.frombuffer(deep, np.uint8)}))
    huge = _mutated(tmp_path, mutate_manifest=lambda m: m["input"].update(shape=[2**40, 2**40]))
    with pytest.raises(D.DescriptionError, match="'input.shape'|'layers\\[0\\].inputs'"):
        D.load(huge)
    with pytest.raises(D.DescriptionError, match="'layers\\[0\\]' must be a JSON object"):
        D.load(_mutated(tmp_path, mutate_manifest=lambda m: m.update(layers=[7])))

"""Core description files: round trip, and every kind of bad file is refused with a
message that names the field and says what to do."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from neurochip import description as D
from neurochip.neurons.lif import LifNeuron
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
    desc = random_description(3, kinds=("fc",), models=("lif",))
    D.save(desc, tmp_path / "m.npz")
    back = D.load(tmp_path / "m.npz")
    assert back.manifest() == desc.manifest()
    assert back.content_hash() == desc.content_hash()
    for a, b in zip(back.layers, desc.layers):
        np.testing.assert_array_equal(a.weight, b.weight)


def _mutated(tmp_path, mutate_manifest=None, mutate_arrays=None):
    desc = random_description(11, kinds=("fc",), models=("lif",))
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
    desc = random_description(2, kinds=("fc",), models=("lif",))
    desc.layers[0] = D.Layer(**{**desc.layers[0].__dict__, "weight_bits": 1,
                                "weight": np.zeros_like(desc.layers[0].weight)})
    with pytest.raises(D.DescriptionError, match="weight_bits >= 2 for ternary"):
        D.validate(desc)


def test_pickled_objects_are_never_loaded(tmp_path):
    desc = random_description(1, kinds=("fc",), models=("lif",))
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
    D.save(random_description(4, kinds=("fc",), models=("lif",)), tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(D.DescriptionError):
        D.load(tmp_path / "t.npz")


def test_oversized_member_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(D.io, "MAX_ARRAY_BYTES", 10)
    D.save(random_description(4, kinds=("fc",), models=("lif",)), tmp_path / "m.npz")
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


# ---------------------------------------------------------------- review regressions

@pytest.mark.parametrize("dtype, value", [(np.uint64, 2**64 - 1), (np.uint64, 2**63)])
def test_unsigned_values_are_range_checked_before_the_int64_cast(tmp_path, dtype, value):
    # 2**64 - 1 would wrap to -1 (a valid threshold) if cast first
    def huge(raw, desc):
        t = np.zeros(raw["l0.threshold"].shape, dtype)
        t[0] = value
        raw["l0.threshold"] = t
    with pytest.raises(D.DescriptionError, match=rf"'l0.threshold' holds {value}, which does "
                                                 "not fit a signed 64-bit integer"):
        D.load(_mutated(tmp_path, mutate_arrays=huge))


def test_unsigned_values_that_fit_are_still_checked_against_the_bits(tmp_path):
    def wide(raw, desc):
        t = np.zeros(raw["l0.threshold"].shape, np.uint64)
        t[0] = 2**40
        raw["l0.threshold"] = t
    with pytest.raises(D.DescriptionError, match=r"'l0.threshold' holds 1099511627776, outside"):
        D.load(_mutated(tmp_path, mutate_arrays=wide))


def test_member_without_npy_suffix_is_named(tmp_path):
    path = tmp_path / "m.npz"
    D.save(random_description(4, kinds=("fc",), models=("lif",)), path)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("notes.txt", b"hello")
    with pytest.raises(D.DescriptionError, match=r"member 'notes.txt' is not a .npy array"):
        D.load(path)
    raw = _raw(random_description(4, kinds=("fc",), models=("lif",)))
    raw["notes"] = b"hello"  # what NpzFile returns for such a member
    with pytest.raises(D.DescriptionError, match=r"member 'notes' is bytes, not a NumPy array"):
        D.from_arrays(raw, "m.npz")


@pytest.mark.parametrize("value, words", [
    (10**400, ["'clock_hz'", "out of range", "<= 1e+12"]),
    (float("inf"), ["'clock_hz' = inf", "finite number > 0"]),
    (float("-inf"), ["'clock_hz' = -inf"]),
    (float("nan"), ["'clock_hz' = nan is not a number"]),
    (0, ["'clock_hz' = 0 is out of range"]),
    (2e12, ["'clock_hz'", "<= 1e+12"]),
    (True, ["'clock_hz' must be"]),
    ("1e8", ["'clock_hz' must be"]),
], ids=["10**400", "inf", "-inf", "nan", "zero", "2e12", "bool", "string"])
def test_clock_hz_must_be_a_finite_frequency(tmp_path, value, words):
    path = _mutated(tmp_path, mutate_manifest=lambda m: m.update(clock_hz=value))
    with pytest.raises(D.DescriptionError) as err:
        D.load(path)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("mutate, words", [
    (lambda m: m.update(time_steps=10**400), ["'time_steps'", "out of range", "1 … 4096"]),
    (lambda m: m.update(time_steps=8.0), ["'time_steps' must be an integer, got 8.0"]),
    (lambda m: m.update(time_steps=float("nan")), ["'time_steps' must be an integer, got nan"]),
    (lambda m: m["readout"].update(count_bits=float("inf")), ["'readout.count_bits' must be an integer"]),
    (lambda m: m["input"]["encoder"].update(seed=2**64), ["'input.encoder.seed'", "0 … 4294967295"]),
    (lambda m: m["input"]["encoder"].update(seed=False), ["'input.encoder.seed' must be an integer"]),
    (lambda m: m["layers"][0].update(neurons=1e400), ["'layers[0].neurons' must be an integer"]),
    (lambda m: m["layers"][0].update(membrane_bits=-10**400), ["'layers[0].membrane_bits'", "2 … 32"]),
    (lambda m: m["layers"][0]["neuron"].update(leak_amount=2.5), ["'layers[0].neuron.leak_amount'"]),
    (lambda m: m["input"].update(shape=[10**400]), ["'input.shape'"]),
    (lambda m: m.update(version=10**400), ["'version'", "upgrade"]),
])
def test_numeric_fields_refuse_huge_float_nan_and_bool_values(tmp_path, mutate, words):
    with pytest.raises(D.DescriptionError) as err:
        D.load(_mutated(tmp_path, mutate_manifest=mutate))
    for w in words:
        assert w in str(err.value)
    assert len(str(err.value)) < 400  # a 400-digit number is shortened, the line stays short


def test_integer_beyond_the_json_digit_limit_is_a_description_error(tmp_path):
    text = json.dumps(random_description(11, kinds=("fc",), models=("lif",)).manifest()).replace(
        '"time_steps": ', '"time_steps": 1' + "0" * 5000 + ", \"_x\": ")
    path = _write(tmp_path, {"manifest": np.frombuffer(text.encode(), np.uint8)})
    with pytest.raises(D.DescriptionError, match="not valid UTF-8 JSON"):
        D.load(path)


def test_validate_refuses_api_built_descriptions_without_raw_errors():
    desc = random_description(3, kinds=("fc",), models=("lif",))
    desc.clock_hz = 10**400  # OverflowError in a float conversion before the fix
    with pytest.raises(D.DescriptionError, match=r"'clock_hz'.*<= 1e\+12"):
        D.validate(desc)
    desc = random_description(3, kinds=("fc",), models=("lif",))
    desc.layers[0].membrane_bits = 40
    with pytest.raises(D.DescriptionError, match=r"'layers\[0\]\.membrane_bits' = 40 .*2 … 32"):
        D.validate(desc)
    desc = random_description(3, kinds=("fc",), models=("lif",))
    desc.encoder = D.Encoder("rate_lfsr", 7)  # a KeyError in the simulator's packing before
    with pytest.raises(D.DescriptionError, match=r"'input\.encoder\.kind' is 'rate_lfsr'; use one of"):
        D.validate(desc)


def _wide_input(inputs: int, weight_bits: int = 1, membrane_bits: int = 8) -> D.CoreDescription:
    w = np.ones((inputs, 1), np.int64)
    lay = D.Layer(name="out", inputs=inputs, neurons=1, weight_bits=weight_bits,
                  membrane_bits=membrane_bits, overflow="saturate", neuron=LifNeuron(),
                  core=D.CoreMapping(index=0), weight=w, threshold=np.zeros(1, np.int64),
                  bias=np.zeros(1, np.int64))
    return D.CoreDescription("w", (inputs,), D.Encoder(), 1, 1e8, 4, [lay])


def test_address_limit_is_32768_inputs():
    """docs: at most 32768 inputs / neurons per layer, i.e. addresses 0 … 32767 (15 bits)."""
    D.validate(_wide_input(32768))
    with pytest.raises(D.DescriptionError, match="addresses at most 32768"):
        D.validate(_wide_input(32769))


def test_membrane_narrower_than_weights_is_allowed():
    """docs §5: the sum is formed in max(B, w) + 1 bits, so B < w is valid (no B >= w rule)."""
    desc = _wide_input(4, weight_bits=8, membrane_bits=2)
    desc.layers[0].weight[:] = 127
    D.validate(desc)


def test_v1_files_that_say_dense_load_as_fc(tmp_path):
    """The kind was called 'dense' before it was called what the layers are called; such
    v1 files still load (as 'fc', identical otherwise) and are written back as 'fc'."""
    desc = random_description(3, kinds=("fc",), models=("lif",))
    raw = _raw(desc)
    man = desc.manifest()
    for lay in man["layers"]:
        lay["kind"] = "dense"
    raw["manifest"] = np.frombuffer(json.dumps(man).encode(), np.uint8)
    back = D.load(_write(tmp_path, raw))
    assert [lay.kind for lay in back.layers] == ["fc"] * len(desc.layers)
    assert back.content_hash() == desc.content_hash()
    D.save(back, tmp_path / "again.npz")
    with np.load(tmp_path / "again.npz") as z:
        assert {lay["kind"] for lay in json.loads(z["manifest"].tobytes())["layers"]} == {"fc"}


def test_unknown_kind_and_model_name_the_registered_ones(tmp_path):
    for mutate, words in ((lambda m: m["layers"][0].update(kind="conv9"), ["'layers[0].kind'", "'fc'"]),
                          (lambda m: m["layers"][0]["neuron"].update(model="hh"),
                           ["'layers[0].neuron.model'", "'lif'"])):
        with pytest.raises(D.DescriptionError) as err:
            D.load(_mutated(tmp_path, mutate_manifest=mutate))
        for w in words:
            assert w in str(err.value)


def _conv_manifest(tmp_path, mutate):
    """A conv2d → pool → add(residual) → fc network, saved, its manifest mutated, loaded."""
    from neurochip.random_networks import Knobs

    desc = next(d for d in (random_description(s, Knobs(kinds=("conv2d", "pool", "add"),
                                                        max_layers=4)) for s in range(200))
                if {lay.kind for lay in d.layers} >= {"conv2d", "add"})
    raw = _raw(desc)
    man = desc.manifest()
    mutate(man, desc)
    raw["manifest"] = np.frombuffer(json.dumps(man).encode(), np.uint8)
    return _write(tmp_path, raw)


def _first(man, kind):
    return next(i for i, lay in enumerate(man["layers"]) if lay["kind"] == kind)


@pytest.mark.parametrize("mutate, words", [
    (lambda m, d: m["layers"][_first(m, "conv2d")].update(kernel=[40, 40]),
     ["kernel", "1 … 16"]),
    (lambda m, d: m["layers"][_first(m, "conv2d")].update(pad=15, kernel=[2, 2]),
     ["pad", "smaller than the kernel"]),
    (lambda m, d: m["layers"][_first(m, "conv2d")].update(stride=0), ["stride", "1 … 16"]),
    (lambda m, d: m["layers"][_first(m, "conv2d")].update(in_shape=[5, 5, 7]),
     ["in_shape", "produces", "make them equal"]),
    (lambda m, d: m["layers"][_first(m, "add")].update(source=m["layers"][_first(m, "add")]["source"][:1]),
     ["source", "exactly 2"]),
    (lambda m, d: m["layers"][_first(m, "add")]["core"].update(fifo_depth=1),
     ["deadlock", "fifo_depth >="]),
    (lambda m, d: m["layers"][_first(m, "add")].update(source=["input", "input"]),
     ["source", "different sources"]),
    (lambda m, d: m["layers"][_first(m, "conv2d")].update(channels=True), ["channels"]),
])
def test_bad_map_geometry_is_named_with_the_fix(tmp_path, mutate, words):
    with pytest.raises(D.DescriptionError) as err:
        D.load(_conv_manifest(tmp_path, mutate))
    for w in words:
        assert w in str(err.value), str(err.value)


def test_pool_geometry_and_weight_bits_are_checked():
    from dataclasses import replace as _replace

    from neurochip.random_networks import Knobs

    desc = next(d for d in (random_description(s, Knobs(kinds=("pool",))) for s in range(100))
                if d.layers[0].kind == "pool")
    lay = desc.layers[0]
    lay.weight_bits = 2
    with pytest.raises(D.DescriptionError, match=r"weight_bits.*no weight memory"):
        D.validate(desc)
    lay.weight_bits = 1
    lay.geometry = dict(lay.geometry, window=99)
    with pytest.raises(D.DescriptionError, match=r"window.*1 … 16|window.*larger than the input"):
        D.validate(desc)


def test_a_layer_nobody_reads_and_two_readers_of_the_input_are_refused():
    desc = random_description(2, kinds=("fc",), max_layers=3)
    while len(desc.layers) < 2:
        desc = random_description(int(desc.provenance["seed"]) + 1, kinds=("fc",), max_layers=3)
    desc.layers[1].source = "input"
    desc.layers[1].inputs = desc.input_size
    desc.layers[1].weight = np.ones((desc.input_size, desc.layers[1].neurons), np.int64)
    with pytest.raises(D.DescriptionError, match=r"read 'input'|feeds no other layer"):
        D.validate(desc)

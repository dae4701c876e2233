"""Issue 28: every hostile input is refused in one line (exit 2) within bounded memory,
and no command writes over its own input. One test per finding of the fuzzer; the seeded
fuzz suite itself is tests/test_fuzz.py."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from neurochip.cli.main import main
from neurochip.description import save
from neurochip.random_networks import random_description


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, words=()):
    """The command exits 2 with exactly one line on stderr containing ``words``."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurochip: error:"), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture
def pool_model(tmp_path):
    path = tmp_path / "pool.npz"
    save(random_description(0, kinds=("pool",), max_layers=1), path)
    return path


# 1 ---------------------------------------------------------------------------------------
def test_inspect_a_model_without_weight_memory_prints_n_a(capsys, pool_model):
    code, out, err = run(capsys, "inspect", pool_model)
    assert code == 0, err
    assert "n/a smaller than 32-bit weights" in out


# 2, 5 ------------------------------------------------------------------------------------
def idx_header(shape, code=0x08) -> bytes:
    return struct.pack(f">HBB{len(shape)}I", 0, code, len(shape), *shape)


def gzip_bomb(path, header: bytes, zeros: int) -> None:
    """``header`` then ``zeros`` zero bytes, gzipped chunk by chunk (a few hundred kB)."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        chunk = bytes(1 << 20)
        for _ in range(zeros >> 20):
            f.write(chunk)


def data_dir(tmp_path, images_header: bytes, zeros: int, labels: int = 1):
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    gzip_bomb(d / "t10k-images-idx3-ubyte.gz", images_header, zeros)
    (d / "t10k-labels-idx1-ubyte").write_bytes(idx_header((labels,)) + bytes(labels))
    return d


def test_idx_header_declaring_more_than_the_bound_is_refused_before_reading(tmp_path):
    from neurochip.datasets import MAX_IDX_BYTES, read_idx

    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    gzip_bomb(path, idx_header((6_000_000, 28, 28)), 8 << 20)
    with pytest.raises(ValueError, match=f"more than the {MAX_IDX_BYTES} bytes"):
        read_idx(path)


def test_gzip_bomb_within_a_small_header_costs_only_the_declared_size(tmp_path):
    import tracemalloc

    from neurochip.datasets import read_idx

    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    gzip_bomb(path, idx_header((10, 28, 28)), 64 << 20)  # 64 MiB behind a 7.8 kB header
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="trailing bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


@pytest.mark.parametrize("argv", [
    ("simulate", "{model}", "--data", "{data}"),
    ("verify", "{model}", "--data", "{data}"),
])
def test_gzip_bomb_in_data_is_one_line(capsys, tmp_path, small_model_path, argv):
    d = data_dir(tmp_path, idx_header((5_500_000, 28, 28)), 4 << 20)
    refused(capsys, *[a.format(model=small_model_path, data=d) for a in argv],
            words=("more than the",))


def test_a_split_with_no_images_is_named(capsys, tmp_path, small_model_path):
    d = data_dir(tmp_path, idx_header((0, 28, 28)), 0, labels=0)
    refused(capsys, "simulate", small_model_path, "--data", d, words=("has no images",))


# 3, 4, 11 --------------------------------------------------------------------------------
def fc_model(tmp_path, mutate=None, extra: dict[str, int] | None = None, name="m.npz"):
    """A small valid fc model as an .npz, its manifest passed through ``mutate``, with
    ``extra`` members of the given unpacked sizes (zeros, compressed: a few kB each)."""
    import zipfile

    desc = random_description(11, kinds=("fc",), models=("lif",), max_layers=1)
    man = desc.manifest()
    if mutate:
        mutate(man)
    path = tmp_path / name
    np.savez_compressed(path, manifest=np.frombuffer(json.dumps(man).encode(), np.uint8),
                        **desc.arrays())
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for member, size in (extra or {}).items():
            with zf.open(member, "w", force_zip64=True) as f:
                for _ in range(size >> 20):
                    f.write(bytes(1 << 20))
    return path


def peak_bytes(fn) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_manifest_declaring_a_huge_layer_is_refused_before_any_array_is_read(capsys, tmp_path):
    def huge(m):
        m["input"]["shape"] = [32768]
        m["layers"][0].update(inputs=32768, neurons=32767)

    path = fc_model(tmp_path, huge)
    refused(capsys, "inspect", path, words=("bytes a description may hold",))


def test_unknown_members_are_refused_before_any_member_is_read(tmp_path):
    from neurochip.description import DescriptionError, load

    path = fc_model(tmp_path, extra={"junk.npy": 96 << 20})

    def load_it():
        with pytest.raises(DescriptionError, match=r"unexpected arrays \['junk'\]"):
            load(path)

    assert peak_bytes(load_it) < 4 << 20


def test_an_array_whose_header_declares_more_than_the_manifest_is_refused(tmp_path):
    from neurochip.description import DescriptionError, load

    desc = random_description(11, kinds=("fc",), models=("lif",), max_layers=1)
    arrays = desc.arrays()
    arrays["l0.weight"] = np.zeros((4096, 4096), np.int8)  # 16 MiB, compresses to kB
    path = tmp_path / "m.npz"
    np.savez_compressed(path, manifest=np.frombuffer(json.dumps(desc.manifest()).encode(),
                                                     np.uint8), **arrays)

    def load_it():
        with pytest.raises(DescriptionError, match=r"declares shape \(4096, 4096\), more than the \d+ values allowed"):
            load(path)

    assert peak_bytes(load_it) < 4 << 20


@pytest.mark.parametrize("mutate, key, near", [
    (lambda m: m["input"]["encoder"].update(sed=7), "input.encoder.sed", "input.encoder.seed"),
    (lambda m: m.update(time_step=8), "time_step", "time_steps"),
    (lambda m: m["layers"][0].update(weight_bit=2), "layers[0].weight_bit", "layers[0].weight_bits"),
    (lambda m: m["layers"][0]["neuron"].update(thresold=1), "layers[0].neuron.thresold", None),
    (lambda m: m["layers"][0]["core"].update(lane=4), "layers[0].core.lane", "layers[0].core.lanes"),
])
def test_unknown_manifest_keys_are_refused_naming_the_nearest(capsys, tmp_path, mutate, key, near):
    line = refused(capsys, "inspect", fc_model(tmp_path, mutate), words=(f"'{key}'",))
    if near:
        assert f"did you mean '{near}'" in line


def test_provenance_stays_free_form(capsys, tmp_path):
    path = fc_model(tmp_path, lambda m: m["provenance"].update(anything={"goes": 1}))
    assert run(capsys, "inspect", path)[0] == 0


# 6 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [("convert", "{f}", "--bsnn", "{out}"),
                                  ("quantize", "{f}", "-o", "{out}")])
def test_an_empty_checkpoint_is_one_line(capsys, tmp_path, argv):
    f = tmp_path / "empty.npz"
    f.touch()
    refused(capsys, *[a.format(f=f, out=tmp_path / "o.npz") for a in argv],
            words=("not a readable .npz",))


def test_a_checkpoint_bomb_is_refused_from_the_zip_directory(tmp_path):
    from neurochip.npz import read_npz

    path = fc_model(tmp_path, extra={"junk.npy": 64 << 20})

    def read():
        with pytest.raises(ValueError, match="would unpack to"):
            read_npz(path, 32 << 20)

    assert peak_bytes(read) < 4 << 20


# 7, 12 (tech) ----------------------------------------------------------------------------
def tech_table(tmp_path, **energy):
    from importlib import resources

    obj = json.loads(resources.files("neurochip.data").joinpath("tech_40nm.json").read_text())
    obj["energy_pj"].update(energy)
    path = tmp_path / "tech.json"
    path.write_text(json.dumps(obj))
    return path


def test_tech_from_a_device_is_refused_within_its_bound(small_model_path):
    import fuzz  # in a worker under RLIMIT_AS: unbounded, this read fills the memory

    case = fuzz.Case("cli-0", ["simulate", str(small_model_path), "--tech", "/dev/zero"],
                     "refuse", "more than 1048576 bytes")
    fuzz.run_cases([case], timeout_s=60)
    assert case.result["class"] == "refusal", case.result


@pytest.mark.parametrize("value", [1e308, 1e7, -1.0])
def test_tech_entries_are_bounded(capsys, tmp_path, small_model_path, value):
    key = json.loads(tech_table(tmp_path).read_text())["energy_pj"]
    path = tech_table(tmp_path, **{next(iter(key)): value})
    refused(capsys, "simulate", small_model_path, "--tech", path, words=("0 … 1e+06",))


# 8, 12 (verify) --------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["simulate", "verify"])
def test_split_without_data_is_refused(capsys, small_model_path, command):
    refused(capsys, command, small_model_path, "--split", "train", words=("needs --data",))


@pytest.mark.parametrize("jobs", ["0", "-4"])
def test_verify_jobs_must_be_positive(capsys, small_model_path, jobs):
    refused(capsys, "verify", small_model_path, "--jobs", jobs, words=("--jobs",))


@pytest.mark.parametrize("sub", ["", "/below"])
def test_verify_work_must_be_a_folder(capsys, tmp_path, small_model_path, sub):
    f = tmp_path / "file"
    f.write_text("x")
    refused(capsys, "verify", small_model_path, "--work", f"{f}{sub}", words=("is not a folder",))


# 9 ---------------------------------------------------------------------------------------
def test_no_command_writes_over_its_input(capsys, tmp_path, small_model_path):
    import shutil

    pytest.importorskip("nir")
    model = tmp_path / "m.npz"
    shutil.copy(small_model_path, model)
    before = model.read_bytes()
    refused(capsys, "nir", "export", model, "-o", model, words=("is the input",))
    refused(capsys, "nir", "export", model, "-o", tmp_path / "." / "m.npz", words=("is the input",))
    refused(capsys, "simulate", model, "--per-image", model, words=("is the input",))
    refused(capsys, "simulate", model, "--plot", model, words=("is the input",))
    refused(capsys, "quantize", model, "-o", model, words=("is the input",))
    refused(capsys, "convert", model, "--bsnn", model, words=("is the input",))
    refused(capsys, "convert", model, "--bsnn", tmp_path / "a.npz", "--plain", tmp_path / "a.npz",
            words=("both",))
    assert model.read_bytes() == before
    graph = tmp_path / "m.nir"
    assert run(capsys, "nir", "export", model, "-o", graph)[0] == 0
    before = graph.read_bytes()
    refused(capsys, "nir", "import", graph, "-o", graph, words=("is the input",))
    link = tmp_path / "link.nir"
    link.symlink_to(graph)
    refused(capsys, "nir", "import", graph, "-o", link, words=("is the input",))
    assert graph.read_bytes() == before


# 10 --------------------------------------------------------------------------------------
def conv_graph(**conv):
    nir = pytest.importorskip("nir")
    rng = np.random.default_rng(0)
    fields = dict(input_shape=(6, 6), weight=rng.integers(-2, 3, (2, 1, 3, 3)).astype(float),
                  stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(2))
    fields.update(conv)
    nodes = {"input": nir.Input(input_type={"input": np.array([1, 6, 6])}),
             "c": nir.Conv2d(**fields),
             "n": nir.IF(r=np.ones((2, 4, 4)), v_threshold=np.ones((2, 4, 4)),
                         v_reset=np.zeros((2, 4, 4))),
             "flat": nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=0,
                                 end_dim=-1),
             "fc": nir.Affine(weight=rng.integers(-2, 3, (3, 32)).astype(float), bias=np.zeros(3)),
             "out": nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3)),
             "output": nir.Output(output_type={"output": np.array([3])})}
    edges = [("input", "c"), ("c", "n"), ("n", "flat"), ("flat", "fc"), ("fc", "out"),
             ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


@pytest.mark.parametrize("conv, words", [
    ({}, None),
    ({"groups": 0}, "'groups' = [0]"),
    ({"input_shape": (7, 7)}, "declares input_shape [7, 7]"),
    ({"input_shape": (10**9, 10**9)}, "declares input_shape"),
])
def test_foreign_conv_fields_must_match_the_graph(tmp_path, conv, words):
    nir = pytest.importorskip("nir")
    from neurochip.interchange.nir_import import ImportOptions, import_file
    from neurochip.interchange.nir_io import NirError

    nir.write(tmp_path / "g.nir", conv_graph(**conv))
    if words is None:
        assert import_file(tmp_path / "g.nir", ImportOptions())[0].desc.layers[0].kind == "conv2d"
        return
    with pytest.raises(NirError, match=__import__("re").escape(words)):
        import_file(tmp_path / "g.nir", ImportOptions())


@pytest.mark.parametrize("kind, node_type, field, value", [
    ("pool", "SumPool2d", "padding", np.array([1, 1])),
    ("pool", "SumPool2d", "stride", np.array([3, 3])),
    ("conv2d", "Conv2d", "stride", np.array([3, 3])),
    ("conv2d", "Conv2d", "groups", 2),
    ("conv2d", "Conv2d", "input_shape", np.array([10**9, 10**9])),
])
def test_an_exact_read_back_refuses_nodes_that_disagree_with_their_metadata(
        capsys, tmp_path, kind, node_type, field, value):
    nir = pytest.importorskip("nir")
    for seed in range(200):
        desc = random_description(seed, kinds=(kind,), models=("lif",), max_layers=1)
        if desc.layers[0].kind == kind:
            break
    save(desc, tmp_path / "m.npz")
    assert run(capsys, "nir", "export", tmp_path / "m.npz", "-o", tmp_path / "m.nir")[0] == 0
    g = nir.read(tmp_path / "m.nir")
    node = next(n for n in g.nodes.values() if type(n).__name__ == node_type)
    setattr(node, field, value)
    nir.write(tmp_path / "bad.nir", g)
    refused(capsys, "nir", "import", tmp_path / "bad.nir", "-o", tmp_path / "o.npz",
            "--images", "0", words=(f"field '{field}'" if field != "input_shape"
                                    else "declares input_shape",))


@pytest.mark.parametrize("option", ["--data", "--calibrate"])
@pytest.mark.parametrize("images, words", [((5_500_000, 28, 28), "more than the"),
                                           ((0, 28, 28), "has no images")])
def test_nir_import_data_is_bounded_and_not_empty(capsys, tmp_path, small_model_path, option,
                                                  images, words):
    pytest.importorskip("nir")
    graph = tmp_path / "m.nir"
    assert run(capsys, "nir", "export", small_model_path, "-o", graph)[0] == 0
    d = data_dir(tmp_path, idx_header(images), 4 << 20 if images[0] else 0,
                 labels=1 if images[0] else 0)
    (d / "train-images-idx3-ubyte.gz").symlink_to(d / "t10k-images-idx3-ubyte.gz")
    (d / "train-labels-idx1-ubyte").symlink_to(d / "t10k-labels-idx1-ubyte")
    extra = ["--foreign"] if option == "--calibrate" else []
    refused(capsys, "nir", "import", graph, "-o", tmp_path / "o.npz", option, d, "--images", "2",
            *extra, words=(words,))


# 13 --------------------------------------------------------------------------------------
def refused_usage(capsys, *argv, words=()):
    """A usage error: exit 2 and a last stderr line '...: error: ...' (argparse's own, or
    the command's when it returns 2)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    last = err.strip().splitlines()[-1]
    assert "error:" in last, err
    assert "Traceback" not in err
    for w in words:
        assert w in last, (w, last)
    return last


NO_DATA = "/nonexistent/neurochip-data"  # read after the checks: never reached here


@pytest.mark.parametrize("argv, words", [
    (("ste-bp", "--out", "/proc/version/t"), ("--out", "not a folder")),
    (("stidi-bp", "--out", "/proc/version/t"), ("--out", "not a folder")),
    (("hb-stdp", "--out", "/proc/version/t"), ("--out", "not a folder")),
    (("ann", "--out", "/proc/version/t.npz"), ("--out", "not a folder")),
    (("stidi-bp", "--out", "{tmp}/t", "--arch", "16c99"), ("1 … 16",)),
    (("stidi-bp", "--out", "{tmp}/t", "--arch", "512c3p1"), ("at most 32768",)),
    (("stidi-bp", "--out", "{tmp}/t", "--arch", "16c5,p2"), ("write --arch 16c5p2,p2",)),
    (("bs4nn", "--out", "{tmp}/t", "--batch-size", "4"), ("per sample",)),
    (("hb-stdp", "--out", "{tmp}/t", "--arch", "16c5"), ("topology is fixed",)),
    (("ann", "--out", "{tmp}/t", "--arch", "16c5"), ("resnet or vgg",)),
    (("hb-stdp", "--out", "{tmp}/t", "--residual", "--no-residual"), ("given both",)),
    (("hb-stdp", "--out", "{tmp}/t", "--no-residual", "--residual"), ("given both",)),
    (("hb-stdp", "--out", "{tmp}/t", "--kernels", "4,6"), ("--kernels",)),
    (("hb-stdp", "--out", "{tmp}/t", "--t-win", "99"), ("--t-win",)),
    (("hb-stdp", "--out", "{tmp}/t", "--channels", "0"), ("--channels",)),
    (("ste-bp", "--out", "{tmp}/t", "--epochs", "0"), ("--epochs",)),
    (("stidi-bp", "--out", "{tmp}/t", "--lr", "abc"), ("--lr 'abc'",)),  # fuzz seed 3
])
def test_trainers_check_everything_before_torch_or_data(capsys, tmp_path, argv, words):
    argv = [a.format(tmp=tmp_path) for a in argv]
    line = refused_usage(capsys, "train", *argv, "--data", NO_DATA, words=words)
    assert NO_DATA not in line


def test_hb_stdp_switch_alone_still_works():
    from neurochip.cli.main import build_parser

    parse = build_parser().parse_args
    assert parse(["train", "hb-stdp", "--out", "x", "--no-residual"]).residual is False
    assert parse(["train", "hb-stdp", "--out", "x", "--residual"]).residual is True
    assert parse(["train", "hb-stdp", "--out", "x"]).residual is None  # read as on


# the documents ---------------------------------------------------------------------------
def _doc(name: str) -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[1] / "docs" / name).read_text()


def test_core_description_doc_says_what_version_1_holds():
    text = _doc("core-description.md")
    assert "Reserved for later versions" not in text
    assert "exactly two **different** sources" in text
    assert "`bistable` included" in text
    assert "## Bounded reading" in text and "No command writes over its own input" in text


def test_energy_doc_counts_every_static_memory_and_defines_kbit():
    text = _doc("energy.md")
    assert "ttfs fired bits" in text and "1 kbit = 1,000 bits" in text


def test_synaptic_ops_per_event_of_every_kind_is_documented():
    text = _doc("architecture.md")
    assert "pool 1 per touched window; add 1" in text  # the generated counter table
    assert "T for `pool`" in text and "1 for `add`" in text


def test_the_ttfs_fired_bits_the_energy_doc_names_are_what_the_model_charges():
    from neurochip.energy.model import static_memory_kbit

    for seed in range(300):
        desc = random_description(seed, kinds=("fc",), models=("ttfs",), max_layers=1)
        if desc.layers[0].neuron.model == "ttfs":
            break
    lay = desc.layers[0]
    want = (lay.weight_memory_bits + lay.words * lay.core.lanes) / 1e3
    assert static_memory_kbit(desc) == {"per_kbit_sram": want}


def test_an_add_listing_one_source_twice_is_refused_as_documented(capsys, tmp_path):
    def twice(m):
        m["layers"][0]["source"] = ["input", "input"]

    refused(capsys, "inspect", fc_model(tmp_path, twice), words=("name each source once",))


def test_a_zip_of_an_unknown_version_is_one_line(capsys, tmp_path):
    """Found by the fuzzer (seed 2, model-0119): a flipped byte in the zip directory's
    'version needed' made zipfile raise NotImplementedError, a traceback."""
    path = fc_model(tmp_path)
    data = bytearray(path.read_bytes())
    data[data.index(b"PK\x01\x02") + 6] = 230  # needs zip version 23.0
    path.write_bytes(bytes(data))
    refused(capsys, "inspect", path, words=("zip file version 23.0",))
    refused(capsys, "quantize", path, "-o", tmp_path / "o.npz", words=("zip file version",))


def test_a_crash_of_the_hdf5_library_is_one_line(tmp_path):
    """Found by the fuzz suite (seed 2, nir-0105): flipped bytes in a .nir file made
    libhdf5 segfault, killing the process; NIR files are now read in a forked child."""
    import multiprocessing as mp
    import os
    import signal

    from neurochip.interchange.nir_io import NirError, _in_child

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform: files are read in-process")
    with pytest.raises(NirError, match="crashed reading it"):
        _in_child(lambda p: os.kill(os.getpid(), signal.SIGSEGV), tmp_path / "x.nir")
    with pytest.raises(NirError, match="KeyError"):
        _in_child(lambda p: {}["missing"], tmp_path / "x.nir")
    assert _in_child(lambda p: p.name, tmp_path / "x.nir") == "x.nir"

"""The trainer shell (neurochip/train/shell.py): one set of common options with one help
text, the old spellings as noted aliases, one split, one checkpoint format, and every
check before torch or the data."""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pytest

from neurochip.cli.main import main
from neurochip.cli.train_cmd import trainers
from neurochip.datasets import load_sample, write_idx
from neurochip.train import shell
from neurochip.train.checkpoint import CheckpointFileError, read_checkpoint, write_checkpoint

NAMES = [t.name for t in trainers()]


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def _common_section(text: str) -> str:
    start = text.index(shell.COMMON_TITLE)
    rest = text[start:].split("\n\n")[0]
    return rest.rstrip() + "\n"


def test_every_trainer_is_registered_once():
    assert sorted(NAMES) == sorted(shell.TRAINER_NAMES)
    assert set(shell.TRAINER_DEFAULTS) == set(shell.TRAINER_NAMES)


def test_common_options_have_one_help_text_everywhere(capsys):
    overview = _common_section(_help(capsys, "train"))
    assert overview == shell.common_help()
    for flag in shell.COMMON_FLAGS:
        assert overview.count(f"\n  {flag} ") == 1, flag
    for name in NAMES:
        assert _common_section(_help(capsys, "train", name)) == overview, name


def test_per_trainer_defaults_are_listed_and_applied(capsys):
    text = " ".join(shell.common_help().split())
    assert "(default: ste-bp 30, stidi-bp 10, bs4nn 200, ann 3, hb-stdp 60)" in text
    assert "(default: 0; bs4nn 1000)" in text  # --validation-images
    parse = __import__("neurochip.cli.main", fromlist=["build_parser"]).build_parser().parse_args
    for name, defaults in shell.TRAINER_DEFAULTS.items():
        args = parse(["train", name, "--out", "x"])
        assert args.seed == 0 and args.train_images == 0 and args.data == shell.DEFAULT_DATA
        for dest, value in defaults.items():
            assert getattr(args, dest) == value, (name, dest)


def test_old_spellings_are_hidden_aliases_with_a_note(capsys):
    from neurochip.cli.main import build_parser

    parse = build_parser().parse_args
    for old, (names, new) in shell.OLD_SPELLINGS.items():
        value = "2" if new != "--arch" else "64"
        for name in names:
            args = parse(["train", name, "--out", "x", old, value])
            dest = new[2:].replace("-", "_")
            assert str(getattr(args, dest)) == value, (name, old)
            err = capsys.readouterr().err
            assert err.strip().splitlines() == [
                f"neurochip: note: {old} is the old spelling of {new}; it still works, but "
                f"write {new} (docs/training.md)"]
            assert f"  {old} " not in _help(capsys, "train", name)


@pytest.fixture()
def idx_dir(tmp_path):
    images, labels = load_sample()
    write_idx(tmp_path / "train-images-idx3-ubyte", images[:100])
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:100])
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[100:160])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[100:160])
    return tmp_path, images, labels


def test_split_takes_the_first_images_and_holds_out_their_tail(idx_dir):
    folder, images, labels = idx_dir
    args = argparse.Namespace(data=str(folder), train_images=80, validation_images=30,
                              test_images=25)
    data = shell.load_data(args)
    np.testing.assert_array_equal(data.train_x, images[:50])
    np.testing.assert_array_equal(data.validation_x, images[50:80])
    np.testing.assert_array_equal(data.validation_y, labels[50:80])
    np.testing.assert_array_equal(data.test_x, images[100:125])
    prov = data.provenance()
    assert (prov["train_images"], prov["validation_images"], prov["test_images"]) == (50, 30, 25)
    assert prov["test_split_sha256"] == shell.split_fingerprint(images[100:125], labels[100:125])
    args.validation_images = 80
    with pytest.raises(shell.TrainerError, match="--validation-images 80 leaves no training image"):
        shell.load_data(args)


def test_fingerprint_sees_every_byte_and_label():
    images, labels = load_sample()
    base = shell.split_fingerprint(images, labels)
    flipped = images.copy()
    flipped[7, 3, 4] ^= 1
    assert shell.split_fingerprint(flipped, labels) != base
    assert shell.split_fingerprint(images, np.roll(labels, 1)) != base
    assert shell.split_fingerprint(images.copy(), labels.copy()) == base


def test_checkpoint_round_trip_and_refusals(tmp_path):
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    path = write_checkpoint(tmp_path / "sub" / "c.ckpt.npz", {"format": "x", "n": 1}, arrays)
    assert not list(tmp_path.glob("sub/*.tmp.npz"))
    manifest, read = read_checkpoint(path, "x")
    assert manifest == {"format": "x", "n": 1} and set(read) == {"w"}
    np.testing.assert_array_equal(read["w"], arrays["w"])
    with pytest.raises(CheckpointFileError, match="not a y file"):
        read_checkpoint(path, "y")
    with pytest.raises(CheckpointFileError, match="no such file"):
        read_checkpoint(tmp_path / "absent.npz")
    np.savez(tmp_path / "bare.npz", w=arrays["w"])
    with pytest.raises(CheckpointFileError, match="missing 'manifest'"):
        read_checkpoint(tmp_path / "bare.npz")


@pytest.mark.parametrize("name", ["ste-bp", "stidi-bp", "ann", "hb-stdp"])
def test_bad_options_are_refused_before_torch(tmp_path, name):
    """With torch unimportable, a bad option still gets its own one-line refusal (not the
    install hint): the checks run before any heavy import."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from neurochip.cli.main import main\n"
            f"sys.exit(main(['train', {name!r}, '--out', {str(tmp_path / 'm')!r}, "
            "'--lr', 'abc', '--data', '/nonexistent']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip().splitlines()[-1]]
    assert "--lr 'abc'" in r.stderr and "PyTorch" not in r.stderr
    ok = code.replace("'--lr', 'abc', ", "")
    r = subprocess.run([sys.executable, "-c", ok], capture_output=True, text=True)
    assert r.returncode == 2 and "needs PyTorch" in r.stderr and "neurochip[train]" in r.stderr

"""`neurochip campaign`: the CI slice of random networks on Icarus (every kind, neuron model
and overflow mode, 0 mismatches), resumable, the same rows on a LocalCluster and on a real
`dask scheduler` + `dask worker` deployment, a mismatch saved as a runnable reproducer,
and bad input in one line."""

from __future__ import annotations

import json
import shlex
import sqlite3
import time

import pytest

from neurochip.description import ENCODERS

from neurochip.cli.main import main
from neurochip.kinds import KINDS
from neurochip.neurons import MODELS
from dask_helpers import dask_deployment
from test_hw_cosim import need

SLICE = 8


def campaign(capsys, *args) -> tuple[int, dict]:
    code = main(["campaign", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def rows(store_path, keys=None) -> dict:
    with sqlite3.connect(store_path) as db:
        got = {k: (spec, mh, status, json.loads(result))
               for k, spec, mh, status, result in
               db.execute("SELECT key, spec, model_hash, status, result FROM results")}
    for _, _, _, result in got.values():  # wall times of a build depend on the host
        for k in ("rtl_build_seconds", "rtl_run_seconds"):
            result.pop(k, None)
    return {k: v for k, v in got.items() if keys is None or k in keys}


@pytest.fixture(scope="module")
def ci_slice(tmp_path_factory):
    """The seeded CI slice, in this process."""
    need("icarus")
    out = tmp_path_factory.mktemp("slice")
    code = main(["campaign", "--networks", str(SLICE), "--simulator", "icarus", "--workers", "0",
                 "-o", str(out)])
    assert code == 0
    return out


def test_ci_slice_covers_every_kind_model_and_overflow_with_no_mismatch(ci_slice, capsys):
    code, r = campaign(capsys, "--networks", str(SLICE), "--simulator", "icarus",
                       "--workers", "0", "-o", str(ci_slice))
    assert code == 0
    assert r["networks"] == SLICE and r["mismatches"] == 0 and r["errors"] == 0
    assert r["computed"] == 0 and r["reused"] == SLICE  # the rerun recomputed nothing
    assert set(r["per_kind"]) == set(KINDS) and set(r["per_model"]) == set(MODELS)
    assert set(r["per_overflow"]) == {"saturate", "wrap"}
    assert "events" in r["per_encoder"] and set(r["per_encoder"]) <= set(ENCODERS)  # §11.2
    assert r["per_simulator"] == {"icarus": SLICE}
    assert r["seconds_per_network"]["icarus"] > 0


def test_localcluster_gives_the_same_rows(ci_slice, tmp_path, capsys):
    code, r = campaign(capsys, "--networks", "3", "--seed", "2", "--workers", "2",
                       "-o", str(tmp_path))
    assert code == 0 and r["computed"] == 3
    got = rows(tmp_path / "results.sqlite")
    assert got == rows(ci_slice / "results.sqlite", set(got))


def test_dask_scheduler_and_workers_give_the_same_rows(ci_slice, tmp_path, capsys):
    with dask_deployment(tmp_path, workers=2) as (address, _):
        code, r = campaign(capsys, "--networks", "3", "--seed", "5", "--scheduler", address,
                           "-o", str(tmp_path / "out"))
    assert code == 0 and r["computed"] == 3 and r["mismatches"] == 0
    got = rows(tmp_path / "out" / "results.sqlite")
    assert got == rows(ci_slice / "results.sqlite", set(got))


@pytest.mark.slow
def test_a_network_on_verilator(tmp_path, capsys):
    need("verilator")
    code, r = campaign(capsys, "--networks", "1", "--seed", "1", "--simulator", "verilator",
                       "--workers", "0", "-o", str(tmp_path))
    assert code == 0 and r["per_simulator"] == {"verilator": 1} and r["mismatches"] == 0


def test_a_mismatch_is_saved_with_a_command_that_reruns_it(tmp_path, capsys, monkeypatch):
    """The RTL's readback is corrupted (one prediction changed) so the comparison fails:
    the campaign exits 1 and leaves the network and the exact command; the command, run
    without the corruption, reruns the same network."""
    need("icarus")
    import neurochip.verify.flow as flow
    from neurochip.description import load
    from neurochip.explore.campaign import campaign_description

    real = flow.run_rtl

    def corrupted(*args, **kw):
        run = real(*args, **kw)
        run.observation.predictions[0] += 1
        return run

    monkeypatch.setattr(flow, "run_rtl", corrupted)
    code, r = campaign(capsys, "--networks", "1", "--seed", "3", "--workers", "0",
                       "-o", str(tmp_path))
    assert code == 1 and r["mismatches"] == 1
    assert r["bad"][0]["key"] == "3/icarus"
    folder = tmp_path / "reproducers" / "seed-3-icarus"
    saved = load(folder / "network.npz")
    assert saved.content_hash() == campaign_description(3).content_hash()
    command = shlex.split((folder / "command.txt").read_text().splitlines()[0])
    assert command[:2] == ["neurochip", "campaign"]
    monkeypatch.setattr(flow, "run_rtl", real)
    code, again = campaign(capsys, *command[2:])
    assert code == 0 and again["networks"] == 1 and again["seeds"] == [3, 3]


@pytest.mark.parametrize("args, words", [
    (["--networks", "0"], "--networks 0"),
    (["--kinds", "fc,dense"], "unknown kind 'dense'"),
    (["--simulator", "modelsim"], "unknown simulator 'modelsim'"),
    (["--images", "0"], "--images 0"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, words):
    assert main(["campaign", *args, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_unreachable_scheduler_and_a_sweep_folder_are_refused(tmp_path, capsys):
    need("icarus")
    t0 = time.monotonic()
    code = main(["campaign", "--networks", "1", "--scheduler", "tcp://127.0.0.1:9",
                 "-o", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - t0 < 40
    assert "cannot reach a Dask scheduler" in err and len(err.strip().splitlines()) == 1
    from neurochip.explore.store import Store

    Store(tmp_path / "b", "sweep", {"model_hash": "x"}).close()
    assert main(["campaign", "--networks", "1", "-o", str(tmp_path / "b")]) == 2
    assert "holds a sweep store" in capsys.readouterr().err

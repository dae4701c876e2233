"""`neurochip sweep`: the grid and its refusals, the store (resumable, lossless, one row
per point), the same rows in this process, on a LocalCluster and on a real
`dask scheduler` + `dask worker` deployment, a worker and the whole driver killed mid-run,
the Pareto front, and bad input in one line."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from neurochip.cli.main import main
from neurochip.description import load
from neurochip.explore.grid import GridError, build_grid, parse_axes
from neurochip.explore.pareto import dominates, front
from conftest import DEFAULT_MODEL as MODELS_DEFAULT
from dask_helpers import dask_deployment, env

GRID = ["--set", "core.lanes=2,8", "--set", "core.fifo_depth=1,16"]
IMAGES = ["--images", "12"]
# host-independent figures of a row (seconds and the like differ from run to run)
VOLATILE = ("seconds",)


def sweep(capsys, *args) -> tuple[int, dict]:
    code = main(["sweep", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def rows(report: dict) -> dict:
    return {json.dumps(p["overrides"]): {k: v for k, v in p.items() if k not in VOLATILE}
            for p in report["points"]}


def store_keys(path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [k for (k,) in db.execute("SELECT key FROM results")]


@pytest.fixture(scope="module")
def baseline(small_model_path, tmp_path_factory):
    """The grid in this process, without Dask."""
    out = tmp_path_factory.mktemp("baseline")
    code = main(["sweep", str(small_model_path), *GRID, *IMAGES, "--workers", "0",
                 "-o", str(out), "--json"])
    assert code == 0
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT count(*) FROM results").fetchone()[0] == 4
    return out


def test_grid_is_the_product_and_refuses_invalid_points(small_model_path):
    desc = load(small_model_path)
    grid = build_grid(desc, ["core.lanes=4,0,16", "time_steps=2,3"])
    assert [p.sets for p in grid.points][:2] == [("core.lanes=4", "time_steps=2"),
                                                 ("core.lanes=4", "time_steps=3")]
    assert len(grid.points) == 4 and len(grid.refused) == 2
    assert all("core.lanes" in why and "out of range" in why for _, why in grid.refused)
    with pytest.raises(GridError, match="empty"):
        parse_axes([])
    with pytest.raises(GridError, match="twice"):
        parse_axes(["core.lanes=1", "core.lanes=2"])
    with pytest.raises(GridError, match="did you mean"):
        build_grid(desc, ["core.lane=4"])
    with pytest.raises(GridError, match="retrain|re-quantized"):
        build_grid(desc, ["weight_bits=2,4"])


def test_sweep_json_resumes_and_plots(small_model_path, baseline, tmp_path, capsys):
    code, r = sweep(capsys, str(small_model_path), *GRID, "--set", "time_steps=0,4", *IMAGES,
                    "--workers", "0", "-o", str(tmp_path))
    assert code == 0
    assert r["computed"] == 4 and r["reused"] == 0 and len(r["points"]) == 4
    assert len(r["refused"]) == 4 and all(p["overrides"]["time_steps"] == 0 for p in r["refused"])
    pt = r["points"][0]
    assert pt["overrides"] == {"core.lanes": 2, "core.fifo_depth": 1, "time_steps": 4}
    for name in ("accuracy", "cycles_per_image", "latency_us_per_image",
                 "energy_nj_per_image", "energy_breakdown_nj", "stall_cycles_per_image",
                 "model_hash", "tool_version"):
        assert name in pt
    assert any(p["pareto"] for p in r["points"])
    assert os.path.getsize(r["plot"]) > 1000 and r["store"].endswith("results.sqlite")
    # the stalls fall with the FIFO depth, as the chip says
    by = {(p["overrides"]["core.lanes"], p["overrides"]["core.fifo_depth"]): p for p in r["points"]}
    assert by[(8, 16)]["stall_cycles_per_image"] <= by[(8, 1)]["stall_cycles_per_image"]
    code, again = sweep(capsys, str(small_model_path), *GRID, "--set", "time_steps=0,4",
                        *IMAGES, "--workers", "0", "-o", str(tmp_path))
    assert code == 0 and again["computed"] == 0 and again["reused"] == 4
    assert rows(again) == rows(r)


def test_localcluster_gives_the_same_rows(small_model_path, baseline, tmp_path, capsys):
    code, r = sweep(capsys, str(small_model_path), *GRID, *IMAGES, "--workers", "2",
                    "-o", str(tmp_path))
    assert code == 0 and r["computed"] == 4
    code, base = sweep(capsys, str(small_model_path), *GRID, *IMAGES, "--workers", "0",
                       "-o", str(baseline))
    assert base["computed"] == 0
    assert rows(r) == rows(base)


def test_dask_scheduler_and_workers_give_the_same_rows_and_survive_a_killed_worker(
        small_model_path, baseline, tmp_path, capsys):
    """A real deployment; the sweep runs in a subprocess while the test SIGKILLs one
    worker that holds tasks: Dask reschedules them, nothing is lost or duplicated."""
    from dask.distributed import Client

    big = ["--set", "core.lanes=1,2,3,4,6,8", "--set", "core.fifo_depth=1,2,16",
           "--images", "64"]
    with dask_deployment(tmp_path, workers=2) as (address, workers):
        code, r = sweep(capsys, str(small_model_path), *GRID, *IMAGES, "--scheduler", address,
                        "-o", str(tmp_path / "small"))
        assert code == 0 and r["computed"] == 4
        code, base = sweep(capsys, str(small_model_path), *GRID, *IMAGES, "--workers", "0",
                           "-o", str(baseline))
        assert rows(r) == rows(base)

        out = tmp_path / "killed"
        driver = subprocess.Popen(
            [sys.executable, "-m", "neurochip.cli.main", "sweep", str(small_model_path), *big,
             "--scheduler", address, "-o", str(out), "--json"],
            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # the victim is the first worker seen holding tasks, whichever it is: the scheduler
        # may well give a short grid to one worker only (both hold the scattered inputs)
        with Client(address, timeout="10s") as watch:
            names = {w: info.get("name") for w, info in watch.scheduler_info()["workers"].items()}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and driver.poll() is None:
                held = [names[w] for w, tasks in watch.processing().items() if tasks and w in names]
                if held:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("no worker was seen holding a task while the sweep ran")
        victim = workers[int(held[0][1:])]  # worker "w<i>" is the i-th process
        os.killpg(victim.pid, signal.SIGKILL)
        assert driver.poll() is None, "the sweep ended before a worker holding tasks was killed"
        stdout, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stderr[-2000:]
    report = json.loads(stdout)
    assert report["computed"] == 18 and not report["failed"]
    keys = store_keys(out / "results.sqlite")
    assert len(keys) == len(set(keys)) == 18


def test_sigkill_of_the_sweep_loses_and_duplicates_nothing(small_model_path, tmp_path, capsys):
    big = ["--set", "core.lanes=1,2,3,4,5,6,7,8", "--set", "core.fifo_depth=1,2,16",
           "--images", "128", "--workers", "0", "-o", str(tmp_path)]
    driver = subprocess.Popen([sys.executable, "-m", "neurochip.cli.main", "sweep",
                               str(small_model_path), *big], env=env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = tmp_path / "results.sqlite"
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and driver.poll() is None:
        if store.is_file():
            try:
                done = len(store_keys(store))
            except sqlite3.OperationalError:  # the table is being created
                done = 0
            if done >= 2:
                break
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = len(store_keys(store))
    assert 2 <= before < 24, f"kill landed outside the run ({before} of 24 stored)"
    code, r = sweep(capsys, str(small_model_path), *big)
    assert code == 0
    assert r["reused"] == before and r["computed"] == 24 - before
    keys = store_keys(store)
    assert len(keys) == len(set(keys)) == 24


def test_pareto_front_keeps_only_the_undominated():
    pts = [{"accuracy": 0.9, "e": 10}, {"accuracy": 0.9, "e": 5}, {"accuracy": 0.95, "e": 20},
           {"accuracy": 0.8, "e": 30}]
    assert front(pts, ["e"]) == [1, 2]
    assert dominates(pts[1], pts[0], ["e"]) and not dominates(pts[0], pts[0], ["e"])


@pytest.mark.parametrize("args, words", [
    ([], "grid is empty"),
    (["--set", "core.lane=4,8"], "did you mean 'core.lanes'"),
    (["--set", "core.lanes=0,300"], "every one of the 2 grid points is refused"),
    (["--set", "core.lanes=4,,8"], "empty value"),
    (["--set", "weight_bits=2,4"], "weight_bits"),
])
def test_bad_grids_are_one_line(small_model_path, tmp_path, capsys, args, words):
    assert main(["sweep", str(small_model_path), *args, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unreachable_scheduler_is_one_line_within_the_timeout(small_model_path, tmp_path, capsys):
    t0 = time.monotonic()
    code = main(["sweep", str(small_model_path), *GRID, *IMAGES, "--scheduler",
                 "tcp://127.0.0.1:9", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - t0 < 40
    assert "cannot reach a Dask scheduler" in err and len(err.strip().splitlines()) == 1


def test_a_folder_of_another_sweep_or_a_campaign_is_refused(small_model_path, baseline,
                                                            tmp_path, capsys):
    code = main(["sweep", str(small_model_path), "--set", "core.lanes=2,4", *IMAGES,
                 "--workers", "0", "-o", str(baseline)])
    err = capsys.readouterr().err
    assert code == 2 and "holds another sweep (grid" in err and len(err.strip().splitlines()) == 1
    code = main(["sweep", str(MODELS_DEFAULT), *GRID, *IMAGES, "--workers", "0",
                 "-o", str(baseline)])
    assert code == 2 and "model_hash" in capsys.readouterr().err
    from neurochip.explore.store import Store

    Store(tmp_path, "campaign", {"campaign": 1}).close()
    assert main(["sweep", str(small_model_path), *GRID, *IMAGES, "-o", str(tmp_path)]) == 2
    assert "holds a campaign store" in capsys.readouterr().err


def test_synth_missing_is_one_line(small_model_path, tmp_path, capsys, monkeypatch):
    """Without the synth extra's wheels (one hidden here), --synth is one line naming the
    install command, exit 2, before any point runs."""
    from neurochip.synth import tools

    monkeypatch.setitem(tools._TOOLS, "nextpnr-ecp5", ("no_such_yowasp_wheel", "run"))
    assert main(["sweep", str(small_model_path), *GRID, "--synth", "ecp5", "-o",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no-such-yowasp-wheel" in err and "pip install -e '.[synth]'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results.sqlite").exists()


def test_synth_figures_per_point(tmp_path, capsys):
    """--synth adds neurochip synth's figures to every point (Yosys generic gates of a
    784-8-10 chip, seconds per point): more lanes, more cells."""
    from helpers import write_checkpoint
    from neurochip.description import save
    from neurochip.train.quantize import load_checkpoint, quantize

    ckpt = write_checkpoint(tmp_path / "m.ckpt.npz", sizes=(784, 8, 10), bits=1, T=2)
    save(quantize(load_checkpoint(ckpt), "tiny", lanes=2, fifo_depth=4), tmp_path / "tiny.npz")
    code, r = sweep(capsys, str(tmp_path / "tiny.npz"), "--set", "core.lanes=1,8", "--images", "4",
                    "--synth", "generic", "--workers", "0", "-o", str(tmp_path / "out"))
    assert code == 0
    cells = {p["overrides"]["core.lanes"]: p["cells"] for p in r["points"]}
    assert all(isinstance(v, int) and v > 0 for v in cells.values())
    assert cells[8] > cells[1]
    assert all(p["transistors"] > p["cells"] for p in r["points"])
    assert "cells" in r["pareto_costs"] and "luts" not in r["pareto_costs"]


def test_weight_bits_re_quantize_from_the_float_checkpoint(tmp_path, capsys):
    """With --checkpoint, weight_bits is swept by re-quantizing the float weights at each
    width: the checkpoint's own width gives back the model itself (same hash); other
    widths give other chips; a checkpoint of another network is refused."""
    from helpers import write_checkpoint
    from neurochip.description import save
    from neurochip.train.quantize import load_checkpoint, quantize

    ckpt = write_checkpoint(tmp_path / "m.ckpt.npz", sizes=(784, 24, 10), bits=1, T=4)
    desc = quantize(load_checkpoint(ckpt), "tiny", lanes=8, fifo_depth=4)
    save(desc, tmp_path / "m.npz")
    code, r = sweep(capsys, str(tmp_path / "m.npz"), "--checkpoint", str(ckpt), "--set",
                    "weight_bits=1,2,4,9", "--images", "8", "--workers", "0",
                    "-o", str(tmp_path / "out"))
    assert code == 0
    by = {p["overrides"]["weight_bits"]: p for p in r["points"]}
    assert set(by) == {1, 2, 4} and r["refused"][0]["overrides"] == {"weight_bits": 9}
    assert by[1]["model_hash"] == desc.content_hash()
    assert len({p["model_hash"] for p in r["points"]}) == 3
    other = write_checkpoint(tmp_path / "o.ckpt.npz", sizes=(784, 30, 10))
    assert main(["sweep", str(tmp_path / "m.npz"), "--checkpoint", str(other), "--set",
                 "weight_bits=2", "-o", str(tmp_path / "o")]) == 2
    assert "not the model's" in capsys.readouterr().err

"""Interleaved A/B of the simulator against an earlier revision's, in one process:
``python -m bench.kernel_ab --base REV [--reps 7] [--seconds 0.4] [--out F.json] [MODEL ...]``.

``kernel.py`` and ``pack.py`` of REV (``git show``) are loaded beside this tree's and the
two alternate, repetition by repetition, on the same held-out test images of every shipped
model (or those named): thread CPU time and wall time per image, the paired speed-up, and
sim ÷ chip (time per image over cycles per image ÷ clock). Every output of ``simulate`` is
compared (predictions, counts, cycles, core and chip counters, membranes, every state
field, and with ``record_spikes=True`` on 16 images the spike trains); a speed-up is only
meaningful where ``same`` is true. The timed runs keep no neuron's final state where both
kernels allow it (``keep_state=False``, kernels since 48ffb59), as ``neurochip simulate``
and ``make bench`` time it; the comparison is of an untimed run that keeps it. Used for
issue 22's rounds 3 and 4
(``bench/results/issue22/round{3,4}-ab-main-vs-branch.*``)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import config as C
from bench.per_model import dataset_of, shipped_models

def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load_base(rev: str, folder: Path):
    """REV's kernel and pack modules, loaded under other names beside this tree's."""
    mods = []
    for name in ("kernel", "pack"):
        try:
            text = subprocess.run(["git", "show", f"{rev}:neurochip/sim/{name}.py"], cwd=C.ROOT,
                                  capture_output=True, text=True, check=True).stdout
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"--base {rev}: {exc.stderr.strip()}") from None
        if name == "pack":  # REV's pack fills REV's kernel's table layout
            text = text.replace("from neurochip.sim import kernel\n",
                                "import kernel_base as kernel\n")
        path = folder / f"{name}_base.py"
        path.write_text(text)
        mods.append(_module(f"{name}_base", path))
    return mods


def same(a, b) -> bool:
    """Every field both results have equal, by neurochip's one comparator
    (``neurochip.observe.compare``: predictions, counts, spike trains when recorded,
    membranes, state fields, cycles, counters), and the same state fields, of the same
    dtypes, on both sides."""
    from neurochip.observe import compare

    if a.states.keys() != b.states.keys():
        return False
    if any(a.states[k].dtype != b.states[k].dtype for k in a.states):
        return False
    return compare(a, b, limit=1, labels=("base", "new")).identical


def run(base_rev: str, reps: int, seconds: float, names: tuple[str, ...]) -> dict:
    import neurochip.sim.simulator as S
    from neurochip.datasets import load_split
    from neurochip.description import load
    from neurochip.sim import kernel as knew
    from neurochip.sim.pack import PackedModel

    tmp = Path(tempfile.mkdtemp(prefix="kernel-ab-"))
    kbase, pbase = load_base(base_rev, tmp)
    # keep_state=False hands the kernel 0-row state outputs, which only kernels since
    # 48ffb59 leave unwritten
    lean_ok = all("mem_out.shape[0] != 0" in Path(m.__file__).read_text() for m in (kbase, knew))
    sides = {"a": (kbase, pbase.PackedModel), "b": (knew, PackedModel)}

    def use(k):  # the simulator's kernel and packer (REV's pack builds REV's layer table)
        S.kernel, S.PackedModel = sides[k]

    data_root = C.MNIST_DIR.parent
    cache: dict = {}
    out = {}
    try:
        for path in shipped_models(names):
            d = load(path)
            ds = dataset_of(path)
            if ds not in cache:
                cache[ds] = load_split(str(data_root / ds), "test")[0]
            imgs = cache[ds]
            res = {}
            for k in sides:
                use(k)
                S.simulate(d, imgs[:4])
                res[k] = S.simulate(d, imgs[:16], record_spikes=True)
            spikes_same = same(res["a"], res["b"])  # spike trains recorded on both
            t0 = time.perf_counter()
            S.simulate(d, imgs[:8])
            n = int(min(len(imgs), max(8, seconds / ((time.perf_counter() - t0) / 8))))
            x, idx = imgs[:n], np.arange(n)
            cpu = {k: [] for k in sides}
            wall = {k: [] for k in sides}
            # timed without keeping every neuron's final state where both kernels allow
            # it (as `neurochip simulate` and the bench run); compared on an untimed run
            # that keeps it
            kept = {}
            for k in sides:
                use(k)
                kept[k] = S.simulate(d, x, idx)
            lean = {"keep_state": False} if lean_ok else {}
            for r in range(reps):
                for k in (sides if r % 2 == 0 else list(sides)[::-1]):
                    use(k)
                    c0 = time.thread_time()
                    o = S.simulate(d, x, idx, **lean)
                    cpu[k].append((time.thread_time() - c0) / n)
                    wall[k].append(o.seconds / n)
            res = kept
            chip = res["a"].cycles.mean() / d.clock_hz
            pr = np.array(cpu["a"]) / np.array(cpu["b"])
            row = dict(images=n, T=d.time_steps, chip_us=chip * 1e6,
                       same=same(res["a"], res["b"]) and spikes_same, load=os.getloadavg()[0],
                       cpu_us={k: float(np.median(v) * 1e6) for k, v in cpu.items()},
                       wall_us={k: float(np.median(v) * 1e6) for k, v in wall.items()},
                       sim_per_chip_cpu={k: float(np.median(v) / chip) for k, v in cpu.items()},
                       sim_per_chip_wall={k: float(np.median(v) / chip) for k, v in wall.items()},
                       speedup_cpu_paired_median=float(np.median(pr)),
                       speedup_cpu_paired_range=[float(pr.min()), float(pr.max())])
            out[path.stem] = row
            print(f"{path.stem:26s} T={d.time_steps:4d} n={n:5d} chip {chip * 1e6:7.1f}us | CPU "
                  f"us/img base {row['cpu_us']['a']:8.1f} new {row['cpu_us']['b']:8.1f} "
                  f"x{row['speedup_cpu_paired_median']:.2f} [{pr.min():.2f}-{pr.max():.2f}] | "
                  f"sim/chip CPU {row['sim_per_chip_cpu']['a']:.2f} -> "
                  f"{row['sim_per_chip_cpu']['b']:.2f} | same={row['same']} "
                  f"load {row['load']:.1f}", flush=True)
    finally:
        use("b")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.kernel_ab", description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help="shipped model names (default: all)")
    p.add_argument("--base", required=True, help="the revision to compare against (e.g. main)")
    p.add_argument("--reps", type=int, default=7, help="alternating repetitions (default 7)")
    p.add_argument("--seconds", type=float, default=0.4, help="simulation per repetition")
    p.add_argument("--out", type=Path, help="JSON of the rows")
    a = p.parse_args(argv)
    if a.reps < 1 or a.seconds <= 0:
        p.error("--reps must be >= 1 and --seconds > 0")
    rows = run(a.base, a.reps, a.seconds, tuple(a.models))
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(r["same"] for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

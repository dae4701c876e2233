"""One picture of a simulation: where the energy goes, and the first image's spikes per
layer and time step (what an engineer would rather look at than read)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def plot_simulation(path: str | Path, desc, report: dict, first_image_spikes: list[np.ndarray]) -> None:
    """Write a PNG: energy breakdown bars (left) and per-layer spike rasters (right)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ValueError("--plot needs matplotlib: pip install 'neurochip[plot]'") from exc
    layers = len(first_image_spikes)
    fig = plt.figure(figsize=(11, 2.2 + 1.3 * layers))
    grid = fig.add_gridspec(layers, 2, width_ratios=[1, 2])
    ax = fig.add_subplot(grid[:, 0])
    parts = sorted(report["energy_breakdown_nj"].items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in parts], [v for _, v in parts], color="tab:blue")
    ax.set_xlabel("nJ / image")
    ax.set_title(f"{report['energy_nj_per_image']:.1f} nJ/image, {report['pj_per_sop']:.3f} pJ/SOP")
    for i, (lay, spikes) in enumerate(zip(desc.layers, first_image_spikes)):
        r = fig.add_subplot(grid[i, 1])
        t, n = np.nonzero(spikes)
        r.scatter(n, t, s=2, marker="|", color="black")
        r.set_xlim(-0.5, lay.neurons - 0.5)
        r.set_ylim(desc.time_steps - 0.5, -0.5)
        r.set_ylabel(f"{lay.name}\nstep")
        r.set_title(f"{lay.name}: {len(t)} spikes", fontsize=9, loc="left")
    fig.suptitle(f"{report['model_name']}: {100 * report['accuracy']:.2f} % on {report['images']} "
                 f"images, {report['cycles_per_image']:.0f} cycles/image; rasters: first image")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:  # a directory, a missing folder, no permission, disk full
        raise ValueError(f"--plot {path}: cannot write the picture ({exc.strerror or exc}); "
                         "pass a writable file path such as sim.png") from exc
    except ValueError as exc:  # e.g. an extension matplotlib has no writer for
        raise ValueError(f"--plot {path}: {exc}; use a file name ending in .png, .pdf or "
                         ".svg") from exc
    finally:
        plt.close(fig)


def check_output_path(path: str | Path, option: str, inputs: tuple = ()) -> None:
    """Refuse an output path that cannot be a file before any work is done: an existing
    directory, a parent that is missing or not a directory, or one of the command's
    ``inputs`` (no command writes over its own input) (ValueError naming ``option``).
    Writing can still fail later (permissions, disk full); callers catch OSError too."""
    p = Path(path)
    for source in inputs:
        if source is not None and same_file(p, Path(source)):
            raise ValueError(f"{option} {path} is the input {source}; writing it would replace "
                             "the input: pass another output path")
    if str(path) == "" or p.is_dir():
        raise ValueError(f"{option} {str(path)!r} is a directory (or empty); pass a file path "
                         "such as out/name.ext")
    parent = p.parent
    if not parent.is_dir():
        raise ValueError(f"{option} {path}: folder {str(parent)!r} does not exist or is not a "
                         "directory; create it first or pass another path")


def check_creatable(path: str | Path, option: str, folder: bool = False) -> None:
    """Refuse, before any work, a path a command will create with its missing folders
    (``mkdir(parents=True)``): its nearest existing ancestor must be a writable folder, and
    the path itself a folder when ``folder`` and not a folder otherwise (ValueError)."""
    p = Path(path).absolute()
    if str(path) == "":
        raise ValueError(f"{option} is empty; pass a path")
    if p.exists() and p.is_dir() != folder:
        what = "not a folder" if folder else "a folder"
        raise ValueError(f"{option} {path} is {what}; pass "
                         + ("a folder path (it is created if missing)" if folder
                            else "a file path or prefix"))
    existing = next(a for a in p.parents if a.exists())
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: {str(existing)!r} is not a folder; pass a path "
                         "inside a writable folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: {str(existing)!r} is not writable; pass a path "
                         "inside a writable folder")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (links and relative spellings included)."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links, an unreadable folder
        return False

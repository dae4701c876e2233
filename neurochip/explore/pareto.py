"""The Pareto front of a sweep: points no other point beats on accuracy (higher is
better) and on every cost (nJ/image, latency and, with synthesis, LUTs on an FPGA target
or Yosys' generic cells; lower is better),
and a picture of accuracy against each cost with each plane's own front."""

from __future__ import annotations

from pathlib import Path

COSTS = (("energy_nj_per_image", "nJ/image"), ("latency_us_per_image", "latency (µs/image)"),
         ("luts", "LUTs"), ("cells", "generic cells"))


def costs_of(rows: list[dict]) -> list[tuple[str, str]]:
    """The costs every row has a number for."""
    return [(k, w) for k, w in COSTS if rows and all(r.get(k) is not None for r in rows)]


def dominates(a: dict, b: dict, costs: list[str]) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere."""
    ge = a["accuracy"] >= b["accuracy"] and all(a[c] <= b[c] for c in costs)
    gt = a["accuracy"] > b["accuracy"] or any(a[c] < b[c] for c in costs)
    return ge and gt


def front(rows: list[dict], costs: list[str]) -> list[int]:
    """Indices of the non-dominated rows."""
    return [i for i, r in enumerate(rows)
            if not any(dominates(o, r, costs) for j, o in enumerate(rows) if j != i)]


def plot(rows: list[dict], labels: list[str], path: Path) -> Path | None:
    """accuracy against each cost, one panel each, its 2-D front joined; None without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    costs = costs_of(rows)
    fig, axes = plt.subplots(1, len(costs), figsize=(5.2 * len(costs), 4.4), squeeze=False)
    for ax, (key, words) in zip(axes[0], costs):
        xs = [r[key] for r in rows]
        ys = [100 * r["accuracy"] for r in rows]
        ax.scatter(xs, ys, s=18, color="0.6", label="grid point")
        best = sorted(front(rows, [key]), key=lambda i: rows[i][key])
        ax.plot([xs[i] for i in best], [ys[i] for i in best], "o-", color="C3",
                label="Pareto front")
        for i in best:
            ax.annotate(labels[i], (xs[i], ys[i]), fontsize=6, xytext=(3, -8),
                        textcoords="offset points")
        ax.set_xlabel(words)
        ax.set_ylabel("accuracy (%)")
        ax.set_xscale("log" if max(xs) > 20 * max(min(xs), 1e-12) else "linear")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path

"""Turn measured rows into the result table: medians, rates, ratios against neurochip on
the same model and images, match status; render it as Markdown."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.measure import median
from bench.protocol import RowMeasurement


@dataclass
class TableRow:
    """One line of the final table (also stored in latest.json under ``rows``)."""

    name: str
    kind: str
    status: str = "ok"  # ok | not installed | not applicable | failed
    reason: str = ""
    model: str = ""
    images: int = 0
    threads: int = 1
    seconds: list[float] = field(default_factory=list)
    median_seconds: float | None = None
    images_per_s: float | None = None
    images_per_s_range: list[float] | None = None  # [slowest, fastest] repetition
    sops: int | None = None  # synaptic operations of these images (neurochip's counters)
    sops_per_s: float | None = None
    sops_per_s_per_core: float | None = None
    neurochip_images_per_s: float | None = None  # 1 worker, same model and images
    neurochip_speedup: float | None = None  # neurochip images/s ÷ this row's
    match: dict[str, Any] | None = None
    compile_seconds: float | None = None
    setup_seconds: float | None = None
    memory: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def measured_row(m: RowMeasurement, model: str, sops: int | None) -> TableRow:
    """Medians and rates of one measurement; SOPs counted by neurochip on the same images."""
    med = median(m.seconds)
    row = TableRow(name=m.row, kind=m.kind, model=model, images=m.images, threads=m.threads,
                   seconds=[round(s, 6) for s in m.seconds], median_seconds=med,
                   compile_seconds=m.compile_seconds, setup_seconds=m.setup_seconds,
                   notes=list(m.notes), extra=dict(m.extra))
    if med > 0:
        row.images_per_s = m.images / med
        row.images_per_s_range = [m.images / max(m.seconds), m.images / min(m.seconds)]
        if sops is not None:
            row.sops = int(sops)
            row.sops_per_s = sops / med
            row.sops_per_s_per_core = row.sops_per_s / max(1, m.threads)
    return row


def missing_row(name: str, kind: str, status: str, reason: str, model: str = "") -> TableRow:
    return TableRow(name=name, kind=kind, status=status, reason=reason, model=model)


# ------------------------------------------------------------------------- Markdown

def _num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _mem(row: TableRow) -> str:
    mem = row.memory
    if "children_peak_rss_mib" in mem:
        return f"{mem['children_peak_rss_mib']:,.0f} (simulator process)"
    if "peak_rss_mib" in mem:
        return f"{mem['peak_rss_mib']:,.0f}"
    return "—"


def _excluded(row: TableRow) -> str:
    parts = []
    if row.compile_seconds:
        parts.append(f"{row.compile_seconds:.2f} compile/build")
    if row.setup_seconds:
        parts.append(f"{row.setup_seconds:.2f} setup")
    return ", ".join(parts) or "—"


def _ratio(row: TableRow) -> str:
    if row.neurochip_speedup is None:
        return "—"
    text = f"{row.neurochip_speedup:.3g}×"
    if row.match is not None and not row.match.get("identical", False):
        text += (" (outputs differ: not the same computation)" if row.match.get("compared")
                 else " (outputs not compared)")
    return text


def _match(row: TableRow) -> str:
    if row.match is None:
        return "reference" if row.kind == "neurochip" else "—"
    return row.match["summary"]


HEADER = ("| # | implementation | model | images | threads | images/s: median (range) "
          "| M SOP/s | M SOP/s per core | neurochip ÷ this | outputs vs neurochip "
          "| excluded, s | peak RSS, MiB |")


def table(rows: list[TableRow], reps: dict[str, int]) -> str:
    lines = [HEADER, "|" + "---|" * 12]
    for i, r in enumerate(rows, 1):
        if r.status != "ok":
            lines.append(f"| {i} | {r.name} | {r.model or '—'} | — | — | — | — | — | — "
                         f"| **{r.status}**: {r.reason} | — | — |")
            continue
        rng = r.images_per_s_range or [None, None]
        k = len(r.seconds)
        lines.append(
            f"| {i} | {r.name} | {r.model} | {r.images} | {r.threads} "
            f"| {_num(r.images_per_s)} ({_num(rng[0])}–{_num(rng[1])}), {k} reps "
            f"| {_num(r.sops_per_s / 1e6 if r.sops_per_s else None)} "
            f"| {_num(r.sops_per_s_per_core / 1e6 if r.sops_per_s_per_core else None)} "
            f"| {_ratio(r)} | {_match(r)} | {_excluded(r)} | {_mem(r)} |")
    return "\n".join(lines)


def notes_list(rows: list[TableRow]) -> str:
    out = []
    for i, r in enumerate(rows, 1):
        if r.notes:
            out.append(f"{i}. **{r.name}**: " + "; ".join(r.notes))
        elif r.status == "ok":
            out.append(f"{i}. **{r.name}**")
        else:
            out.append(f"{i}. **{r.name}**: {r.status} ({r.reason})")
    return "\n".join(out)

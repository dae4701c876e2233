"""Render the reference tables of ``docs/`` from the declarations (LiteX's "declare once,
export everywhere"): the manifest fields of ``docs/core-description.md`` (from
``neurochip.description.schema``, the kinds and the neuron models), the §6.3 per-neuron
state table and the §10 counter table of ``docs/architecture.md`` (from the neuron models'
declarations and ``neurochip.counters``) and the per-event energy table of
``docs/energy.md`` (from ``neurochip.energy.model`` and the shipped technology table).

Each table sits between ``<!-- BEGIN GENERATED: <name> (make docs) -->`` and
``<!-- END GENERATED: <name> -->``; everything outside the markers is hand-written.

    python -m neurochip.docs           # rewrite the generated blocks in place (make docs)
    python -m neurochip.docs --check   # exit 1 listing the files that are out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Callable, Iterable

from neurochip.description.fields import Field

ROOT = Path(__file__).resolve().parent.parent  # the repository (docs/ is not installed)


# --------------------------------------------------------------------------- fields

def layer_fields() -> tuple[Field, ...]:
    """The fields every layer has: the declared common ones plus ``kind`` and
    ``neuron.model``, whose allowed values are the registries of kinds and models."""
    from neurochip.description.schema import LAYER_FIELDS
    from neurochip.kinds import KINDS
    from neurochip.neurons import MODELS

    kinds = ", ".join(f"`{k.name}`" + (f" (alias {', '.join(f'`{a}`' for a in k.aliases)})"
                                        if k.aliases else "") for k in KINDS.values())
    kind = Field("kind", str, "layer kind (its connectivity); the kind's own fields follow "
                 "below", "§5, §12", choices=tuple(KINDS), range_text=kinds)
    model = Field("neuron.model", str, "neuron model; its settings sit next to it in the "
                  "layer's `neuron` object", "§6, §12", choices=tuple(MODELS))
    out: list[Field] = []
    for f in LAYER_FIELDS:
        if f.path == "core.index":
            out.append(model)
        out.append(f)
        if f.path == "name":
            out.append(kind)
    if model not in out:
        out.append(model)
    if kind not in out:
        out.insert(0, kind)
    return tuple(out)


def top_fields() -> tuple[Field, ...]:
    """The declared top-level fields plus ``layers`` (the list the layer fields live in)."""
    from neurochip.description.schema import TOP_FIELDS

    layers = Field("layers", list, "the layers in drain order, each an object with the "
                   "layer fields below", "§1, §4", range_text="non-empty list of layer objects")
    out = list(TOP_FIELDS)
    at = next((i for i, f in enumerate(out) if f.path == "provenance"), len(out))
    out.insert(at, layers)
    return tuple(out)


def default_text(f: Field) -> str:
    return "required" if f.required else f"`{json.dumps(f.default)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _spec(doc: str, section: str) -> str:
    return f"{doc} ({section})" if section else doc


def _field_table(fields: Iterable[Field], prefix: str) -> list[str]:
    rows = ["| field | values | default | spec |", "|---|---|---|---|"]
    for f in fields:
        rows.append(f"| `{prefix}{f.path}` | {_cell(f.values_text())} | {default_text(f)} | "
                    f"{_cell(_spec(f.doc, f.section))} |")
    return rows


def render_fields() -> str:
    """Top-level fields, common layer fields, then the fields of each kind and model."""
    from neurochip.kinds import KINDS
    from neurochip.neurons import MODELS

    out = ["**Top level**", ""] + _field_table(top_fields(), "")
    out += ["", "**Every layer** (`layers[i]`, whatever its kind and neuron model)", ""]
    out += _field_table(layer_fields(), "layers[i].")
    for k in KINDS.values():
        alias = f"; v1 alias {', '.join(f'`{a}`' for a in k.aliases)}" if k.aliases else ""
        out += ["", f"**Kind `{k.name}`** (`layers[i].kind` = `{k.name}`{alias}): "
                    f"{_spec(k.doc, k.section)}", ""]
        out += _field_table(k.fields, "layers[i].")
    for m in MODELS.values():
        params = ", ".join(f"`<layer>.{p}`" for p in m.param_fields)
        extra = f"; per-neuron arrays {params}" if params else ""
        if m.state_words:
            words = ", ".join(f"`{w.name}`" for w in m.state_words)
            extra += f"; per-neuron state {words} (architecture.md §6.3)"
        out += ["", f"**Neuron model `{m.name}`** (`layers[i].neuron.model` = `{m.name}`"
                    f"{extra}): {_spec(m.doc, m.section)}", ""]
        out += _field_table(m.fields, "layers[i].neuron.")
    return "\n".join(out)


# --------------------------------------------------------------------------- neuron state

def _decision_text(m) -> str:
    if m.decision.first_spike:
        return f"first spike, else the largest `{m.decision.fallback}`"
    return "largest spike count"


def render_state() -> str:
    """§6.3: every model's declared per-neuron state, emit rule and decision."""
    from neurochip.hw.config import SPACE_STATE
    from neurochip.neurons import MODELS

    rows = ["| model | state word | holds | bits a neuron | values | reset | readback space |",
            "|---|---|---|---|---|---|---|"]
    for m in MODELS.values():
        for i, w in enumerate(m.state_words):
            values = "two's complement" if w.signed else "unsigned"
            rows.append(f"| `{m.name}` | `{w.name}` | {_cell(w.doc)} | {_cell(w.width_text)} | "
                        f"{values} | {w.reset} | {SPACE_STATE + i} |")
    rows += ["", "| model | emit | sent bitmap | decision of an output core |", "|---|---|---|---|"]
    for m in MODELS.values():
        bitmap = "K × L fired bits, shared with a pool's" if m.emits_once else "a pool's only"
        rows.append(f"| `{m.name}` | `{m.emit}` | {bitmap} | {_decision_text(m)} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- counters

def _sections(section: str, drop: str = "") -> str:
    parts = [s.strip() for s in section.split(",") if s.strip() and s.strip() != drop]
    return ", ".join(parts)


def _counter_table(table) -> list[str]:
    rows = ["| counter | what increments it | energy entry | bits per event |", "|---|---|---|---|"]
    for c in table:
        where = _sections(c.section, drop="§10")
        rows.append(f"| `{c.name}` | {_cell(_spec(c.doc, where))} | "
                    f"{f'`{c.energy}`' if c.energy else '—'} | {_cell(c.bits_text) or '—'} |")
    return rows


def render_counters() -> str:
    """The §10 counters, per core (index j in table order) and chip level."""
    from neurochip.counters import CHIP_TABLE, CORE_TABLE

    out = ["Per core, in this order (index j of `CORE_TABLE` in `neurochip/counters.py`; "
           "L lanes, w weight bits, B membrane bits of the core's layer):", ""]
    out += _counter_table(CORE_TABLE)
    out += ["", "Chip level (`CHIP_TABLE`):", ""]
    out += _counter_table(CHIP_TABLE)
    return "\n".join(out)


# --------------------------------------------------------------------------- energy

def _per_event(c, energy_pj: dict[str, float]) -> str:
    value = energy_pj.get(c.energy)
    if c.bits_text.split()[:1] == ["1"]:  # an energy per cycle or per event, not per bit
        unit = "cycle" if "cycle" in c.bits_text else "event"
        return f"`{c.energy}` per {unit}" + (f" ({value:g} pJ)" if value is not None else "")
    bits = c.bits_text if "bits" in c.bits_text else f"{c.bits_text} bits"
    return f"{bits} × `{c.energy}`" + (f" ({value:g} pJ/bit)" if value is not None else "")


def render_energy() -> str:
    """One row per energy-report component and energy entry, in report order."""
    from neurochip.counters import CHIP_TABLE, CORE_TABLE
    from neurochip.energy.model import BUCKETS, KIND_ENERGY, MODEL_ENERGY, load_tech

    tech = load_tech()
    chip = {c.name for c in CHIP_TABLE}
    rows = [f"Energies of the default table `{tech.name}` "
            f"([`neurochip/data/tech_40nm.json`](../neurochip/data/tech_40nm.json)).", "",
            "| component | counted events | energy |", "|---|---|---|"]

    def name(c) -> str:
        return f"`{c.name}`" + (" (chip)" if c.name in chip else "")

    for bucket in BUCKETS:
        groups: dict[str, list] = {}
        for c in CORE_TABLE + CHIP_TABLE:
            if c.bucket == bucket and c.energy:
                groups.setdefault(_per_event(c, tech.energy_pj), []).append(c)
        for energy, ctrs in groups.items():
            rows.append(f"| `{bucket}` | {', '.join(name(c) for c in ctrs)} | {_cell(energy)} |")
        if bucket == "static":
            timed = [c for c in CORE_TABLE + CHIP_TABLE if c.bucket == bucket and not c.energy]
            memories: dict[str, list[str]] = {}
            for kind, ke in KIND_ENERGY.items():
                for memory, key in ke.memories.items():
                    memories.setdefault(key, []).append(f"{kind} {memory.replace('_', ' ')}")
            for me in MODEL_ENERGY.values():
                if me.memory_doc:
                    memories.setdefault("per_kbit_sram", []).append(me.memory_doc)
            power = [f"`{key}` ({tech.static_uw[key]:g} µW) × kbit (1 kbit = 1,000 bits) of "
                     f"{', '.join(what)}"
                     for key, what in memories.items()]
            power.append(f"`per_core_logic` ({tech.static_uw['per_core_logic']:g} µW) × cores")
            rows.append(f"| `{bucket}` | run time = {' + '.join(name(c) for c in timed)} / "
                        f"`clock_hz` | ({' + '.join(power)}) × run time |")
    free = [c for c in CORE_TABLE + CHIP_TABLE if not c.energy and c.bucket is None]
    if free:
        rows.append(f"| — | {', '.join(name(c) for c in free)} | not costed |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- blocks

BLOCKS: dict[str, tuple[str, Callable[[], str]]] = {
    "manifest-fields": ("docs/core-description.md", render_fields),
    "neuron-state": ("docs/architecture.md", render_state),
    "counters": ("docs/architecture.md", render_counters),
    "energy-costs": ("docs/energy.md", render_energy),
}


def begin_marker(name: str) -> str:
    return f"<!-- BEGIN GENERATED: {name} (make docs) -->"


def end_marker(name: str) -> str:
    return f"<!-- END GENERATED: {name} -->"


class DocsError(Exception):
    """A doc file or its markers are missing."""


def replace_block(text: str, name: str, body: str, origin: str = "") -> str:
    """``text`` with the block ``name`` replaced by ``body`` (markers kept)."""
    pattern = re.compile(re.escape(begin_marker(name)) + r"\n.*?" + re.escape(end_marker(name)),
                         re.S)
    found = pattern.findall(text)
    if len(found) != 1:
        raise DocsError(f"{origin}: expected one block '{begin_marker(name)}' … "
                        f"'{end_marker(name)}', found {len(found)}")
    return pattern.sub(lambda _: f"{begin_marker(name)}\n{body}\n{end_marker(name)}", text)


def rendered(root: Path = ROOT) -> dict[str, tuple[str, str]]:
    """{relative path: (committed text, rendered text)} of every doc with a block."""
    out: dict[str, tuple[str, str]] = {}
    for name, (rel, render) in BLOCKS.items():
        path = root / rel
        if rel not in out:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise DocsError(f"{rel}: cannot read ({exc.strerror}); run from a source "
                                "checkout") from exc
            out[rel] = (text, text)
        old, new = out[rel]
        out[rel] = (old, replace_block(new, name, render(), rel))
    return out


def stale(root: Path = ROOT) -> list[str]:
    """The doc files whose generated blocks differ from the declarations."""
    return [rel for rel, (old, new) in rendered(root).items() if old != new]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurochip.docs",
                                     description="Regenerate the declared tables in docs/.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 listing the files that are out of date")
    args = parser.parse_args(argv)
    try:
        docs = rendered()
    except DocsError as exc:
        print(f"neurochip.docs: error: {exc}", file=sys.stderr)
        return 2
    changed = [rel for rel, (old, new) in docs.items() if old != new]
    if args.check:
        for rel in changed:
            print(f"{rel}: generated tables are out of date; run make docs", file=sys.stderr)
        return 1 if changed else 0
    for rel in changed:
        (ROOT / rel).write_text(docs[rel][1], encoding="utf-8")
        print(f"rewrote {rel}")
    if not changed:
        print("docs/ is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`neurochip kinds`: every layer kind and neuron model, its fields and which backends
implement it (hls4ml's supported-layers table), read from the declarations."""

from __future__ import annotations

import argparse
import textwrap

from neurochip.cli.main import EXIT_OK, emit_json

WIDTH = 100
TYPE_NAMES = {int: "int", float: "number", str: "string", list: "list", dict: "object"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kinds", help="list layer kinds, neuron models, their fields and backends",
                       description="List every layer kind and neuron model with its doc, § "
                                   "reference (docs/architecture.md), manifest fields (type, "
                                   "allowed values, default, meaning), the fields every layer "
                                   "has, and which backends implement each kind and model "
                                   "('yes', 'no: reason', 'missing', or 'not available: "
                                   "reason' when a backend cannot be loaded here).")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (kinds, models, layer_fields, backends)")
    p.set_defaults(func=run)


def _plain(text: str) -> str:
    return text.replace("`", "")


def field_json(f, prefix: str = "") -> dict:
    from neurochip.docs import default_text

    return {
        "name": f.path, "path": prefix + f.path, "type": TYPE_NAMES.get(f.type, f.type.__name__),
        "values": _plain(f.values_text()), "choices": list(f.choices), "lo": f.lo, "hi": f.hi,
        "required": f.required, "default": None if f.required else f.default,
        "default_text": _plain(default_text(f)), "doc": _plain(f.doc), "section": f.section,
    }


def backend_support() -> list[tuple[object, tuple[dict, dict] | str]]:
    """(backend, its tables or why it is not available here) for every backend."""
    from neurochip.backends import BACKENDS, support

    out = []
    for b in BACKENDS:
        try:
            out.append((b, support(b)))
        except (ImportError, AttributeError) as exc:  # a table still being written
            out.append((b, f"not importable here ({exc})"))
    return out


def _status(tables: tuple[dict, dict] | str, which: int, name: str) -> str:
    from neurochip.backends import status

    if isinstance(tables, str):
        return f"not available: {tables}"
    table = tables[which]
    return status(table[name]) if name in table else "missing"


def catalog() -> dict:
    """Everything `neurochip kinds --json` prints."""
    from neurochip.docs import layer_fields
    from neurochip.kinds import KINDS
    from neurochip.neurons import MODELS

    backends = backend_support()
    kinds = [{
        "name": k.name, "doc": _plain(k.doc), "section": k.section, "code": k.code,
        "aliases": list(k.aliases), "fields": [field_json(f) for f in k.fields],
        "backends": {b.name: _status(t, 0, k.name) for b, t in backends},
    } for k in KINDS.values()]
    models = [{
        "name": m.name, "doc": _plain(m.doc), "section": m.section, "code": m.code,
        "fields": [field_json(f, "neuron.") for f in m.fields],
        "param_fields": list(m.param_fields),
        "backends": {b.name: _status(t, 1, m.name) for b, t in backends},
    } for m in MODELS.values()]
    return {
        "kinds": kinds, "models": models,
        "layer_fields": [field_json(f) for f in layer_fields()],
        "backends": [{"name": b.name, "doc": b.doc, "optional": b.optional,
                      "available": not isinstance(t, str),
                      "reason": t if isinstance(t, str) else None} for b, t in backends],
    }


def _wrap(text: str, indent: int, first: str = "") -> list[str]:
    """``first`` (already ``indent`` wide) followed by ``text`` wrapped to WIDTH."""
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=" " * indent,
                         break_on_hyphens=False) or [first.rstrip()]


def _fields_text(fields: list[dict], key: str = "path") -> list[str]:
    """One block per field: name, type, default and values, then the doc wrapped below."""
    name_w = max([len(f[key]) for f in fields] + [5]) + 2
    type_w, default_w = 8, 10
    indent = 4 + name_w + type_w + default_w
    out = ["    " + f"{'field':<{name_w}}{'type':<{type_w}}{'default':<{default_w}}values / meaning"]
    for f in fields:
        head = f"    {f[key]:<{name_w}}{f['type']:<{type_w}}{f['default_text']:<{default_w}}"
        if len(head) > indent:  # a long default: values go on their own line
            out.append(head.rstrip())
            head = " " * indent
        out += _wrap(f["values"], indent, head)
        doc = f["doc"] + (f" ({f['section']})" if f["section"] else "")
        out += _wrap(doc, indent + 2, " " * (indent + 2))
    return out


def _backends_text(entry: dict) -> list[str]:
    yes = [name for name, s in entry["backends"].items() if s == "yes"]
    out = _wrap(", ".join(yes) or "none", 4 + 16, "    implemented by: ")
    for name, s in entry["backends"].items():
        if s != "yes":
            out += _wrap(s, 4 + 16, f"    {name + ':':<16}")
    return out


def _matrix(cat: dict) -> list[str]:
    """Backends × kinds and models: yes / no / missing / n/a (reasons in the sections)."""
    cols = [k["name"] for k in cat["kinds"]] + [m["name"] for m in cat["models"]]
    cells = {k["name"]: k["backends"] for k in cat["kinds"] + cat["models"]}
    short = {"yes": "yes", "missing": "MISSING"}
    widths = [max(len(c), len("MISSING")) + 2 for c in cols]  # each column its own
    out = [(f"{'backend':<12}" + "".join(f"{c:<{w}}" for c, w in zip(cols, widths))).rstrip()]
    for b in cat["backends"]:
        row = [short.get(cells[c][b["name"]], cells[c][b["name"]].split(":")[0])
               for c in cols]
        row = ["n/a" if r == "not available" else r for r in row]
        out.append((f"{b['name']:<12}" + "".join(f"{r:<{w}}" for r, w in zip(row, widths))).rstrip())
    return out


def run(args: argparse.Namespace) -> int:
    cat = catalog()
    if args.json:
        emit_json(cat)
        return EXIT_OK
    print("Layer kinds and neuron models (§ = docs/architecture.md; manifest fields: "
          "docs/core-description.md)")
    print()
    print("Supported by backend (no: declared not expressible; n/a: backend not loadable here)")
    for line in _matrix(cat):
        print("  " + line)
    for b in cat["backends"]:
        if not b["available"]:
            for line in _wrap(f"not available: {b['reason']}", 4 + 12, f"    {b['name']:<12}"):
                print(line)
    print()
    print("Fields of every layer (layers[i].…, whatever its kind and neuron model)")
    for line in _fields_text(cat["layer_fields"]):
        print(line)
    for k in cat["kinds"]:
        print()
        alias = f" (alias {', '.join(k['aliases'])})" if k["aliases"] else ""
        for line in _wrap(f"{k['doc']} ({k['section']})", 2, f"kind {k['name']}{alias}: "):
            print(line)
        for line in _fields_text(k["fields"]):
            print(line)
        for line in _backends_text(k):
            print(line)
    for m in cat["models"]:
        print()
        for line in _wrap(f"{m['doc']} ({m['section']})", 2, f"neuron model {m['name']}: "):
            print(line)
        if m["param_fields"]:
            print(f"    per-neuron arrays: {', '.join(m['param_fields'])}")
        for line in _fields_text(m["fields"]):
            print(line)
        for line in _backends_text(m):
            print(line)
    return EXIT_OK

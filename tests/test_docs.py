"""The generated tables of docs/ match the declarations, and `neurochip kinds` lists every
kind, neuron model, field and backend."""

from __future__ import annotations

import json
import shutil
import sys
import types

import pytest

from neurochip import backends, docs
from neurochip.backends import BACKENDS, Backend, NotExpressible
from neurochip.cli.main import main
from neurochip.counters import CHIP_TABLE, CORE_TABLE
from neurochip.energy.model import ENERGY_KEYS
from neurochip.kinds import KINDS
from neurochip.neurons import MODELS


@pytest.mark.parametrize("rel", sorted({rel for rel, _ in docs.BLOCKS.values()}))
def test_committed_docs_match_the_declarations(rel):
    committed, generated = docs.rendered()[rel]
    assert committed == generated, (
        f"{rel}: the generated tables differ from the declarations in the code; "
        "run make docs (python -m neurochip.docs) and commit the result")


def test_rendered_tables_name_every_declaration():
    fields = docs.render_fields()
    for f in docs.top_fields():
        assert f"| `{f.path}` |" in fields
    for f in docs.layer_fields():
        assert f"| `layers[i].{f.path}` |" in fields
    for kind in KINDS.values():
        assert f"**Kind `{kind.name}`**" in fields
        for f in kind.fields:
            assert f"| `layers[i].{f.path}` |" in fields
    for model in MODELS.values():
        assert f"**Neuron model `{model.name}`**" in fields
        for f in model.fields:
            assert f"| `layers[i].neuron.{f.path}` |" in fields
    counters = docs.render_counters()
    for c in CORE_TABLE + CHIP_TABLE:
        assert f"| `{c.name}` |" in counters
    energy = docs.render_energy()
    for key in ENERGY_KEYS:
        assert f"`{key}`" in energy


def test_check_names_a_stale_file_and_write_fixes_it(tmp_path):
    for rel in {rel for rel, _ in docs.BLOCKS.values()}:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(docs.ROOT / rel, tmp_path / rel)
    assert docs.stale(tmp_path) == []
    path = tmp_path / "docs" / "energy.md"
    path.write_text(path.read_text().replace("`add_per_bit`", "`old_entry`"))
    assert docs.stale(tmp_path) == ["docs/energy.md"]
    path.write_text(path.read_text().replace(docs.end_marker("energy-costs"), ""))
    with pytest.raises(docs.DocsError, match="docs/energy.md.*energy-costs"):
        docs.rendered(tmp_path)


def test_docs_check_passes_on_the_checkout(capsys):
    assert docs.main(["--check"]) == 0, capsys.readouterr().err


def kinds(capsys, *argv):
    code = main(["kinds", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_kinds_text_lists_kinds_models_fields_and_backends(capsys):
    out = kinds(capsys)
    assert "kind fc" in out and "neuron model lif" in out
    for f in KINDS["fc"].fields:
        assert f.path in out
    for f in MODELS["lif"].fields:
        assert f"neuron.{f.path}" in out
    for f in docs.layer_fields():
        assert f.path in out
    for b in BACKENDS:
        assert b.name in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_kinds_json(capsys):
    cat = json.loads(kinds(capsys, "--json"))
    assert set(cat) == {"kinds", "models", "layer_fields", "backends"}
    fc = next(k for k in cat["kinds"] if k["name"] == "fc")
    lif = next(m for m in cat["models"] if m["name"] == "lif")
    assert [f["name"] for f in fc["fields"]] == [f.path for f in KINDS["fc"].fields]
    assert [f["name"] for f in lif["fields"]] == [f.path for f in MODELS["lif"].fields]
    assert {"type", "values", "default", "required", "doc", "section"} <= set(fc["fields"][0])
    assert [f["path"] for f in cat["layer_fields"]] == [f.path for f in docs.layer_fields()]
    names = [b.name for b in BACKENDS]
    assert [b["name"] for b in cat["backends"]] == names
    for entry in (fc, lif):
        assert list(entry["backends"]) == names
        for status in entry["backends"].values():
            assert status in ("yes", "missing") or status.startswith(("no: ", "not available: "))
    assert fc["backends"]["reference"] == "yes" and lif["backends"]["reference"] == "yes"


def test_kinds_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["kinds", "--help"])
    assert exc.value.code == 0
    assert "--json" in capsys.readouterr().out


def test_kinds_shows_unloadable_missing_and_inexpressible_backends(capsys, monkeypatch):
    fake = types.ModuleType("fake_backend_tables")
    fake.KINDS = {"fc": NotExpressible("no dense connections")}
    fake.MODELS = {}
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    extra = (
        Backend("ghost_import", "", "no_such_module_xyz:KINDS", "no_such_module_xyz:MODELS"),
        Backend("ghost_attr", "", "neurochip.kinds:NO_SUCH_TABLE", "neurochip.neurons:NO_SUCH"),
        Backend("partial", "", f"{fake.__name__}:KINDS", f"{fake.__name__}:MODELS"),
    )
    monkeypatch.setattr(backends, "BACKENDS", BACKENDS + extra)
    cat = json.loads(kinds(capsys, "--json"))
    fc = next(k for k in cat["kinds"] if k["name"] == "fc")
    lif = next(m for m in cat["models"] if m["name"] == "lif")
    assert fc["backends"]["ghost_import"].startswith("not available: ")
    assert fc["backends"]["ghost_attr"].startswith("not available: ")
    assert fc["backends"]["partial"] == "no: no dense connections"
    assert lif["backends"]["partial"] == "missing"
    out = kinds(capsys)
    assert "no: no dense connections" in out and "missing" in out.lower()
    assert "ghost_attr" in out and "not available" in out

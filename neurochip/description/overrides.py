"""``--set FIELD=VALUE``: change declared fields of a loaded description in memory.

One mechanism for every command that takes a model (``simulate``, ``synth``, ``sweep``):
an assignment names a manifest field by its dotted path, either for the whole chip
(``time_steps``, ``clock_hz``, ``input.encoder.seed``, ``readout.count_bits``), for every
layer that has it (``core.lanes``, ``core.fifo_depth``, ``overflow``, ``neuron.leak``,
``membrane_bits``, ...) or for one layer, qualified by its name (``fc1.core.lanes``).

The overridden manifest is parsed and validated exactly as a file would be, so an invalid
value is refused with the validator's own message, and the content hash changes with it.
Fields that fix array shapes or the graph (``input.shape``, ``source``, ``channels``,
``kernel``, ...) cannot be set: they need a new model, not an override."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, Iterable

from neurochip.description.fields import DescriptionError, Field
from neurochip.description.model import CoreDescription, Layer

# top-level fields an override may set (the rest name the format or fix array shapes)
TOP_SETTABLE = ("time_steps", "clock_hz", "input.encoder.kind", "input.encoder.seed",
                "readout.count_bits")
# common layer fields an override may set
LAYER_SETTABLE = ("weight_bits", "membrane_bits", "overflow", "core.lanes", "core.fifo_depth")
# fields that exist but fix shapes, names or the graph: refused with this reason
STRUCTURAL = ("format", "version", "name", "input.shape", "layers", "provenance", "source",
              "core.index", "readout.kind", "readout.tie_break", "neuron.model")


@dataclass(frozen=True)
class Override:
    """One assignment: ``layer`` is None for a chip-wide or every-layer field."""

    path: str
    value: Any
    layer: str | None = None

    @property
    def text(self) -> str:
        where = f"{self.layer}." if self.layer else ""
        return f"{where}{self.path}={json.dumps(self.value)}"


def parse_value(text: str) -> Any:
    """A JSON scalar (``16``, ``50e6``, ``true``) or else the bare string (``wrap``)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, (dict, list)) or value is None:
        return text
    return value


def split_assignment(text: str) -> tuple[str, str]:
    """``FIELD=VALUE`` → (field, value text); DescriptionError when it is not one."""
    field, sep, value = text.partition("=")
    field = field.strip()
    if not sep or not field or not value.strip():
        raise DescriptionError(f"--set {text!r}: use FIELD=VALUE, e.g. core.lanes=16, "
                               "clock_hz=50e6 or fc1.core.fifo_depth=8")
    return field, value.strip()


def parse_override(text: str, desc: CoreDescription) -> Override:
    """Resolve ``FIELD=VALUE`` against ``desc``: which field, on which layers."""
    field, value = split_assignment(text)
    return resolve(field, parse_value(value), desc)


def resolve(field: str, value: Any, desc: CoreDescription) -> Override:
    """The :class:`Override` for a dotted ``field`` of ``desc``; DescriptionError naming
    the field and the nearest settable one when it is unknown or not settable."""
    head, _, rest = field.partition(".")
    names = [lay.name for lay in desc.layers]
    if rest and head in names:
        layer = desc.layers[names.index(head)]
        if rest not in layer_settable(layer):
            _refuse(field, rest, sorted(layer_settable(layer)), f"layer {head!r}")
        return Override(rest, value, head)
    if field in TOP_SETTABLE:
        return Override(field, value)
    if any(field in layer_settable(lay) for lay in desc.layers):
        return Override(field, value)
    known = sorted(set(TOP_SETTABLE).union(*(layer_settable(lay) for lay in desc.layers)))
    _refuse(field, field, known + [f"{n}.FIELD" for n in names], "this model")
    raise AssertionError("unreachable")


def layer_settable(layer: Layer) -> set[str]:
    """The dotted fields of ``layer`` an override may set: the common ones, every field of
    its neuron model, and the kind's fields that choose a behaviour (not a shape)."""
    from neurochip.kinds import get_kind
    from neurochip.neurons import get_model

    fields = set(LAYER_SETTABLE)
    fields.update(f"neuron.{f.path}" for f in get_model(layer.neuron.model).fields)
    fields.update(f.path for f in get_kind(layer.kind).fields if _behavioural(f))
    return fields


def _behavioural(f: Field) -> bool:
    """A kind's field that selects behaviour (a choice such as pool ``emit``); the kinds'
    other fields are sizes and shapes, fixed by the arrays."""
    return bool(f.choices)


def _refuse(field: str, leaf: str, known: list[str], where: str) -> None:
    if leaf in STRUCTURAL or leaf.split(".")[-1] in ("shape", "in_shape", "channels", "kernel",
                                                     "stride", "pad", "window", "inputs",
                                                     "neurons"):
        raise DescriptionError(f"--set {field}: '{leaf}' fixes the shapes or the graph of the "
                               "model and cannot be overridden; train or quantize a new model")
    near = difflib.get_close_matches(field, known, n=1) or difflib.get_close_matches(leaf, known, n=1)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    raise DescriptionError(f"--set {field}: no settable field of that name in {where}{hint} "
                           f"(settable: {', '.join(known)})")


def apply_overrides(desc: CoreDescription, overrides: Iterable[Override | str],
                    origin: str = "<description>") -> CoreDescription:
    """A new, validated description with ``overrides`` applied in order (later wins);
    ``desc`` is not changed. Strings are parsed with :func:`parse_override`."""
    from neurochip.description.io import from_arrays

    resolved = [o if isinstance(o, Override) else parse_override(o, desc) for o in overrides]
    if not resolved:
        return desc
    manifest = desc.manifest()
    for o in resolved:
        if o.layer is None and o.path in TOP_SETTABLE:
            _assign(manifest, o.path, o.value)
            continue
        for lay_json, lay in zip(manifest["layers"], desc.layers):
            if (o.layer is None or o.layer == lay.name) and o.path in layer_settable(lay):
                _assign(lay_json, o.path, o.value)
    raw = {"manifest": _manifest_array(manifest), **desc.arrays()}
    with_sets = ", ".join(o.text for o in resolved)
    return from_arrays(raw, origin=f"{origin} with --set {with_sets}")


def _assign(obj: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        obj = obj.setdefault(part, {})
    obj[parts[-1]] = value


def _manifest_array(manifest: dict):
    import numpy as np

    return np.frombuffer(json.dumps(manifest, sort_keys=True).encode("utf-8"), dtype=np.uint8)


def describe(overrides: Iterable[Override]) -> list[str]:
    """The assignments as text (for reports and stores)."""
    return [o.text for o in overrides]


__all__ = ["Override", "apply_overrides", "describe", "layer_settable", "parse_override",
           "parse_value", "resolve", "split_assignment"]

"""Declared manifest fields and the typed JSON reader that enforces them.

A :class:`Field` is the one place a manifest field's type, range, default, meaning and §
reference are written. The parser reads through it, the validator re-checks programmatic
descriptions with it, ``neurochip kinds`` lists it and ``make docs`` renders it into
``docs/core-description.md`` (LiteX's "declare once, export everywhere")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class DescriptionError(ValueError):
    """A core description is malformed; the message names the field and the fix."""


REQUIRED: Any = ...  # sentinel: a field without a default must be present


@dataclass(frozen=True)
class Field:
    """One manifest field: ``path`` is relative to its object (``reset`` inside ``neuron``)."""

    path: str
    type: type  # int, float, str
    doc: str
    section: str = ""
    lo: int | float | None = None
    hi: int | float | None = None
    choices: tuple[str, ...] = ()
    default: Any = REQUIRED
    range_text: str = ""  # overrides the generated "lo … hi" when a rule is richer

    @property
    def key(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def values_text(self) -> str:
        """The allowed values in words (docs, `neurochip kinds`)."""
        if self.range_text:
            return self.range_text
        if self.choices:
            return ", ".join(f"`{c}`" for c in self.choices)
        if self.lo is not None:
            return f"{self.lo:g} … {self.hi:g}" if self.type is float else f"{self.lo} … {self.hi}"
        return {str: "string", int: "integer", float: "number", dict: "object", list: "list"}[self.type]

    def read(self, reader: "Reader") -> Any:
        """Parse this field from ``reader`` (the JSON object the path is relative to)."""
        obj = reader
        parts = self.path.split(".")
        for part in parts[:-1]:
            obj = obj.sub(part)
        if self.choices:
            return obj.choice(parts[-1], self.choices, self.default)
        if self.type is int and self.lo is not None:
            return obj.integer(parts[-1], int(self.lo), int(self.hi), self.default)
        if self.type is float:
            return obj.number(parts[-1], self.lo, self.hi, self.default)
        return obj.get(parts[-1], self.type, self.default)

    def check(self, value: Any, where: str, origin: str) -> None:
        """Re-check a value of a programmatic description (no JSON involved)."""
        name = f"{where}.{self.path}" if where else self.path
        if self.choices:
            if value not in self.choices:
                raise DescriptionError(f"{origin}: field '{name}' is {short(value)}; use one of "
                                       f"{list(self.choices)}")
            return
        if self.type is int and self.lo is not None:
            if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
                raise DescriptionError(f"{origin}: field '{name}' = {short(value)} is out of "
                                       f"range; use {self.lo} … {self.hi}")


class Reader:
    """Typed access to a JSON object that reports the dotted field path on errors, and
    remembers what was read so that :meth:`refuse_unread` can refuse unknown keys."""

    def __init__(self, obj: Any, where: str, origin: str):
        if not isinstance(obj, dict):
            raise DescriptionError(f"{origin}: field '{where}' must be a JSON object")
        self.obj, self.where, self.origin = obj, where, origin
        self.read_keys: set[str] = set()
        self.children: dict[str, Reader] = {}

    def refuse_unread(self) -> None:
        """Refuse a key of this object (or of an object read through :meth:`sub`) that no
        field read: a typo such as ``sed`` for ``seed`` must not fall back to a default.
        The message names the key and the nearest known one."""
        import difflib

        for key in self.obj:
            if key not in self.read_keys:
                known = sorted(self.read_keys)
                near = difflib.get_close_matches(str(key), known, n=1, cutoff=0.0)
                hint = f"did you mean '{self._path(near[0])}'? " if near else ""
                raise DescriptionError(f"{self.origin}: unknown field '{self._path(str(key))}'; "
                                       f"{hint}known here: {', '.join(known) or 'none'}")
        for child in self.children.values():
            child.refuse_unread()

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = REQUIRED) -> Any:
        self.read_keys.add(key)
        if key not in self.obj:
            if default is REQUIRED:
                raise DescriptionError(f"{self.origin}: missing field '{self._path(key)}'")
            return default
        val = self.obj[key]
        ok = isinstance(val, kind) and not (isinstance(val, bool) and kind in (int, float, (int, float)))
        if not ok:
            raise DescriptionError(f"{self.origin}: field '{self._path(key)}' must be "
                                   f"{kind_name(kind)}, got {short(val)}")
        return val

    def choice(self, key: str, options: tuple[str, ...], default: Any = REQUIRED) -> str:
        val = self.get(key, str, default)
        if val not in options:
            raise DescriptionError(f"{self.origin}: field '{self._path(key)}' is {short(val)}; "
                                   f"use one of {list(options)}")
        return val

    def integer(self, key: str, lo: int, hi: int, default: Any = REQUIRED) -> int:
        val = self.get(key, int, default)
        if not lo <= val <= hi:
            raise DescriptionError(f"{self.origin}: field '{self._path(key)}' = {short(val)} "
                                   f"is out of range; use {lo} … {hi}")
        return val

    def number(self, key: str, lo: float, hi: float, default: Any = REQUIRED) -> float:
        """A finite number in (lo, hi]; JSON integers of any size, NaN and ±Infinity are
        compared exactly (no float conversion before the check), so they cannot overflow."""
        val = self.get(key, (int, float), default)
        if not (lo < val <= hi):  # False for NaN
            what = "not a number" if val != val else "out of range"
            raise DescriptionError(f"{self.origin}: field '{self._path(key)}' = {short(val)} "
                                   f"is {what}; use a finite number > {lo:g} and <= {hi:g}")
        return float(val)

    def sub(self, key: str, default: Any = REQUIRED) -> "Reader":
        """The object under ``key`` (one Reader per key, so that all its reads count)."""
        if key not in self.children:
            self.children[key] = Reader(self.get(key, dict, default), self._path(key), self.origin)
        return self.children[key]


def short(val: Any) -> str:
    """repr of a manifest value, shortened (a JSON integer may have thousands of digits)."""
    try:
        text = repr(val)
    except ValueError:  # an integer beyond Python's int-to-str digit limit
        return "<huge integer>"
    return text if len(text) <= 60 else text[:57] + "..."


def kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", dict: "an object",
             list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)

"""The grid of a sweep: ``--set FIELD=V1,V2,...`` axes, their cartesian product, and each
point validated with the ``--set`` mechanism (neurochip.description.overrides) before it
is scheduled. An invalid point is refused with the validator's message, never dropped."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Callable

from neurochip.description import CoreDescription
from neurochip.description.fields import DescriptionError
from neurochip.description.overrides import apply_overrides, parse_override, split_assignment

# fields that change what the trained weights mean: sweeping them on a fixed integer model
# is not a design choice, it needs a new quantization of the float model
NEEDS_RETRAINING = ("weight_bits",)


class GridError(ValueError):
    """The grid itself is unusable (empty, unknown field, retraining field)."""


@dataclass(frozen=True)
class Axis:
    field: str  # as written, e.g. core.lanes or fc1.core.fifo_depth
    values: tuple[str, ...]  # value texts, in the order given


@dataclass(frozen=True)
class Point:
    """One grid point: its assignments (``FIELD=VALUE`` texts, axis order) and identity."""

    sets: tuple[str, ...]

    @property
    def key(self) -> str:
        return json.dumps(list(self.sets))

    def as_dict(self) -> dict[str, str]:
        return dict(split_assignment(s) for s in self.sets)


@dataclass
class Grid:
    axes: list[Axis]
    points: list[Point]  # valid, in grid order
    refused: list[tuple[Point, str]]  # (point, the validator's reason)

    def describe(self) -> list[dict]:
        return [{"field": a.field, "values": list(a.values)} for a in self.axes]


def parse_axes(sets: list[str]) -> list[Axis]:
    """``FIELD=V1,V2`` texts → axes; one field may not be given twice."""
    if not sets:
        raise GridError("the grid is empty: give at least one --set FIELD=V1,V2,... "
                        "(e.g. --set core.lanes=4,8,16)")
    axes: list[Axis] = []
    for text in sets:
        try:
            field, value = split_assignment(text)
        except DescriptionError as exc:
            raise GridError(str(exc)) from exc
        values = tuple(v.strip() for v in value.split(","))
        if any(not v for v in values):
            raise GridError(f"--set {text!r}: an empty value in the list; use FIELD=V1,V2,...")
        if field in (a.field for a in axes):
            raise GridError(f"--set {field} is given twice; list all its values in one "
                            f"--set {field}=V1,V2,...")
        axes.append(Axis(field, tuple(dict.fromkeys(values))))
    return axes


def build_grid(desc: CoreDescription, sets: list[str], origin: str = "<description>",
               make: Callable[[tuple[str, ...]], CoreDescription] | None = None) -> Grid:
    """Every combination of the axes' values, each made into a description by ``make``
    (default: the overrides applied to ``desc``) and so validated. Unknown or structural
    fields refuse the whole grid (GridError), and so do fields that need retraining unless
    ``make`` re-quantizes them (``requantizes``); a value refused by the validator
    refuses only its points."""
    axes = parse_axes(sets)
    requantizes = make is not None
    for axis in axes:
        try:  # the field must exist (checked with its first value)
            override = parse_override(f"{axis.field}={axis.values[0]}", desc)
        except DescriptionError as exc:
            raise GridError(str(exc)) from exc
        if override.path in NEEDS_RETRAINING and not requantizes:
            raise GridError(
                f"--set {axis.field}: {override.path} changes what the trained integer weights "
                "mean; pass the float --checkpoint to re-quantize at each width, or sweep "
                "fields that need no retraining: core.lanes, core.fifo_depth, time_steps, "
                "clock_hz, membrane_bits, overflow, neuron.* and the kinds' behaviour choices")
        if override.path in NEEDS_RETRAINING and override.layer is not None:
            raise GridError(f"--set {axis.field}: re-quantization sets {override.path} for "
                            f"the whole chip; use --set {override.path}=...")
    grid = Grid(axes, [], [])
    for combo in itertools.product(*(a.values for a in axes)):
        point = Point(tuple(f"{a.field}={v}" for a, v in zip(axes, combo)))
        try:
            if make is None:
                apply_overrides(desc, list(point.sets), origin=origin)
            else:
                make(point.sets)
        except DescriptionError as exc:
            grid.refused.append((point, str(exc)))
            continue
        grid.points.append(point)
    return grid

"""Shared machinery of the kinds whose layers live on (H, W, C) maps: conv2d, pool, add.
Their fields sit in ``layer.geometry``; ``inputs`` and ``neurons`` follow from them."""

from __future__ import annotations

from typing import Any

from neurochip.description.fields import DescriptionError, Reader, short
from neurochip.description.model import MAX_ADDRESS
from neurochip.kinds.base import LayerKind
from neurochip.shapes import Shape, size


def int_list(value: Any, n: int, lo: int, hi: int, field: str, origin: str) -> list[int]:
    """``value`` as a list of ``n`` integers in lo … hi, or a DescriptionError naming it."""
    ok = (isinstance(value, (list, tuple)) and len(value) == n
          and all(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in value))
    if not ok:
        raise DescriptionError(f"{origin}: field '{field}' is {short(value)}; use a list of {n} "
                               f"integers in {lo} … {hi}")
    return [int(v) for v in value]


def check_int(value: Any, lo: int, hi: int, field: str, origin: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise DescriptionError(f"{origin}: field '{field}' = {short(value)} is out of range; "
                               f"use {lo} … {hi}")
    return int(value)


class GeometricKind(LayerKind):
    """A kind on (H, W, C) maps: K_c = ceil(C_out / L) lane words per output position."""

    def parse(self, reader: Reader) -> dict[str, Any]:
        geometry = {f.key: f.read(reader) for f in self.fields}
        where = reader.where
        self.check_geometry(geometry, where, reader.origin)
        out = self.out_shape(geometry)
        return {"geometry": geometry, "inputs": size(tuple(geometry["in_shape"])),
                "neurons": size(out)}

    def manifest(self, layer) -> dict[str, Any]:
        return {f.key: layer.geometry[f.key] for f in self.fields}

    # --- geometry
    def check_geometry(self, g: dict, where: str, origin: str) -> None:
        """Types and ranges of the geometry fields, and an output of at least 1 × 1."""
        shape = int_list(g.get("in_shape"), 3, 1, MAX_ADDRESS, f"{where}.in_shape", origin)
        if size(tuple(shape)) > MAX_ADDRESS:
            raise DescriptionError(f"{origin}: field '{where}.in_shape' = {shape} has "
                                   f"{size(tuple(shape))} inputs; the event format addresses "
                                   f"at most {MAX_ADDRESS}")

    def in_shape(self, layer) -> Shape:
        return tuple(layer.geometry["in_shape"])  # type: ignore[return-value]

    def out_shape(self, geometry: dict) -> Shape:
        raise NotImplementedError

    def output_shape(self, layer) -> Shape:
        """channels, positions and words follow from it (LayerKind)."""
        return self.out_shape(layer.geometry)

    def validate(self, layer, inputs, where: str, origin: str) -> None:
        self.check_geometry(layer.geometry, where, origin)
        out = self.output_shape(layer)
        if size(out) > MAX_ADDRESS:
            raise DescriptionError(f"{origin}: layer '{where}' has {size(out)} neurons "
                                   f"{list(out)}; the event format addresses at most "
                                   f"{MAX_ADDRESS} (use a larger stride or fewer channels)")
        if layer.inputs != size(self.in_shape(layer)) or layer.neurons != size(out):
            raise DescriptionError(f"{origin}: layer '{where}' has inputs = {layer.inputs}, "
                                   f"neurons = {layer.neurons}, but its geometry implies "
                                   f"{size(self.in_shape(layer))} and {size(out)}")
        self.check_sources(layer, inputs, where, origin)

    def check_sources(self, layer, inputs, where: str, origin: str) -> None:
        if len(inputs) != 1:
            raise DescriptionError(f"{origin}: field '{where}.source' names {len(inputs)} "
                                   f"sources; a {self.name} layer has exactly one")
        same_shape(inputs[0], self.in_shape(layer), f"{where}.in_shape", origin)


def same_shape(source: tuple[str, Shape], shape: Shape, field: str, origin: str) -> None:
    """A layer's declared input shape must be its source's output shape."""
    name, got = source
    if tuple(got) != tuple(shape):
        raise DescriptionError(f"{origin}: field '{field}' = {list(shape)} but {name} produces "
                               f"{list(got)} (H, W, C); make them equal")

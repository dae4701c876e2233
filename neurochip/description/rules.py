"""Cross-field rules of the spec, applied to every description (loaded or built in
Python). Field ranges come from the declared fields; kinds and neuron models add their own
rules; the topology rules come from ``neurochip.graph``."""

from __future__ import annotations

import numpy as np

from neurochip.description.fields import DescriptionError, short
from neurochip.description.model import MAX_ADDRESS, MAX_CLOCK_HZ, CoreDescription, array_shapes
from neurochip.description.schema import LAYER_FIELDS, TOP_FIELDS


def weight_range(bits: int) -> tuple[int, int]:
    """Representable signed weight values (§2); 1 bit means {-1, +1}."""
    if bits == 1:
        return -1, 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


_TOP = {f.path: f for f in TOP_FIELDS}
_RANGED_LAYER = [f for f in LAYER_FIELDS if f.lo is not None or f.choices]


def validate(desc: CoreDescription, origin: str = "<description>") -> None:
    """Check every rule of the spec; raise DescriptionError on the first."""
    from neurochip.graph import Topology
    from neurochip.kinds import get_kind
    from neurochip.neurons import get_model

    _TOP["time_steps"].check(desc.time_steps, "", origin)
    _TOP["readout.count_bits"].check(desc.count_bits, "", origin)
    _TOP["input.encoder.kind"].check(desc.encoder.kind, "", origin)
    clock = desc.clock_hz
    if (isinstance(clock, bool) or not isinstance(clock, (int, float, np.integer, np.floating))
            or not 0 < clock <= MAX_CLOCK_HZ):  # exact comparisons: no float overflow, NaN fails
        raise DescriptionError(f"{origin}: field 'clock_hz' = {short(clock)}; use a finite "
                               f"frequency in Hz > 0 and <= {MAX_CLOCK_HZ:g}")
    if not 1 <= len(desc.input_shape) <= 3:
        raise DescriptionError(f"{origin}: field 'input.shape' = {list(desc.input_shape)}; use "
                               "[P], [H, W] or [H, W, C] (§3)")
    if desc.input_size > MAX_ADDRESS:
        raise DescriptionError(f"{origin}: field 'input.shape' has {short(desc.input_size)} inputs; "
                               f"the event format addresses at most {MAX_ADDRESS}")
    if not desc.layers:
        raise DescriptionError(f"{origin}: field 'layers' is empty; a model needs at least one layer")
    topo = Topology.from_description(desc, origin)  # names, sources, chain rule (§1, §4)
    for i, lay in enumerate(desc.layers):
        where = f"layers[{i}]"
        kind, model = get_kind(lay.kind), get_model(lay.neuron.model)
        for f in _RANGED_LAYER:
            obj = lay.core if f.path.startswith("core.") else lay
            f.check(getattr(obj, f.key), where, origin)
        if lay.core.index != i:
            raise DescriptionError(f"{origin}: field '{where}.core.index' = {lay.core.index}; "
                                   f"v1 maps layer i to core i, so use {i}")
        kind.validate(lay, topo.input_shapes(i), where, origin)
        for part, shape in array_shapes(lay).items():
            _check_array(origin, f"{lay.name}.{part}", getattr(lay, part), shape)
        lo, hi = weight_range(lay.weight_bits)
        _check_values(origin, f"{lay.name}.weight", lay.weight, lo, hi,
                      f"{where}.weight_bits = {lay.weight_bits}")
        if lay.weight_bits == 1 and lay.weight.size and np.any(lay.weight == 0):
            raise DescriptionError(f"{origin}: array '{lay.name}.weight' holds 0 but "
                                   f"'{where}.weight_bits' = 1 stores only -1/+1; use "
                                   "weight_bits >= 2 for ternary weights")
        lo, hi = signed_range(lay.membrane_bits)
        for part in model.param_fields:
            _check_values(origin, f"{lay.name}.{part}", getattr(lay, part), lo, hi,
                          f"{where}.membrane_bits = {lay.membrane_bits}")
        model.validate(lay, where, origin)
    topo.check_deadlock_free(origin)


def _check_array(origin: str, key: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
    if not isinstance(arr, np.ndarray) or arr.shape != shape:
        got = arr.shape if isinstance(arr, np.ndarray) else type(arr).__name__
        raise DescriptionError(f"{origin}: array '{key}' has shape {got}, the manifest "
                               f"implies {shape}; fix the layer sizes or the array")


def _check_values(origin: str, key: str, arr: np.ndarray, lo: int, hi: int, why: str) -> None:
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr[(arr < lo) | (arr > hi)].ravel()[0]
        raise DescriptionError(f"{origin}: array '{key}' holds {int(bad)}, outside {lo} … {hi} "
                               f"allowed by {why}; widen the bit width or re-quantize")

"""The core description: the fixed-point chip configuration stored in ``model.npz``.

``model`` holds the dataclasses, ``fields``/``schema`` the declared manifest fields,
``io`` reading and writing, ``rules`` validation. The format is documented in
``docs/core-description.md``; the meaning of every field in ``docs/architecture.md``."""

from neurochip.description.fields import DescriptionError, Field
from neurochip.description.io import description_files, from_arrays, load, save
from neurochip.description.model import (ENCODERS, EVENT_INPUT, MAX_EVENT_COUNT, PIXEL_ENCODERS, FORMAT_NAME, FORMAT_VERSION, INPUT,
                                         MAX_ADDRESS, MAX_ARRAY_BYTES, MAX_CLOCK_HZ,
                                         MAX_DESCRIPTION_BYTES, MAX_MANIFEST_BYTES, OVERFLOWS,
                                         CoreDescription, CoreMapping, Encoder, Layer,
                                         array_shapes)
from neurochip.description.rules import signed_range, validate, weight_range

__all__ = ["DescriptionError", "Field", "description_files", "from_arrays", "load", "save", "ENCODERS",
           "EVENT_INPUT", "MAX_EVENT_COUNT", "PIXEL_ENCODERS",
           "FORMAT_NAME", "FORMAT_VERSION", "INPUT", "MAX_ADDRESS", "MAX_ARRAY_BYTES",
           "MAX_DESCRIPTION_BYTES", "MAX_MANIFEST_BYTES",
           "MAX_CLOCK_HZ", "OVERFLOWS", "CoreDescription", "CoreMapping", "Encoder", "Layer",
           "array_shapes", "signed_range", "validate", "weight_range"]

"""The manifest fields every description has (top level, and every layer whatever its
kind or neuron model). Kind- and model-specific fields are declared by
``neurochip.kinds`` and ``neurochip.neurons``. ``docs/core-description.md`` renders them."""

from __future__ import annotations

from neurochip.description.fields import Field
from neurochip.description.model import ENCODERS, FORMAT_VERSION, MAX_CLOCK_HZ, OVERFLOWS

TOP_FIELDS: tuple[Field, ...] = (
    Field("format", str, "must be `neurochip-core-description`", range_text="`neurochip-core-description`"),
    Field("version", int, "format version; other versions are refused with \"upgrade neurochip or "
          "re-export\"", range_text=str(FORMAT_VERSION)),
    Field("name", str, "model name (RTL headers, reports)"),
    Field("input.shape", list, "shape of one input image, row-major pixel index p = address; "
          "as a map: [P] = (1, 1, P), [H, W] = (H, W, 1), [H, W, C]", "§3, §11",
          range_text="1 to 3 positive integers, product ≤ 32768 (addresses 0 … 32767)"),
    Field("input.encoder.kind", str, "host-side input encoder, or `events`: the host pushes "
          "given events (§11.2)", "§11", choices=ENCODERS),
    Field("input.encoder.seed", int, "LFSR seed of `bernoulli_lfsr` (ignored by the others)", "§11",
          0, 2**32 - 1, default=1,
          range_text="0 … 2^32−1"),
    Field("time_steps", int, "time steps T per image", "§4", 1, 4096),
    Field("clock_hz", float, "clock frequency (latency = cycles / clock_hz)", "§1", 0, MAX_CLOCK_HZ,
          range_text="finite number, > 0 and ≤ 1e12 (Hz)"),
    Field("readout.kind", str, "how the prediction is read", "§6", choices=("spike_count",)),
    Field("readout.count_bits", int, "bits C of the saturating output spike counters", "§2, §6", 1, 32),
    Field("readout.tie_break", str, "equal counts go to the lowest class index", "§6",
          choices=("lowest_index",)),
    Field("provenance", dict, "free-form: trainer, command, checkpoint metadata", default={}),
)

LAYER_FIELDS: tuple[Field, ...] = (
    Field("name", str, "unique layer name, prefix of its array names",
          range_text="`[a-z][a-z0-9_]{0,31}`, unique"),
    Field("source", str, "what feeds the layer: `input` or an earlier layer's name; a list "
          "of them in drain order for an `add` layer", "§1, §4",
          range_text="`input` (read by exactly one layer) or earlier layers' names"),
    Field("weight_bits", int, "bits w per weight (1: ±1)", "§2", 1, 8),
    Field("membrane_bits", int, "bits B of membranes, thresholds and biases; may be smaller "
          "than `weight_bits` (sums are exact before overflow)", "§2", 2, 32),
    Field("overflow", str, "what an add does past the B-bit range", "§2", choices=OVERFLOWS),
    Field("core.index", int, "core the layer runs on; must equal the layer's position", "§1", 0, 1023),
    Field("core.lanes", int, "accumulator lanes L", "§3", 1, 256),
    Field("core.fifo_depth", int, "depth D of the FIFO in front of the core", "§7", 1, 65536),
)

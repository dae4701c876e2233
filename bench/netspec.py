"""A core description reduced to plain NumPy arrays, so peers that must not import
neurochip (Brian2 runs in its own environment) get the identical integer network.

Every layer carries its kind and geometry (``layer.geometry`` of the description), its
per-channel thresholds and biases (neuron n = pos·C + ch uses channel ch's, §3), its
sources (layer indices in drain order, -1 = the host's input, §4), its input and output
maps (H, W, C) and, for peers that connect neurons one by one (Brian2), the explicit
synapse list of every kind: (source, pre, post, w) in the order in which the chip applies
them within a step (§4, §5: sources in drain order, events in ascending address, for each
event the kind's touched positions in the address generator's order, channels ascending).
The lists are computed here on the neurochip side (``neurochip.kinds.<kind>.KIND.touched``),
so the Brian2 process needs no neurochip. Netspec files written before geometry existed
(fc chains) still load: a missing field means "fc, reading the previous layer"."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np

INPUT = -1  # the source index of the host's input stream
FLOAT32_EXACT = 1 << 24  # integers up to this are exact in float32


@dataclass
class SynapseList:
    """(source, pre, post, w) of every non-zero synapse, in the chip's order within a step.
    ``source`` is the position in the layer's sources (drain order). A zero weight adds
    nothing, and ``ovf`` of an in-range membrane is the identity, so leaving it out is exact."""

    source: np.ndarray  # int8
    pre: np.ndarray  # int32, address in the source's stream
    post: np.ndarray  # int32, neuron of this layer
    w: np.ndarray  # int16

    def __len__(self) -> int:
        return int(len(self.pre))

    def of(self, source: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pre, post, w) of one source, int64, in order."""
        sel = self.source == source
        return (self.pre[sel].astype(np.int64), self.post[sel].astype(np.int64),
                self.w[sel].astype(np.int64))

    ARRAYS = ("source", "pre", "post", "w")


@dataclass
class LayerSpec:
    """One layer with the semantics of architecture.md §5-§6; ``kind`` and ``model`` select
    a peer's entry in its backend tables."""

    name: str
    weight: np.ndarray  # int64, the kind's array: fc (inputs, neurons); conv2d (C_in·kh·kw,
    #                     C_out); add (2, C); pool (0, 0) (implicit +1)
    threshold: np.ndarray  # (C,) int64, per channel (fc: per neuron)
    bias: np.ndarray  # (C,) int64
    membrane_bits: int
    overflow: str  # saturate | wrap
    reset: str  # subtract | zero
    leak: str  # none | subtract | shift
    leak_amount: int
    integration: str  # continuous | discontinuous
    kind: str = "fc"
    model: str = "lif"
    phase_steps: int = 1  # bistable (§6.2): N; lif ignores it
    phase: int = 0  # bistable (§6.2): the cycle offset
    sources: list[int] | None = None  # None: the previous layer (NetSpec fills it in)
    geometry: dict = field(default_factory=dict)  # the kind's fields (§5.2-§5.4)
    in_shape: list[int] | None = None  # (H, W, C) of the input map(s); None: fc (1, 1, inputs)
    shape: list[int] | None = None  # (H, W, C) of the output map; None: fc (1, 1, neurons)
    synapses: SynapseList | None = None  # not in meta(): stored as arrays

    def __post_init__(self) -> None:
        if self.in_shape is None:
            self.in_shape = [1, 1, int(self.weight.shape[0])]
        if self.shape is None:
            self.shape = [1, 1, int(self.weight.shape[1])]
        self.in_shape, self.shape = [int(v) for v in self.in_shape], [int(v) for v in self.shape]

    @property
    def inputs(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))

    @property
    def channels(self) -> int:
        return self.shape[2]

    @property
    def positions(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def emit_once(self) -> bool:
        """§5.3 ``emit = once``: each neuron spikes at most once per image."""
        return self.geometry.get("emit") == "once"

    @property
    def membrane_range(self) -> tuple[int, int]:
        return -(1 << (self.membrane_bits - 1)), (1 << (self.membrane_bits - 1)) - 1

    def per_neuron(self, values: np.ndarray) -> np.ndarray:
        """Per-channel values repeated over the output positions (neuron n = pos·C + ch)."""
        return np.tile(np.asarray(values), self.positions)

    def reach(self) -> np.ndarray:
        """Per channel, the largest |sum of the adds| one step can bring (one event per
        input address and source, §4): the kind's ``step_input_bound`` (fc, conv2d, add:
        Σ|W[:, ch]|; pool: p² unit adds)."""
        from neurochip.kinds import get_kind

        return get_kind(self.kind).step_input_bound(self)

    @property
    def neuron(self) -> SimpleNamespace:
        """The neuron settings, as a description's ``layer.neuron`` reads (the neuron
        models' ``register_bound`` takes either)."""
        return SimpleNamespace(model=self.model, reset=self.reset, leak=self.leak,
                               leak_amount=self.leak_amount, integration=self.integration,
                               phase_steps=self.phase_steps, phase=self.phase)

    def meta(self) -> dict:
        """Everything but the arrays, JSON-ready (asdict would deep-copy the arrays)."""
        arrays = ("weight", "threshold", "bias", "synapses")
        return {f.name: json.loads(json.dumps(getattr(self, f.name)))
                for f in fields(self) if f.name not in arrays}


@dataclass
class NetSpec:
    """The whole network: layers (a DAG in description order), time steps and readout."""

    name: str
    time_steps: int
    count_max: int
    layers: list[LayerSpec]

    def __post_init__(self) -> None:
        for i, lay in enumerate(self.layers):
            if lay.sources is None:
                lay.sources = [i - 1]  # a chain; layer 0 reads the input (-1)
            lay.sources = [int(s) for s in lay.sources]

    @property
    def classes(self) -> int:
        return self.layers[-1].neurons

    @property
    def total_neurons(self) -> int:
        return sum(lay.neurons for lay in self.layers)

    def offsets(self) -> np.ndarray:
        """Column offsets of each layer in the concatenated (…, total_neurons) spike arrays."""
        return np.concatenate([[0], np.cumsum([lay.neurons for lay in self.layers])]).astype(np.int64)

    def stages(self) -> list[int]:
        """Pipeline stage of every layer: 1 + the largest stage of its sources (the input is
        stage -1), so all of a layer's sources have updated step t before it does."""
        out: list[int] = []
        for lay in self.layers:
            out.append(1 + max(-1 if s == INPUT else out[s] for s in lay.sources))
        return out

    def shape_text(self) -> str:
        """e.g. 784-1024-1024-10, or 28x28x1-24x24x12-...-512-10 for maps."""
        def text(shape: list[int]) -> str:
            return str(shape[2]) if shape[:2] == [1, 1] else "x".join(map(str, shape))

        first = self.layers[0]
        head = str(first.inputs) if first.kind == "fc" else text(first.in_shape)
        return "-".join([head] + [text(lay.shape) for lay in self.layers])

    def to_arrays(self, synapses: bool = True) -> dict[str, np.ndarray]:
        meta = {"name": self.name, "time_steps": self.time_steps, "count_max": self.count_max,
                "layers": [lay.meta() for lay in self.layers]}
        out = {"netspec": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        for i, lay in enumerate(self.layers):
            out[f"layer{i}.weight"] = lay.weight
            out[f"layer{i}.threshold"] = lay.threshold
            out[f"layer{i}.bias"] = lay.bias
            if synapses and lay.synapses is not None:
                for key in SynapseList.ARRAYS:
                    out[f"layer{i}.syn_{key}"] = getattr(lay.synapses, key)
        return out

    @classmethod
    def from_arrays(cls, arrays, synapses: bool = True) -> "NetSpec":
        """``arrays``: a dict or an open ``np.load`` file (read lazily: without
        ``synapses`` the synapse lists are never read)."""
        meta = json.loads(bytes(np.asarray(arrays["netspec"], dtype=np.uint8)).decode())
        known = {f.name for f in fields(LayerSpec)}
        names = set(arrays.files if hasattr(arrays, "files") else arrays)
        layers = []
        for i, m in enumerate(meta["layers"]):
            syn = None
            if synapses and f"layer{i}.syn_pre" in names:
                syn = SynapseList(*(np.asarray(arrays[f"layer{i}.syn_{k}"]) for k in SynapseList.ARRAYS))
            layers.append(LayerSpec(weight=np.asarray(arrays[f"layer{i}.weight"], dtype=np.int64),
                                    threshold=np.asarray(arrays[f"layer{i}.threshold"], dtype=np.int64),
                                    bias=np.asarray(arrays[f"layer{i}.bias"], dtype=np.int64),
                                    synapses=syn, **{k: v for k, v in m.items() if k in known}))
        return cls(meta["name"], int(meta["time_steps"]), int(meta["count_max"]), layers)


# ----------------------------------------------------------------------------- neurochip side

def _pack(source, pre, post, w) -> SynapseList:
    keep = np.asarray(w) != 0
    return SynapseList(np.asarray(source, dtype=np.int8)[keep], np.asarray(pre, dtype=np.int32)[keep],
                       np.asarray(post, dtype=np.int32)[keep], np.asarray(w, dtype=np.int16)[keep])


def fc_synapses(lay) -> SynapseList:
    """§5.1: event a adds row a to every neuron: ascending a, then neuron."""
    pre, post = np.nonzero(lay.weight)
    return _pack(np.zeros(len(pre)), pre, post, lay.weight[pre, post])


def conv2d_synapses(lay) -> SynapseList:
    """§5.2: for each input address, the touched positions (oy, ox ascending, the kind's
    ``touched``), each with kernel row r added to channels 0 … C_out−1."""
    from neurochip.kinds import conv2d

    c_out = lay.geometry["channels"]
    pre, rows, pos = [], [], []
    for a in range(lay.inputs):
        for r, p in conv2d.KIND.touched(lay, a):
            pre.append(a)
            rows.append(r)
            pos.append(p)
    pre, rows, pos = (np.asarray(x, dtype=np.int64) for x in (pre, rows, pos))
    post = pos[:, None] * c_out + np.arange(c_out)[None, :]
    w = np.asarray(lay.weight, dtype=np.int64)[rows]
    n = post.size
    return _pack(np.zeros(n), np.repeat(pre, c_out), post.ravel(), w.ravel())


def pool_synapses(lay) -> SynapseList:
    """§5.3: +1 to channel c of every window holding the event, oy then ox ascending."""
    from neurochip.kinds import pool

    c = lay.geometry["in_shape"][2]
    pre, post = [], []
    for a in range(lay.inputs):
        for ch, p in pool.KIND.touched(lay, a):
            pre.append(a)
            post.append(p * c + ch)
    return _pack(np.zeros(len(pre)), pre, post, np.ones(len(pre)))


def add_synapses(lay) -> SynapseList:
    """§5.4: an event of source s at a = (y, x, c) adds W[s, c] to neuron a; source 0's
    events of a step before source 1's (§4)."""
    from neurochip.kinds import add

    c = lay.geometry["in_shape"][2]
    src, pre, post, w = [], [], [], []
    for s in range(len(lay.sources)):
        for a in range(lay.inputs):
            for row, n in add.KIND.touched(lay, a, s):
                src.append(s)
                pre.append(a)
                post.append(n)
                w.append(int(lay.weight[row, a % c]))
    return _pack(src, pre, post, w)


SYNAPSE_LISTS = {"fc": fc_synapses, "conv2d": conv2d_synapses, "pool": pool_synapses,
                 "add": add_synapses}


def from_description(desc, synapses: bool = True) -> NetSpec:
    """Build a NetSpec from a ``neurochip.description.CoreDescription``; with
    ``synapses`` also every layer's explicit synapse list (kinds without an entry in
    ``SYNAPSE_LISTS`` get none, and a peer needing it says so)."""
    from neurochip.graph import HOST, Topology
    from neurochip.kinds import get_kind

    topo = Topology.from_description(desc)
    layers = []
    for j, lay in enumerate(desc.layers):
        kind = get_kind(lay.kind)
        srcs = [INPUT if topo.producer[f] == HOST else int(topo.producer[f])
                for f in topo.in_fifos[j]]
        in_shape = list(topo.input_shapes(j)[0][1])
        layers.append(LayerSpec(
            name=lay.name, weight=np.asarray(lay.weight, dtype=np.int64),
            threshold=np.asarray(lay.threshold, dtype=np.int64),
            bias=(np.asarray(lay.bias, dtype=np.int64) if lay.bias.size
                  else np.zeros(len(lay.threshold), dtype=np.int64)),  # ttfs has no bias
            membrane_bits=lay.membrane_bits, overflow=lay.overflow,
            # lif's settings; a model without them (ttfs, bistable) gets lif's neutral values
            # (the peers refuse ttfs by name)
            reset=getattr(lay.neuron, "reset", "none"), leak=getattr(lay.neuron, "leak", "none"),
            leak_amount=getattr(lay.neuron, "leak_amount", 0),
            integration=getattr(lay.neuron, "integration", "continuous"),
            phase_steps=getattr(lay.neuron, "phase_steps", 1), phase=getattr(lay.neuron, "phase", 0),
            kind=kind.name, model=lay.neuron.model, sources=srcs,
            geometry=json.loads(json.dumps(lay.geometry)),
            in_shape=in_shape, shape=list(kind.output_shape(lay)),
            synapses=(SYNAPSE_LISTS[kind.name](lay)
                      if synapses and kind.name in SYNAPSE_LISTS else None)))
    return NetSpec(desc.name, desc.time_steps, (1 << desc.count_bits) - 1, layers)


# ----------------------------------------------------------------------------- bounds

def worst_magnitude(layer: LayerSpec, time_steps: int | None = None) -> int | None:
    """A bound on |m| and |v| = |ovf(m + b)| at every add of §5/§6 in ``layer``, or None
    where none is proven: the neuron model's ``register_bound`` on the kind's step bound,
    the same proof as the simulator's plain adds (neurochip.sim.overflow_bound)."""
    from neurochip.neurons import get_model

    return get_model(layer.model).register_bound(layer, layer.reach(), time_steps)


def overflow_free(layer: LayerSpec, time_steps: int | None = None) -> bool:
    """True when no add of §5/§6 can leave the membrane range, so a peer that cannot
    saturate or wrap is still exact (see :func:`worst_magnitude`)."""
    worst = worst_magnitude(layer, time_steps)
    if worst is None:
        return False
    lo, hi = layer.membrane_range
    return -worst >= lo and worst <= hi


def save_workload(path: Path, spec: NetSpec, spikes: np.ndarray, **extra: np.ndarray) -> None:
    """Write network + encoded input spikes ((n, T, P) uint8) for a peer process."""
    np.savez(path, spikes=spikes, **spec.to_arrays(), **extra)


def load_workload(path: Path, synapses: bool = False) -> tuple[NetSpec, np.ndarray, dict[str, np.ndarray]]:
    """Network, spikes and the other arrays (images, indices); the synapse lists only when
    asked for (they are large, and only peers that connect synapse by synapse need them)."""
    with np.load(path, allow_pickle=False) as z:
        spec = NetSpec.from_arrays(z, synapses=synapses)
        arrays = {k: z[k] for k in z.files
                  if not (k.startswith("layer") or k == "netspec")}
    return spec, arrays["spikes"], arrays

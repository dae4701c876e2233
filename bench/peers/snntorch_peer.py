"""snnTorch on the CPU: the chip's layer kinds as torch modules holding the integer
weights (float32, exact for these magnitudes; float64 where a bound says float32 might
not be) feeding snn.Leaky neurons with the chip's thresholds, driven by the identical
encoded input spikes. Batch 1 (one image at a time) or batch B.

Every spike stream is a flat (B, N) tensor in the chip's address order (§3: address
(y·W + x)·C + c, channel fastest), so an fc layer reads any map as it is; conv2d and pool
view it as (B, H, W, C) and permute it to torch's (B, C, H, W) (a channels-last view, no
copy). Layers run in description order over the DAG: every source of a layer has produced
its step-t spikes before the layer runs step t, as in the chip's time-stepped model."""

from __future__ import annotations

import numpy as np

from bench.measure import interleaved, memory_report, paired_ratio, peak_rss_mib, repeat
from bench.netspec import FLOAT32_EXACT, INPUT, LayerSpec, NetSpec, overflow_free, worst_magnitude
from bench.outputs import Outputs
from bench.peers.common import TTFS_WHY, Declined, load_batch, out_path
from bench.protocol import Job, RowMeasurement, TaskResult


def _declined(entry) -> str | None:
    """The reason of a NotExpressible-like table entry (duck-typed), or None."""
    return getattr(entry, "reason", None)


def inexpressible(spec: NetSpec) -> str | None:
    """Why snnTorch cannot run this network exactly, or None. Refused only what snn.Leaky
    cannot do: leaks, a negative threshold in a continuous layer, and saturation or wrap
    (neither exists in snn.Leaky), unless a bound proves no add can leave the range."""
    for lay in spec.layers:
        if lay.kind not in KIND_LAYERS or lay.model not in NEURON_MODELS:
            return (f"layer {lay.name}: kind {lay.kind!r} / neuron model {lay.model!r} has no "
                    "snnTorch form here")
        why = _declined(KIND_LAYERS[lay.kind]) or _declined(NEURON_MODELS[lay.model])
        if why:
            return f"layer {lay.name}: {why}"
        if lay.leak != "none":
            return f"layer {lay.name}: leak '{lay.leak}' (additive/shift leak) has no snn.Leaky form"
        if lay.integration == "continuous" and (lay.threshold < 0).any():
            return (f"layer {lay.name}: a negative threshold in a continuous layer; snn.Leaky "
                    "takes its initial membrane 0 > threshold for a spike before step 0 "
                    "and resets it")
        if not overflow_free(lay, spec.time_steps):
            worst = worst_magnitude(lay, spec.time_steps)
            return (f"layer {lay.name}: membrane {lay.overflow} (B = {lay.membrane_bits}) has no "
                    "snn.Leaky form and the bound on |m| "
                    f"({worst if worst is not None else 'none'}) does not rule it out")
    return None


def dtype_of(spec: NetSpec) -> str:
    """float32 when every value is provably below 2^24 (exact), else float64."""
    worst = max(worst_magnitude(lay, spec.time_steps) or FLOAT32_EXACT for lay in spec.layers)
    return "float32" if worst < FLOAT32_EXACT else "float64"


# ----------------------------------------------------------------------------- neuron model

def _leaky(snn, torch, lay: LayerSpec, dtype):
    """§6 as snn.Leaky: discontinuous = beta 0 (the membrane is the step's input, reset
    is moot); continuous = beta 1 with snnTorch's default delayed reset, whose
    pre-reset membrane U[t] = U[t-1] + I[t] - S[t-1]·θ (or (1 - S[t-1])·U[t-1] + I[t]
    for reset to zero) is the chip's v before its reset, so the spikes are the chip's.
    (reset_delay=False is not: it decides on U - θ whenever the reset membrane still
    exceeds θ.) Firing is heaviside(mem - threshold): strictly greater, like the chip.
    Thresholds are per channel, repeated over the positions (neuron n = pos·C + ch)."""
    threshold = torch.from_numpy(lay.per_neuron(lay.threshold).astype(dtype))
    if lay.integration == "discontinuous":
        return snn.Leaky(beta=0.0, threshold=threshold, reset_mechanism="none")
    return snn.Leaky(beta=1.0, threshold=threshold, reset_mechanism=lay.reset)


# ----------------------------------------------------------------------------- layer kinds
# Each builder returns a module mapping the list of its sources' (B, N_src) spike tensors
# (drain order) to the (B, N) input current of the step, bias included.

def _linear(torch, lay: LayerSpec, dtype):
    """fc (§5.1) as nn.Linear holding the integer weights."""
    lin = torch.nn.Linear(lay.inputs, lay.neurons, bias=bool(lay.bias.any()),
                          dtype=getattr(torch, dtype))
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(lay.weight.T.astype(dtype)))
        if lin.bias is not None:
            lin.bias.copy_(torch.from_numpy(lay.bias.astype(dtype)))
    return _Sources(torch, lambda xs: lin(xs[0]), [lin])


def _conv2d(torch, lay: LayerSpec, dtype):
    """conv2d (§5.2) as nn.Conv2d: the chip's kernel rows (c·kh + ky)·kw + kx × C_out become
    torch's (C_out, C_in, kh, kw); stride and zero padding as the geometry says. torch's
    cross-correlation adds in[oy·s − p + ky, ox·s − p + kx]·w[ky, kx] at (oy, ox): the chip's
    ky = y + p − oy·s."""
    h, w, c_in = lay.in_shape
    g = lay.geometry
    kh, kw = g["kernel"]
    c_out = g["channels"]
    conv = torch.nn.Conv2d(c_in, c_out, (kh, kw), stride=g["stride"], padding=g["pad"],
                           bias=bool(lay.bias.any()), dtype=getattr(torch, dtype))
    kernel = lay.weight.reshape(c_in, kh, kw, c_out).transpose(3, 0, 1, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel).astype(dtype)))
        if conv.bias is not None:
            conv.bias.copy_(torch.from_numpy(lay.bias.astype(dtype)))

    def forward(xs):
        x = xs[0].reshape(-1, h, w, c_in).permute(0, 3, 1, 2)  # (B, C, H, W), channels-last
        y = conv(x)
        return y.permute(0, 2, 3, 1).reshape(y.shape[0], -1)  # back to address order

    return _Sources(torch, forward, [conv])


def _sum_pool(torch, lay: LayerSpec, dtype):
    """pool (§5.3): the count of input spikes in each p × p window (stride s, no padding)
    per channel, i.e. avg_pool2d with divisor 1 (an exact sum; no division), plus the bias."""
    import torch.nn.functional as F

    h, w, c = lay.in_shape
    p, s = lay.geometry["window"], lay.geometry["stride"]
    bias = (torch.from_numpy(lay.per_neuron(lay.bias).astype(dtype))
            if lay.bias.any() else None)

    def forward(xs):
        x = xs[0].reshape(-1, h, w, c).permute(0, 3, 1, 2)
        y = F.avg_pool2d(x, p, s, divisor_override=1)
        y = y.permute(0, 2, 3, 1).reshape(y.shape[0], -1)
        return y if bias is None else y + bias

    return _Sources(torch, forward, [])


def _weighted_add(torch, lay: LayerSpec, dtype):
    """add (§5.4): source s's spike map times its per-channel gain W[s, c], summed (plus
    the bias). The chip applies source 0's events before source 1's; without overflow (which
    inexpressible() rules out) the order does not change the sum."""
    gains = [torch.from_numpy(lay.per_neuron(lay.weight[s]).astype(dtype))
             for s in range(len(lay.sources))]
    bias = (torch.from_numpy(lay.per_neuron(lay.bias).astype(dtype))
            if lay.bias.any() else None)

    def forward(xs):
        y = xs[0] * gains[0]
        for x, g in zip(xs[1:], gains[1:]):
            y = y + x * g
        return y if bias is None else y + bias

    return _Sources(torch, forward, [])


class _Sources:
    """A layer kind's synapses: ``forward(list of source spikes) -> current``."""

    def __init__(self, torch, forward, modules):
        self.forward, self.modules = forward, modules

    def __call__(self, xs):
        return self.forward(xs)


# backend tables (neurochip.backends): layer kind -> synapse module, neuron model -> neuron
KIND_LAYERS = {"fc": _linear, "conv2d": _conv2d, "pool": _sum_pool, "add": _weighted_add}
NEURON_MODELS = {"lif": _leaky, "ttfs": Declined(TTFS_WHY.format(peer="snn.Leaky")),
                 "bistable": Declined("snnTorch has no neuron whose firing is gated by a global "
                                      "integrate/fire phase (§6.2); snn.Leaky may fire in "
                                      "every step"),
                 "lif_refractory": Declined("snn.Leaky has no refractory period (§6.4: R steps "
                                            "after a spike with the membrane held at 0)")}


class SnnTorchNet:
    """The network of a NetSpec in snnTorch."""

    def __init__(self, spec: NetSpec, dtype: str | None = None):
        import snntorch as snn
        import torch

        self.torch, self.spec = torch, spec
        self.dtype = dtype or dtype_of(spec)
        self.synapses, self.neurons = [], []
        for lay in spec.layers:
            self.synapses.append(KIND_LAYERS[lay.kind](torch, lay, self.dtype))
            self.neurons.append(NEURON_MODELS[lay.model](snn, torch, lay, self.dtype))
        self.once = [lay.emit_once for lay in spec.layers]

    def __call__(self, x, record: bool = False):
        """x: (B, T, P) spikes -> (counts (B, C), spikes (B, T, total) or None)."""
        torch = self.torch
        x = x.to(getattr(torch, self.dtype))
        # NNPACK's convolutions (Winograd/FFT) are not exact on integers; oneDNN's direct
        # convolution sums exactly whatever its order (every partial sum is an integer < 2^24)
        with torch.no_grad(), torch.backends.nnpack.flags(enabled=False):
            for lif in self.neurons:
                lif.reset_mem()
            B = x.shape[0]
            sent = [torch.zeros(B, lay.neurons, dtype=x.dtype) if once else None
                    for lay, once in zip(self.spec.layers, self.once)]
            count = torch.zeros(B, self.spec.classes, dtype=x.dtype)
            trace = []
            for t in range(x.shape[1]):
                out = {INPUT: x[:, t]}
                for j, (lay, syn, lif) in enumerate(zip(self.spec.layers, self.synapses, self.neurons)):
                    s, _ = lif(syn([out[k] for k in lay.sources]))
                    if sent[j] is not None:  # §5.3 emit = once: a neuron goes out once
                        fired = s
                        s = fired * (1 - sent[j])
                        sent[j] = torch.maximum(sent[j], fired)
                    out[j] = s
                count += out[len(self.spec.layers) - 1]
                if record:
                    trace.append(torch.cat([out[j] for j in range(len(self.spec.layers))], dim=1))
            counts = count.clamp(max=self.spec.count_max)
            return counts, (torch.stack(trace, dim=1) if record else None)

    def run_batches(self, x, batch: int, record: bool = False):
        parts = [self(x[s:s + batch], record) for s in range(0, x.shape[0], batch)]
        counts = self.torch.cat([p[0] for p in parts])
        return counts, (self.torch.cat([p[1] for p in parts]) if record else None)


def run(job: Job) -> TaskResult:
    try:
        import snntorch
        import torch
    except ImportError as exc:
        return TaskResult("not installed", f"{exc.name or exc} (pip install -e '.[bench]')")
    batch = load_batch(job)
    why = inexpressible(batch.spec)
    if why:
        return TaskResult("not applicable", why)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(int(job.options.get("threads", 1)))
    try:
        return _measure(job, batch, torch, snntorch)
    finally:
        torch.set_num_threads(previous_threads)  # matters when run inside the harness


def _describe(spec: NetSpec) -> str:
    parts = {"fc": "nn.Linear", "conv2d": "nn.Conv2d", "pool": "sum-pool (avg_pool2d, divisor 1)",
             "add": "per-channel weighted add"}
    used = list(dict.fromkeys(parts[lay.kind] for lay in spec.layers))
    once = [lay.name for lay in spec.layers if lay.emit_once]
    return (" + ".join(used) + " → snn.Leaky"
            + (f"; emit once ({', '.join(once)}) as a running 'sent' mask" if once else ""))


def _neurochip_run(job: Job, batch):
    """neurochip's cycle-accurate simulator (1 worker) on the job's images, compiled (cache
    loaded) before it is timed: the run a paired round sets against snnTorch's."""
    from neurochip.description import load
    from neurochip.sim.simulator import simulate, warm_up

    desc = load(job.model_path)
    warm_up(desc)
    simulate(desc, batch.images[:1], batch.indices[:1])
    return lambda: simulate(desc, batch.images, batch.indices, keep_state=False)


def _measure(job: Job, batch, torch, snntorch) -> TaskResult:
    size = int(job.options.get("batch", 1))
    net = SnnTorchNet(batch.spec)
    x = torch.from_numpy(batch.spikes.astype(np.float32))
    rss_before = peak_rss_mib()
    run_net = lambda: net.run_batches(x, size)  # noqa: E731
    paired = None
    if job.options.get("pair_neurochip"):
        # neurochip (1 worker) on the same images in this process, the two runs alternating
        # round by round: the ratio is paired per round, so a host whose speed drifts
        # between the neurochip task and this one cannot move it
        both, outs = interleaved([run_net, _neurochip_run(job, batch)], job.reps)
        seconds, (counts, _) = both[0], outs[0]
        paired = {"speedup": paired_ratio(both[0], both[1]), "neurochip_seconds": both[1],
                  "neurochip_images_per_s": batch.n / float(np.median(both[1]))}
    else:
        seconds, (counts, _) = repeat(run_net, job.reps)
    rec_counts, trace = net.run_batches(x, size, record=True)
    counts_np = rec_counts.numpy().astype(np.int64)
    out = Outputs(predictions=np.argmax(counts_np, axis=1), counts=counts_np,
                  spikes=trace.numpy().astype(np.uint8))
    path = out_path(job, f"snntorch_b{size}")
    out.save(path)
    notes = [f"{_describe(batch.spec)}, {net.dtype}, torch.no_grad; hidden spikes recorded "
             "only in an untimed run"]
    if not torch.equal(counts, rec_counts):
        notes.append("WARNING: timed and recording runs differ")
    notes.append("saturation not expressed; proven unreachable for this model (bound on Σ|W| "
                 "per step × the steps a membrane carries over)")
    row = RowMeasurement(row=f"snnTorch CPU, batch {size}", kind="snntorch", images=batch.n,
                         seconds=seconds, threads=torch.get_num_threads(), outputs=str(path),
                         notes=notes, extra={"batch": size, "dtype": net.dtype}
                         | ({"paired_neurochip": paired} if paired else {}))
    return TaskResult("ok", rows=[row], memory=memory_report(rss_before),
                      versions={"snntorch": snntorch.__version__, "torch": torch.__version__})

"""snnTorch on the CPU: nn.Linear layers holding the integer weights (as float32, exact
for these magnitudes) feeding snn.Leaky neurons with the chip's thresholds, driven by the
identical encoded input spikes. Batch 1 (one image at a time) or batch B."""

from __future__ import annotations

import numpy as np

from bench.measure import memory_report, peak_rss_mib, repeat
from bench.netspec import LayerSpec, NetSpec, overflow_free
from bench.outputs import Outputs
from bench.peers.common import load_batch, out_path
from bench.protocol import Job, RowMeasurement, TaskResult


def inexpressible(spec: NetSpec) -> str | None:
    """Why snnTorch cannot run this network exactly, or None."""
    for lay in spec.layers:
        if lay.kind not in KIND_LAYERS or lay.model not in NEURON_MODELS:
            return (f"layer {lay.name}: kind {lay.kind!r} / neuron model {lay.model!r} has no "
                    "snnTorch form here")
        if lay.leak != "none":
            return f"layer {lay.name}: leak '{lay.leak}' (additive/shift leak) has no snn.Leaky form"
        if lay.integration == "continuous" and (lay.threshold < 0).any():
            return (f"layer {lay.name}: a negative threshold in a continuous layer; snn.Leaky "
                    "takes its initial membrane 0 > threshold for a spike before step 0 "
                    "and resets it")
    return None


def _leaky(snn, torch, lay: LayerSpec):
    """§6 as snn.Leaky: discontinuous = beta 0 (the membrane is the step's input, reset
    is moot); continuous = beta 1 with snnTorch's default delayed reset, whose
    pre-reset membrane U[t] = U[t-1] + I[t] - S[t-1]·θ (or (1 - S[t-1])·U[t-1] + I[t]
    for reset to zero) is the chip's v before its reset, so the spikes are the chip's.
    (reset_delay=False is not: it decides on U - θ whenever the reset membrane still
    exceeds θ.) Firing is heaviside(mem - threshold): strictly greater, like the chip."""
    threshold = torch.from_numpy(lay.threshold.astype(np.float32))
    if lay.integration == "discontinuous":
        return snn.Leaky(beta=0.0, threshold=threshold, reset_mechanism="none")
    return snn.Leaky(beta=1.0, threshold=threshold, reset_mechanism=lay.reset)


def _linear(torch, lay: LayerSpec):
    """fc (§5) as nn.Linear holding the integer weights as float32 (exact here)."""
    lin = torch.nn.Linear(lay.inputs, lay.neurons, bias=bool(lay.bias.any()))
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(lay.weight.T.astype(np.float32)))
        if lin.bias is not None:
            lin.bias.copy_(torch.from_numpy(lay.bias.astype(np.float32)))
    return lin


# backend tables (neurochip.backends): layer kind -> synapse module, neuron model -> neuron
KIND_LAYERS = {"fc": _linear}
NEURON_MODELS = {"lif": _leaky}


class SnnTorchNet:
    """The network of a NetSpec in snnTorch."""

    def __init__(self, spec: NetSpec):
        import snntorch as snn
        import torch

        self.torch, self.spec = torch, spec
        self.linears, self.neurons = [], []
        for lay in spec.layers:
            self.linears.append(KIND_LAYERS[lay.kind](torch, lay))
            self.neurons.append(NEURON_MODELS[lay.model](snn, torch, lay))

    def __call__(self, x, record: bool = False):
        """x: (B, T, P) float32 spikes -> (counts (B, C), spikes (B, T, total) or None)."""
        torch = self.torch
        with torch.no_grad():
            for lif in self.neurons:
                lif.reset_mem()
            count = torch.zeros(x.shape[0], self.spec.classes)
            trace = []
            for t in range(x.shape[1]):
                s = x[:, t]
                step = []
                for lin, lif in zip(self.linears, self.neurons):
                    s, _ = lif(lin(s))
                    if record:
                        step.append(s)
                count += s
                if record:
                    trace.append(torch.cat(step, dim=1))
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


def _measure(job: Job, batch, torch, snntorch) -> TaskResult:
    size = int(job.options.get("batch", 1))
    net = SnnTorchNet(batch.spec)
    x = torch.from_numpy(batch.spikes.astype(np.float32))
    rss_before = peak_rss_mib()
    seconds, (counts, _) = repeat(lambda: net.run_batches(x, size), job.reps)
    rec_counts, trace = net.run_batches(x, size, record=True)
    counts_np = rec_counts.numpy().astype(np.int64)
    out = Outputs(predictions=np.argmax(counts_np, axis=1), counts=counts_np,
                  spikes=trace.numpy().astype(np.uint8))
    path = out_path(job, f"snntorch_b{size}")
    out.save(path)
    notes = [f"snn.Leaky + nn.Linear(bias={any(l.bias.any() for l in batch.spec.layers)}), "
             "float32, torch.no_grad; hidden spikes recorded only in an untimed run"]
    if not torch.equal(counts, rec_counts):
        notes.append("WARNING: timed and recording runs differ")
    unsafe = [lay.name for lay in batch.spec.layers if not overflow_free(lay)]
    notes.append("membrane saturation/wrap not expressible: exact only while no add leaves "
                 f"the B-bit range (not provable for {', '.join(unsafe)})" if unsafe else
                 "saturation not expressed; proven unreachable for this model (bound on Σ|W|)")
    row = RowMeasurement(row=f"snnTorch CPU, batch {size}", kind="snntorch", images=batch.n,
                         seconds=seconds, threads=torch.get_num_threads(), outputs=str(path),
                         notes=notes, extra={"batch": size})
    return TaskResult("ok", rows=[row], memory=memory_report(rss_before),
                      versions={"snntorch": snntorch.__version__, "torch": torch.__version__})

"""Brian2: NeuronGroups and Synapses with the chip's discrete-time update (§5-§6).

One Brian2 time step (``defaultclock.dt``) per pipeline stage: layer i updates chip step
t at Brian step t + i + 1 of its image, so spikes emitted in a step reach the next layer
through ``on_pre: m_post += w`` before that layer's next update. The update is a
``run_regularly`` block before the thresholder; it zeroes a layer's membrane outside its
T active steps, which is the clear between images, so every image runs in one long
``run()``. Imports only NumPy, Brian2 and neurochip-free bench modules (it may run in a
separate environment, see bench/README.md)."""

from __future__ import annotations

import time

import numpy as np

from bench.measure import memory_report, peak_rss_mib, repeat
from bench.netspec import LayerSpec, NetSpec, overflow_free
from bench.outputs import Outputs
from bench.peers.common import load_batch, out_path
from bench.protocol import Job, RowMeasurement, TaskResult


def _ovf(expr: str, lay: LayerSpec) -> str:
    lo, hi = lay.membrane_range
    if lay.overflow == "saturate":
        return f"clip({expr}, {lo}, {hi})"
    return f"((({expr}) - ({lo})) % {1 << lay.membrane_bits} + ({lo}))"


def update_code(lay: LayerSpec, stage: int, time_steps: int, period: int) -> str:
    """Abstract code of one neuron update (§6) for pipeline stage ``stage``."""
    lines = [f"k = timestep(t, dt) % {period}",
             f"act = int(k >= {stage + 1} and k < {stage + 1 + time_steps})",
             f"v = {_ovf('m + bias', lay)}",
             "f = act * int(v > theta)"]
    if lay.reset == "subtract":
        lines.append(f"v = v - f * (v - {_ovf('v - theta', lay)})")
    else:
        lines.append("v = v * (1 - f)")
    if lay.leak == "subtract":
        lines.append(f"v = v - clip(v, -{lay.leak_amount}, {lay.leak_amount})")
    elif lay.leak == "shift":
        lines.append(f"v = v - floor(v / {1 << lay.leak_amount})")
    if lay.integration == "discontinuous":
        lines.append("v = 0 * v")
    lines.append("m = act * v")
    return "\n".join(lines)


def on_pre_code(lay: LayerSpec) -> str:
    """§5. Wrapping is modular, so wrapping once in the update is exact and the event can
    be a plain add; saturation is not associative and must clamp after every event."""
    if lay.overflow == "saturate" and not overflow_free(lay):
        lo, hi = lay.membrane_range
        return f"m_post = clip(m_post + w, {lo}, {hi})"
    return "m_post += w"


def fc_connections(lay: LayerSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fc (§5): a synapse for every non-zero weight, (pre, post, w)."""
    pre, post = np.nonzero(lay.weight)
    return pre, post, lay.weight[pre, post]


# backend tables (neurochip.backends): layer kind -> synapses, neuron model -> update code
KIND_SYNAPSES = {"fc": fc_connections}
NEURON_MODELS = {"lif": update_code}


class Brian2Net:
    """The network of a NetSpec, fed with ``spikes`` ((n, T, P) uint8), in Brian2."""

    def __init__(self, b2, spec: NetSpec, spikes: np.ndarray, record_hidden: bool):
        n, T, P = spikes.shape
        self.b2, self.spec, self.n = b2, spec, n
        self.period = T + len(spec.layers)
        dt = b2.defaultclock.dt
        img, step, pix = np.nonzero(spikes)
        # fixed names: generated code is named after its objects, so the same names let
        # every network of a run reuse the code compiled (and cached) in the warm-up
        objects = [b2.SpikeGeneratorGroup(P, pix, (img * self.period + step) * dt, name="inputs")]
        prev = objects[0]
        self.monitors = []
        for i, lay in enumerate(spec.layers):
            g = b2.NeuronGroup(lay.neurons, "m : 1\nf : 1\ntheta : 1 (constant)\nbias : 1 (constant)",
                               threshold="f > 0.5", reset="", name=f"layer{i}")
            g.theta = lay.threshold.astype(np.float64)
            g.bias = lay.bias.astype(np.float64)
            g.run_regularly(NEURON_MODELS[lay.model](lay, i, T, self.period),
                            when="before_thresholds",
                            name=f"layer{i}_update")
            syn = b2.Synapses(prev, g, "w : 1 (constant)", on_pre=on_pre_code(lay),
                              name=f"synapses{i}")
            pre, post, w = KIND_SYNAPSES[lay.kind](lay)
            syn.connect(i=pre, j=post)
            syn.w = w.astype(np.float64)
            objects += [g, syn]
            if record_hidden or i == len(spec.layers) - 1:
                mon = b2.SpikeMonitor(g, name=f"monitor{i}")
                self.monitors.append((i, mon))
                objects.append(mon)
            prev = g
        self.net = b2.Network(*objects)
        self.net.store()

    def run(self) -> None:
        self.net.restore()
        self.net.run(self.n * self.period * self.b2.defaultclock.dt)

    def outputs(self) -> Outputs:
        spec, n, T = self.spec, self.n, self.spec.time_steps
        offsets = spec.offsets()
        trains = np.zeros((n, T, spec.total_neurons), dtype=np.uint8)
        for layer, mon in self.monitors:
            k = np.round(np.asarray(mon.t / self.b2.defaultclock.dt)).astype(np.int64)
            image, local = np.divmod(k, self.period)
            step = local - (layer + 1)
            assert ((step >= 0) & (step < T)).all(), "spike outside the layer's active steps"
            trains[image, step, offsets[layer] + np.asarray(mon.i)] = 1
        counts = np.minimum(trains[:, :, offsets[-2]:].sum(axis=1).astype(np.int64), spec.count_max)
        hidden = len(self.monitors) == len(spec.layers)
        return Outputs(predictions=np.argmax(counts, axis=1), counts=counts,
                       spikes=trains if hidden else None)


def overflow_note(spec: NetSpec) -> str:
    sat = [lay.name for lay in spec.layers if lay.overflow == "saturate" and not overflow_free(lay)]
    wrap = [lay.name for lay in spec.layers if lay.overflow == "wrap" and not overflow_free(lay)]
    if not sat and not wrap:
        return "no add can leave the membrane range (bound on Σ|W|), so overflow never acts"
    parts = []
    if sat:
        parts.append(f"saturating on_pre in {', '.join(sat)} (order-dependent: relies on Brian2 "
                     "applying a step's events in synapse order = ascending address, §4)")
    if wrap:
        parts.append(f"wrap in {', '.join(wrap)} applied once per update (exact: modular)")
    return "; ".join(parts)


def _configure(b2, job: Job, target: str) -> None:
    b2.prefs.codegen.target = target
    b2.prefs.logging.file_log = False
    b2.prefs.logging.console_log_level = "ERROR"
    cache = job.options.get("cython_cache")
    if cache:
        b2.prefs.codegen.runtime.cython.cache_dir = cache
    b2.defaultclock.dt = 1 * b2.ms


def _warm_up(b2, spec: NetSpec, spikes: np.ndarray) -> float:
    """Generate (and for cython compile, cached on disk) the code on one image."""
    t0 = time.perf_counter()
    Brian2Net(b2, spec, spikes[:1], record_hidden=True).run()
    return time.perf_counter() - t0


def run(job: Job) -> TaskResult:
    try:
        import brian2 as b2
    except ImportError as exc:
        return TaskResult("not installed", f"no module {exc.name or exc} (bash bench/setup_brian2.sh)")
    except Exception as exc:  # e.g. brian2 2.9.0 with NumPy >= 2.4: ndarray.ptp is gone
        return TaskResult("not installed", f"brian2 fails to import: {type(exc).__name__}: {exc}")
    batch = load_batch(job)
    wanted = job.options.get("target", "cython")
    notes: list[str] = []
    target = wanted
    try:
        _configure(b2, job, target)
        compile_s = _warm_up(b2, batch.spec, batch.spikes)
    except Exception as exc:
        if wanted != "cython":
            raise
        notes.append(f"cython code generation failed ({type(exc).__name__}); numpy target used")
        target = "numpy"
        _configure(b2, job, target)
        compile_s = _warm_up(b2, batch.spec, batch.spikes)
    t0 = time.perf_counter()
    net = Brian2Net(b2, batch.spec, batch.spikes, record_hidden=False)
    setup_s = time.perf_counter() - t0
    rss_before = peak_rss_mib()
    seconds, _ = repeat(net.run, job.reps)
    timed_counts = net.outputs().counts
    check = Brian2Net(b2, batch.spec, batch.spikes, record_hidden=True)
    check.run()
    out = check.outputs()
    path = out_path(job, "brian2")
    out.save(path)
    notes.append(f"codegen target '{target}' (runtime mode), dt = 1 step; code generation/"
                 f"compile {compile_s:.1f} s and network construction {setup_s:.1f} s excluded; "
                 "hidden spikes recorded only in an untimed run")
    if not np.array_equal(timed_counts, out.counts):
        notes.append("WARNING: timed and recording runs differ")
    notes.append(overflow_note(batch.spec))
    import numpy

    versions = {"brian2": b2.__version__, "numpy": numpy.__version__}
    try:
        import Cython

        versions["cython"] = Cython.__version__
    except ImportError:
        pass
    row = RowMeasurement(row=f"Brian2 ({target})", kind="brian2", images=batch.n,
                         seconds=seconds, compile_seconds=compile_s, setup_seconds=setup_s,
                         outputs=str(path), notes=notes, extra={"target": target})
    return TaskResult("ok", rows=[row], memory=memory_report(rss_before), versions=versions)

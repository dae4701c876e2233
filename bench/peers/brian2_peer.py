"""Brian2: NeuronGroups and Synapses with the chip's discrete-time update (§5-§6).

One Brian2 time step (``defaultclock.dt``) per pipeline stage. A layer's stage is 1 + the
largest stage of its sources (the input is stage -1; a chain has stage i for layer i), and
a layer of stage s updates chip step t at Brian step t + s + 1 of its image, so the spikes
its sources emit in step t reach it through ``on_pre: m_post += w`` before that update; a
synapse from a source of stage s' < s - 1 is delayed by s - 1 - s' steps so that it arrives
exactly then, never a step early. The synapses are the explicit lists the netspec carries
for every kind (fc, conv2d, pool, add; computed with neurochip's own address generators),
one ``Synapses`` object per source in drain order. The update is a ``run_regularly`` block
before the thresholder; it zeroes a layer's membrane outside its T active steps, which is
the clear between images, so every image runs in one long ``run()``. Per-channel
thresholds and biases are expanded per neuron (n = pos·C + ch). Imports only NumPy,
Brian2 and neurochip-free bench modules (it may run in a separate environment, see
bench/README.md)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.measure import memory_report, peak_rss_mib, repeat
from bench.netspec import INPUT, LayerSpec, NetSpec, overflow_free
from bench.outputs import Outputs
from bench.peers.common import TTFS_WHY, Declined, load_batch, out_path
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


def bistable_code(lay: LayerSpec, stage: int, time_steps: int, period: int) -> str:
    """Abstract code of one bistable update (§6.2) for pipeline stage ``stage``: chip step
    c = k − stage − 1; INTEGRATE (u = (c + phase) mod 2N < N) adds the bias, FIRE fires
    where m ≥ θ and subtracts θ. (The network's worst-magnitude bound holds: with θ ≥ 0 the
    subtract keeps m in [0, m], and a bias is added in at most T steps.)"""
    n = lay.phase_steps
    return "\n".join([
        f"k = timestep(t, dt) % {period}",
        f"act = int(k >= {stage + 1} and k < {stage + 1 + time_steps})",
        f"fp = int((k - {stage + 1} + {lay.phase} + {2 * n * (stage + 1)}) % {2 * n} >= {n})",
        f"mw = {_ovf('m', lay)}",  # a wrapping on_pre adds unwrapped: wrap before the compare
        f"vi = {_ovf('mw + bias', lay)}",
        "f = act * fp * int(mw >= theta)",
        f"vf = mw - f * (mw - {_ovf('mw - theta', lay)})",
        "m = act * (fp * vf + (1 - fp) * vi)"])


def emit_once_code(lay: LayerSpec, stage: int) -> str:
    """§5.3 ``emit = once``, appended to the update: a neuron that fires goes out (``f``)
    only if its sent bit is clear; every neuron that fires sets it (the reset above has
    already used the unmasked ``f``: the membrane update is the same either way). The bit
    is cleared at the layer's first active step of each image (the clear of §9)."""
    return "\n".join([f"sent = sent * int(k > {stage + 1})",
                      "go = int(f > 0.5) * int(sent < 0.5)",
                      "sent = sent + go",
                      "f = go"])


def on_pre_code(lay: LayerSpec, time_steps: int | None = None) -> str:
    """§5. Wrapping is modular, so wrapping once in the update is exact and the event can
    be a plain add; saturation is not associative and must clamp after every event."""
    if lay.overflow == "saturate" and not overflow_free(lay, time_steps):
        lo, hi = lay.membrane_range
        return f"m_post = clip(m_post + w, {lo}, {hi})"
    return "m_post += w"


def listed_connections(lay: LayerSpec) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(pre, post, w) of every source, in drain order, from the netspec's explicit list
    (neurochip's order within a step: events ascending, each event's touched neurons in
    the address generator's order)."""
    if lay.synapses is None:
        raise ValueError(f"layer {lay.name} ({lay.kind}): the workload has no synapse list; "
                         "write it with bench.netspec.from_description(desc, synapses=True)")
    return [lay.synapses.of(s) for s in range(len(lay.sources))]


def fc_connections(lay: LayerSpec) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """fc (§5.1): a synapse for every non-zero weight, ascending pre then post; the
    netspec's list when it has one (the same), else from the weight matrix (netspec files
    written before the lists existed)."""
    if lay.synapses is not None:
        return listed_connections(lay)
    pre, post = np.nonzero(lay.weight)
    return [(pre, post, lay.weight[pre, post])]


# backend tables (neurochip.backends): layer kind -> synapses, neuron model -> update code
KIND_SYNAPSES = {"fc": fc_connections, "conv2d": listed_connections,
                 "pool": listed_connections, "add": listed_connections}
NEURON_MODELS = {"lif": update_code, "bistable": bistable_code,
                 "ttfs": Declined(TTFS_WHY.format(peer="Brian2 update code")),
                 "lif_refractory": Declined("the refractory counter of lif_refractory (§6.4) "
                                            "has no update code in this peer yet; the "
                                            "chip-equivalence suite checks it against the "
                                            "NumPy reference and the RTL")}
KIND_EMIT = {"pool": lambda lay, stage: emit_once_code(lay, stage) if lay.emit_once else ""}


class Brian2Net:
    """The network of a NetSpec, fed with ``spikes`` ((n, T, P) uint8), in Brian2."""

    def __init__(self, b2, spec: NetSpec, spikes: np.ndarray, record_hidden: bool):
        n, T, P = spikes.shape
        self.b2, self.spec, self.n = b2, spec, n
        self.stages = spec.stages()
        self.period = T + max(self.stages) + 1
        dt = b2.defaultclock.dt
        # event input (§11.2): c events of address p in one step are c pushes back to back;
        # Brian2 takes one spike per neuron and step, so address p has K input neurons
        # p·K … p·K + K − 1 (K the largest count) and its k-th event of a step is neuron
        # p·K + k, each with p's synapses: ascending neuron order is §4's push order
        K = max(1, int(spikes.max(initial=0)))
        img, step, pix = np.nonzero(spikes)
        reps = spikes[img, step, pix].astype(np.int64)
        event = np.repeat(np.arange(len(pix)), reps)
        k = np.arange(len(event)) - np.repeat(np.cumsum(reps) - reps, reps)
        self.copies = K
        # fixed names: generated code is named after its objects, so the same names let
        # every network of a run reuse the code compiled (and cached) in the warm-up
        groups = {INPUT: b2.SpikeGeneratorGroup(P * K, pix[event] * K + k,
                                                (img[event] * self.period + step[event]) * dt,
                                                name="inputs")}
        objects = [groups[INPUT]]
        self.monitors = []
        for i, lay in enumerate(spec.layers):
            stage = self.stages[i]
            emit = KIND_EMIT.get(lay.kind, lambda lay, stage: "")(lay, stage)
            g = b2.NeuronGroup(lay.neurons, "m : 1\nf : 1\ntheta : 1 (constant)\n"
                               "bias : 1 (constant)" + ("\nsent : 1" if emit else ""),
                               threshold="f > 0.5", reset="", name=f"layer{i}")
            g.theta = lay.per_neuron(lay.threshold).astype(np.float64)
            g.bias = lay.per_neuron(lay.bias).astype(np.float64)
            entry = NEURON_MODELS[lay.model]
            if getattr(entry, "reason", None):
                raise ValueError(f"layer {lay.name}: {entry.reason}")
            code = entry(lay, stage, T, self.period)
            g.run_regularly(code + ("\n" + emit if emit else ""), when="before_thresholds",
                            name=f"layer{i}_update")
            groups[i] = g
            objects.append(g)
            # one Synapses per source; Brian2 runs pathways of equal `when`/`order` sorted by
            # name, so 'synapses{i}s0_pre' (source 0) delivers before 'synapses{i}s1_pre'
            # within a step: §4's drain order, which matters only for saturating adds
            for pos, (src, (pre, post, w)) in enumerate(zip(lay.sources, KIND_SYNAPSES[lay.kind](lay))):
                if not len(pre):  # a source whose every weight is 0 adds nothing
                    continue
                if src == INPUT and K > 1:  # every copy of an input address (above)
                    pre = (np.asarray(pre)[:, None] * K + np.arange(K)).ravel()
                    post, w = np.repeat(post, K), np.repeat(w, K)
                src_stage = -1 if src == INPUT else self.stages[src]
                delay = stage - 1 - src_stage
                syn = b2.Synapses(groups[src], g, "w : 1 (constant)",
                                  on_pre=on_pre_code(lay, spec.time_steps),
                                  delay=delay * dt if delay else None, name=f"synapses{i}s{pos}")
                syn.connect(i=pre, j=post)
                syn.w = w.astype(np.float64)
                objects.append(syn)
            if record_hidden or i == len(spec.layers) - 1:
                mon = b2.SpikeMonitor(g, name=f"monitor{i}")
                self.monitors.append((i, mon))
                objects.append(mon)
        self.net = b2.Network(*objects)
        self._check_drain_order()
        self.net.store()

    def _check_drain_order(self) -> None:
        """§4: a multi-source layer's pathways must run in source order within a step
        (Brian2 breaks ties of when/order by name; this makes sure it still does)."""
        names = [obj.name for obj in self.net.sorted_objects]
        for i, lay in enumerate(self.spec.layers):
            pos = [names.index(f"synapses{i}s{s}_pre") for s in range(len(lay.sources))
                   if f"synapses{i}s{s}_pre" in names]
            if pos != sorted(pos):
                raise RuntimeError(f"layer {lay.name}: Brian2 schedules its sources' pathways "
                                   f"out of drain order ({[names[p] for p in pos]})")

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
            step = local - (self.stages[layer] + 1)
            assert ((step >= 0) & (step < T)).all(), "spike outside the layer's active steps"
            trains[image, step, offsets[layer] + np.asarray(mon.i)] = 1
        counts = np.minimum(trains[:, :, offsets[-2]:].sum(axis=1).astype(np.int64), spec.count_max)
        hidden = len(self.monitors) == len(spec.layers)
        return Outputs(predictions=np.argmax(counts, axis=1), counts=counts,
                       spikes=trains if hidden else None)


def overflow_note(spec: NetSpec) -> str:
    T = spec.time_steps
    sat = [lay.name for lay in spec.layers if lay.overflow == "saturate" and not overflow_free(lay, T)]
    wrap = [lay.name for lay in spec.layers if lay.overflow == "wrap" and not overflow_free(lay, T)]
    if not sat and not wrap:
        return ("no add can leave the membrane range (bound on Σ|W| per step × the steps a "
                "membrane carries over), so overflow never acts")
    parts = []
    if sat:
        parts.append(f"saturating on_pre in {', '.join(sat)} (order-dependent: relies on Brian2 "
                     "applying a step's events in synapse order = the chip's order, §4, and "
                     "a multi-source layer's pathways in source order)")
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
    batch = load_batch(job, synapses=True)
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


def run_files(workloads: list[Path], out_dir: Path, target: str = "numpy") -> list[Path]:
    """Run each workload file's whole batch (hidden spikes recorded) and write its outputs
    to ``out_dir/<workload stem>.outputs.npz``: the equivalence test's entry point, so
    that one Brian2 process checks many small networks."""
    import brian2 as b2

    from bench.netspec import load_workload

    b2.prefs.codegen.target = target
    b2.prefs.logging.file_log = False
    b2.prefs.logging.console_log_level = "ERROR"
    b2.BrianLogger.log_level_error()  # not the "order of execution" warning of clip on_pre
    b2.defaultclock.dt = 1 * b2.ms
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for w in workloads:
        spec, spikes, _ = load_workload(w, synapses=True)
        net = Brian2Net(b2, spec, spikes, record_hidden=True)
        net.run()
        path = out_dir / f"{w.stem}.outputs.npz"
        net.outputs().save(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print("usage: python -m bench.peers.brian2_peer OUT_DIR WORKLOAD.npz ...", file=sys.stderr)
        return 2
    run_files([Path(a) for a in args[1:]], Path(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

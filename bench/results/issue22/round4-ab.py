"""Round 4 A/B: main's simulator (kernel.py and pack.py of 48e85b7, copied to /tmp/ab4/kernel_base.py and
/tmp/ab4/pack_base.py) against this branch, interleaved in one process on the same images.
Setup: mkdir -p /tmp/ab4 && git show 48e85b7:neurochip/sim/kernel.py > /tmp/ab4/kernel_base.py
       && git show 48e85b7:neurochip/sim/pack.py > /tmp/ab4/pack_base.py
Usage: PYTHONPATH=/work/wt-sim4 NUMBA_CACHE_DIR=/tmp/numba-wt-sim4 python round3-ab.py REPS SECONDS_PER_RUN [MODEL ...]
Every output of simulate() is compared (predictions, counts, cycles, core and chip counters,
membranes, every state field, and with record_spikes=True on 16 images the spike trains);
thread CPU time and wall time per image; sim/chip = time per image / (cycles per image / clock)."""
import sys, time, os, glob, importlib.util, json, numpy as np
from neurochip.description import load
from neurochip.datasets import load_split
import neurochip.sim.simulator as S
from neurochip.sim import kernel as knew
from neurochip.sim.pack import PackedModel

def _module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec); sys.modules[name] = mod; spec.loader.exec_module(mod); return mod

kbase = _module('kernel_base', '/tmp/ab4/kernel_base.py')
pbase = _module('pack_base', '/tmp/ab4/pack_base.py')
sides = {'a': (kbase, pbase.PackedModel.state_columns, pbase.PackedModel.kernel_args),
         'b': (knew, PackedModel.state_columns, PackedModel.kernel_args)}

def use(k):
    S.kernel = sides[k][0]
    PackedModel.state_columns = sides[k][1]
    PackedModel.kernel_args = sides[k][2]

def same(a, b, spikes=False):
    fields = ['predictions', 'counts', 'cycles', 'core_counters', 'chip_counters', 'membranes'] + (['spikes'] if spikes else [])
    ok = all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)
    ok &= a.states.keys() == b.states.keys() and all(np.array_equal(a.states[k], b.states[k]) and a.states[k].dtype == b.states[k].dtype for k in a.states)
    return bool(ok)

data = {'mnist': load_split('/work/shared/datasets/mnist', 'test'), 'fmnist': load_split('/work/shared/datasets/fashion-mnist', 'test')}
reps = int(sys.argv[1]); target_s = float(sys.argv[2]); only = sys.argv[3:]
out = {}
root = os.path.dirname(os.path.abspath(S.__file__)) + '/../../models'
for path in sorted(glob.glob(root + '/*.npz')):
    name = os.path.basename(path)[:-4]
    if only and name not in only: continue
    d = load(path)
    imgs, _ = data['fmnist' if 'fmnist' in name else 'mnist']
    res = {}
    for k in sides:
        use(k); S.simulate(d, imgs[:4]); res[k] = S.simulate(d, imgs[:16], record_spikes=True)
    spikes_same = same(res['a'], res['b'], spikes=True)
    t0 = time.perf_counter(); S.simulate(d, imgs[:8]); per = (time.perf_counter() - t0) / 8
    n = int(min(len(imgs), max(8, target_s / per)))
    x, idx = imgs[:n], np.arange(n)
    cpu = {k: [] for k in sides}; wall = {k: [] for k in sides}
    for r in range(reps):
        for k in (sides if r % 2 == 0 else list(sides)[::-1]):
            use(k)
            c0 = time.thread_time(); o = S.simulate(d, x, idx); cpu[k].append((time.thread_time() - c0) / n); wall[k].append(o.seconds / n); res[k] = o
    ok = same(res['a'], res['b']) and spikes_same
    chip = res['a'].cycles.mean() / d.clock_hz
    pr = np.array(cpu['a']) / np.array(cpu['b'])
    row = dict(images=n, T=d.time_steps, chip_us=chip * 1e6, same=ok, load=os.getloadavg()[0],
               cpu_us={k: float(np.median(v) * 1e6) for k, v in cpu.items()},
               wall_us={k: float(np.median(v) * 1e6) for k, v in wall.items()},
               sim_per_chip_cpu={k: float(np.median(v) / chip) for k, v in cpu.items()},
               sim_per_chip_wall={k: float(np.median(v) / chip) for k, v in wall.items()},
               speedup_cpu_paired_median=float(np.median(pr)), speedup_cpu_paired_range=[float(pr.min()), float(pr.max())])
    out[name] = row
    print(f"{name:26s} T={d.time_steps:4d} n={n:5d} chip {chip*1e6:7.1f}us | CPU us/img main {row['cpu_us']['a']:8.1f} new {row['cpu_us']['b']:8.1f} x{row['speedup_cpu_paired_median']:.2f} [{pr.min():.2f}-{pr.max():.2f}] | sim/chip CPU {row['sim_per_chip_cpu']['a']:.2f} -> {row['sim_per_chip_cpu']['b']:.2f}, wall {row['sim_per_chip_wall']['a']:.2f} -> {row['sim_per_chip_wall']['b']:.2f} | same={ok} load {row['load']:.1f}", flush=True)
if not only:
    json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), 'round4-ab-main-vs-branch.json'), 'w'), indent=1)

"""Run from /tmp/ab after `git show main:neurochip/sim/kernel.py > /tmp/ab/kernel_base.py` (main's kernel, loaded beside this branch's);
usage: python round2_ab.py REPS SECONDS_PER_RUN [MODEL ...]. Every shipped model: main's kernel (a) vs this branch (b), interleaved in one process, same
images, outputs compared; thread CPU time and wall time per image; sim/chip = time/image over
chip time/image (cycles / clock)."""
import sys, time, os, glob, importlib.util, json, numpy as np
sys.path.insert(0, '/work/wt-sim')
from neurochip.description import load
from neurochip.datasets import load_split
import neurochip.sim.simulator as S
from neurochip.sim import kernel as knew
from neurochip.sim.pack import PackedModel
spec = importlib.util.spec_from_file_location('kernel_base', '/tmp/ab/kernel_base.py')
kbase = importlib.util.module_from_spec(spec); spec.loader.exec_module(kbase)
data = {'mnist': load_split('/work/shared/datasets/mnist', 'test'), 'fmnist': load_split('/work/shared/datasets/fashion-mnist', 'test')}
reps = int(sys.argv[1]); target_s = float(sys.argv[2]); only = sys.argv[3:] 
out = {}
for path in sorted(glob.glob('/work/wt-sim/models/*.npz')):
    name = os.path.basename(path)[:-4]
    if only and name not in only: continue
    d = load(path)
    imgs, _ = data['fmnist' if 'fmnist' in name else 'mnist']
    pv = PackedModel.from_description(d).param_values
    class KB: pass
    kb = KB(); kb.__dict__.update({k: getattr(kbase, k) for k in dir(kbase) if not k.startswith('__')})
    def sb(*a, _pv=pv):
        a = list(a); del a[8]; a[9] = _pv
        return kbase.simulate_batch(*a)
    kb.simulate_batch = sb
    ks = {'a': kb, 'b': knew}
    for k in ks: S.kernel = ks[k]; S.simulate(d, imgs[:4])
    t0 = time.perf_counter(); S.simulate(d, imgs[:8]); per = (time.perf_counter() - t0) / 8
    n = int(min(len(imgs), max(8, target_s / per)))
    x, idx = imgs[:n], np.arange(n)
    cpu = {k: [] for k in ks}; wall = {k: [] for k in ks}; res = {}
    for r in range(reps):
        for k in ks:
            S.kernel = ks[k]
            c0 = time.thread_time(); o = S.simulate(d, x, idx); cpu[k].append((time.thread_time() - c0) / n); wall[k].append(o.seconds / n); res[k] = o
    a, b = res['a'], res['b']
    same = all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ('predictions', 'counts', 'cycles', 'core_counters', 'chip_counters', 'membranes', 'potentials'))
    chip = a.cycles.mean() / d.clock_hz
    pr = np.array(cpu['a']) / np.array(cpu['b'])
    row = dict(images=n, T=d.time_steps, chip_us=chip * 1e6, same=same, load=os.getloadavg()[0],
               cpu_us={k: float(np.median(v) * 1e6) for k, v in cpu.items()},
               wall_us={k: float(np.median(v) * 1e6) for k, v in wall.items()},
               wall_range_us={k: [float(min(v) * 1e6), float(max(v) * 1e6)] for k, v in wall.items()},
               sim_per_chip_cpu={k: float(np.median(v) / chip) for k, v in cpu.items()},
               sim_per_chip_wall={k: float(np.median(v) / chip) for k, v in wall.items()},
               speedup_cpu_paired_median=float(np.median(pr)), speedup_cpu_paired_range=[float(pr.min()), float(pr.max())])
    out[name] = row
    print(f"{name:28s} T={d.time_steps:4d} n={n:5d} chip {chip*1e6:8.1f}us | CPU us/img main {row['cpu_us']['a']:9.1f} new {row['cpu_us']['b']:9.1f} x{row['speedup_cpu_paired_median']:.2f} [{pr.min():.2f}-{pr.max():.2f}] | sim/chip CPU {row['sim_per_chip_cpu']['a']:.2f} -> {row['sim_per_chip_cpu']['b']:.2f}, wall {row['sim_per_chip_wall']['a']:.2f} -> {row['sim_per_chip_wall']['b']:.2f} | same={same} load {row['load']:.1f}", flush=True)
json.dump(out, open(sys.argv[0].replace('.py', '.json'), 'w'), indent=1)

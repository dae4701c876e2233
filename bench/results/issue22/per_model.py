"""Per shipped model: simulated time ÷ chip time (1 worker) and the functional-only
ceiling, on held-out test images, interleaved repetitions, medians."""
import sys, time, json, glob, os, numpy as np
from neurochip.description import load
from neurochip.sim import simulate, warm_up
from neurochip.datasets import load_split
data = {'mnist': load_split('/work/shared/datasets/mnist', 'test'),
        'fmnist': load_split('/work/shared/datasets/fashion-mnist', 'test')}
res = {}
for p in sorted(glob.glob('models/*.npz')):
    if p.endswith('.ckpt.npz'): continue
    name = os.path.basename(p)[:-4]
    d = load(p)
    imgs, labels = data['fmnist' if 'fmnist' in name else 'mnist']
    n = int(sys.argv[1]) if d.time_steps <= 16 and 'resnet' not in name and 'resto' not in name else int(sys.argv[2])
    x, idx = imgs[:n], np.arange(n)
    c1 = warm_up(d); t0 = time.perf_counter(); simulate(d, x[:1], timing=False); c2 = time.perf_counter() - t0
    ta, tf = [], []
    for r in range(3):
        a = simulate(d, x, idx); ta.append(a.seconds / n)
        f = simulate(d, x, idx, timing=False); tf.append(f.seconds / n)
    same = bool(np.array_equal(a.predictions, f.predictions) and np.array_equal(a.counts, f.counts) and np.array_equal(a.membranes, f.membranes))
    chip = a.cycles.mean() / d.clock_hz
    ma, mf = float(np.median(ta)), float(np.median(tf))
    res[name] = dict(images=n, T=d.time_steps, us_per_image=ma * 1e6, chip_us_per_image=chip * 1e6,
                     sim_per_chip=ma / chip, functional_us_per_image=mf * 1e6, cycle_accurate_over_functional=ma / mf,
                     functional_identical=same, compile_s=c1 + c2, accuracy=float(np.mean(a.predictions == labels[:n])),
                     spread_sim_per_chip=[min(ta) / chip, max(ta) / chip])
    print(f"{name:26s} T={d.time_steps:4d} n={n:4d} sim {ma*1e6:9.0f} us  chip {chip*1e6:8.1f} us  sim/chip {ma/chip:5.2f} [{min(ta)/chip:.2f}-{max(ta)/chip:.2f}]  ca/func {ma/mf:4.2f}  same={same}  compile {c1+c2:.1f}s  load {os.getloadavg()[0]:.1f}", flush=True)
json.dump(res, open(sys.argv[3], 'w'), indent=1)

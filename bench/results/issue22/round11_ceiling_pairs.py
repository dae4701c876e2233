"""Issue 22, round 11: cycle-accurate ÷ functional-only per shipped model, the two runs
alternating in one process (7 rounds; thread CPU time; ``keep_state=False``; 1,000 test
images, 64 for the ResNets). Run from the repository root, pinned to one core:
``taskset -c 0 python bench/results/issue22/round11_ceiling_pairs.py MODEL ...``
(``--data-root`` defaults to ../shared/datasets)."""
import sys, time, numpy as np
from neurochip.description.io import load
from neurochip.sim.simulator import simulate
from neurochip.datasets import load_split
args = sys.argv[1:]
root = '../shared/datasets'
if args[:1] == ['--data-root']:
    root, args = args[1], args[2:]
models = args
reps = 7
for m in models:
    data = f"{root}/{'fashion-mnist' if 'fmnist' in m else 'mnist'}"
    x, y = load_split(data, 'test')
    d = load(f'models/{m}.npz')
    n = 1000 if 'resnet' not in m else 64
    x = x[:n]
    simulate(d, x[:8], keep_state=False); simulate(d, x[:8], keep_state=False, timing=False)
    ta, tf = [], []
    for r in range(reps):
        t0 = time.thread_time(); simulate(d, x, keep_state=False); ta.append(time.thread_time() - t0)
        t0 = time.thread_time(); simulate(d, x, keep_state=False, timing=False); tf.append(time.thread_time() - t0)
    ra = np.array(ta) / np.array(tf)
    print(f"{m:28s} ca {np.median(ta)/n*1e6:8.1f} us  fn {np.median(tf)/n*1e6:8.1f} us  ratio {np.median(ra):.3f} ({ra.min():.3f}-{ra.max():.3f})", flush=True)

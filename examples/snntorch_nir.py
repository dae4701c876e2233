"""Train a small snnTorch network on MNIST and export it as NIR, for `neurochip nir import`.

    python examples/snntorch_nir.py --data DIR -o mlp.nir        # DIR: IDX files (train split)

784-H-10 with snn.Leaky neurons (β = 0.9, reset to zero, which is what NIR's v_reset
says; one threshold per neuron so nirtorch can type the graph), Bernoulli rate-coded input
(p = pixel/256, the chip's encoder statistics), surrogate-gradient training on the output
spike counts. Needs torch, snntorch, nir and nirtorch (`pip install -e '.[dev,train]'`)."""

from __future__ import annotations

import argparse
import sys
import time


def build(torch, snn, hidden: int, beta: float):
    def leaky(n: int, **kw):
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), init_hidden=True,
                         reset_mechanism="zero", **kw)

    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, hidden), leaky(hidden),
                               torch.nn.Linear(hidden, 10), leaky(10, output=True))


def counts(torch, snn, net, x, steps: int, gen):
    """Output spike counts over ``steps`` Bernoulli-coded steps (p = pixel / 256)."""
    snn.utils.reset(net)
    total = 0
    for _ in range(steps):
        spk = (torch.rand(x.shape, generator=gen) < x / 256.0).float()
        out, _ = net(spk)
        total = total + out
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder with train-/t10k-*-ubyte[.gz]")
    p.add_argument("-o", "--out", required=True, help="output .nir file")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--beta", type=float, default=0.9)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import nir
    import snntorch as snn
    import snntorch.utils  # noqa: F401  (snn.utils.reset)
    import torch
    from snntorch.export_nir import export_to_nir

    from neurochip.datasets import load_split

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    xs, ys = load_split(args.data, "train")
    xt, yt = load_split(args.data, "test")
    xs, xt = (torch.tensor(a.reshape(len(a), 1, 28, 28), dtype=torch.float32) for a in (xs, xt))
    ys, yt = torch.tensor(ys, dtype=torch.long), torch.tensor(yt, dtype=torch.long)
    net = build(torch, snn, args.hidden, args.beta)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    t0 = time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(xs), generator=gen)
        for i in range(0, len(xs), 128):
            idx = order[i:i + 128]
            loss = torch.nn.functional.cross_entropy(counts(torch, snn, net, xs[idx], args.steps, gen),
                                                     ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = (counts(torch, snn, net, xt, args.steps, gen).argmax(1) == yt).float().mean()
        print(f"epoch {epoch + 1}: snnTorch test accuracy {100 * float(acc):.2f} % "
              f"({time.time() - t0:.0f} s)", file=sys.stderr)
    snn.utils.reset(net)
    graph = export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    nir.write(args.out, graph)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

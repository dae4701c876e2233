"""Trainer vs chip on a STiDi-BP model: python models/measure_stidi.py MODEL.npz DATA_DIR

Rebuilds the trainer's network from MODEL.ckpt.npz (shadow weights, thresholds, args),
runs its integer forward pass and the chip (Numba simulator) on the test split, and prints
one JSON line: accuracies, decision agreement, cycles, latency, energy."""

from __future__ import annotations

import json
import sys

import numpy as np


def main(model: str, data: str) -> None:
    import torch

    from neurochip.datasets import load_split
    from neurochip.description import load
    from neurochip.energy.model import energy_report, load_tech
    from neurochip.sim import simulate
    from neurochip.train import stidi_bp as S

    torch.set_num_threads(1)
    desc = load(model)
    ck = np.load(model.replace(".npz", ".ckpt.npz"))
    raw = ck["manifest"]  # uint8 JSON bytes (the shared checkpoint format) or, before it, a str
    meta = json.loads(raw.tobytes() if raw.dtype == np.uint8 else str(raw))
    a = meta["args"]
    x, y = load_split(data, "test")
    plans = S.layer_plans(S.same_padded(a["arch"]))  # the arch of older runs: 16c5 = 16c5p2
    net = S.TtfsNet(torch, plans, a["time_steps"], a["psp"], a["weight_bits"],
                    np.random.default_rng(0), 0.0, 1.0)
    for j, p in enumerate(plans):
        if p.kind != "pool":
            net.weights[j] = torch.tensor(ck[f"w{j}"])
    net.theta = meta["thresholds"]
    trainer = S.evaluate(net, S.latency_times(x, a["time_steps"]))
    r = simulate(desc, x.reshape(len(x), -1), progress=True)
    e = energy_report(desc, r.core_counters, r.chip_counters, load_tech())
    print(json.dumps({
        "model": model, "images": len(y), "trainer_accuracy": float((trainer == y).mean()),
        "chip_accuracy": float((r.predictions == y).mean()),
        "decisions_agree": float((trainer == r.predictions).mean()),
        "cycles_per_image": float(r.cycles.mean()),
        "latency_us": float(r.cycles.mean() / desc.clock_hz * 1e6),
        "energy_nj_per_image": float(e.total_pj.mean() / 1e3),
        "train_seconds": meta["train_seconds"]}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

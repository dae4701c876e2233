"""Record every shipped model's results on the shipped sample into
expected-sample-results.json (the regression lock of tests/test_shipped_models.py).

``python models/record_expected.py [NAME ...]``: with names (model stems, e.g.
``restocnet-mnist``), re-record only those entries and keep every other one as it is
(for a re-shipped model); without, re-record all (only right when the chip specification
changes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from neurochip.datasets import load_sample
from neurochip.description import description_files, load
from neurochip.sim import simulate

HERE = Path(__file__).resolve().parent
# models whose full-sample run is slow record (and test) only the first N sample images
LIMITS = {"restocnet-": 16, "bsnn-": 16, "plain-": 16}


def main(names: list[str]) -> None:
    images, labels = load_sample()
    out_file = HERE / "expected-sample-results.json"
    expected = json.loads(out_file.read_text()) if names else {}
    paths = description_files(HERE)
    unknown = set(names) - {p.stem for p in paths}
    if unknown:
        sys.exit(f"record_expected: no shipped model {sorted(unknown)} in {HERE}")
    for path in (p for p in paths if not names or p.stem in names):
        n = next((v for k, v in LIMITS.items() if path.stem.startswith(k)), len(images))
        res = simulate(load(path), images[:n])
        expected[path.stem] = {
            "images": int(n),
            "correct": int(np.sum(res.predictions == labels[:n])),
            "total_cycles": int(res.cycles.sum()),
            "total_sops": int(res.counter("synaptic_ops").sum()),
            "total_spikes": int(res.counter("spikes").sum()),
        }
    out_file.write_text(json.dumps(expected, indent=1) + "\n")
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])

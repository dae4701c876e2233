"""Float vs quantized accuracy of a shipped model on a dataset split, on the chip's own
LFSR-encoded inputs. usage: python models/measure.py MODEL_PREFIX DATA_DIR"""

from __future__ import annotations

import json
import sys

from neurochip.datasets import load_split
from neurochip.description import load
from neurochip.train.quantize import compare_accuracy, load_checkpoint


def main(prefix: str, data: str) -> None:
    images, labels = load_split(data, "test")
    acc = compare_accuracy(load_checkpoint(f"{prefix}.ckpt.npz"), load(f"{prefix}.npz"),
                           images, labels, data=f"{data} (test)")
    print(json.dumps(acc, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])

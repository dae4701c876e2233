#!/usr/bin/env bash
# Residual vs plain ReStoCNet over 3 seeds, in a smaller setting than the shipped recipe
# (300 STDP images per layer, 2,000 readout training images and 2 shifted copies of each
# instead of 7,000 and 4, the first 500 test images; the same 256-neuron hidden readout)
# so that the 6 runs fit this 2-core machine; prints one JSON line per run.
# usage: bash models/ablation_restoc.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
DATA=${1:-../shared/datasets/mnist}
OUT=${2:-/tmp/restoc-ablation}
mkdir -p "$OUT"
for seed in 0 1 2; do
  for res in residual no-residual; do
    neurochip train hb-stdp --data "$DATA" --out "$OUT/$res-$seed" --"$res" \
        --encoder rate_deterministic --t-win 1 --eta-dep 0.1 --target-rate 0.05 --stdp-images 300 \
        --train-images 2000 --test-images 500 --readout-epochs 60 --readout-decay 1e-4 \
        --hidden 256 --hidden-threshold 0.5 --augment-copies 2 \
        --seed "$seed" --threads 1 --no-progress --json | sed "s/^/$res seed $seed: /"
  done
done

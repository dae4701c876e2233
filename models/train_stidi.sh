#!/usr/bin/env bash
# STiDi-BP single-spike (ttfs) models: recipes exactly as run for models/README.md.
# Each trains on 1 torch thread; wall times are in models/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/datasets}
T="python -m neurochip train stidi-bp --threads 1 --seed 0"
CNN="--arch 16c5,p2,32c5,p2 --time-steps 16 --psp ramp --lr 3 --lr-decay 0.7 --batch 16"
run() { local out=$1; shift; /usr/bin/time -f "$out wall %e s" $T --out "models/$out" "$@"; }
run stidi-bp-mnist-binary  --data "$DATA/mnist" $CNN --weight-bits 1 --epochs 3
run stidi-bp-mnist-8bit    --data "$DATA/mnist" $CNN --weight-bits 8 --epochs 3
run stidi-bp-fmnist-binary --data "$DATA/fashion-mnist" $CNN --weight-bits 1 --epochs 2 --train-limit 12000
run stidi-bp-fmnist-8bit   --data "$DATA/fashion-mnist" $CNN --weight-bits 8 --epochs 2 --train-limit 12000
# the S4NN-style anchor: fully connected 784-400-10, instantaneous (step) PSP
run stidi-bp-mnist-fc-s4nn --data "$DATA/mnist" --arch 400 --time-steps 32 --psp step --lr 3 \
    --lr-decay 0.7 --batch 16 --weight-bits 8 --epochs 5

#!/usr/bin/env bash
# STiDi-BP single-spike (ttfs) models: recipes exactly as run for models/README.md.
# Each trains on 1 torch thread; wall times are in models/README.md. Every choice was made on
# the validation images (the last 1,000 training images, held out: --validation 1000), never
# on the test split. Usage: bash models/train_stidi.sh [MODEL ...] (default: all five).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/datasets}
T="python -m neurochip train stidi-bp --threads 1 --seed 0 --validation 1000"
CNN="--arch 16c5,p2,32c5,p2 --time-steps 16 --psp ramp --lr 3 --lr-decay 0.8 --batch 16"
# Fashion-MNIST: all 59,000 non-held-out images once, the learning rate decayed after every
# 7,000 images as on MNIST (where one epoch is 7,000 images)
FASHION="--data $DATA/fashion-mnist --epochs 1 --decay-every 7000"
run() { local out=$1; shift; /usr/bin/time -f "$out wall %e s" $T --out "models/$out" "$@"; }
declare -A RECIPE=(
  [stidi-bp-mnist-binary]="--data $DATA/mnist $CNN --weight-bits 1 --epochs 12"
  [stidi-bp-mnist-8bit]="--data $DATA/mnist $CNN --weight-bits 8 --epochs 12"
  [stidi-bp-fmnist-binary]="$FASHION $CNN --weight-bits 1"
  [stidi-bp-fmnist-8bit]="$FASHION $CNN --weight-bits 8"
  # the S4NN-style anchor: fully connected 784-400-10, instantaneous (step) PSP
  [stidi-bp-mnist-fc-s4nn]="--data $DATA/mnist --arch 400 --time-steps 64 --psp step --lr 3 --lr-decay 0.85 --batch 16 --weight-bits 8 --epochs 15"
)
ORDER=(stidi-bp-mnist-binary stidi-bp-mnist-8bit stidi-bp-fmnist-binary stidi-bp-fmnist-8bit
       stidi-bp-mnist-fc-s4nn)
for m in "${@:-${ORDER[@]}}"; do
  [[ -n "${RECIPE[$m]:-}" ]] || { echo "train_stidi.sh: unknown model $m; one of ${ORDER[*]}" >&2; exit 2; }
  # shellcheck disable=SC2086
  run "$m" ${RECIPE[$m]}
done

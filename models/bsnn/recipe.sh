#!/usr/bin/env bash
# Recipes of the BSNN conversion study (models/README.md, "ANN-to-SNN conversion"): run from
# the repository root; needs the [train] extra (torch) for the first step only.
# usage: bash models/bsnn/recipe.sh [DATA_ROOT]   (default ../shared/datasets)
set -euo pipefail
DATA=${1:-../shared/datasets}
export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1
for ds in fashion-mnist mnist; do
    short=${ds/fashion-mnist/fmnist}
    epochs=$([ "$ds" = mnist ] && echo 15 || echo 8)
    for arch in resnet vgg; do
        neurochip train ann --data "$DATA/$ds" --arch $arch --epochs $epochs --threads 1 \
            --out models/bsnn/ann-$short-$arch.npz
    done
done
# the shipped pair (percentile 99: chosen on training images 1000-1099, not the test split)
neurochip convert models/bsnn/ann-fmnist-resnet.npz --data "$DATA/fashion-mnist" --percentile 99 \
    --time-steps 128 --phase-steps 2 --plain models/plain-fmnist-resnet.npz \
    --bsnn models/bsnn-fmnist-resnet.npz
neurochip verify models/bsnn-fmnist-resnet.npz --data "$DATA/fashion-mnist" --images 2 \
    --simulator verilator
# accuracy / SIN / cycles / energy against T (the table and plot of models/README.md)
python -m neurochip.convert.sweep models/bsnn/ann-fmnist-resnet.npz --data "$DATA/fashion-mnist" \
    --images 300 --phase-steps 1,2 --percentile 99 --sin-images 30 \
    --out models/bsnn/fmnist-resnet.json --plot models/bsnn/fmnist-resnet.png
for pair in "mnist resnet" "fashion-mnist vgg" "mnist vgg"; do
    set -- $pair
    short=${1/fashion-mnist/fmnist}
    python -m neurochip.convert.sweep models/bsnn/ann-$short-$2.npz --data "$DATA/$1" \
        --images 200 --phase-steps 1,2 --percentile 99 --sin-images 20 \
        --out models/bsnn/$short-$2.json --plot models/bsnn/$short-$2.png
done

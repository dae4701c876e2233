#!/usr/bin/env bash
# Recipes of the BSNN conversion study (models/README.md, "ANN-to-SNN conversion"): run from
# the repository root; needs the [train] extra (torch) for the first step only.
# usage: bash models/bsnn/recipe.sh [DATA_ROOT]   (default ../shared/datasets)
set -euo pipefail
DATA=${1:-../shared/datasets}
export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1
# the shipped pair (percentile 99: chosen on training images 1000-1099, not the test split)
# and the ANN it converts, models/bsnn/ann-fmnist-resnet.npz: models/recipes.py
python models/recipes.py --data-root "$DATA" bsnn-fmnist-resnet
# the three other ANNs of the study
for pair in "mnist resnet" "fashion-mnist vgg" "mnist vgg"; do
    set -- $pair
    short=${1/fashion-mnist/fmnist}
    epochs=$([ "$1" = mnist ] && echo 15 || echo 8)
    neurochip train ann --data "$DATA/$1" --arch $2 --epochs $epochs --threads 1 \
        --out models/bsnn/ann-$short-$2
done
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

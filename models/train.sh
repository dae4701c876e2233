#!/usr/bin/env bash
# Recipes of the shipped models (run from the repository root; needs the [train] extra).
# usage: bash models/train.sh [DATA_DIR]     (default ../shared/datasets/mnist)
set -euo pipefail
DATA=${1:-../shared/datasets/mnist}
neurochip train ste-bp --data "$DATA" --out models/ste-bp-mnist-small \
    --mode discontinuous --hidden 64 --time-steps 4 --epochs 30 --lr 2e-3 --lr-decay 0.95 \
    --dropout 0.1 --augment-shift 2 --hinge-offset 1 --seed 0
neurochip train ste-bp --data "$DATA" --out models/ste-bp-mnist-default \
    --mode discontinuous --hidden 1024,1024 --time-steps 8 --epochs 100 --lr 2e-3 \
    --lr-decay 0.96 --dropout 0.3 --augment-shift 2 --hinge-offset 1 --seed 0
neurochip train ste-bp --data "$DATA" --out models/ste-bp-mnist-continuous \
    --mode continuous --hidden 256,256 --time-steps 8 --epochs 30 --lr 2e-3 --lr-decay 0.93 \
    --dropout 0.1 --augment-shift 2 --hinge-offset 1 --seed 0
# Convolutional: Yin et al.'s binary CNN widened to 32C5-MP2-128C5-MP2-512 (models/README.md);
# --threads 1: the run reproduces bit for bit (float reductions depend on the thread count)
neurochip train ste-bp --data "$DATA" --out models/ste-bp-mnist-cnn \
    --arch 32c5,p2,128c5,p2,512 --time-steps 8 --epochs 60 --lr 2e-3 --lr-decay 0.95 \
    --dropout 0.1 --augment-shift 2 --hinge-offset 1 --seed 0 --threads 1
# ReStoCNet (Srinivasan & Roy 2019): binary kernels by layer-wise HB-STDP, hidden IF fc + readout by BP
# (neurochip/train/hb_stdp.py; models/README.md "ReStoCNet"); residual and plain, same depth
RESTOC="--encoder rate_deterministic --t-win 1 --eta-dep 0.1 --target-rate 0.05 --stdp-images 500 \
    --readout-epochs 60 --readout-decay 1e-4 --hidden 256 --hidden-threshold 0.5 --augment-copies 4 \
    --validation-images 1000 --seed 0 --threads 1"
neurochip train hb-stdp --data "$DATA" --out models/restocnet-mnist $RESTOC
neurochip train hb-stdp --data "$DATA" --out models/restocnet-mnist-plain --no-residual $RESTOC
neurochip train hb-stdp --data "${DATA%/mnist}/fashion-mnist" --out models/restocnet-fmnist \
    --train-images 8000 --test-images 1000 $RESTOC

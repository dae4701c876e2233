"""`neurochip train`: the trainers of the papers neurochip implements."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a binary SNN (needs the [train] extra: torch)",
                       description="Train a network and write a float checkpoint plus the "
                                   "quantized core description.")
    trainers = p.add_subparsers(title="trainers", metavar="TRAINER")
    ste = trainers.add_parser("ste-bp", help="Yin et al. 2017: back-propagation with binary "
                                             "activations and a straight-through estimator "
                                             "(an MLP, or a CNN with --arch)")
    from neurochip.train import ste_bp

    ste_bp.add_arguments(ste)
    ste.set_defaults(func=ste_bp.run)
    stidi = trainers.add_parser("stidi-bp", help="Mirsadeghi et al.: single-spike (ttfs) "
                                "networks, layer-local updates from desired firing times; "
                                "the forward pass is the chip's (§6.1)")
    from neurochip.train import stidi_bp

    stidi_bp.add_arguments(stidi)
    stidi.set_defaults(func=stidi_bp.run)
    bs4 = trainers.add_parser("bs4nn", help="Kheradpisheh et al. 2021 (BS4NN), as the authors' "
                              "code has it: binary fc ttfs network, per-sample SGD in Numba; "
                              "the forward pass is the chip's (§6.1); no torch needed")
    from neurochip.train import bs4nn_cli

    bs4nn_cli.add_arguments(bs4)
    bs4.set_defaults(func=bs4nn_cli.run)

    ann = trainers.add_parser("ann", help="a ReLU network (VGG- or ResNet-style, batch norm) "
                                          "for ANN-to-SNN conversion with `neurochip convert`")
    from neurochip.convert import train_ann

    train_ann.add_arguments(ann)
    ann.set_defaults(func=train_ann.run)

    hb = trainers.add_parser("hb-stdp", help="Srinivasan & Roy 2019 (ReStoCNet): binary conv "
                                             "kernels by layer-wise unsupervised Hybrid-STDP, "
                                             "residual add, average-pool-IF, FC readout by "
                                             "back-propagation")
    from neurochip.train import hb_stdp

    hb_stdp.add_arguments(hb)
    hb.set_defaults(func=hb_stdp.run)

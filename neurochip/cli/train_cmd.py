"""`neurochip train`: the trainers of the papers neurochip implements, in one shell
(:mod:`neurochip.train.shell`: the common options, the split, the checks, the outputs)."""

from __future__ import annotations

import argparse
from functools import partial


def trainers() -> list:
    """Every trainer, in the order of ``neurochip train --help``."""
    from neurochip.train import bs4nn_cli, hb_stdp, relu_ann, ste_bp, stidi_bp

    return [ste_bp.TRAINER, stidi_bp.TRAINER, bs4nn_cli.TRAINER, relu_ann.TRAINER,
            hb_stdp.TRAINER]


def register(sub: argparse._SubParsersAction) -> None:
    from neurochip.train.shell import add_trainer_arguments, common_help, run_trainer

    p = sub.add_parser("train", help="train a binary SNN (needs the [train] extra: torch)",
                       description="Train a network and write the core description (and a "
                                   "float checkpoint where the trainer keeps one). Every "
                                   "trainer takes the common options below, with the same "
                                   "meaning; its own options follow in its --help.",
                       epilog=common_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub_trainers = p.add_subparsers(title="trainers", metavar="TRAINER")
    for trainer in trainers():
        parser = sub_trainers.add_parser(trainer.name, help=trainer.help, description=trainer.help)
        add_trainer_arguments(trainer, parser)
        parser.set_defaults(func=partial(run_trainer, trainer))

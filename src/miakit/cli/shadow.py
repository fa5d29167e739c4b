"""``miakit shadow``: classifier shadow-model experiments (``train``, then ``attack``).

The sub-verbs live one per module: :mod:`miakit.cli.shadow_train` and
:mod:`miakit.cli.shadow_attack`.
"""

from __future__ import annotations

import argparse
from typing import Any

from miakit.cli import shadow_attack, shadow_train

#: Sub-verb -> its module (``add_parser(sub)`` and ``main(args) -> exit code``).
SUBVERBS = {"train": shadow_train, "attack": shadow_attack}


def add_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "shadow",
        help="classifier membership inference with shadow models (train, attack)",
        description="Train shadow classifiers on random halves of a pool (`train`), then run "
        "LiRA, RMIA, offset, LOSS and label-only attacks with each model as the target in turn "
        "(`attack`). See docs/classifier-mia.md.",
    )
    inner = sp.add_subparsers(dest="shadow_command", required=True, metavar="SUBCOMMAND")
    for module in SUBVERBS.values():
        module.add_parser(inner)


def main(args: argparse.Namespace) -> int:
    return SUBVERBS[args.shadow_command].main(args)

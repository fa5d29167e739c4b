"""``miakit split``: split one corpus at random into members and non-members."""

from __future__ import annotations

import argparse
from typing import Any

from miakit.cli._types import integer, number

SPLIT_HELP = """\
Split one corpus at random into members and non-members, seeded and optionally stratified.

Drawing both sets from one corpus is the design that removes distribution shift: sets built
separately (e.g. texts from before and after a model's cut-off) differ in ways a model-free
classifier can see, and attacks then measure that difference, not membership (arXiv
2406.16201). The split is only meaningful BEFORE training: train on members.jsonl, and keep
nonmembers.jsonl out of all training data. Labels in INPUT are ignored.

Writes DIR/members.jsonl, DIR/nonmembers.jsonl and DIR/manifest.json (input sha256, fraction,
seed, counts, sha256 of the member ids)."""


def add_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "split",
        help="split one corpus at random into members and non-members (before training)",
        description=SPLIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("input", metavar="INPUT", help="corpus: .jsonl, .json, .csv, .parquet, folder")
    sp.add_argument("--out", required=True, metavar="DIR", help="output folder")
    sp.add_argument("--fraction", type=number(0.5), default=0.5, help="share of members (0.5)")
    sp.add_argument("--seed", type=integer(0), default=0, help="seed of the random split (0)")
    sp.add_argument("--stratify", metavar="COL", help="split each value of this column alike")
    sp.add_argument("--text-field", default="text", help="name of the text column (text)")
    sp.add_argument("--id-field", default="id", help="name of the id column (id)")
    sp.add_argument("--label-field", default="label", help="label column to ignore (label)")
    sp.add_argument("--overwrite", action="store_true", help="replace an existing split in DIR")


def main(args: argparse.Namespace) -> int:
    from miakit.data.split import write_split

    manifest = write_split(
        args.input,
        args.out,
        fraction=args.fraction,
        seed=args.seed,
        stratify=args.stratify,
        text_field=args.text_field,
        id_field=args.id_field,
        label_field=args.label_field,
        overwrite=args.overwrite,
    )
    c = manifest["counts"]
    print(
        f"split {c['total']} samples: {c['members']} members -> {args.out}/members.jsonl, "
        f"{c['nonmembers']} non-members -> {args.out}/nonmembers.jsonl "
        f"(manifest: {args.out}/manifest.json)\n"
        "Train on members.jsonl only and keep nonmembers.jsonl out of all training data."
    )
    return 0

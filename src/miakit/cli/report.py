"""``miakit report``: (re)write the HTML report of a run folder."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    rep = sub.add_parser("report", help="(re)write the HTML report of a run folder")
    rep.add_argument("dir", metavar="DIR", help="a run's output folder (holds metrics.json)")
    rep.add_argument("--out", metavar="FILE", help="report file (default: DIR/report.html)")


def main(args: argparse.Namespace) -> int:
    from miakit.report.html import write_report

    print(write_report(args.dir, out=args.out))
    return 0

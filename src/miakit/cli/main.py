"""``miakit``: the command line. One module per verb (:mod:`miakit.cli.run`, ``demo``,
``report``, ``split``, ``list``); no logic lives here.

Exit codes: 0 success, 2 usage or input error (message on stderr, no traceback), 1 an
unexpected failure (with traceback: please report it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from miakit._core.version import __version__
from miakit.cli import collection_test, dataset_inference, demo, report, run, shadow, split
from miakit.cli import list as list_
from miakit.cli.flags import preload
from miakit.errors import InvalidParameterError, MiakitError

#: Verb -> its module (``add_parser(sub)`` and ``main(args) -> exit code``).
VERBS = {"run": run, "demo": demo, "report": report, "split": split, "list": list_}
VERBS["dataset-inference"] = dataset_inference
VERBS["shadow"] = shadow
VERBS["collection-test"] = collection_test


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miakit",
        description="Membership inference attacks: was this data used to train this model?",
    )
    parser.add_argument("--version", action="version", version=f"miakit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in VERBS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # plugins and input providers first: the settings they declare get flags
        preload(argv)
    except MiakitError as exc:
        print(f"miakit: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command not in VERBS:
            raise InvalidParameterError(f"unknown command {args.command!r}")
        return VERBS[args.command].main(args)
    except MiakitError as exc:
        print(f"miakit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("miakit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``miakit collection-test``: was this collection of documents, as a whole, trained on?

Flags and printing only: the work is :func:`miakit.setinference.collection_test`
(``miakit.collection_test``), which prints nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miakit.cli._types import number
from miakit.cli.dataset_inference import RUN_FLAGS as _DI_FLAGS
from miakit.cli.flags import add_run_flags, values_of

if TYPE_CHECKING:
    from miakit.inference.collection import CollectionResult

#: Run settings that ``collection-test`` accepts as flags (the others: ``--config``): those
#: of ``dataset-inference``, the assumption check's (``--blind-alpha``, ...) included.
RUN_FLAGS = _DI_FLAGS

HELP = """\
Collection test (arXiv 2411.00154): was the COLLECTION of documents, as a whole, trained on?

MEMBERS and NONMEMBERS are labelled reference documents: texts known to be in the model's
training data and texts known not to be, from the same distribution as the collection (same
source, period and format). Every attack scores the three sets; a combiner is fitted on part
of the reference, and the collection's combined scores are compared with those of the
held-out reference non-members by a one-sided Mann-Whitney U test. The p-value is valid when
the reference non-members are distributed like the collection in all but membership. First,
model-free blind baselines and an overlap check test that assumption: when they tell the
collection from the reference non-members, the verdict is 'withheld'. Verdicts: member
(p <= alpha), not_detected, withheld. See docs/dataset-inference.md."""


def add_parser(sub: Any) -> None:
    """The ``collection-test`` subcommand and its flags."""
    p = sub.add_parser(
        "collection-test",
        help="was this collection of documents trained on? (a U test against known non-members)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--collection", required=True, metavar="FILE", help="the documents to test")
    p.add_argument(
        "--members", dest="ct_members", required=True, metavar="FILE",
        help="reference documents known to be members",
    )  # fmt: skip
    p.add_argument(
        "--nonmembers", dest="ct_nonmembers", required=True, metavar="FILE",
        help="reference documents known to be non-members, like the collection",
    )  # fmt: skip
    p.add_argument("--out", dest="ct_out", metavar="DIR", help="write collection_test.json here")
    p.add_argument(
        "--scores", dest="ct_scores", metavar="FILE",
        help="reuse attack scores (a scores.parquet with an id column) instead of a model",
    )  # fmt: skip
    p.add_argument(
        "--alpha", dest="ct_alpha", metavar="A", type=number(0.01), default=0.01,
        help="level (0.01)",
    )  # fmt: skip
    p.add_argument(
        "--holdout", dest="ct_holdout", metavar="SHARE", type=number(0.5), default=0.5,
        help="share of the reference held out from the combiner's fit (0.5)",
    )  # fmt: skip
    add_run_flags(p, RUN_FLAGS)


def main(args: argparse.Namespace) -> int:
    from miakit.cli._echo import terminal_progress
    from miakit.config import load_yaml

    base = load_yaml(args.config) if args.config else {}
    fields = values_of(args)
    bars = bool(fields.pop("progress", base.get("progress", True)))
    model = fields.pop("model", None)
    from miakit.setinference.collection import run_collection_test

    result, scoring = run_collection_test(
        collection=args.collection,
        members=args.ct_members,
        nonmembers=args.ct_nonmembers,
        model=model,
        scores=args.ct_scores,
        out=args.ct_out,
        alpha=args.ct_alpha,
        holdout=args.ct_holdout,
        config=base,
        scorers=None,
        progress=terminal_progress(bars),
        **fields,
    )
    print_result(result, scoring, args.ct_out)
    return 0


def print_result(result: CollectionResult, scoring: dict[str, Any], out: str | None) -> None:
    """The verdict and its numbers on stdout, run warnings on stderr."""
    print(f"verdict: {result.verdict}  (alpha = {result.alpha:g})")
    if result.p_value is None or result.score is None or result.reference_auroc is None:
        print(f"reason: {result.reason}")  # withheld: nothing was tested
        if out is not None:
            print(f"written to {Path(out) / 'collection_test.json'}")
        return
    n_c, n_n = result.n_collection, result.n_heldout_nonmembers
    print(f"p-value: {result.p_value:.3g}  (one-sided Mann-Whitney U, {n_c} collection "
          f"documents vs {n_n} held-out non-members)")  # fmt: skip
    print(f"U score: {result.score:.3f}  (U = {result.u_statistic:g}; 0.5: no difference)")
    print(f"reference AUROC: {result.reference_auroc:.3f}  ({result.n_heldout_members} "
          f"held-out members vs {result.n_heldout_nonmembers} non-members)")  # fmt: skip
    print(f"reason: {result.reason}")
    for warning in scoring.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if out is not None:
        print(f"written to {Path(out) / 'collection_test.json'}")


__all__ = ["add_parser", "main", "print_result"]

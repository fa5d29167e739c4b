"""``miakit dataset-inference``: was this set of texts used to train the model?

Flags and printing only: the work is :func:`miakit.setinference.dataset_inference`
(``miakit.dataset_inference``), which prints nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miakit.cli._types import integer, number
from miakit.cli.flags import add_run_flags, values_of

if TYPE_CHECKING:
    from miakit.inference import DatasetInferenceResult

#: Run settings that ``dataset-inference`` accepts as flags (the others: ``--config``).
RUN_FLAGS = (
    "attacks",
    "max_length",
    "batch_tokens",
    "device",
    "dtype",
    "bos",
    "allow_pickle",
    "trust_remote_code",
    "cache_dir",
    "no_cache",
    "progress",
    "text_field",
    "id_field",
    "seed",
    "aux_nonmembers",
    "frequency_corpus",
    "fill_mask_model",
    "doc_window",
    "doc_stride",
    "blind_permutations",
    "blind_alpha",
    "overlap_warn_fraction",
)

HELP = """\
Dataset inference (arXiv 2406.06443): were the SUSPECT texts used to train the model?

VALIDATION must hold texts known NOT to be in the training data, drawn from the same
distribution as the suspect texts (same source, period and format). Every attack scores both
sets; a linear combiner fitted on part of the texts scores the rest, and a permutation test
(the combiner refitted on every permutation of the set labels) gives a p-value that is valid at
any sample size. First, model-free blind baselines and an overlap check test the assumption:
when they tell the sets apart, the verdict is 'withheld'. Verdicts: member (p <= alpha),
not_detected, withheld. See docs/dataset-inference.md."""


def add_parser(sub: Any) -> None:
    """The ``dataset-inference`` subcommand and its flags."""
    p = sub.add_parser(
        "dataset-inference",
        help="was this set of texts used to train the model? (a verdict with a p-value)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--suspect", required=True, metavar="FILE", help="the suspect texts")
    p.add_argument(
        "--validation", required=True, metavar="FILE", help="known non-members, same distribution"
    )
    p.add_argument("--out", dest="di_out", metavar="DIR", help="write dataset_inference.json here")
    p.add_argument(
        "--scores",
        dest="di_scores",
        metavar="FILE",
        help="reuse attack scores (a scores.parquet with an id column) instead of a model",
    )
    p.add_argument(
        "--alpha",
        dest="di_alpha",
        metavar="A",
        type=number(0.01),
        default=0.01,
        help="level (0.01)",
    )
    p.add_argument(
        "--permutations", dest="di_permutations", metavar="N", type=integer(999), default=999,
        help="label permutations of the test (999)",
    )  # fmt: skip
    p.add_argument(
        "--folds",
        dest="di_folds",
        metavar="K",
        type=integer(5),
        default=5,
        help="cross-fit folds (5)",
    )
    p.add_argument(
        "--power-repeats", dest="di_power_repeats", metavar="N", type=integer(5), default=5,
        help="draws per size of the p-vs-number-of-texts curve (5; 0: none)",
    )  # fmt: skip
    p.add_argument(
        "--ci-resamples", dest="di_resamples", metavar="N", type=integer(200), default=200,
        help="bootstrap resamples of the effect-size interval (200; 0: none)",
    )  # fmt: skip
    add_run_flags(p, RUN_FLAGS)


def main(args: argparse.Namespace) -> int:
    from miakit.cli._echo import terminal_progress
    from miakit.config import load_yaml

    base = load_yaml(args.config) if args.config else {}
    fields = values_of(args)
    bars = bool(fields.pop("progress", base.get("progress", True)))
    model = fields.pop("model", None)
    from miakit.setinference import dataset_inference

    result = dataset_inference(
        suspect=args.suspect,
        validation=args.validation,
        model=model,
        scores=args.di_scores,
        out=args.di_out,
        alpha=args.di_alpha,
        n_permutations=args.di_permutations,
        n_folds=args.di_folds,
        power_repeats=args.di_power_repeats,
        n_resamples=args.di_resamples,
        config=base,
        progress=terminal_progress(bars),
        **fields,
    )
    print_result(result, args.di_out)
    return 0


def print_result(result: DatasetInferenceResult, out: str | None) -> None:
    """The verdict and its numbers on stdout, run warnings on stderr."""
    print(f"verdict: {result.verdict}  (alpha = {result.alpha:g})")
    if result.p_value is not None:
        e = result.effect
        ci = e.get("auroc_ci")
        ci_text = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        m = result.method["n_permutations"]
        print(f"p-value: {result.p_value:.3g}  (permutation test, {m} permutations; "
              f"held-out AUROC {e['auroc']:.3f}{ci_text})")  # fmt: skip
    print(f"reason: {result.reason}")
    if result.power:
        print("texts per set -> median p (share of draws with p <= alpha):")
        for row in result.power:
            print(f"  {row['n_per_set']:>6}  {row['median_p']:.3g}  ({row['detected']:.0%})")
    for warning in result.scoring.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if out is not None:
        print(f"written to {Path(out) / 'dataset_inference.json'}")


__all__ = ["add_parser", "main", "print_result"]

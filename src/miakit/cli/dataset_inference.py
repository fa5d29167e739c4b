"""``miakit dataset-inference``: was this set of texts used to train the model?

Also the Python API :func:`dataset_inference` (``miakit.dataset_inference``): the same steps,
printing nothing. It lives here, the one layer above both the run (:mod:`miakit.pipeline`)
and the blind baselines (:mod:`miakit.blind`) that it composes; the statistics are
:mod:`miakit.inference` and nothing of them is re-implemented here. The steps:

1. load the suspect and validation texts (any label column is ignored: the flag gives the
   role) and check their counts and ids; the unit of the test is a document (a text, or
   the texts sharing a ``doc_id``, or the token windows of ``--doc-window``:
   :mod:`miakit.cli._dataset_inference_io`);
2. the model-free checks of the assumption (:mod:`miakit.inference.assumptions`): the blind
   baselines' family-wise permutation test and the overlap check, suspect vs validation;
   when they tell the sets apart the verdict is ``withheld`` and no model is loaded;
3. the features: every attack of :func:`miakit.run` on both sets (suspect texts in the
   members' slot, validation texts in the non-members', internally only: no membership
   metric is reported or written), aggregated per document when documents have several
   texts, or the columns of an earlier ``scores.parquet`` or ``documents.parquet``
   (``--scores``);
4. the test (:func:`miakit.inference.dataset_inference_from_features`);
5. with ``--out DIR``: ``DIR/dataset_inference.json`` and ``DIR/scores.parquet`` (per
   document: id, set, fold, combined held-out score, every feature).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
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


def dataset_inference(
    *,
    suspect: str | os.PathLike[str],
    validation: str | os.PathLike[str],
    model: str | None = None,
    scores: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    alpha: float = 0.01,
    n_permutations: int = 999,
    n_folds: int = 5,
    power_repeats: int = 5,
    n_resamples: int = 200,
    config: Any = None,
    scorers: Any = None,
    progress: Any = False,
    **run_fields: Any,
) -> DatasetInferenceResult:
    """Dataset inference from files: the checks, the attacks and the test; prints nothing.

    Args:
        suspect, validation: files of texts (any format ``miakit run`` reads).
        model: the target model (a folder or GGUF), as ``miakit.run(model=...)``; or
            ``scorers={"target": scorer}``; not with ``scores``.
        scores: a Parquet (or CSV) file with an ``id`` (or ``doc_id``) column and one
            column per feature, covering every suspect and validation document once: an
            earlier ``scores.parquet``, or a run's ``documents.parquet``.
        out: folder for ``dataset_inference.json``, ``dataset_inference.html`` and
            ``scores.parquet`` (None: no files); checked writable before anything runs.
        alpha, n_permutations, n_folds, power_repeats, n_resamples: of the test
            (:func:`miakit.inference.dataset_inference_from_features`).
        config: a :class:`~miakit.config.RunConfig` or dict of run settings (attacks,
            max_length, seed, blind_permutations, blind_alpha, overlap_warn_fraction, ...).
        scorers, progress: as :func:`miakit.run`.
        **run_fields: more run settings, overriding ``config``.

    Returns:
        A :class:`~miakit.inference.DatasetInferenceResult`.

    Raises:
        MiakitError: bad inputs or options, with a message naming the fix.
    """
    from miakit.blind import evaluation_integrity
    from miakit.cli._dataset_inference_io import (
        check_score_source,
        features_table,
        load_sets,
        scoring_settings,
        units,
        write_outputs,
    )
    from miakit.inference import MIN_TEXTS, ShiftCheck, dataset_inference_from_features
    from miakit.inference.combiner import CLIP_QUANTILE
    from miakit.inference.dataset import check_options
    from miakit.inference.features import check_counts
    from miakit.inference.verdict import method_record, withheld_result

    check_score_source(
        model, scorers, scores, reuse="a scores.parquet of an earlier run on the same texts"
    )
    check_options(alpha=alpha, n_permutations=n_permutations, n_folds=n_folds, clip=CLIP_QUANTILE)
    _, run_config = scoring_settings(config, run_fields, model, suspect, validation, out)
    samples = load_sets(suspect, validation, run_config)
    _, sets, _ = units(samples, chunked=run_config.doc_window is not None)
    n_s = sets.count("suspect")  # documents (a text, or the texts sharing a doc_id)
    n_v = len(sets) - n_s
    check_counts(n_s, n_v, min_texts=MIN_TEXTS)
    integrity = evaluation_integrity(
        samples,
        blind=True,
        seed=run_config.seed,
        n_resamples=200,
        n_permutations=run_config.blind_permutations,
        alpha=run_config.blind_alpha,
        overlap_warn_fraction=run_config.overlap_warn_fraction,
    )
    shift = ShiftCheck.from_sections(
        integrity.sections.get("blind_summary"),
        integrity.sections.get("overlap"),
        max_overlap_fraction=run_config.overlap_warn_fraction,
    )
    record = method_record(
        n_permutations=n_permutations, n_folds=n_folds, clip=CLIP_QUANTILE, seed=run_config.seed
    )
    if shift.withhold_reason() is not None:  # no model is loaded for a withheld verdict
        result = withheld_result(shift, alpha=alpha, method=record, n_suspect=n_s, n_validation=n_v)
        table = None
    else:
        table, scoring = features_table(samples, scores, run_config, scorers, progress)
        feats = table.drop(columns=["id", "set"])
        is_s = (table["set"] == "suspect").to_numpy()
        result = dataset_inference_from_features(
            feats[is_s],
            feats[~is_s],
            suspect_ids=list(table["id"][is_s]),
            validation_ids=list(table["id"][~is_s]),
            alpha=alpha,
            n_permutations=n_permutations,
            n_folds=n_folds,
            seed=run_config.seed,
            shift=shift,
            n_resamples=n_resamples,
            power_repeats=power_repeats,
        )
        result = dataclasses.replace(result, scoring=scoring)
    if out is not None:
        write_outputs(Path(out), result, table, to_json(result))
    return result


def main(args: argparse.Namespace) -> int:
    from miakit.cli._echo import terminal_progress
    from miakit.config import load_yaml

    base = load_yaml(args.config) if args.config else {}
    fields = values_of(args)
    bars = bool(fields.pop("progress", base.get("progress", True)))
    model = fields.pop("model", None)
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


def to_json(result: DatasetInferenceResult) -> str:
    """``dataset_inference.json``'s text (NaN written as null)."""
    return result.to_json()


__all__ = ["add_parser", "dataset_inference", "main", "to_json"]

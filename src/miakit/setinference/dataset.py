"""Dataset inference from files: was this set of texts used to train the model?

:func:`dataset_inference` (``miakit.dataset_inference``) composes the layers below: the run
(:mod:`miakit.pipeline`) scores the texts, the blind baselines (:mod:`miakit.blind`) check the
assumption, the statistics are :mod:`miakit.inference` (nothing of them is re-implemented
here) and the page is :mod:`miakit.report`. It prints nothing; ``miakit dataset-inference``
(:mod:`miakit.cli.dataset_inference`) parses the flags and prints. The steps:

1. load the suspect and validation texts (any label column is ignored: the argument gives
   the role) and check their counts and ids; the unit of the test is a document (a text, or
   the texts sharing a ``doc_id``, or the token windows of ``doc_window``:
   :mod:`miakit.setinference._io`);
2. the model-free checks of the assumption (:mod:`miakit.inference.assumptions`): the blind
   baselines' family-wise permutation test and the overlap check, suspect vs validation;
   when they tell the sets apart the verdict is ``withheld`` and no model is loaded;
3. the features: every attack of :func:`miakit.run` on both sets (suspect texts in the
   members' slot, validation texts in the non-members', internally only: no membership
   metric is reported or written), aggregated per document when documents have several
   texts, or the columns of an earlier ``scores.parquet`` or ``documents.parquet``
   (``scores``);
4. the test (:func:`miakit.inference.dataset_inference_from_features`);
5. with ``out``: ``out/dataset_inference.json``, ``out/dataset_inference.html`` and
   ``out/scores.parquet`` (per document: id, set, fold, combined held-out score, every
   feature).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from miakit.inference import DatasetInferenceResult

__all__ = ["dataset_inference"]


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
    from miakit.inference import MIN_TEXTS, ShiftCheck, dataset_inference_from_features
    from miakit.inference.combiner import CLIP_QUANTILE
    from miakit.inference.dataset import check_options
    from miakit.inference.features import check_counts
    from miakit.inference.verdict import method_record, withheld_result
    from miakit.setinference._io import (
        check_score_source,
        features_table,
        load_sets,
        scoring_settings,
        units,
        write_outputs,
    )

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
        write_outputs(Path(out), result, table)
    return result

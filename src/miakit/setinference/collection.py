"""The collection test from files: was this collection of documents, as a whole, trained on?

:func:`collection_test` (``miakit.collection_test``) prints nothing; ``miakit collection-test``
(:mod:`miakit.cli.collection_test`) parses the flags and prints. The statistics are
:func:`miakit.inference.collection_test` (Puerto et al., "Scaling Up Membership Inference",
arXiv 2411.00154); nothing of them is re-implemented here. The steps:

1. load the collection and the labelled reference members and non-members (any label column
   of the files is ignored: the argument gives the role; :func:`miakit.setinference._io.
   load_named`), check the ids, that no text is in two of the sets, and the reference counts;
2. the assumption check, without the model, as dataset inference checks suspect against
   validation texts: the blind baselines' family-wise permutation test and the overlap check,
   collection against reference non-members (:func:`miakit.blind.evaluation_integrity`,
   :class:`~miakit.inference.ShiftCheck`). When they tell the two apart, the verdict is
   ``withheld``, naming the baseline and its p-value, and no model is loaded;
3. the features: every attack of one :func:`miakit.run` over the three sets, aggregated per
   document when documents have several texts (the helpers of dataset inference), or the
   columns of an earlier ``scores.parquet`` (``scores``); label-fitted columns
   (``learned:*``, ``blind:*``) are never features;
4. the test: a combiner fitted on part of the reference, the collection's scores against the
   held-out reference non-members' by a one-sided Mann–Whitney U test;
5. with ``out``: ``out/collection_test.json`` and, when features were computed,
   ``out/scores.parquet`` (per document: id, set, every feature; ``scores`` reads it back).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from miakit.data import SampleSet
    from miakit.inference.collection import CollectionResult

#: The set of each document in the tables and files.
SETS = ("collection", "member", "nonmember")

__all__ = ["SETS", "collection_test", "run_collection_test", "to_dict"]


def collection_test(
    *,
    collection: str | os.PathLike[str],
    members: str | os.PathLike[str],
    nonmembers: str | os.PathLike[str],
    model: str | None = None,
    scores: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    alpha: float = 0.01,
    holdout: float = 0.5,
    config: Any = None,
    scorers: Any = None,
    progress: Any = False,
    **run_fields: Any,
) -> CollectionResult:
    """The collection test from files: the attacks and the U test; prints nothing.

    Args:
        collection: file of the documents under test (any format ``miakit run`` reads).
        members, nonmembers: files of reference documents known to be members and known to
            be non-members of the model's training data.
        model: the target model, as ``miakit.run(model=...)``; or ``scorers={"target":
            scorer}``; not with ``scores``.
        scores: a Parquet (or CSV) file with an ``id`` (or ``doc_id``) column and one column
            per feature, covering every document of the three sets once (the
            ``scores.parquet`` this function writes to ``out``).
        out: folder for ``collection_test.json`` and ``scores.parquet`` (None: no files).
        alpha, holdout: of the test (:func:`miakit.inference.collection_test`).
        config: a :class:`~miakit.config.RunConfig` or dict of run settings (attacks,
            max_length, seed, and the assumption check's blind_permutations, blind_alpha,
            overlap_warn_fraction, ...).
        scorers, progress: as :func:`miakit.run`.
        **run_fields: more run settings, overriding ``config``.

    Returns:
        A :class:`~miakit.inference.collection.CollectionResult`.

    Raises:
        MiakitError: bad inputs or options, with a message naming the fix.
    """
    return run_collection_test(
        collection=collection, members=members, nonmembers=nonmembers, model=model,
        scores=scores, out=out, alpha=alpha, holdout=holdout, config=config,
        scorers=scorers, progress=progress, **run_fields,
    )[0]  # fmt: skip


def run_collection_test(
    *,
    collection: Any,
    members: Any,
    nonmembers: Any,
    model: str | None,
    scores: Any,
    out: Any,
    alpha: float,
    holdout: float,
    config: Any,
    scorers: Any,
    progress: Any,
    **run_fields: Any,
) -> tuple[CollectionResult, dict[str, Any]]:
    """:func:`collection_test` and the scoring record (models, warnings, excluded columns)."""
    from miakit.config import make_config
    from miakit.data import Label
    from miakit.inference.collection import collection_test as test
    from miakit.inference.collection import withheld_result
    from miakit.setinference._io import (
        check_score_source,
        features_table,
        load_named,
        scoring_settings,
    )

    check_score_source(
        model,
        scorers,
        scores,
        reuse="the scores.parquet of an earlier collection test on the same files",
    )
    _check_options(alpha, holdout)
    settings, user_config = scoring_settings(config, run_fields, model, members, nonmembers, out)
    roles = dict(zip((Label.UNKNOWN, Label.MEMBER, Label.NONMEMBER), SETS, strict=True))
    files = {"collection": (collection, Label.UNKNOWN)}
    files |= {"reference member": (members, Label.MEMBER)}
    files |= {"reference non-member": (nonmembers, Label.NONMEMBER)}
    samples = load_named(files, user_config)
    _check_disjoint(samples, roles)
    n = _check_counts(samples, roles, chunked=user_config.doc_window is not None)
    shift = _shift_check(samples, user_config)
    if shift.withhold_reason() is not None:  # no model is loaded for a withheld verdict
        result = withheld_result(
            shift, alpha=alpha, n_collection=n["collection"], n_members=n["member"],
            n_nonmembers=n["nonmember"], holdout=holdout,
        )  # fmt: skip
        if out is not None:
            _write(Path(out), result, None, {})
        return result, {}
    if scores is not None:
        table, scoring = features_table(samples, scores, user_config, None, progress, roles)
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="miakit-collection-") as tmp:
            run_config = make_config({**settings, **_one_file(samples, Path(tmp))})
            table, scoring = features_table(samples, None, run_config, scorers, progress, roles)
    feats = table.drop(columns=["id", "set"])
    which = table["set"].to_numpy()
    result = test(
        feats[which == "collection"],
        feats[which == "member"],
        feats[which == "nonmember"],
        holdout=holdout,
        alpha=alpha,
        seed=user_config.seed,
        shift=shift,
    )
    if out is not None:
        _write(Path(out), result, table, scoring)
    return result, scoring


def _shift_check(samples: SampleSet, config: Any) -> Any:
    """The blind baselines and the overlap check, collection (as "members") against the
    reference non-members, read into a :class:`~miakit.inference.ShiftCheck`."""
    import dataclasses

    from miakit.blind import evaluation_integrity
    from miakit.data import Label, SampleSet
    from miakit.inference import ShiftCheck
    from miakit.inference.collection import SETS as NAMES

    pair = SampleSet.of([
        dataclasses.replace(s, label=Label.MEMBER) if s.label is Label.UNKNOWN else s
        for s in samples if s.label is not Label.MEMBER
    ])  # fmt: skip
    integrity = evaluation_integrity(
        pair,
        blind=True,
        seed=config.seed,
        n_resamples=200,
        n_permutations=config.blind_permutations,
        alpha=config.blind_alpha,
        overlap_warn_fraction=config.overlap_warn_fraction,
    )
    return ShiftCheck.from_sections(
        integrity.sections.get("blind_summary"),
        integrity.sections.get("overlap"),
        max_overlap_fraction=config.overlap_warn_fraction,
        sets=NAMES,
    )


def _check_options(alpha: Any, holdout: Any) -> None:
    from miakit.errors import InvalidParameterError

    for name, v, eg in (("alpha", alpha, "0.01"), ("holdout", holdout, "0.5")):
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
            raise InvalidParameterError(f"--{name} must be a number in (0, 1), e.g. {eg}; got {v}.")


def _check_disjoint(samples: SampleSet, roles: dict[Any, str]) -> None:
    """No text in two of the sets: a document cannot be both under test and a reference."""
    from miakit.errors import DataError

    seen: dict[str, Any] = {}
    clashes = []
    for s in samples:
        first = seen.setdefault(s.text, s)
        if first.label is not s.label:
            clashes.append(f"{first.id!r} ({roles[first.label]}) = {s.id!r} ({roles[s.label]})")
    if clashes:
        raise DataError(
            f"{len(clashes)} text(s) are in two of the collection, reference member and "
            f"reference non-member files: {clashes[:5]}. A text belongs to one set: remove "
            "it from all but one file."
        )


def _check_counts(samples: SampleSet, roles: dict[Any, str], *, chunked: bool) -> dict[str, int]:
    """Documents per set; at least one collection document and MIN_REFERENCE reference
    documents of each label, before any model loads."""
    from miakit.errors import DataError
    from miakit.inference.collection import MIN_REFERENCE
    from miakit.setinference._io import units

    _, sets, _ = units(samples, chunked=chunked, roles=roles)
    n = {k: sets.count(k) for k in SETS}
    if n["collection"] == 0:
        raise DataError("--collection has no documents: give at least one document to test.")
    small = [f"{n[k]} {k}s" for k in SETS[1:] if n[k] < MIN_REFERENCE]
    if small:
        raise DataError(
            f"the collection test needs at least {MIN_REFERENCE} reference documents of each "
            f"kind (--members and --nonmembers; part of each is held out); got "
            f"{' and '.join(small)}. Add labelled reference documents."
        )
    return n


def _one_file(samples: SampleSet, folder: Path) -> dict[str, Any]:
    """The three sets as one labelled JSON Lines file (collection texts ``unknown``) and
    the run settings that read it: one run scores them all."""
    import json

    path = folder / "texts.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for s in samples:
            row = {"id": s.id, "text": s.text, "label": s.label.value}
            if s.doc_id is not None:
                row["doc_id"] = s.doc_id
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    names = {"text_field": "text", "id_field": "id", "label_field": "label"}
    return {"data": str(path), "members": None, "nonmembers": None, **names} | {
        "blind": False, "allow_overlap": True, "doc_combiner": False,
    }  # fmt: skip


def to_dict(result: CollectionResult, scoring: dict[str, Any]) -> dict[str, Any]:
    """``collection_test.json``'s content."""
    return {**result.to_dict(), "features": list(result.weights), "scoring": scoring}


def _write(folder: Path, result: CollectionResult, table: Any, scoring: dict[str, Any]) -> None:
    import json
    import math

    from miakit._core.io import atomic_path, atomic_write_text

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(clean(to_dict(result, scoring)), indent=2, allow_nan=False) + "\n"
    atomic_write_text(folder / "collection_test.json", text)
    if table is not None:
        with atomic_path(folder / "scores.parquet") as tmp:
            table.to_parquet(tmp, index=False)

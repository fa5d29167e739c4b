"""Inputs and outputs of set-level inference: the sets, their features, the output files.

The unit of the test is a document: a text, or the texts that share a ``doc_id`` (rows of the
input, or the token windows of ``--doc-window``). Texts of one document are not independent
draws, so they are never tested as separate rows; their attack scores are aggregated per
document (:func:`miakit.pipeline.documents.documents_frame`: mean, min, max, quantiles of
each attack over the document's chunks) and each aggregate is a feature. Without shared
``doc_id`` and without ``--doc-window``, each text is its own document and the features are
the attack scores themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from miakit.data import Label, SampleSet, load_samples
from miakit.errors import DataError
from miakit.inference import DatasetInferenceResult
from miakit.inference.features import NON_FEATURES

#: A label column that no input has: the role of a text comes from --suspect/--validation,
#: so a label column in either file is kept as metadata and never conflicts with the role.
IGNORED_LABEL = "\x00miakit-dataset-inference-ignores-labels"
#: Columns of a documents table that are not features.
DOC_NON_FEATURES = ("doc_id", "n_chunks")
#: Prefixes of columns fitted on member/non-member labels (the document classifiers'
#: ``learned:*``, old folders' ``blind:*`` out-of-fold scores): never features. Such a column
#: carries the labels under test outside the permutations, and the p-value would be invalid
#: (under the null, 33% rejections at alpha = 0.01 instead of 1%).
LABEL_FITTED = ("learned:", "blind:")
#: The set of a text by its (internal) label in dataset inference.
SUSPECT_VALIDATION = {
    Label.MEMBER: "suspect",
    Label.NONMEMBER: "validation",
    Label.UNKNOWN: "validation",
}


def check_score_source(model: Any, scorers: Any, scores: Any, *, reuse: str) -> None:
    """Exactly one source of attack scores: a model (or in-memory ``scorers``) or ``--scores``
    (``reuse``: what such a file is, for the message)."""
    from miakit.errors import InvalidParameterError

    if (model is not None or scorers) and scores is not None:
        raise InvalidParameterError(
            "give a model (--model) to score the texts, or --scores to reuse earlier attack "
            "scores, not both."
        )
    if model is None and not scorers and scores is None:
        raise InvalidParameterError(
            "no scores: pass --model PATH to score the texts with the attacks, or --scores "
            f"FILE ({reuse})."
        )


def scoring_settings(
    config: Any,
    run_fields: Mapping[str, Any],
    model: Any,
    members: Any,
    nonmembers: Any,
    out: Any,
) -> tuple[dict[str, Any], Any]:
    """``(settings, run_config)``: the user's run settings (``config`` merged with
    ``run_fields`` and ``model``) and the run over ``members``/``nonmembers`` that scores
    them, every setting checked before any work. Forced: labels come from the files' roles,
    no blind baselines (the caller runs its own checks), overlaps allowed, and no
    label-fitted document scores (never features). ``out`` is checked writable."""
    from miakit.config import RunConfig, make_config, merge

    base = config.to_dict() if isinstance(config, RunConfig) else dict(config or {})
    settings = merge(base, {**run_fields, **({"model": model} if model is not None else {})})
    forced: dict[str, Any] = {"members": str(members), "nonmembers": str(nonmembers)}
    forced |= {"data": None, "label_field": IGNORED_LABEL, "blind": False}
    forced |= {"allow_overlap": True, "doc_combiner": False}
    run_config = make_config({**settings, **forced})
    if out is not None:
        from miakit.pipeline.outputs import check_writable

        check_writable(Path(out))
    return settings, run_config


def load_sets(suspect: Any, validation: Any, config: Any) -> SampleSet:
    """The two sets as one :class:`SampleSet`, suspect texts labelled member (internally)."""
    return load_named(
        {"suspect": (suspect, Label.MEMBER), "validation": (validation, Label.NONMEMBER)}, config
    )


def load_named(files: Mapping[str, tuple[Any, Label]], config: Any) -> SampleSet:
    """The sets ``{name: (path, label)}`` as one :class:`SampleSet`, in that order, each text
    labelled as given (any label column of the files is ignored); ids must differ between
    the sets."""
    loaded = {
        name: load_samples(
            path,
            label=label,
            text_field=config.text_field,
            id_field=config.id_field,
            label_field=IGNORED_LABEL,
        )
        for name, (path, label) in files.items()
    }
    names = list(loaded)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = sorted({x.id for x in loaded[a]} & {x.id for x in loaded[b]})
            if shared:
                raise DataError(
                    f"{len(shared)} id(s) are in both the {a} and the {b} file: "
                    f"{shared[:10]}. Ids must differ between the sets: rename them, or drop "
                    "the id column of one file so that miakit numbers its rows."
                )
    samples = SampleSet.of([x for part in loaded.values() for x in part])
    samples.require_unique_ids()
    return samples


def units(
    samples: SampleSet, *, chunked: bool, roles: Mapping[Label, str] | None = None
) -> tuple[list[str], list[str], bool]:
    """``(ids, sets, by_document)``: the test's rows (document ids in order of appearance),
    the set of each (``roles[label]``; default ``"suspect"`` for members, ``"validation"``
    for the others), and whether rows are documents of several texts (some ``doc_id``
    shared, or ``chunked``: ``--doc-window``)."""
    role = dict(roles or SUSPECT_VALIDATION)
    doc_set: dict[str, str] = {}
    counts: dict[str, int] = {}
    both: dict[str, str] = {}
    for s in samples:
        doc = s.doc_id if s.doc_id is not None else s.id
        which = role[s.label]
        if doc_set.setdefault(doc, which) != which:
            both.setdefault(doc, f"the {doc_set[doc]} and the {which} file")
        counts[doc] = counts.get(doc, 0) + 1
    if both:
        first = sorted(both)[:10]
        raise DataError(
            f"doc_id(s) {first} have texts in both {both[first[0]]}: a document belongs "
            "to one set. Fix the doc_id column."
        )
    by_document = chunked or any(n > 1 for n in counts.values())
    return list(doc_set), list(doc_set.values()), by_document


def features_table(
    samples: SampleSet,
    scores: Any,
    config: Any,
    scorers: Mapping[str, Any] | None,
    progress: Any,
    roles: Mapping[Label, str] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """``(table, scoring)``: ``id``, ``set`` and one feature column per attack (or per attack
    and aggregate, by document), one row per unit of :func:`units` (``roles`` as there), in
    that order."""
    ids, sets, by_document = units(samples, chunked=config.doc_window is not None, roles=roles)
    if scores is not None:
        df, key = _read_scores(Path(scores), ids)
        scoring: dict[str, Any] = {"source": str(scores)}
    else:
        from miakit.pipeline import run
        from miakit.pipeline.documents import documents_frame

        result = run(config, scorers=scorers, write=False, progress=progress)
        if by_document:
            assert result.record is not None  # a finished (rank-0) run always has one
            df, key = documents_frame(result.record, always=True), "doc_id"
        else:
            df, key = result.scores, "id"
        scoring = {
            "models": result.metrics.get("models", {}),
            "skipped_attacks": result.skipped,
            "warnings": result.warnings,
            "note": "the run's warnings say 'members' for suspect and 'non-members' for "
            "validation texts",
        }
    scoring["unit"] = "document" if by_document else "text"
    df = df.assign(**{key: df[key].astype(str)}).set_index(key).loc[ids].reset_index()
    import pandas as pd

    table = pd.DataFrame({"id": ids, "set": sets})
    skip = {*NON_FEATURES, *DOC_NON_FEATURES, key}
    excluded = [str(c) for c in df.columns if str(c).startswith(LABEL_FITTED)]
    for name in df.columns:
        if name not in skip and name not in excluded and not str(name).endswith(":n_scored"):
            table[name] = df[name].to_numpy()
    if excluded:
        scoring["excluded_features"] = excluded
        scoring["excluded_note"] = (
            "left out: fitted on the labels of the run that wrote them (out-of-fold "
            "member/non-member predictions), so they would carry the labels under test "
            "outside the permutations and invalidate the p-value"
        )
    return table, scoring


def _read_scores(path: Path, ids: list[str]) -> tuple[Any, str]:
    import pandas as pd

    if not path.is_file():
        raise DataError(f"--scores {path}: no such file. Give a scores.parquet of a run.")
    df = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    key = "doc_id" if "doc_id" in df.columns else "id"
    if key not in df.columns:
        raise DataError(
            f"--scores {path}: no 'id' (or 'doc_id') column; columns found: {list(df.columns)}."
        )
    got = df[key].astype(str)
    missing = sorted(set(ids) - set(got))
    extra = sorted(set(got) - set(ids))
    if missing or extra or got.duplicated().any():
        raise DataError(
            f"--scores {path} must hold each suspect and validation {key} exactly once: "
            f"{len(missing)} missing (e.g. {missing[:5]}), {len(extra)} not in either set "
            f"(e.g. {extra[:5]}), {int(got.duplicated().sum())} repeated. Score exactly these "
            "texts, or pass the files it was run on (documents: the run's documents.parquet)."
        )
    return df, key


def write_outputs(folder: Path, result: DatasetInferenceResult, table: Any) -> None:
    """``dataset_inference.json``, ``dataset_inference.html`` and, when features exist,
    ``scores.parquet``."""
    import json

    from miakit._core.io import atomic_path, atomic_write_text
    from miakit.report._dataset_inference import page

    folder.mkdir(parents=True, exist_ok=True)
    text = result.to_json()
    atomic_write_text(folder / "dataset_inference.json", text)
    atomic_write_text(folder / "dataset_inference.html", page(json.loads(text)))
    if table is not None:
        out = table.copy()
        out.insert(2, "fold", result.folds)
        out.insert(3, "combined_score", result.scores)
        with atomic_path(folder / "scores.parquet") as tmp:
            out.to_parquet(tmp, index=False)

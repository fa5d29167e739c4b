"""Documents in a run: long texts split into token windows, chunk scores aggregated (issue 13).

Two hooks of :func:`miakit.run`, with their logic here:

1. :func:`chunk_documents`, right after the samples load: with ``--doc-window W`` (and
   ``--doc-stride S``, default ``W``) every text longer than ``W`` target tokens becomes its
   chunks (:mod:`miakit.data.chunking`: windows of the target's tokenizer mapped back to
   characters), so every model, attack, cache entry and blind baseline works on chunks as on
   any sample. Without it the samples are left as they are.
2. :func:`document_sections`, when the run's ``metrics.json`` is assembled: when some
   document has more than one sample (chunks, or rows sharing a ``doc_id``), the ``documents``
   section holds each attack's document-level metrics for every aggregate of its chunk scores
   (:mod:`miakit.metrics.documents`; bootstrap over documents) and, with ``--doc-combiner``,
   the learned combiner and the histogram classifier of arXiv 2310.15007, cross-validated by
   document (:mod:`miakit.inference.doc_classifiers`).

:func:`documents_frame` is the per-document table (``documents.parquet``: ``doc_id``,
``label``, ``n_chunks``, then ``ATTACK:AGGREGATE`` and ``ATTACK:n_scored`` per attack), a pure
function of the run record, so it is the hand-off to document-level dataset inference.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from miakit._core.io import atomic_write
from miakit._core.timing import stage
from miakit.backends.base import CharOffsetScorer, TokenScorer
from miakit.config import RunConfig
from miakit.data import Label, SampleSet, validate
from miakit.data.chunking import char_windows, check_windows, chunk_samples
from miakit.errors import (
    BackendCapabilityError,
    DataError,
    InvalidParameterError,
    MiakitError,
    OverlapError,
)
from miakit.inference.doc_classifiers import combiner_cv, histogram_cv
from miakit.metrics import evaluate
from miakit.metrics.documents import AGGREGATES, aggregate, group_codes
from miakit.results import RunRecord
from miakit.signals.plan import SignalPlanner
from miakit.signals.spec import SignalRef

__all__ = ["chunk_documents", "document_sections", "documents_frame", "write_documents"]

_CODE = {Label.MEMBER: 1, Label.NONMEMBER: 0, Label.UNKNOWN: -1}
#: The target table the histogram classifier reads.
HISTOGRAM_NEEDS = ("token_log_prob", "token_id")


def chunk_documents(
    config: RunConfig, samples: SampleSet, scorers: Mapping[str, TokenScorer]
) -> tuple[SampleSet, Mapping[str, TokenScorer]]:
    """``samples`` split into token windows of the target when ``config.doc_window`` is set
    (else unchanged), and ``scorers`` with the target in it once it was loaded for its
    tokenizer (the run then uses that object: the model loads once, weights lazily).

    Raises:
        InvalidParameterError: bad window or stride, or a window the model cannot hold.
        DataError: a document's samples carry different labels.
        BackendCapabilityError: the target cannot map tokens to characters.
    """
    check_labels(samples)
    if config.doc_window is None:
        if config.doc_stride is not None:
            raise InvalidParameterError("--doc-stride needs --doc-window (the window size)")
        return samples, scorers
    stride = check_windows(config.doc_window, config.doc_stride)
    scorer = scorers.get("target")
    if scorer is None:
        from miakit.pipeline.roles import load_scorer

        with stage("load:target"):
            scorer = load_scorer(config, "target")
    room = config.max_length - len(scorer.lead_ids(config.bos))
    if config.doc_window > room:
        raise InvalidParameterError(
            f"--doc-window {config.doc_window} does not fit the model's input: --max-length "
            f"{config.max_length} leaves {room} tokens for a text; lower --doc-window or raise "
            "--max-length"
        )
    if not scorer.capabilities.char_offsets:
        raise BackendCapabilityError(
            f"--doc-window: the target {scorer.name!r} cannot map tokens to characters "
            "(capability char_offsets), so its texts cannot be split into windows; split the "
            "documents yourself (rows sharing a doc_id) or use a Hugging Face model"
        )
    ends = cast(CharOffsetScorer, scorer).char_ends

    def count(text: str) -> int:
        return len(scorer.encode([text])[0])

    def end_of(text: str, k: int) -> int | None:
        return ends([text], k)[0]

    with stage("chunking"):
        spans = [
            char_windows(s.text, config.doc_window, stride, count=count, end_of=end_of, name=s.id)
            for s in samples
        ]
        chunks = chunk_samples(samples, spans)
    try:  # the documents passed the checks of the samples (overlap, empty texts); chunks too
        validate(chunks, allow_overlap=config.allow_overlap)
    except OverlapError as exc:
        raise OverlapError(
            f"after splitting the documents into windows of {config.doc_window} tokens, {exc} "
            "(documents of both labels share these chunks: boilerplate such as a licence or a "
            "header; remove it from the texts)"
        ) from None
    except DataError as exc:  # e.g. a last window of whitespace only
        raise DataError(
            f"after splitting the documents into windows of {config.doc_window} tokens: {exc}"
        ) from None
    return chunks, {**scorers, "target": scorer}


def check_labels(samples: SampleSet) -> None:
    """Raise :class:`DataError` naming every document whose samples mix labels."""
    seen: dict[str, Label] = {}
    mixed: set[str] = set()
    for s in samples:
        if s.doc_id is not None and seen.setdefault(s.doc_id, s.label) is not s.label:
            mixed.add(s.doc_id)
    if mixed:
        names = ", ".join(repr(d) for d in sorted(mixed)[:10])
        raise DataError(
            f"document(s) {names} have samples with different labels; the parts of one document "
            "(rows sharing a doc_id) must share its label. Fix the labels or the doc_id column"
        )


def has_documents(record: RunRecord) -> bool:
    """Whether some document has more than one sample in ``record``."""
    counts = Counter(d for d in record.samples.doc_ids if d is not None)
    return bool(counts) and max(counts.values()) > 1


def _doc_names(record: RunRecord) -> list[str]:
    """Each sample's document: its ``doc_id``, or its own id when it has none."""
    return [d if d is not None else i for i, d in zip(record.ids, record.samples.doc_ids)]


def documents_frame(record: RunRecord, *, always: bool = False) -> pd.DataFrame | None:
    """One row per document (in order of first appearance), or ``None`` when no document
    has more than one sample (and not ``always``, as in a run with ``--doc-window``).

    Columns: ``doc_id``, ``label``, ``n_chunks``, then per attack ``ATTACK:AGG`` for each
    aggregate of :data:`~miakit.metrics.documents.AGGREGATES` and ``ATTACK:n_scored`` (its
    chunks with a finite score); in a finished run's record with ``--doc-combiner``, also
    ``learned:combiner`` and ``learned:histogram`` (out of fold for labelled documents)."""
    if not (always or has_documents(record)):
        return None
    codes, names = group_codes(_doc_names(record))
    labels: list[str] = [""] * len(names)
    for code, label in zip(codes, record.samples.labels, strict=True):
        labels[code] = label.value
    columns: dict[str, Any] = {
        "doc_id": names,
        "label": labels,
        "n_chunks": np.bincount(codes, minlength=len(names)).astype(np.int64),
    }
    for attack, col in record.attacks.items():
        values, n_scored = aggregate(col.scores, codes, len(names))
        for agg in AGGREGATES:
            columns[f"{attack}:{agg}"] = values[agg]
        columns[f"{attack}:n_scored"] = n_scored
    learned = (record.metrics.get("documents") or {}).get("learned") or {}
    for name, fit in learned.items():  # in a finished run's record: the learned scores
        if "scores" in fit:
            columns[f"learned:{name}"] = [fit["scores"].get(d, np.nan) for d in names]
    return pd.DataFrame(columns)


def document_sections(
    config: RunConfig, record: RunRecord, planner: SignalPlanner
) -> dict[str, Any]:
    """``{"documents": ...}`` for ``metrics.json``, or ``{}`` when no document has more than
    one sample. ``record`` is in the order of the run's texts (as :meth:`RunRecord.of_run`
    made it); ``planner`` gives the target's token table for the histogram classifier."""
    frame = documents_frame(record, always=config.doc_window is not None)
    if frame is None:
        return {}
    y = np.array([_CODE[Label(v)] for v in frame["label"]], dtype=np.int64)
    names = list(frame["doc_id"])
    attacks: dict[str, Any] = {}
    nan: dict[str, list[dict[str, str]]] = {}
    chunks: list[list[str]] = [[] for _ in names]  # each document's chunk ids
    for sid, code in zip(record.ids, group_codes(_doc_names(record))[0], strict=True):
        chunks[code].append(sid)
    for attack in record.attacks:
        attacks[attack] = {
            agg: evaluate(
                frame[f"{attack}:{agg}"].to_numpy(), y, n_resamples=config.n_bootstrap,
                seed=config.seed,
            )
            for agg in AGGREGATES
        }  # fmt: skip
        unscored = frame[f"{attack}:n_scored"].to_numpy() == 0
        nan[attack] = [
            {"doc_id": names[d], "reason": _nan_reason(record, attack, names[d], chunks[d])}
            for d in np.flatnonzero(unscored)
        ]
    n_chunks = frame["n_chunks"].to_numpy()
    section: dict[str, Any] = {
        "n_documents": len(frame),
        "n_chunks": int(n_chunks.sum()),
        "chunks_per_document": {"min": int(n_chunks.min()), "max": int(n_chunks.max())},
        "window": config.doc_window,
        "stride": config.doc_stride or config.doc_window,
        "n_members": int((y == 1).sum()),
        "n_nonmembers": int((y == 0).sum()),
        "aggregates": list(AGGREGATES),
        "attacks": attacks,
        "unscored_chunks": {
            a: int(len(record) - frame[f"{a}:n_scored"].sum()) for a in record.attacks
        },
        "nan": nan,
    }
    if config.doc_combiner:
        section["learned"] = _learned(config, record, frame, y, planner)
    return {"documents": section}


def _nan_reason(record: RunRecord, attack: str, doc: str, mine: list[str]) -> str:
    """Why ``doc`` (chunk ids ``mine``) has no score from ``attack``: its chunks' first
    reason, named by id."""
    reasons = record.nan_reasons(attack)
    first = next((reasons[i] for i in mine if i in reasons), "no finite score")
    return f"document {doc!r}: none of its {len(mine)} chunk(s) was scored ({mine[0]}: {first})"


def _learned(
    config: RunConfig, record: RunRecord, frame: pd.DataFrame, y: np.ndarray, planner: Any
) -> dict[str, Any]:
    """The combiner's and the histogram classifier's cross-validated document metrics; a
    classifier that cannot run (too few documents, no token table) gets an ``error``."""
    options = {"n_folds": config.doc_folds, "seed": config.seed, "n_resamples": config.n_bootstrap}
    out: dict[str, Any] = {}
    features = [
        c for c in frame.columns
        if ":" in c and not c.endswith(":n_scored") and not c.startswith("learned:")
    ]  # fmt: skip
    try:
        fit = combiner_cv(frame[features].to_numpy(dtype=np.float64), y, **options)
        out["combiner"] = {"method": fit.method, "features": features, **fit.metrics}
        out["combiner"]["scores"] = dict(zip(frame["doc_id"], fit.scores.tolist(), strict=True))
    except InvalidParameterError as exc:
        out["combiner"] = {"error": str(exc)}
    try:
        log_probs, token_ids = _tokens_by_document(record, planner, len(frame))
        fit = histogram_cv(log_probs, token_ids, y, **options)
        out["histogram"] = {"method": fit.method, **fit.metrics}
        out["histogram"]["scores"] = dict(zip(frame["doc_id"], fit.scores.tolist(), strict=True))
    except MiakitError as exc:
        out["histogram"] = {"error": str(exc)}
    return out


def _tokens_by_document(
    record: RunRecord, planner: SignalPlanner, n_docs: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per document, the target's ``token_log_prob`` and ``token_id`` of its chunks' scored
    tokens, chunk after chunk (from the engine and its cache: computed once per text)."""
    texts = [t if t is not None else "" for t in record.samples.texts]
    needs = [SignalRef.parse(s) for s in HISTOGRAM_NEEDS]
    table = planner.compute(texts, needs)[("target", "plain")]
    codes, _ = group_codes(_doc_names(record))
    lp, ids, off = table.stats["token_log_prob"], table.stats["token_id"], table.offsets
    log_probs: list[list[np.ndarray]] = [[] for _ in range(n_docs)]
    token_ids: list[list[np.ndarray]] = [[] for _ in range(n_docs)]
    for i, d in enumerate(codes):
        log_probs[d].append(lp[off[i] : off[i + 1]].astype(np.float64))
        token_ids[d].append(ids[off[i] : off[i + 1]].astype(np.int64))
    return [np.concatenate(p) for p in log_probs], [np.concatenate(p) for p in token_ids]


def write_documents(config: RunConfig, record: RunRecord) -> None:
    """``OUT/documents.parquet`` from ``record`` when :func:`document_sections` reports
    documents; otherwise a stale one is removed."""
    frame = documents_frame(record, always=config.doc_window is not None)
    path = Path(config.out) / "documents.parquet"
    if frame is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write(path, lambda p: frame.to_parquet(p, index=False))

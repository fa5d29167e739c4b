"""Token frequencies of a reference corpus, for DC-PDD (arXiv 2409.14781), cached on disk.

The provider of the extra ``token_frequency`` (from ``--frequency-corpus``), recorded in
``metrics.json`` (``auxiliary.frequency_corpus``, with its leakage check).

The corpus (``--frequency-corpus``: a file or a folder, :mod:`miakit.data.corpus`) is
tokenized with the target's tokenizer (no special tokens, no truncation; the official code
cuts each document at 1024 tokens) and every token occurrence is counted: ``c(v)`` per id and
``N = Σ_v c(v)``. The smoothed frequency is ``f(v) = (c(v) + 1) / (N + V)`` (Laplace), ``V`` the
vocabulary size (the target's number of logits).

Cache: ``<cache>/frequencies/<key>.npz`` (numpy, no pickle) with the counts and the hashes of
the corpus's documents and lines; the key hashes the tokenizer fingerprint, the corpus content
fingerprint and the text column. A second run with the same tokenizer and corpus reads the
counts and never tokenizes.

Leakage check (:func:`require_not_in_corpus`): the corpus must not hold an evaluation text.

* Exact: every document, and every line of every document (stripped), is hashed; an evaluation
  text (stripped) with the same hash is refused.
* Normalised: the same documents and lines after :func:`miakit.data.disjoint.normalise_text`
  (NFKC, case folding, punctuation removed, whitespace collapsed) are hashed too, so a copy that
  differs only in case, punctuation or whitespace is refused. Both hash sets are stored in the
  cache; these checks cost one lookup per evaluation text, whatever the corpus size.
* Containment, for a corpus of at most :data:`CONTAINMENT_MAX_WORDS` words (``\\w+`` tokens
  of all documents): the corpus is read again and each document is compared with the
  evaluation texts by word 13-gram containment (:func:`miakit.data.disjoint.find_containments`
  with an exact inverted index, no LSH, so long documents are not missed), with the rule of
  :func:`miakit.data.disjoint.require_disjoint`: a document holding half or more of an
  evaluation text's 13-grams (a text of 3-12 words: the whole text), or a document of 13+ words
  lying inside an evaluation text, is refused. A larger corpus is checked by the hashes only,
  and the run says so in its warnings and in ``metrics.json``
  (``auxiliary.frequency_corpus.leakage_check.containment``).

A refusal is a :class:`~miakit.errors.DataError` listing the evaluation ids (and, for
containment, the document's file and row).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from miakit._core.io import atomic_path, clean_stale_temporaries, discard_unreadable
from miakit.attacks import AttackSpec
from miakit.attacks.dc_pdd import FREQUENCY_EXTRA
from miakit.backends.base import TokenScorer
from miakit.data._messages import listing
from miakit.data.containment import words
from miakit.data.corpus import corpus_files, corpus_fingerprint, iter_documents, read_documents
from miakit.data.disjoint import (
    THRESHOLD,
    N,
    find_containments,
    normalise_text,
    text_hash,
)
from miakit.data.schema import Sample
from miakit.errors import DataError, InvalidParameterError
from miakit.pipeline.inputs import Input, InputProvider, register_provider

if TYPE_CHECKING:  # annotations only: `miakit run --help` imports every provider
    from miakit.signals.plan import SignalPlanner

#: Bumped whenever a change here can change cached counts (2: normalised hashes, word count;
#: 3: format characters removed by the normaliser and the word split).
FREQUENCY_VERSION = "3"
#: Corpora of at most this many words are also checked by containment (see the module
#: docstring). Measured against 2,000 evaluation texts of 30-250 words: 1.4-3.7 s and about
#: 250 MB for a million words (2 shared CPU cores), linear in the corpus size.
CONTAINMENT_MAX_WORDS = 1_000_000
_CHUNK = 256


@dataclass(frozen=True)
class FrequencyTable:
    """Token counts of a corpus under one tokenizer.

    Attributes:
        counts: shape ``(V,)``, int64: occurrences of each token id.
        unit_hashes: sorted uint64 hashes (:func:`miakit.data.disjoint.text_hash`) of every
            stripped document and line, for the leakage check.
        norm_hashes: the same for the normalised documents and lines
            (:func:`miakit.data.disjoint.normalise_text`).
        key: the cache key.
        source: the corpus path.
        n_documents: documents in the corpus.
        n_words: word tokens (``\\w+``) in the corpus, which decides the containment check.
        text_field: the text column of structured corpus files.
        from_cache: whether the counts were read from the cache.
    """

    counts: np.ndarray
    unit_hashes: np.ndarray
    key: str
    source: str
    n_documents: int
    norm_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    n_words: int = 0
    text_field: str = "text"
    from_cache: bool = False

    @property
    def n_tokens(self) -> int:
        return int(self.counts.sum())

    @property
    def frequencies(self) -> np.ndarray:
        """``f(v) = (c(v) + 1) / (N + V)``, shape ``(V,)``, float64."""
        v = len(self.counts)
        return (self.counts.astype(np.float64) + 1.0) / (self.n_tokens + v)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_documents": self.n_documents,
            "n_tokens": self.n_tokens,
            "n_words": self.n_words,
            "vocab_size": len(self.counts),
            "smoothing": "laplace: f(v) = (c(v) + 1) / (N + V)",
            "cache_key": self.key,
            "from_cache": self.from_cache,
        }


def _units(doc: str) -> Iterable[str]:
    """The stripped document and its stripped non-empty lines."""
    stripped = doc.strip()
    if stripped:
        yield stripped
    if "\n" in doc:
        for line in doc.splitlines():
            line = line.strip()
            if line and line != stripped:
                yield line


def build_frequency_table(
    path: str | os.PathLike[str],
    scorer: TokenScorer,
    *,
    cache_dir: str | os.PathLike[str] | None,
    text_field: str = "text",
) -> FrequencyTable:
    """Count the corpus's tokens with ``scorer``'s tokenizer, or read the cached counts.

    Args:
        path: a corpus file or folder.
        scorer: the target backend (its ``encode``, ``vocab_size`` and tokenizer fingerprint).
        cache_dir: the folder of ``frequencies/``; ``None`` disables the cache.
        text_field: the text column of structured corpus files.

    Raises:
        DataError: see :mod:`miakit.data.corpus`.
    """
    files = corpus_files(path)
    key_blob = json.dumps(
        {
            "tokenizer": scorer.tokenizer_fingerprint,
            "corpus": corpus_fingerprint(files, text_field=text_field),
            "vocab_size": int(scorer.vocab_size),
            "version": FREQUENCY_VERSION,
        },
        sort_keys=True,
    )
    key = hashlib.sha256(key_blob.encode()).hexdigest()[:32]
    cache_file = Path(cache_dir) / "frequencies" / f"{key}.npz" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as data:
                return FrequencyTable(
                    counts=data["counts"].astype(np.int64),
                    unit_hashes=data["unit_hashes"].astype(np.uint64),
                    norm_hashes=data["norm_hashes"].astype(np.uint64),
                    key=key,
                    source=str(path),
                    n_documents=int(data["n_documents"]),
                    n_words=int(data["n_words"]),
                    text_field=text_field,
                    from_cache=True,
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # corrupt: recount
            discard_unreadable(cache_file, exc, what="frequency cache file")
    counts = np.zeros(int(scorer.vocab_size), dtype=np.int64)
    hashes: set[int] = set()
    norm: set[int] = set()
    n_docs = n_words = 0
    chunk: list[str] = []

    def flush() -> None:
        nonlocal counts
        for ids in scorer.encode(chunk):
            if not ids:
                continue
            arr = np.asarray(ids, dtype=np.int64)
            if arr.max() >= len(counts):  # a tokenizer id beyond the model's logits
                counts = np.concatenate([counts, np.zeros(arr.max() + 1 - len(counts), np.int64)])
            counts += np.bincount(arr, minlength=len(counts))
        chunk.clear()

    for doc in iter_documents(files, text_field=text_field):
        n_docs += 1
        n_words += len(words(doc))
        for unit in _units(doc):
            hashes.add(text_hash(unit))
            if key_text := normalise_text(unit):
                norm.add(text_hash(key_text))
        chunk.append(doc)
        if len(chunk) >= _CHUNK:
            flush()
    if chunk:
        flush()
    table = FrequencyTable(
        counts=counts,
        unit_hashes=np.array(sorted(hashes), dtype=np.uint64),
        norm_hashes=np.array(sorted(norm), dtype=np.uint64),
        key=key,
        source=str(path),
        n_documents=n_docs,
        n_words=n_words,
        text_field=text_field,
    )
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(cache_file.parent)
        with atomic_path(cache_file) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                counts=table.counts,
                unit_hashes=table.unit_hashes,
                norm_hashes=table.norm_hashes,
                n_documents=np.int64(n_docs),
                n_words=np.int64(n_words),
            )
    return table


def require_not_in_corpus(
    table: FrequencyTable, samples: Sequence[Sample], *, max_words: int | None = None
) -> dict[str, Any]:
    """Raise if the corpus holds an evaluation text (see the module docstring).

    Args:
        table: the corpus's frequency table (its hashes, word count and path).
        samples: the evaluation samples.
        max_words: the containment size limit; ``None``: :data:`CONTAINMENT_MAX_WORDS`.

    Returns:
        What was checked, for ``metrics.json``: ``exact`` and ``normalised`` (always true),
        ``containment`` (``"checked"`` or ``"skipped: ..."`` with the reason), the limit, the
        n-gram length and the threshold.

    Raises:
        DataError: listing the evaluation ids found (and the documents, for containment).
    """
    limit = CONTAINMENT_MAX_WORDS if max_words is None else max_words
    found: list[str] = []
    hit_ids: set[str] = set()
    for kind, hashes, key in (
        ("exact", table.unit_hashes, lambda t: t.strip()),
        ("normalised", table.norm_hashes, normalise_text),
    ):
        keyed = [(s, k) for s in samples if s.id not in hit_ids and (k := key(s.text))]
        for s in _in_sorted(hashes, keyed):
            found.append(f"{s.id!r} ({kind})")
            hit_ids.add(s.id)
    if table.n_words <= limit:
        status = "checked"
        docs = _documents(table)
        for c in find_containments(docs, list(samples), n=N, threshold=THRESHOLD, exact=True):
            if c.refused(n=N, threshold=THRESHOLD) and c.evaluation.id not in hit_ids:
                found.append(c.describe().replace(f"{c.aux.id!r} ", "document ", 1))
    else:
        status = (
            f"skipped: the corpus has {table.n_words} words, more than the limit of {limit}; "
            "only exact and normalised copies of whole documents and lines were checked"
        )
    if found:
        raise DataError(
            f"--frequency-corpus ({table.source}) holds {len(found)} evaluation text(s) (as a "
            f"document or a line, exactly or after normalisation, or contained in a document): "
            f"{listing(found)}. Token frequencies must come from text that is not evaluated; "
            "remove these texts from the corpus."
        )
    return {
        "exact": True,
        "normalised": True,
        "containment": status,
        "containment_max_words": limit,
        "n": N,
        "threshold": THRESHOLD,
    }


def _in_sorted(hashes: np.ndarray, keyed: list[tuple[Sample, str]]) -> list[Sample]:
    """The samples whose key's :func:`text_hash` is in the sorted array ``hashes``."""
    if not len(hashes) or not keyed:
        return []
    queries = np.array([text_hash(k) for _, k in keyed], dtype=np.uint64)
    pos = np.searchsorted(hashes, queries)
    hit = hashes[np.minimum(pos, len(hashes) - 1)] == queries
    return [s for (s, _), h in zip(keyed, hit, strict=True) if h]


def _documents(table: FrequencyTable) -> list[Sample]:
    """The corpus's documents again, each as a sample whose source is ``file:row`` (``file``
    for a ``.txt`` file, relative to a corpus folder)."""
    root = Path(table.source).expanduser()
    out = []
    for f in corpus_files(root):
        name = f.relative_to(root).as_posix() if root.is_dir() else f.name
        docs = read_documents(f, text_field=table.text_field)
        for k, doc in enumerate(docs):
            where = name if f.suffix.lower() == ".txt" else f"{name}:{k + 1}"
            out.append(Sample(id=where, text=doc, source=where))
    return out


#: The input this module provides.
FREQUENCY = Input(
    f"extra:{FREQUENCY_EXTRA}", "token frequencies of a reference corpus", "frequency_corpus"
)


@register_provider("frequency", inputs=[FREQUENCY], order=20)
class CorpusFrequencies(InputProvider):
    """The frequency table of ``--frequency-corpus`` under the target's tokenizer, built once
    per run; the evaluation texts are checked against the corpus."""

    table: FrequencyTable | None = None
    #: what the corpus's leakage check covered (:func:`require_not_in_corpus`)
    corpus_check: dict[str, Any] | None = None

    def extras(
        self,
        wanted: set[str],
        planner: SignalPlanner,
        texts: Sequence[str],
        specs: Sequence[AttackSpec],
        *,
        evaluation: Sequence[Sample] | None,
    ) -> dict[str, Any]:
        if FREQUENCY_EXTRA not in wanted:
            return {}
        config = self.run.config
        if self.table is None:
            if config.frequency_corpus is None:
                users = [s.name for s in specs if FREQUENCY_EXTRA in s.extras]
                raise InvalidParameterError(f"{', '.join(users)} needs {FREQUENCY.flag}")
            self.table = build_frequency_table(
                config.frequency_corpus,
                planner.engine("target").scorer,
                cache_dir=self.run.cache_dir,
                text_field=config.text_field,
            )
        if evaluation is not None:
            self.corpus_check = require_not_in_corpus(self.table, evaluation)
            if self.corpus_check["containment"] != "checked":
                self.run.warnings.append(
                    f"{FREQUENCY.flag}: containment check {self.corpus_check['containment']}"
                    f" (limit: {__name__}.CONTAINMENT_MAX_WORDS)"
                )
        return {FREQUENCY_EXTRA: self.table.frequencies}

    def sections(self) -> dict[str, Any]:
        if self.table is None:
            return {}
        section = self.table.to_dict()
        if self.corpus_check is not None:
            section["leakage_check"] = self.corpus_check
        return {"auxiliary": {"frequency_corpus": section}}

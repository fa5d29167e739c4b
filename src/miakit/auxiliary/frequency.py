"""Token frequencies of a reference corpus, for DC-PDD (arXiv 2409.14781), cached on disk.

The corpus (``--frequency-corpus``: a file or a folder, :mod:`miakit.data.corpus`) is
tokenized with the target's tokenizer (no special tokens, no truncation; the official code
cuts each document at 1024 tokens) and every token occurrence is counted: ``c(v)`` per id and
``N = Σ_v c(v)``. The smoothed frequency is ``f(v) = (c(v) + 1) / (N + V)`` (Laplace), ``V`` the
vocabulary size (the target's number of logits).

Cache: ``<cache>/frequencies/<key>.npz`` (numpy, no pickle) with the counts and the hashes of
the corpus's documents and lines; the key hashes the tokenizer fingerprint, the corpus content
fingerprint and the text column. A second run with the same tokenizer and corpus reads the
counts and never tokenizes.

Leakage check: the corpus must not contain an evaluation text. Every document, and every line
of every document (stripped), is compared exactly with each evaluation text (stripped); a
match is a :class:`~miakit.errors.DataError` naming the evaluation ids. (Substring
containment inside longer documents is not checked: it would cost a scan of the corpus per
evaluation text.)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miakit.backends.base import TokenScorer
from miakit.data._messages import listing
from miakit.data.corpus import corpus_files, corpus_fingerprint, iter_documents
from miakit.data.disjoint import text_hash
from miakit.data.schema import Sample
from miakit.errors import DataError

#: Bumped whenever a change here can change cached counts.
FREQUENCY_VERSION = "1"
_CHUNK = 256


@dataclass(frozen=True)
class FrequencyTable:
    """Token counts of a corpus under one tokenizer.

    Attributes:
        counts: shape ``(V,)``, int64: occurrences of each token id.
        unit_hashes: sorted uint64 hashes (:func:`miakit.data.disjoint.text_hash`) of every
            stripped document and line, for the leakage check.
        key: the cache key.
        source: the corpus path.
        n_documents: documents in the corpus.
        from_cache: whether the counts were read from the cache.
    """

    counts: np.ndarray
    unit_hashes: np.ndarray
    key: str
    source: str
    n_documents: int
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
        with np.load(cache_file, allow_pickle=False) as data:
            return FrequencyTable(
                counts=data["counts"].astype(np.int64),
                unit_hashes=data["unit_hashes"].astype(np.uint64),
                key=key,
                source=str(path),
                n_documents=int(data["n_documents"]),
                from_cache=True,
            )
    counts = np.zeros(int(scorer.vocab_size), dtype=np.int64)
    hashes: set[int] = set()
    n_docs = 0
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
        hashes.update(text_hash(u) for u in _units(doc))
        chunk.append(doc)
        if len(chunk) >= _CHUNK:
            flush()
    if chunk:
        flush()
    table = FrequencyTable(
        counts=counts,
        unit_hashes=np.array(sorted(hashes), dtype=np.uint64),
        key=key,
        source=str(path),
        n_documents=n_docs,
    )
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f".tmp-{os.getpid()}-{cache_file.name}")
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                counts=table.counts,
                unit_hashes=table.unit_hashes,
                n_documents=np.int64(n_docs),
            )
        os.replace(tmp, cache_file)
    return table


def require_not_in_corpus(table: FrequencyTable, samples: Sequence[Sample]) -> None:
    """Raise if a document or line of the corpus equals an evaluation text (stripped).

    Raises:
        DataError: naming the evaluation ids found in the corpus.
    """
    keyed = [s for s in samples if s.text.strip()]
    queries = np.array([text_hash(s.text.strip()) for s in keyed], dtype=np.uint64)
    hashes = table.unit_hashes
    found: list[str] = []
    if len(hashes) and len(queries):
        pos = np.searchsorted(hashes, queries)  # hashes are sorted
        hit = hashes[np.minimum(pos, len(hashes) - 1)] == queries
        found = [s.id for s, h in zip(keyed, hit, strict=True) if h]
    if found:
        raise DataError(
            f"--frequency-corpus ({table.source}) contains {len(found)} evaluation text(s) "
            f"(as a whole document or a line): ids {listing([repr(i) for i in found])}. Token "
            "frequencies must come from text that is not evaluated; remove these texts from "
            "the corpus."
        )

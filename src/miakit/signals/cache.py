"""A Parquet cache of per-token signals.

Layout: ``<root>/<namespace>/part-*.parquet`` where the namespace hashes everything that
changes the numbers except the text: model weights, tokenizer, context, ``max_length``, BOS
policy, dtype and :data:`ENGINE_VERSION`. Each row is one text, keyed by the SHA-256 of the
text; its columns hold one ``list<float32>`` per statistic (null when not computed in that
part). New results are appended as new part files.

The folders, parts and their durability are :class:`miakit._core.parts.PartStore`'s: every
part is written durably and atomically, so a crash or power loss never leaves a half-written
part under a ``part-*`` name. Should a part still fail to read (a disk fault, a file copied in
truncated), :meth:`SignalCache.lookup` warns naming it, removes it and treats its rows as not
cached, so they are recomputed and appended again; a corrupt part never makes a namespace
unusable. Temporary files left by crashed writers (``.tmp-*``) are removed on the next lookup
or append once stale (their writer is gone, or they are over an hour old), never while a
concurrent writer may still be using them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from miakit._core.parts import PartStore
from miakit.signals.spec import ALL_STATS

#: Bumped whenever a change to the engine can change cached numbers.
ENGINE_VERSION = "1"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedRow:
    """One text's cached signals."""

    stats: Mapping[str, np.ndarray]
    n_text_tokens: int
    truncated: bool


class SignalCache:
    """Read and append cached signal rows under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._store = PartStore(self.root, what="signal cache part")

    @staticmethod
    def namespace(parts: Mapping[str, object]) -> str:
        blob = json.dumps({**parts, "engine_version": ENGINE_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def lookup(
        self, namespace: str, keys: Sequence[str], stats: Collection[str]
    ) -> dict[str, CachedRow]:
        """Return the cached rows among ``keys`` that hold every statistic in ``stats``."""
        wanted = set(keys)
        found: dict[str, CachedRow] = {}
        for table, shas, n_tok, trunc in self._store.read(namespace, _decode):
            names = set(table.column_names)
            if not set(stats) <= names:
                continue
            hits = [i for i, key in enumerate(shas) if key in wanted]
            if not hits:
                continue
            lists = {s: table.column(s).combine_chunks() for s in stats}
            for i in hits:
                values = {s: lists[s][i] for s in stats}
                if any(not v.is_valid for v in values.values()):
                    continue
                found[shas[i]] = CachedRow(
                    stats={
                        s: np.asarray(v.values.to_numpy(zero_copy_only=False), dtype=np.float32)
                        for s, v in values.items()
                    },
                    n_text_tokens=int(n_tok[i]),
                    truncated=bool(trunc[i]),
                )
        return found

    def append(
        self,
        namespace: str,
        keys: Sequence[str],
        rows: Sequence[CachedRow],
        meta: Mapping[str, object] | None = None,
    ) -> Path | None:
        """Write ``rows`` as a new part file (atomically). Returns its path."""
        if not rows:
            return None
        present = [s for s in ALL_STATS if s in rows[0].stats]
        if any(set(r.stats) != set(present) for r in rows):
            raise ValueError("all rows appended together must hold the same statistics")
        lengths = np.array([len(r.stats[present[0]]) if present else 0 for r in rows])
        offsets = np.zeros(len(rows) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        data: dict[str, pa.Array] = {
            "text_sha256": pa.array(list(keys), type=pa.string()),
            "n_text_tokens": pa.array([r.n_text_tokens for r in rows], type=pa.int64()),
            "truncated": pa.array([r.truncated for r in rows], type=pa.bool_()),
        }
        for s in present:
            flat = np.concatenate([r.stats[s].astype(np.float32) for r in rows])
            data[s] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))
        table = pa.table(data)
        if meta:
            table = table.replace_schema_metadata({"miakit": json.dumps(meta, default=str)})
        return self._store.append(namespace, table)


#: The fixed columns of a part and their types; every other column is a statistic.
_FIXED = {"text_sha256": pa.string(), "n_text_tokens": pa.int64(), "truncated": pa.bool_()}
_STAT_TYPE = pa.list_(pa.float32())


def _decode(table: pa.Table) -> tuple[pa.Table, list[str], np.ndarray, np.ndarray]:
    """A part, its text keys, token counts and truncation flags, after checking every column's
    type, so that a damaged part is caught (and recomputed) here rather than crashing later."""
    for name, field_type in zip(table.column_names, table.schema.types, strict=True):
        expected = _FIXED.get(name, _STAT_TYPE)
        if field_type != expected:
            raise TypeError(f"column {name!r} has type {field_type}, expected {expected}")
    missing = sorted(set(_FIXED) - set(table.column_names))
    if missing:
        raise KeyError(f"missing columns {missing}")
    return (
        table,
        table.column("text_sha256").to_pylist(),
        table.column("n_text_tokens").to_numpy(),
        table.column("truncated").to_numpy(zero_copy_only=False),
    )

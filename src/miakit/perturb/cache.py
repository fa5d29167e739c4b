"""A Parquet cache of neighbour texts.

Layout: ``<root>/<namespace>/part-*.parquet``; the namespace hashes the perturber's identity
(kind, model fingerprints, settings), the number of neighbours ``m`` and the seed. Each row is
one text, keyed by the SHA-256 of the text, with its neighbours as ``list<string>``. Parts are
written durably and atomically (:func:`miakit._core.io.atomic_path`); a part that fails to read
is reported, removed and its texts count as not cached (their neighbours are generated again),
and stale temporary files of crashed writers are removed on the next lookup or append.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from miakit._core.io import atomic_path, clean_stale_temporaries, discard_unreadable

#: Bumped whenever a change to neighbour generation can change cached neighbours.
NEIGHBOUR_CACHE_VERSION = "1"


class NeighbourCache:
    """Read and append cached neighbours under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @staticmethod
    def namespace(identity: Mapping[str, Any], *, m: int, seed: int) -> str:
        blob = json.dumps(
            {"identity": dict(identity), "m": m, "seed": seed, "v": NEIGHBOUR_CACHE_VERSION},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def lookup(self, namespace: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """The cached neighbours of the texts among ``keys`` (text SHA-256 values)."""
        folder = self.root / namespace
        if not folder.is_dir():
            return {}
        clean_stale_temporaries(folder)
        wanted = set(keys)
        found: dict[str, list[str]] = {}
        for part in sorted(folder.glob("part-*.parquet")):
            try:
                table = pq.read_table(part)
                pairs = list(
                    zip(
                        table.column("text_sha256").to_pylist(),
                        table.column("neighbours").to_pylist(),
                        strict=True,
                    )
                )
            except (pa.ArrowException, OSError, KeyError, ValueError) as exc:
                discard_unreadable(part, exc, what="neighbour cache part")
                continue
            for key, neighbours in pairs:
                if key in wanted:
                    found[key] = list(neighbours)
        return found

    def append(
        self, namespace: str, keys: Sequence[str], neighbours: Sequence[Sequence[str]]
    ) -> Path | None:
        """Write one part file with ``neighbours[i]`` of text ``keys[i]``. Returns its path."""
        if not keys:
            return None
        folder = self.root / namespace
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {
                "text_sha256": pa.array(list(keys), type=pa.string()),
                "neighbours": pa.array([list(n) for n in neighbours], type=pa.list_(pa.string())),
            }
        )
        clean_stale_temporaries(folder)
        final = folder / f"part-{uuid.uuid4().hex}.parquet"
        with atomic_path(final) as tmp:
            pq.write_table(table, tmp)
        return final

"""A Parquet cache of neighbour texts.

Layout: ``<root>/<namespace>/part-*.parquet``; the namespace hashes the perturber's identity
(kind, model fingerprints, settings), the number of neighbours ``m`` and the seed. Each row is
one text, keyed by the SHA-256 of the text, with its neighbours as ``list<string>``. The parts
are :class:`miakit._core.parts.PartStore`'s: written durably and atomically; a part that fails
to read is reported, removed and its texts count as not cached (their neighbours are generated
again), and stale temporary files of crashed writers are removed on the next lookup or append.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from miakit._core.parts import PartStore

#: Bumped whenever a change to neighbour generation can change cached neighbours.
NEIGHBOUR_CACHE_VERSION = "1"


class NeighbourCache:
    """Read and append cached neighbours under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._store = PartStore(self.root, what="neighbour cache part")

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
        wanted = set(keys)
        found: dict[str, list[str]] = {}
        for pairs in self._store.read(namespace, _pairs):
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
        table = pa.table(
            {
                "text_sha256": pa.array(list(keys), type=pa.string()),
                "neighbours": pa.array([list(n) for n in neighbours], type=pa.list_(pa.string())),
            }
        )
        return self._store.append(namespace, table)


def _pairs(table: pa.Table) -> list[tuple[str, list[str]]]:
    """``(text key, neighbours)`` of each row of a part."""
    return list(
        zip(
            table.column("text_sha256").to_pylist(),
            table.column("neighbours").to_pylist(),
            strict=True,
        )
    )

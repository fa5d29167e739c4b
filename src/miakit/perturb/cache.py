"""A Parquet cache of neighbour texts.

Layout: ``<root>/<namespace>/part-*.parquet``; the namespace hashes the perturber's identity
(kind, model fingerprints, settings), the number of neighbours ``m`` and the seed. Each row is
one text, keyed by the SHA-256 of the text, with its neighbours as ``list<string>``. Parts are
written atomically (temporary file, then rename).
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
        wanted = set(keys)
        found: dict[str, list[str]] = {}
        for part in sorted(folder.glob("part-*.parquet")):
            table = pq.read_table(part)
            for key, neighbours in zip(
                table.column("text_sha256").to_pylist(),
                table.column("neighbours").to_pylist(),
                strict=True,
            ):
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
        final = folder / f"part-{uuid.uuid4().hex}.parquet"
        tmp = folder / f".tmp-{final.name}"
        pq.write_table(table, tmp)
        os.replace(tmp, final)
        return final

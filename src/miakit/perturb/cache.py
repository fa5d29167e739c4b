"""A Parquet cache of neighbor texts.

Layout: ``<root>/<namespace>/part-*.parquet``; the namespace hashes the perturber's identity
(kind, model fingerprints, settings), the number of neighbors ``m`` and the seed. Each row is
one text, keyed by the SHA-256 of the text, with its neighbors as ``list<string>``. The parts
are :class:`miakit._core.parts.PartStore`'s: written durably and atomically; a part that fails
to read is reported, removed and its texts count as not cached (their neighbors are generated
again), and stale temporary files of crashed writers are removed on the next lookup or append.

Spelling (issue 11): the folder under a run's cache directory is ``neighbors/`` and the column
``neighbors``. Caches written before the rename (folder ``neighbours/``, column ``neighbours``)
hold the same values under the same namespaces, so they stay valid:
:meth:`NeighborCache.in_cache_dir` renames the old folder once (logged), and a part with the old
column reads as before. The version below was not bumped, because no cached value changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from miakit._core.deprecation import renamed_attribute
from miakit._core.parts import PartStore

logger = logging.getLogger("miakit")

#: The cache's folder under a run's cache directory, and its name before issue 11.
FOLDER, LEGACY_FOLDER = "neighbors", "neighbours"
#: The column of a part's neighbor texts, and its name in parts written before issue 11.
COLUMN, LEGACY_COLUMN = "neighbors", "neighbours"

#: Bumped whenever a change to neighbor generation can change cached neighbors.
NEIGHBOR_CACHE_VERSION = "1"


class NeighborCache:
    """Read and append cached neighbors under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._store = PartStore(self.root, what="neighbor cache part")

    @classmethod
    def in_cache_dir(cls, cache_dir: str | os.PathLike[str]) -> NeighborCache:
        """The cache of a run's cache directory: ``<cache_dir>/neighbors``. A folder of the
        old spelling (``<cache_dir>/neighbours``) is renamed to it first when it is alone;
        when both exist the old one is left alone and a warning names it."""
        root, legacy = Path(cache_dir) / FOLDER, Path(cache_dir) / LEGACY_FOLDER
        if legacy.is_dir():
            if not root.exists():
                try:
                    legacy.rename(root)
                    logger.info("renamed the neighbor cache %s to %s", legacy, root)
                except OSError as exc:  # another process renamed it first, or no permission
                    if not root.is_dir():
                        logger.warning("could not rename %s to %s: %s", legacy, root, exc)
            else:
                logger.warning(
                    "%s (the neighbor cache's old folder name) is not read because %s exists; "
                    "move its namespace folders into %s to reuse them, or delete it",
                    legacy,
                    root,
                    root,
                )
        return cls(root)

    @staticmethod
    def namespace(identity: Mapping[str, Any], *, m: int, seed: int) -> str:
        blob = json.dumps(
            {"identity": dict(identity), "m": m, "seed": seed, "v": NEIGHBOR_CACHE_VERSION},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def lookup(self, namespace: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """The cached neighbors of the texts among ``keys`` (text SHA-256 values)."""
        wanted = set(keys)
        found: dict[str, list[str]] = {}
        for pairs in self._store.read(namespace, _pairs):
            for key, neighbors in pairs:
                if key in wanted:
                    found[key] = list(neighbors)
        return found

    def append(
        self, namespace: str, keys: Sequence[str], neighbors: Sequence[Sequence[str]]
    ) -> Path | None:
        """Write one part file with ``neighbors[i]`` of text ``keys[i]``. Returns its path."""
        if not keys:
            return None
        table = pa.table(
            {
                "text_sha256": pa.array(list(keys), type=pa.string()),
                COLUMN: pa.array([list(n) for n in neighbors], type=pa.list_(pa.string())),
            }
        )
        return self._store.append(namespace, table)


def _pairs(table: pa.Table) -> list[tuple[str, list[str]]]:
    """``(text key, neighbors)`` of each row of a part (of either column name)."""
    column = COLUMN if COLUMN in table.column_names else LEGACY_COLUMN
    return list(
        zip(
            table.column("text_sha256").to_pylist(),
            table.column(column).to_pylist(),
            strict=True,
        )
    )


_RENAMED = {"NeighbourCache": "NeighborCache", "NEIGHBOUR_CACHE_VERSION": "NEIGHBOR_CACHE_VERSION"}


def __getattr__(name: str) -> object:
    return renamed_attribute(__name__, name, _RENAMED, globals())

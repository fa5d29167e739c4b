"""A keyed store of Parquet part files: the mechanics that every miakit cache shares.

Layout: ``<root>/<namespace>/part-<uuid4 hex>.<sha256 prefix>.parquet``. A *namespace* is a
folder named by a hash of everything that changes the cached values (the caller computes
it); inside it, each append writes one new, immutable part, and a read goes over the parts in
sorted name order.
What a row holds and how it is keyed (normally a text's SHA-256) is the caller's business:
:class:`miakit.signals.cache.SignalCache` and :class:`miakit.perturb.cache.NeighborCache`
are thin users that build and decode the tables.

Durability (see :mod:`miakit._core.io`): every part is written through
:func:`~miakit._core.io.atomic_path` (temporary file in the namespace folder, fsync, atomic
rename, fsync of the folder), so a crash never leaves a half-written part under a ``part-*``
name. A part that still fails to read (a disk fault, a file copied in truncated) is reported
with a warning, removed, and skipped: its rows count as not cached, so the caller recomputes
and appends them again; a corrupt part never makes a namespace unusable. Each part's name
carries the first 32 hex digits of its bytes' SHA-256, checked on every read, so a part
damaged on disk after it was written (a flipped bit anywhere, metadata included) is caught
too rather than read back as different numbers. Parts written before names carried a digest
(``part-<uuid4 hex>.parquet``) are still read, without that check. Temporary files left
by crashed writers (``.tmp-*``) are removed before each read and append once stale, never
while a concurrent writer may still be using them.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from miakit._core.io import atomic_write_bytes, clean_stale_temporaries, discard_unreadable

R = TypeVar("R")

#: What a failed read raises: pyarrow's errors, a missing file, a missing column (``KeyError``),
#: malformed values (``ValueError``, ``IndexError``) and a column of the wrong type
#: (``TypeError``); a part whose bytes do not match the digest in its name raises
#: :class:`DamagedPartError` (a ``ValueError``).
UNREADABLE = (pa.ArrowException, OSError, KeyError, ValueError, TypeError, IndexError)

#: Hex digits of the bytes' SHA-256 carried in a part's name.
DIGEST_HEX = 32
_DIGEST_NAME = re.compile(rf"^part-[0-9a-f]+\.([0-9a-f]{{{DIGEST_HEX}}})\.parquet$")


class DamagedPartError(ValueError):
    """A part's bytes differ from the digest its name records."""


class PartStore:
    """Parquet parts under ``root``, one folder per namespace.

    Args:
        root: the cache folder (created on the first append).
        what: what a part is, in the warning about an unreadable one (e.g. ``"signal cache
            part"``).
    """

    def __init__(self, root: str | os.PathLike[str], *, what: str) -> None:
        self.root = Path(root)
        self.what = what

    def folder(self, namespace: str) -> Path:
        return self.root / namespace

    def parts(self, namespace: str) -> list[Path]:
        """The namespace's part files, sorted by name, after removing its stale temporary
        files (``[]`` when the namespace does not exist)."""
        folder = self.folder(namespace)
        if not folder.is_dir():
            return []
        clean_stale_temporaries(folder)
        return sorted(folder.glob("part-*.parquet"))

    def read(self, namespace: str, decode: Callable[[pa.Table], R]) -> Iterator[R]:
        """``decode(table)`` of each readable part, in :meth:`parts` order.

        A part whose read or ``decode`` raises one of :data:`UNREADABLE` is reported (a
        ``UserWarning`` naming it), removed and skipped. ``decode`` should therefore touch every
        column the caller needs, so that a damaged part is caught here rather than later.
        """
        for part in self.parts(namespace):
            try:
                value = decode(_read_checked(part))
            except UNREADABLE as exc:
                discard_unreadable(part, exc, what=self.what)
                continue
            yield value

    def append(self, namespace: str, table: pa.Table) -> Path:
        """Write ``table`` as a new part of ``namespace``, durably and atomically (the folder is
        created if needed). Returns the part's path."""
        folder = self.folder(namespace)
        folder.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(folder)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        data = sink.getvalue().to_pybytes()
        digest = hashlib.sha256(data).hexdigest()[:DIGEST_HEX]
        return atomic_write_bytes(folder / f"part-{uuid.uuid4().hex}.{digest}.parquet", data)


def _read_checked(part: Path) -> pa.Table:
    """The table of ``part``, after checking its bytes against the digest in its name (parts
    named without one are read unchecked)."""
    data = part.read_bytes()
    match = _DIGEST_NAME.match(part.name)
    if match is not None and hashlib.sha256(data).hexdigest()[:DIGEST_HEX] != match.group(1):
        raise DamagedPartError(f"its bytes do not match the SHA-256 prefix {match.group(1)}")
    return pq.read_table(pa.BufferReader(data))


__all__ = ["DIGEST_HEX", "UNREADABLE", "DamagedPartError", "PartStore"]

"""Durable atomic writes: the one way miakit writes a file that is later read back.

Every file that a later run reads as a cache entry, a shard or an output is written the same
way (:func:`atomic_path`):

1. the content goes to a temporary file in the *same folder* as the final name (so the rename
   below never crosses a file system), named ``.tmp-<host>.<pid>.<random>-<final name>``;
2. the temporary file is flushed and ``fsync``-ed, so its bytes are on disk;
3. ``os.replace`` gives it the final name (atomic: a reader sees the old file or the new one,
   never a mix);
4. the folder is ``fsync``-ed, so the rename itself survives a power loss.

An exception while writing removes the temporary file and leaves the previous file intact. A
process killed mid-write leaves its temporary file behind; :func:`clean_stale_temporaries`
removes such leftovers, but only stale ones (their writer's process is gone on this host, or
they are older than ``max_age_s``), so a concurrent writer's file is never deleted under it.

Folders (a saved model) are written the same way with :func:`atomic_folder`: every file in the
temporary folder and the folder itself are fsynced before the rename, then the parent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

#: Prefix of every temporary file and folder written by this module.
TMP_PREFIX = ".tmp-"
#: A temporary entry older than this (seconds) is stale whoever wrote it.
STALE_AFTER_S = 3600.0

_TMP_RE = re.compile(r"^\.tmp-([0-9a-f]{8})\.(\d+)\.[0-9a-f]+-")


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temp_path(final: str | os.PathLike[str]) -> Path:
    """A fresh temporary name next to ``final`` that records this host and process."""
    final = Path(final)
    tag = f"{_host_tag()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    return final.with_name(f"{TMP_PREFIX}{tag}-{final.name}")


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush ``path``'s data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (names created or renamed in it) to disk; a no-op where the
    platform cannot open folders (Windows)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``path`` durably.

    Use it for writers that need a path (``pyarrow.parquet.write_table``,
    ``DataFrame.to_parquet``). The writer must close the file before the block ends.

    Raises:
        Whatever the block raises; the temporary file is then removed and ``path`` untouched.
    """
    final = Path(path)
    tmp = temp_path(final)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
    fsync_dir(final.parent)


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)``, then move the result onto ``path`` durably. Returns ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` durably and atomically. Returns ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` durably and atomically. Returns ``path``."""
    return atomic_write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it replaces the folder ``path`` durably
    (an existing ``path`` is removed first, so a reader may briefly find no folder, but never a
    half-written one).

    Raises:
        Whatever the block raises; the temporary folder is then removed and ``path`` untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    tmp.mkdir()
    try:
        yield tmp
        for sub, _, files in os.walk(tmp):
            for name in files:
                fsync_file(Path(sub) / name)
            fsync_dir(sub)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
    fsync_dir(final.parent)


def discard_unreadable(path: str | os.PathLike[str], error: BaseException, *, what: str) -> None:
    """Report that ``path`` failed to read (``error``), and remove it so it is recomputed.

    A corrupt file must never make a cache unusable: its entries simply count as missing.
    """
    warnings.warn(
        f"{what} {path} could not be read ({type(error).__name__}: {error}); it was removed "
        "and its entries will be recomputed",
        UserWarning,
        stacklevel=3,
    )
    _remove(Path(path))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def is_stale(path: str | os.PathLike[str], *, max_age_s: float = STALE_AFTER_S) -> bool:
    """Whether a temporary entry is a leftover: written on this host by a process that is gone,
    or last modified more than ``max_age_s`` seconds ago."""
    path = Path(path)
    match = _TMP_RE.match(path.name)
    if match and match.group(1) == _host_tag():
        pid = int(match.group(2))
        if pid != os.getpid() and not _pid_alive(pid):
            return True
    try:
        return time.time() - path.stat().st_mtime > max_age_s
    except FileNotFoundError:
        return False


def clean_stale_temporaries(
    folder: str | os.PathLike[str], *, max_age_s: float = STALE_AFTER_S
) -> list[Path]:
    """Remove the stale ``.tmp-*`` entries of ``folder`` (see :func:`is_stale`). Returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.glob(f"{TMP_PREFIX}*"):
        if is_stale(entry, max_age_s=max_age_s):
            _remove(entry)
            removed.append(entry)
    return removed


__all__ = [
    "STALE_AFTER_S",
    "TMP_PREFIX",
    "atomic_folder",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "clean_stale_temporaries",
    "discard_unreadable",
    "fsync_dir",
    "fsync_file",
    "is_stale",
    "temp_path",
]

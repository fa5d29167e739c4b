"""SHA-256 digests of model files, hashed in parallel and cached across runs by file identity.

A model's fingerprint (:func:`miakit.backends.hf.files.fingerprint_files`) is built from the
SHA-256 of each weight and configuration file. Hashing gigabytes on every run is the slow part
(5.9 s for two checkpoints in the issue-15 profile), so each file's digest is remembered:

* **in the process**, and
* **on disk**, when the caller gives a folder (the runner passes ``<cache_dir>/fingerprints``;
  ``--no-cache`` passes none): one small JSON record per file, named by the SHA-256 of its
  real path, written atomically and durably with :mod:`miakit._core.io`. A record that cannot
  be read or does not parse is recomputed and overwritten, never an error.

**The key** is the file's identity as ``stat`` reports it: real path (symbolic links resolved,
so a Hugging Face hub snapshot keys on its blob), size, ``st_mtime_ns``, ``st_ctime_ns``,
inode and device. A digest is reused only when all six match; anything else hashes the file
again. So every ordinary rewrite is noticed: new bytes with a new size; an in-place write
(the kernel sets mtime and ctime); an atomic replace (``os.replace`` of a new file: a new
inode); a copy or move elsewhere (a new path, inode or device); even a write followed by
``os.utime`` restoring the old mtime, because ``utime`` itself sets the ctime to now and no
user call can set a ctime back.

**The limit** (the same trust that rsync's quick check and git's index put in ``stat``): a file
whose bytes change while its size, mtime, ctime, inode and device all stay the same is not
hashed again. On a local POSIX file system that needs something outside the normal write path:
writing the block device under the file system, moving the system clock back, or a file
system whose timestamps do not change on write (some FUSE and network mounts). Two guards
narrow the window further: a file whose identity changes while it is being hashed is hashed
again (and its digest is not kept if it never settles), and a digest is not kept at all while
the file's mtime or ctime is less than :data:`RACY_WINDOW_NS` old, so a second write within
the same timestamp tick ("racy git") cannot hide behind the first. Where this trust is not
acceptable, ``--no-cache`` (or deleting ``<cache_dir>/fingerprints``) hashes every file on
every run; within one process the digests are still remembered by the same key.

**Why SHA-256**: it is the hash the fingerprints have always used, so keeping it leaves every
fingerprint, and with it every signal-cache entry, unchanged; and with the SHA extensions of
current x86 and ARM CPUs it is also the fastest strong hash in :mod:`hashlib` (on the 2-core
Xeon of the development machine: SHA-256 1,250 MB/s in memory, BLAKE2b 710, SHA-512 590).

**Speed** (``benchmarks/fingerprint.py``; ``benchmarks/README.md`` has the table). One file
is hashed at the speed of SHA-256 on one core, whatever the reading loop: on the H200 host
(16 cores) a 1 GiB file went at about 1.1 GB/s cold-ish or warm, both with the old 4 MiB
``read`` loop and with this one (``readinto`` into one reused 1 MiB buffer: no allocation per
block, and a block that fits the core's L2 cache is hashed from there: 8 and 16 MiB buffers
were no faster alone, and in parallel 16 MiB was 13% slower on the H200 host and 8 MiB
slower on the 2-core machine). What is gained is parallelism and the cache:
files are hashed in threads (``readinto`` and ``hashlib`` release the GIL), so four 256 MiB
shards took 0.24 s instead of 0.93 s there (4.4 GB/s), and a digest found in its record
costs a ``stat`` and a small JSON read, 0.3 to 0.5 ms for a whole 5-file model. A single-file
checkpoint is still hashed at ~1.1 GB/s the first time a machine sees it (5 s for a 5.6 GB
fp32 Pythia-1.4B): going past that would need a chunked hash, hence new fingerprints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from miakit._core.io import atomic_write_text, clean_stale_temporaries

#: Bytes read per ``readinto`` call.
CHUNK_BYTES = 1 << 20
#: A digest is kept (in the process or on disk) only once the file's mtime and ctime are at
#: least this old when its hashing starts: a write in the same timestamp tick as the hashing
#: could otherwise leave the stat key unchanged. Two seconds covers the coarsest common
#: timestamps (FAT's 2 s; ext4 and most others are far finer).
RACY_WINDOW_NS = 2_000_000_000
#: At most this many files are hashed at once.
MAX_THREADS = 8
#: Tries before a file that keeps changing while hashed is given up as unsettled.
_TRIES = 3
_FORMAT = 1


@dataclass(frozen=True)
class FileKey:
    """A file's identity as ``stat`` reports it: the key of its cached digest."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: str, st: os.stat_result) -> FileKey:
        return cls(path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)

    def settled(self, now_ns: int) -> bool:
        """Whether the file was last changed long enough before ``now_ns`` to keep its digest."""
        return max(self.mtime_ns, self.ctime_ns) <= now_ns - RACY_WINDOW_NS


#: Digests remembered in this process, shared by every cache object (keyed by file identity,
#: so sharing them is safe).
_MEMO: dict[FileKey, str] = {}
#: Record folders whose stale temporaries this process has removed.
_CLEANED: set[str] = set()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 (hex) of a file's bytes, read in :data:`CHUNK_BYTES` blocks into one buffer."""
    with open(path, "rb", buffering=0) as f:
        return _sha256_open(f)


def _sha256_open(f: Any) -> str:
    h = hashlib.sha256()
    buf = bytearray(CHUNK_BYTES)
    view = memoryview(buf)
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):  # a file system without read-ahead hints
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
    while n := f.readinto(buf):
        h.update(view[:n])
    return h.hexdigest()


def _hash_settled(path: str) -> tuple[str, FileKey | None]:
    """Hash ``path``; return its digest and the key it belongs to, or ``None`` for the key when
    the file kept changing while hashed or changed too recently to trust its stat key."""
    digest = ""
    for _ in range(_TRIES):
        start_ns = time.time_ns()
        with open(path, "rb", buffering=0) as f:
            before = FileKey.of(path, os.fstat(f.fileno()))
            digest = _sha256_open(f)
            after = FileKey.of(path, os.fstat(f.fileno()))
        # the name may now point to another file (an atomic replace while we read)
        if before == after == FileKey.of(path, os.stat(path)):
            return digest, before if before.settled(start_ns) else None
    return digest, None


class DigestCache:
    """SHA-256 digests of files, remembered by :class:`FileKey` in the process and, when
    ``root`` is given, in JSON records under ``root`` across processes.

    Args:
        root: folder of the records (created on first write); ``None`` keeps digests in this
            process only.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = None if root is None else Path(root).expanduser()

    def record_path(self, real_path: str) -> Path:
        """Where the record of the file at ``real_path`` (symbolic links resolved) lives."""
        if self.root is None:
            raise ValueError("this digest cache keeps no records (root is None)")
        name = hashlib.sha256(os.fsencode(real_path)).hexdigest()
        return self.root / f"{name}.json"

    def digests(self, paths: Sequence[str | os.PathLike[str]]) -> list[str]:
        """The SHA-256 (hex) of each file of ``paths``, in order; the files whose key is not
        cached are hashed, several at once in threads."""
        real = [os.path.realpath(p) for p in paths]
        out: dict[str, str] = {}
        missing: list[tuple[int, str]] = []
        for path in dict.fromkeys(real):
            key = FileKey.of(path, os.stat(path))
            digest = self._read(key)
            if digest is None:
                digest = _MEMO.get(key)
                if digest is not None:  # known to this process, not yet on disk
                    self._write(key, digest)
            if digest is None:
                missing.append((key.size, path))
            else:
                _MEMO[key] = digest
                out[path] = digest
        missing.sort(reverse=True)  # largest first, for an even spread over the threads
        threads = min(len(missing), MAX_THREADS, os.cpu_count() or 1)
        if threads > 1:
            with ThreadPoolExecutor(threads, thread_name_prefix="miakit-sha256") as pool:
                hashed = list(pool.map(_hash_settled, [p for _, p in missing]))
        else:
            hashed = [_hash_settled(p) for _, p in missing]
        for (_, path), (digest, kept) in zip(missing, hashed, strict=True):
            out[path] = digest
            if kept is not None:
                _MEMO[kept] = digest
                self._write(kept, digest)
        return [out[p] for p in real]

    def _read(self, key: FileKey) -> str | None:
        if self.root is None:
            return None
        try:
            record = json.loads(self.record_path(key.path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # unreadable or not JSON: recomputed and overwritten
            return None
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            return None
        digest = record.get("sha256")
        stored = {k: record.get(k) for k in asdict(key)}
        if stored != asdict(key) or not _is_sha256(digest):
            return None
        return str(digest)

    def _write(self, key: FileKey, digest: str) -> None:
        if self.root is None:
            return
        record = {"format": _FORMAT, **asdict(key), "sha256": digest}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if str(self.root) not in _CLEANED:  # leftovers of killed writers, once
                _CLEANED.add(str(self.root))
                clean_stale_temporaries(self.root)
            atomic_write_text(self.record_path(key.path), json.dumps(record, indent=1) + "\n")
        except OSError:  # a read-only or full cache: the digest is still right, only not kept
            pass


def _is_sha256(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


__all__ = ["CHUNK_BYTES", "RACY_WINDOW_NS", "DigestCache", "FileKey", "sha256_file"]

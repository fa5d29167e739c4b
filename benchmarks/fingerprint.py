"""Weight-fingerprint speed: hashing MB/s before and after, threads, and the cached lookup.

Writes random files in a temporary folder (removed at the end), then measures:

* one file of ``--size-mib``: the old 4 MiB ``read`` loop against :func:`sha256_file`, each
  cold-ish (the file's page cache dropped with ``POSIX_FADV_DONTNEED``; a virtual disk's host
  may still cache it) and warm;
* ``--shards`` files of the same total size hashed by :func:`cached_fingerprint` with 1 and
  with N threads (warm);
* :func:`cached_fingerprint` when every digest comes from its record (a new process) and from
  the in-process memo.

    PYTHONPATH=src python benchmarks/fingerprint.py --size-mib 512 --shards 4
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from miakit.backends.hf import digests
from miakit.backends.hf.files import cached_fingerprint, fingerprint_files


def _write(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size // (16 << 20)):
            f.write(os.urandom(16 << 20))
        f.write(os.urandom(size % (16 << 20)))
        f.flush()
        os.fsync(f.fileno())


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _old_sha256(path: Path) -> str:
    """The hashing loop of miakit before the digest cache."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _median_s(fn: Callable[[], object], reps: int, before: Callable[[], object]) -> float:
    times = []
    for _ in range(reps):
        before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the temporary files go")
    parser.add_argument("--chunk-mib", type=int, default=None, help="override CHUNK_BYTES")
    args = parser.parse_args()
    if args.chunk_mib:
        digests.CHUNK_BYTES = args.chunk_mib << 20
    digests.RACY_WINDOW_NS = 0  # the files were written a moment ago
    size = args.size_mib << 20
    mb = size / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="miakit-fp-", dir=args.dir))
    print(
        f"cpus {os.cpu_count()}, python {sys.version.split()[0]}, "
        f"chunk {digests.CHUNK_BYTES >> 20} MiB, {tmp}"
    )
    try:
        big = tmp / "model.safetensors"
        _write(big, size)
        for name, fn in (("before (4 MiB read)", _old_sha256), ("after (sha256_file)", None)):
            hash_fn = fn or digests.sha256_file
            cold = _median_s(lambda f=hash_fn: f(big), args.reps, lambda: _evict(big))
            warm = _median_s(lambda f=hash_fn: f(big), args.reps, lambda f=hash_fn: f(big))
            print(
                f"1 x {args.size_mib} MiB, {name}: cold-ish {mb / cold:,.0f} MB/s, "
                f"warm {mb / warm:,.0f} MB/s"
            )
        big.unlink()
        folder = tmp / "model"
        folder.mkdir()
        for i in range(args.shards):
            _write(folder / f"model-{i:05d}-of-{args.shards:05d}.safetensors", size // args.shards)
        (folder / "config.json").write_text("{}")
        expected = fingerprint_files(folder, None)
        for threads in sorted({1, min(args.shards, digests.MAX_THREADS, os.cpu_count() or 1)}):
            digests.MAX_THREADS = threads
            s = _median_s(lambda: cached_fingerprint(folder, None), args.reps, digests._MEMO.clear)
            print(
                f"{args.shards} shards, {threads} thread(s), warm: {mb / s:,.0f} MB/s ({s:.3f} s)"
            )
        root = tmp / "fingerprints"
        assert cached_fingerprint(folder, None, root) == expected
        s = _median_s(lambda: cached_fingerprint(folder, None, root), 20, digests._MEMO.clear)
        print(f"cached lookup from the records (a new process): {s * 1e3:.2f} ms")
        s = _median_s(lambda: cached_fingerprint(folder, None, root), 20, lambda: None)
        print(f"cached lookup, in-process: {s * 1e3:.2f} ms")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()

"""Durable atomic writes and the cleanup of stale temporary files."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from miakit._core import io


def test_bytes_and_text_round_trip_and_leave_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    assert io.atomic_write_bytes(target, b"\x00\x01abc") == target
    assert target.read_bytes() == b"\x00\x01abc"
    io.atomic_write_text(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_writer_form_gets_a_temporary_path_in_the_same_folder(tmp_path):
    seen = []

    def writer(p):
        seen.append(p)
        p.write_text("x")

    io.atomic_write(tmp_path / "f.txt", writer)
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".tmp-")
    assert (tmp_path / "f.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_every_write_is_fsynced_file_then_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    io.atomic_write_text(tmp_path / "f.txt", "x")
    assert len(synced) == 2
    assert os.path.basename(synced[0]).startswith(".tmp-")  # the data, before the rename
    assert synced[1] == os.path.realpath(tmp_path)  # then the folder that holds the new name


def test_an_exception_while_writing_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def failing(p):
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        io.atomic_write(target, failing)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_folder_form_replaces_the_folder_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.bin").write_text("old")
    with io.atomic_folder(target) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "w.bin").write_bytes(b"w")
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "sub",
        "sub/w.bin",
    ]
    with pytest.raises(RuntimeError), io.atomic_folder(target) as tmp:
        (tmp / "x").write_text("x")
        raise RuntimeError
    assert (target / "sub" / "w.bin").read_bytes() == b"w"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_only_stale_temporaries_are_cleaned(tmp_path):
    # a temporary of a live writer (this process) and a fresh foreign one are kept
    live = io.temp_path(tmp_path / "part-live.parquet")
    live.write_text("writing")
    fresh_foreign = tmp_path / ".tmp-part-other.parquet"
    fresh_foreign.write_text("someone else, just now")
    # a writer of this host that is gone, and an old leftover of unknown origin, are removed
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = tmp_path / f".tmp-{io._host_tag()}.{int(dead.stdout)}.abcd1234-part-x.parquet"
    gone.write_text("crashed")
    old = tmp_path / ".tmp-shard-00001.parquet-77"
    old.write_text("crashed long ago")
    hour_ago = time.time() - 2 * io.STALE_AFTER_S
    os.utime(old, (hour_ago, hour_ago))
    keep = tmp_path / "part-done.parquet"
    keep.write_text("data")
    removed = io.clean_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted([gone.name, old.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, fresh_foreign.name, keep.name]
    )

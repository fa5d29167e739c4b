"""Per-file digest cache of model fingerprints: same value as hashing everything, and a new
value whenever a file's bytes change through any normal write."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from miakit.backends.hf import digests
from miakit.backends.hf.digests import DigestCache, FileKey, sha256_file
from miakit.backends.hf.files import cached_fingerprint, fingerprint_files

MIB = 1 << 20
OLD_NS = 1_600_000_000 * 10**9  # an mtime long past


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test starts with an empty in-process memo, and trusts files written just now
    (the racy-write window is tested on its own)."""
    monkeypatch.setattr(digests, "_MEMO", {})
    monkeypatch.setattr(digests, "_CLEANED", set())
    monkeypatch.setattr(digests, "RACY_WINDOW_NS", 0)


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """The paths hashed from now on, in order."""
    seen: list[str] = []
    original = digests._sha256_open

    def counting(f):
        seen.append(f.name)
        return original(f)

    monkeypatch.setattr(digests, "_sha256_open", counting)
    return seen


def _legacy_fingerprint(folder: Path, gguf_file: str | None) -> str:
    """The fingerprint exactly as miakit computed it before the cache (eed9efc), written out
    independently so a change of the format cannot pass by changing both sides."""
    if gguf_file is not None:
        names = [gguf_file]
    else:
        names = sorted(
            p.name
            for p in folder.iterdir()
            if p.is_file()
            and (p.suffix in (".safetensors", ".json", ".bin", ".pt", ".pth", ".ckpt", ".pkl"))
            and "tokenizer" not in p.name
            and p.name not in ("special_tokens_map.json", "vocab.json")
        )
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode())
        h.update(hashlib.sha256((folder / name).read_bytes()).hexdigest().encode())
    return h.hexdigest()


def _model(folder: Path, *, seed: int = 0) -> Path:
    """A model-shaped folder: two weight shards (one over a read chunk), configs, tokenizer."""
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    (folder / "model-00001-of-00002.safetensors").write_bytes(rng.randbytes(9 * MIB + 123))
    (folder / "model-00002-of-00002.safetensors").write_bytes(rng.randbytes(3 * MIB))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "seed": seed}))
    (folder / "generation_config.json").write_text("{}")
    (folder / "tokenizer.json").write_text('{"not": "hashed"}')
    (folder / "special_tokens_map.json").write_text("{}")
    return folder


def _key(path: Path) -> FileKey:
    real = os.path.realpath(path)
    return FileKey.of(real, os.stat(real))


def _records(root: Path) -> list[Path]:
    return sorted(root.glob("*.json"))


def _new_ctime(path: Path, before: FileKey) -> None:
    """Wait until ``path``'s ctime differs from ``before``'s: two writes in one timestamp tick
    share a ctime, which is the racy case that :data:`digests.RACY_WINDOW_NS` guards."""
    for _ in range(1000):
        if _key(path).ctime_ns != before.ctime_ns:
            return
        time.sleep(0.005)
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # sets ctime to now, mtime kept
    pytest.fail("the file system never changed the ctime")


def test_sha256_file_matches_hashlib(tmp_path):
    for size in (0, 1, digests.CHUNK_BYTES, digests.CHUNK_BYTES + 1, 2 * digests.CHUNK_BYTES):
        path = tmp_path / f"f{size}"
        path.write_bytes(os.urandom(size))
        assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_cached_fingerprint_is_bit_identical_to_fingerprint_files(tmp_path, hashed):
    folder = _model(tmp_path / "m")
    root = tmp_path / "fingerprints"
    legacy = _legacy_fingerprint(folder, None)
    assert fingerprint_files(folder, None) == legacy
    assert cached_fingerprint(folder, None) == legacy  # in-process memo only
    assert cached_fingerprint(folder, None, root) == legacy  # records written
    assert len(_records(root)) == 4  # two shards and two configs, no tokenizer file
    digests._MEMO.clear()  # a new process
    hashed.clear()
    assert cached_fingerprint(folder, None, root) == legacy  # from the records alone
    assert hashed == []


def test_gguf_fingerprint_is_bit_identical(tmp_path):
    (tmp_path / "m.gguf").write_bytes(os.urandom(MIB))
    root = tmp_path / "fp"
    expected = _legacy_fingerprint(tmp_path, "m.gguf")
    assert fingerprint_files(tmp_path, "m.gguf") == expected
    assert cached_fingerprint(tmp_path, "m.gguf", root) == expected
    digests._MEMO.clear()
    assert cached_fingerprint(tmp_path, "m.gguf", root) == expected


def test_record_holds_the_key_and_the_digest(tmp_path):
    folder = _model(tmp_path / "m")
    cache = DigestCache(tmp_path / "fp")
    weights = folder / "model-00002-of-00002.safetensors"
    cache.digests([weights])
    record = json.loads(cache.record_path(os.path.realpath(weights)).read_text())
    assert record == {
        "format": 1,
        **dataclasses.asdict(_key(weights)),
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }


def _rewrite_one_byte(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.skipif(os.name != "posix", reason="st_ctime is the creation time on Windows")
@pytest.mark.parametrize("new_process", [False, True], ids=["same process", "new process"])
def test_in_place_byte_change_with_mtime_restored_is_noticed(tmp_path, new_process):
    """Same size, same inode, mtime put back with ``os.utime``: only the ctime tells, and
    ``utime`` itself sets the ctime to now."""
    folder = _model(tmp_path / "m")
    root = tmp_path / "fp"
    weights = folder / "model-00001-of-00002.safetensors"
    before_fp = cached_fingerprint(folder, None, root)
    before = _key(weights)
    _rewrite_one_byte(weights)
    os.utime(weights, ns=(before.mtime_ns, before.mtime_ns))
    _new_ctime(weights, before)
    after = _key(weights)
    assert (after.size, after.mtime_ns, after.inode) == (before.size, before.mtime_ns, before.inode)
    if new_process:
        digests._MEMO.clear()
    assert cached_fingerprint(folder, None, root) == fingerprint_files(folder, None) != before_fp


def test_in_place_write_with_a_new_mtime_is_noticed(tmp_path):
    folder = _model(tmp_path / "m")
    root = tmp_path / "fp"
    weights = folder / "model-00001-of-00002.safetensors"
    os.utime(weights, ns=(OLD_NS, OLD_NS))
    before_fp = cached_fingerprint(folder, None, root)
    before = _key(weights)
    _rewrite_one_byte(weights)  # the kernel sets a new mtime
    assert _key(weights).mtime_ns != before.mtime_ns
    assert _key(weights).size == before.size
    digests._MEMO.clear()
    assert cached_fingerprint(folder, None, root) == fingerprint_files(folder, None) != before_fp


def test_atomic_replace_with_same_size_and_mtime_is_noticed(tmp_path):
    """A save through a temporary file and ``os.replace`` gives a new inode, even when the
    new file has the old size and mtime."""
    folder = _model(tmp_path / "m")
    root = tmp_path / "fp"
    weights = folder / "model-00002-of-00002.safetensors"
    os.utime(weights, ns=(OLD_NS, OLD_NS))
    before_fp = cached_fingerprint(folder, None, root)
    before = _key(weights)
    tmp = folder / ".tmp-weights"
    tmp.write_bytes(os.urandom(before.size))
    os.utime(tmp, ns=(OLD_NS, OLD_NS))
    os.replace(tmp, weights)
    after = _key(weights)
    assert (after.size, after.mtime_ns) == (before.size, before.mtime_ns)
    assert after.inode != before.inode
    digests._MEMO.clear()
    assert cached_fingerprint(folder, None, root) == fingerprint_files(folder, None) != before_fp


def test_size_change_is_noticed(tmp_path):
    folder = _model(tmp_path / "m")
    root = tmp_path / "fp"
    config = folder / "config.json"
    os.utime(config, ns=(OLD_NS, OLD_NS))
    before_fp = cached_fingerprint(folder, None, root)
    before = _key(config)
    config.write_text(json.dumps({"model_type": "llama", "seed": 10}))
    os.utime(config, ns=(OLD_NS, OLD_NS))
    assert _key(config).size != before.size
    digests._MEMO.clear()
    assert cached_fingerprint(folder, None, root) == fingerprint_files(folder, None) != before_fp


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(FileKey)])
def test_every_field_of_the_key_is_checked(tmp_path, field, hashed):
    """A record whose key differs from the file's in any one field is not used."""
    path = tmp_path / "w.safetensors"
    path.write_bytes(os.urandom(MIB))
    cache = DigestCache(tmp_path / "fp")
    truth = cache.digests([path])[0]
    record_path = cache.record_path(os.path.realpath(path))
    record = json.loads(record_path.read_text())
    record[field] = record[field] + "x" if field == "path" else record[field] + 1
    record["sha256"] = "0" * 64  # a wrong digest, to see whether the record is used
    record_path.write_text(json.dumps(record))
    digests._MEMO.clear()
    hashed.clear()
    assert cache.digests([path]) == [truth]
    assert len(hashed) == 1
    assert json.loads(record_path.read_text())["sha256"] == truth  # overwritten


def test_the_documented_limit_a_matching_key_is_trusted(tmp_path):
    """What the cache cannot see: a record whose key still matches the file is believed (the
    rsync/git policy). This only happens if the bytes change with size, mtime, ctime, inode
    and device all unchanged, which no normal write does."""
    path = tmp_path / "w.safetensors"
    path.write_bytes(os.urandom(MIB))
    cache = DigestCache(tmp_path / "fp")
    cache.digests([path])
    record_path = cache.record_path(os.path.realpath(path))
    record = json.loads(record_path.read_text())
    record["sha256"] = "0" * 64
    record_path.write_text(json.dumps(record))
    digests._MEMO.clear()
    assert cache.digests([path]) == ["0" * 64]


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\xff garbage", b'{"format": 1, "sha256": ', b"[1, 2]", b'{"format": 1}', None],
    ids=["empty", "binary", "truncated", "not a dict", "no fields", "bad digest"],
)
def test_corrupt_record_is_recomputed_and_overwritten(tmp_path, content, hashed):
    folder = _model(tmp_path / "m")
    root = tmp_path / "fp"
    expected = cached_fingerprint(folder, None, root)
    for record_path in _records(root):
        if content is None:
            record = json.loads(record_path.read_text())
            record["sha256"] = "not-a-digest"
            record_path.write_text(json.dumps(record))
        else:
            record_path.write_bytes(content)
    digests._MEMO.clear()
    hashed.clear()
    assert cached_fingerprint(folder, None, root) == expected
    assert len(hashed) == 4
    digests._MEMO.clear()
    hashed.clear()
    assert cached_fingerprint(folder, None, root) == expected  # the records were rewritten
    assert hashed == []


def test_a_copy_has_the_same_fingerprint_and_its_own_records(tmp_path, hashed):
    folder = _model(tmp_path / "m")
    root = tmp_path / "fp"
    first = cached_fingerprint(folder, None, root)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    hashed.clear()
    assert cached_fingerprint(copy, None, root) == first  # content, not place
    assert len(hashed) == 4  # the copy's files are other files: hashed, not looked up
    assert len(_records(root)) == 8
    other = _model(tmp_path / "other", seed=1)
    assert cached_fingerprint(other, None, root) != first


def test_a_symlinked_folder_shares_the_target_records(tmp_path, hashed):
    """A hub-style snapshot of symbolic links keys on the files they point to."""
    folder = _model(tmp_path / "blobs")
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    for p in folder.iterdir():
        (snapshot / p.name).symlink_to(p)
    root = tmp_path / "fp"
    first = cached_fingerprint(folder, None, root)
    hashed.clear()
    assert cached_fingerprint(snapshot, None, root) == first
    assert hashed == []
    assert len(_records(root)) == 4


def test_a_file_changed_within_the_racy_window_is_not_kept(tmp_path, monkeypatch, hashed):
    monkeypatch.setattr(digests, "RACY_WINDOW_NS", 3600 * 10**9)
    folder = _model(tmp_path / "m")
    root = tmp_path / "fp"
    first = cached_fingerprint(folder, None, root)
    assert digests._MEMO == {}
    assert _records(root) == []
    hashed.clear()
    assert cached_fingerprint(folder, None, root) == first
    assert len(hashed) == 4  # hashed again: nothing was trusted


def test_a_file_that_changes_while_hashed_is_hashed_again(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    path.write_bytes(os.urandom(MIB))
    original = digests._sha256_open
    calls = []

    def racing(f):
        calls.append(1)
        digest = original(f)
        if len(calls) == 1:  # a writer replaces the bytes during the first read
            with open(path, "r+b") as g:
                g.write(b"changed")
        return digest

    monkeypatch.setattr(digests, "_sha256_open", racing)
    cache = DigestCache(tmp_path / "fp")
    assert cache.digests([path]) == [hashlib.sha256(path.read_bytes()).hexdigest()]
    assert len(calls) == 2


def test_an_unwritable_cache_is_not_an_error(tmp_path):
    folder = _model(tmp_path / "m")
    blocker = tmp_path / "fp"
    blocker.write_text("a file where the cache folder should be")
    assert cached_fingerprint(folder, None, blocker) == fingerprint_files(folder, None)


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    root = tmp_path / "fp"
    root.mkdir()
    stale = root / ".tmp-deadbeef.1.00000000-x.json"
    stale.write_text("{")
    os.utime(stale, (0, 0))
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"w")
    DigestCache(root).digests([path])
    assert not stale.exists()
    assert len(_records(root)) == 1


def test_runner_passes_the_cache_folder_and_no_cache_passes_none(tmp_path, monkeypatch):
    from miakit.backends.hf import LazyHFTokenScorer
    from miakit.config import make_config
    from miakit.pipeline.roles import load_scorer

    specs = []
    monkeypatch.setattr(
        LazyHFTokenScorer, "load", classmethod(lambda cls, spec, name: specs.append(spec))
    )
    for no_cache in (False, True):
        config = make_config(
            {"model": str(tmp_path), "cache_dir": str(tmp_path / "c"), "no_cache": no_cache}
        )
        load_scorer(config, "target")
    assert [s.fingerprint_cache for s in specs] == [tmp_path / "c" / "fingerprints", None]

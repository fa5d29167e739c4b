"""The keyed part-file store, and the two caches built on it reading parts written before it.

``data/base_parts/`` holds parts written by the caches' code at commit 23acaf3, before they
shared :class:`PartStore` (``data/make_base_parts.py`` says how): an existing cache must still
hit, with the same namespaces, keys and values.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from miakit._core.io import STALE_AFTER_S
from miakit._core.parts import PartStore
from miakit.perturb.cache import NeighborCache
from miakit.signals.cache import CachedRow, SignalCache, text_key

BASE = Path(__file__).parent / "data" / "base_parts"
# the inputs make_base_parts.py wrote them from
SIGNAL_NS_PARTS = {"model": "tiny-llama@abc123", "context": "plain", "max_length": 64}
NEIGHBOR_IDENTITY = {"kind": "fixed", "model": "t5-small@def456"}
TEXTS = ["The cat sat on the mat.", "Ünïcödé text, with a tab\tand a newline\n."]
SIGNAL_NS = "d77d844d13ad774df1f7d1b7"
NEIGHBOR_NS = "00f55d1e1c4b5c64352967e4"


def _keys(table: pa.Table) -> list[str]:
    return table.column("k").to_pylist()


def test_round_trip_in_sorted_part_order(tmp_path):
    store = PartStore(tmp_path, what="toy part")
    assert store.parts("ns") == [] and list(store.read("ns", _keys)) == []
    first = store.append("ns", pa.table({"k": ["a", "b"]}))
    second = store.append("ns", pa.table({"k": ["c"]}))
    assert first.parent == tmp_path / "ns" == store.folder("ns")
    assert first.name.startswith("part-") and first.suffix == ".parquet"
    assert store.parts("ns") == sorted([first, second])
    expected = [["a", "b"] if p == first else ["c"] for p in sorted([first, second])]
    assert list(store.read("ns", _keys)) == expected
    assert [p.name for p in store.folder("ns").iterdir() if p.name.startswith(".tmp-")] == []


def test_a_corrupt_part_is_reported_removed_and_skipped(tmp_path):
    store = PartStore(tmp_path, what="toy part")
    broken = store.append("ns", pa.table({"k": ["a"]}))
    store.append("ns", pa.table({"k": ["b"]}))
    broken.write_bytes(broken.read_bytes()[:20])
    with pytest.warns(UserWarning, match=f"toy part .*{broken.name}.*removed.*recomputed"):
        assert list(store.read("ns", _keys)) == [["b"]]
    assert not broken.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(store.read("ns", _keys)) == [["b"]]


def test_a_part_that_decode_rejects_is_discarded_too(tmp_path):
    store = PartStore(tmp_path, what="toy part")
    wrong = store.append("ns", pa.table({"other": [1]}))  # no column "k": KeyError
    with pytest.warns(UserWarning, match="KeyError"):
        assert list(store.read("ns", _keys)) == []
    assert not wrong.exists()


def test_stale_temporaries_are_cleaned_and_fresh_ones_kept(tmp_path):
    store = PartStore(tmp_path, what="toy part")
    store.append("ns", pa.table({"k": ["a"]}))
    stale = store.folder("ns") / ".tmp-00000000.1.abcd-part-x.parquet"
    fresh = store.folder("ns") / f".tmp-00000000.{os.getpid()}.abcd-part-y.parquet"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - STALE_AFTER_S - 10
    os.utime(stale, (old, old))
    assert store.parts("ns") == sorted(store.folder("ns").glob("part-*.parquet"))
    assert not stale.exists() and fresh.exists()


@pytest.fixture
def base_cache(tmp_path):
    shutil.copytree(BASE, tmp_path / "base")
    return tmp_path / "base"


def test_the_namespaces_and_keys_are_unchanged():
    assert SignalCache.namespace(SIGNAL_NS_PARTS) == SIGNAL_NS
    assert NeighborCache.namespace(NEIGHBOR_IDENTITY, m=2, seed=7) == NEIGHBOR_NS
    assert [p.name for p in (BASE / "signals").iterdir()] == [SIGNAL_NS]
    assert [p.name for p in (BASE / "neighbors").iterdir()] == [NEIGHBOR_NS]


def test_a_signal_part_written_before_the_store_still_hits(base_cache):
    cache = SignalCache(base_cache / "signals")
    keys = [text_key(t) for t in TEXTS]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = cache.lookup(SIGNAL_NS, [*keys, text_key("absent")], ["token_log_prob"])
    assert set(got) == set(keys)
    first, second = got[keys[0]], got[keys[1]]
    np.testing.assert_array_equal(first.stats["token_log_prob"], [-1.5, -0.25, -3.0])
    assert first.stats["token_log_prob"].dtype == np.float32
    assert (first.n_text_tokens, first.truncated) == (3, False)
    np.testing.assert_array_equal(second.stats["token_log_prob"], [-0.125])
    assert (second.n_text_tokens, second.truncated) == (1, True)
    both = cache.lookup(SIGNAL_NS, keys, ["token_log_prob", "mean_log_prob"])
    np.testing.assert_array_equal(both[keys[0]].stats["mean_log_prob"], [-2.0, -1.0, -0.5])
    assert cache.lookup(SIGNAL_NS, keys, ["token_rank"]) == {}  # not in that part


def test_a_signal_part_written_now_equals_the_old_one(tmp_path):
    (old,) = (BASE / "signals" / SIGNAL_NS).glob("part-*.parquet")
    before = pq.read_table(old)
    rows = [
        CachedRow(
            stats={
                "token_log_prob": np.array([-1.5, -0.25, -3.0], dtype=np.float32),
                "mean_log_prob": np.array([-2.0, -1.0, -0.5], dtype=np.float32),
            },
            n_text_tokens=3,
            truncated=False,
        ),
        CachedRow(
            stats={
                "token_log_prob": np.array([-0.125], dtype=np.float32),
                "mean_log_prob": np.array([-4.0], dtype=np.float32),
            },
            n_text_tokens=1,
            truncated=True,
        ),
    ]
    keys = [text_key(t) for t in TEXTS]
    new = SignalCache(tmp_path).append(SIGNAL_NS, keys, rows, meta={"written_by": "23acaf3"})
    assert new is not None
    after = pq.read_table(new)
    assert after.schema.equals(before.schema, check_metadata=True)
    assert after.equals(before)


def test_a_neighbor_part_written_before_the_store_still_hits(base_cache, tmp_path):
    cache = NeighborCache(base_cache / "neighbors")
    keys = [text_key(t) for t in TEXTS]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = cache.lookup(NEIGHBOR_NS, [*keys, text_key("absent")])
    assert got == {keys[0]: ["a cat", "the mat"], keys[1]: ["ü"]}
    (old,) = (BASE / "neighbors" / NEIGHBOR_NS).glob("part-*.parquet")
    new = NeighborCache(tmp_path).append(NEIGHBOR_NS, keys, [["a cat", "the mat"], ["ü"]])
    assert new is not None
    # the one change since: the column's spelling (issue 11); the old name still reads (above)
    before = pq.read_table(old)
    assert before.column_names == ["text_sha256", "neighbours"]
    before = before.rename_columns(["text_sha256", "neighbors"])
    assert pq.read_table(new).equals(before)
    assert pq.read_table(new).schema.equals(before.schema, check_metadata=True)

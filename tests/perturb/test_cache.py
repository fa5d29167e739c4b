"""The neighbour cache: parts round-trip; a corrupt part is reported, removed and regenerated."""

from __future__ import annotations

import os
import time
import warnings

import pytest

from miakit._core.io import STALE_AFTER_S
from miakit.perturb.cache import NeighbourCache

NS = NeighbourCache.namespace({"kind": "fixed"}, m=2, seed=0)


def test_round_trip_and_no_temporary(tmp_path):
    cache = NeighbourCache(tmp_path)
    cache.append(NS, ["a", "b"], [["a1", "a2"], ["b1"]])
    assert cache.lookup(NS, ["a", "b", "c"]) == {"a": ["a1", "a2"], "b": ["b1"]}
    assert [p.name for p in (tmp_path / NS).iterdir() if p.name.startswith(".tmp-")] == []


def test_a_truncated_part_counts_as_missing_and_is_removed(tmp_path):
    cache = NeighbourCache(tmp_path)
    broken = cache.append(NS, ["a"], [["a1"]])
    cache.append(NS, ["b"], [["b1"]])
    assert broken is not None
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match=f"{broken.name}.*removed.*recomputed"):
        assert cache.lookup(NS, ["a", "b"]) == {"b": ["b1"]}
    assert not broken.exists()
    cache.append(NS, ["a"], [["a1"]])  # what the caller does with the missing rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.lookup(NS, ["a", "b"]) == {"a": ["a1"], "b": ["b1"]}


def test_stale_temporaries_are_cleaned(tmp_path):
    cache = NeighbourCache(tmp_path)
    cache.append(NS, ["a"], [["a1"]])
    stale = tmp_path / NS / ".tmp-part-crashed.parquet"
    stale.write_bytes(b"half")
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(stale, (old, old))
    cache.lookup(NS, ["a"])
    assert not stale.exists()

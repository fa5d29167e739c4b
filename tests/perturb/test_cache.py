"""The neighbor cache: parts round-trip; a corrupt part is reported, removed and regenerated;
caches and names of the spelling before issue 11 (``neighbours``) keep working."""

from __future__ import annotations

import logging
import os
import time
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from miakit._core.io import STALE_AFTER_S
from miakit.perturb.cache import NeighborCache

NS = NeighborCache.namespace({"kind": "fixed"}, m=2, seed=0)


def test_round_trip_and_no_temporary(tmp_path):
    cache = NeighborCache(tmp_path)
    cache.append(NS, ["a", "b"], [["a1", "a2"], ["b1"]])
    assert cache.lookup(NS, ["a", "b", "c"]) == {"a": ["a1", "a2"], "b": ["b1"]}
    assert [p.name for p in (tmp_path / NS).iterdir() if p.name.startswith(".tmp-")] == []


def test_a_truncated_part_counts_as_missing_and_is_removed(tmp_path):
    cache = NeighborCache(tmp_path)
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
    cache = NeighborCache(tmp_path)
    cache.append(NS, ["a"], [["a1"]])
    stale = tmp_path / NS / ".tmp-part-crashed.parquet"
    stale.write_bytes(b"half")
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(stale, (old, old))
    cache.lookup(NS, ["a"])
    assert not stale.exists()


def test_the_old_folder_name_is_adopted_once(tmp_path, caplog):
    """A cache of the spelling before issue 11 (``neighbours/``) keeps serving its neighbors."""
    NeighborCache(tmp_path / "neighbours").append(NS, ["a"], [["a1"]])
    with caplog.at_level(logging.INFO, logger="miakit"):
        cache = NeighborCache.in_cache_dir(tmp_path)
    assert cache.root == tmp_path / "neighbors"
    assert not (tmp_path / "neighbours").exists()
    assert "renamed the neighbor cache" in caplog.text
    assert cache.lookup(NS, ["a"]) == {"a": ["a1"]}


def test_the_old_folder_is_named_not_merged_when_both_exist(tmp_path, caplog):
    NeighborCache(tmp_path / "neighbours").append(NS, ["a"], [["old"]])
    NeighborCache(tmp_path / "neighbors").append(NS, ["b"], [["new"]])
    with caplog.at_level(logging.WARNING, logger="miakit"):
        cache = NeighborCache.in_cache_dir(tmp_path)
    assert "neighbours" in caplog.text and "is not read" in caplog.text
    assert cache.lookup(NS, ["a", "b"]) == {"b": ["new"]}
    assert (tmp_path / "neighbours").is_dir()  # left for the user


def test_a_part_with_the_old_column_name_reads(tmp_path):
    folder = tmp_path / NS
    folder.mkdir()
    table = pa.table({"text_sha256": ["a"], "neighbours": pa.array([["a1"]])})
    pq.write_table(table, folder / "part-0.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert NeighborCache(tmp_path).lookup(NS, ["a"]) == {"a": ["a1"]}


def test_the_old_names_still_import_with_a_warning():
    import miakit.attacks.neighborhood as nb
    import miakit.attacks.neighborhood_causal as nbc
    import miakit.perturb as perturb
    import miakit.perturb.cache as cache_module

    with pytest.warns(DeprecationWarning, match="NeighbourCache.*NeighborCache"):
        assert perturb.NeighbourCache is NeighborCache
    with pytest.warns(DeprecationWarning, match="NeighborCache"):
        assert cache_module.NeighbourCache is NeighborCache
    with pytest.warns(DeprecationWarning, match="NEIGHBOR_CACHE_VERSION"):
        assert cache_module.NEIGHBOUR_CACHE_VERSION == cache_module.NEIGHBOR_CACHE_VERSION
    with pytest.warns(DeprecationWarning, match="NEIGHBOR_EXTRA"):
        assert nb.NEIGHBOUR_EXTRA == nb.NEIGHBOR_EXTRA == "neighbor_nll"
    with pytest.warns(DeprecationWarning, match="compare_neighbors"):
        assert nb.compare_neighbours is nb.compare_neighbors
    with pytest.warns(DeprecationWarning, match="CAUSAL_NEIGHBOR_EXTRA"):
        assert nbc.CAUSAL_NEIGHBOUR_EXTRA == nbc.CAUSAL_NEIGHBOR_EXTRA
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = perturb.Nope

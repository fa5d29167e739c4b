"""Shards keep which text tokens and characters each table scored (``text_start``,
``kept_chars``), so span-aware attacks (recall, zlib, ...) behave the same sharded."""

from __future__ import annotations

import numpy as np

from miakit.backends.hf import HFTokenScorer
from miakit.signals.engine import SignalEngine
from miakit.signals.shards import ShardStore, WorkerInfo, compute_sharded
from tinymodels import build_llama, build_tokenizer

TEXTS = [f"Sample number {i} says something about topic {i % 3}." * (1 + i % 2) for i in range(5)]


def test_text_start_and_kept_chars_survive_sharding(tmp_path) -> None:
    tok = build_tokenizer(bos=False)
    engine = SignalEngine(HFTokenScorer(build_llama(len(tok)), tok), progress=False, max_length=50)

    def compute(chunk):
        return {("target", "plain"): engine.compute(chunk, stats=["token_log_prob"])}

    store = ShardStore(tmp_path, {"plan": 1})
    merged = compute_sharded(TEXTS, compute, store, shard_size=2, worker=WorkerInfo(0, 1))
    assert merged is not None
    got, full = merged[("target", "plain")], engine.compute(TEXTS, stats=["token_log_prob"])
    assert full.truncated.any() and not full.truncated.all()
    assert full.text_start is not None and full.kept_chars is not None
    assert got.text_start is not None and got.kept_chars is not None
    np.testing.assert_array_equal(got.text_start, full.text_start)
    np.testing.assert_array_equal(got.kept_chars, full.kept_chars)

"""Signals through resumable shards in ``<out>/shards`` (see :mod:`miakit.signals.shards`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from miakit._core.progress import Progress
from miakit.config import RunConfig
from miakit.signals.plan import SignalPlanner
from miakit.signals.table import TokenSignals

logger = logging.getLogger("miakit")


def compute_sharded(
    config: RunConfig, planner: SignalPlanner, texts: list[str], needs: list[Any], *, tick: Progress
) -> dict[tuple[str, str], TokenSignals] | None:
    """The signal tables of ``texts``, scored shard by shard (``None`` on a worker other than
    rank 0, once its shards are written; rank 0 merges every shard)."""
    from miakit.signals.shards import ShardStore, WorkerInfo, texts_digest
    from miakit.signals.shards import compute_sharded as run_shards

    worker = WorkerInfo.from_env()
    # everything that determines a shard's contents: each table's cache namespace (weights,
    # tokenizer, context with its prefix text, max_length, BOS ids, dtype), not model paths
    plan = {
        "texts_sha256": texts_digest(texts),
        "n_texts": len(texts),
        "shard_size": config.shard_size,
        "tables": planner.table_identities(needs),
    }
    store = ShardStore(Path(config.out) / "shards", plan)

    shard_size = int(config.shard_size or 0)
    n_shards = max(1, -(-len(texts) // shard_size))
    n_mine = len(range(worker.rank, n_shards, worker.world))
    done = 0

    def say(msg: str) -> None:
        nonlocal done
        if not msg.endswith("rewritten"):  # rank 0 re-scoring a corrupt shard is no new one
            done = min(done + 1, n_mine)
        line = f"[rank {worker.rank}/{worker.world}] {msg}"
        logger.info("%s", line)
        tick("shards", done, n_mine, line)

    return run_shards(
        texts,
        lambda chunk: planner.compute(chunk, needs),
        store,
        shard_size=shard_size,
        worker=worker,
        on_progress=say,
    )

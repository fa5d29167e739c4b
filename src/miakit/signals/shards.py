"""Sharded, resumable signal computation across processes, GPUs and nodes.

The texts of a run are cut into contiguous shards of ``shard_size`` texts (deterministic:
shard ``i`` holds texts ``[i * shard_size, (i + 1) * shard_size)``). Worker ``rank`` of
``world`` workers scores shards ``rank, rank + world, ...``: every table the run needs, for the
texts of the shard. Each finished shard is written to ``shard-IIIII.parquet`` through a
temporary file and an atomic rename, then recorded in ``manifest.jsonl`` (one JSON line per
shard, appended and fsynced). A rerun skips shards that are finished; the merge reads the shards
in index order, so the result does not depend on which worker scored what.

Crash safety:

* killed while writing a shard: only ``.tmp-*`` exists; the shard is redone (the temporary file
  is removed);
* killed between the rename and the manifest line: the file is complete (the rename is atomic),
  so it is verified and recorded on the next run;
* killed while appending the manifest line: a malformed last line is ignored.

Launch one worker per GPU with ``torchrun`` (which also spans nodes); each worker reads
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. Rank 0 waits for every shard, merges and runs the
attacks; the other ranks exit once their shards are written. The same scheme maps onto a
cluster scheduler (SLURM arrays) or Ray Data (``read → map_batches(score_shard) → write``),
because a shard is an idempotent unit of work identified by its index.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from miakit.errors import InvalidParameterError, MiakitError
from miakit.signals.spec import TOKEN_STATS
from miakit.signals.table import TokenSignals

TableKey = tuple[str, str]
ComputeFn = Callable[[Sequence[str]], Mapping[TableKey, TokenSignals]]


@dataclass(frozen=True)
class WorkerInfo:
    """Which worker this process is."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerInfo:
        """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (set by torchrun); defaults 0/1/0."""
        env = os.environ if environ is None else environ
        try:
            rank = int(env.get("RANK", "0"))
            world = int(env.get("WORLD_SIZE", "1"))
            local = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError as exc:
            raise InvalidParameterError(
                f"RANK/WORLD_SIZE/LOCAL_RANK must be integers: {exc}"
            ) from exc
        if world < 1 or not 0 <= rank < world:
            raise InvalidParameterError(f"invalid RANK={rank} for WORLD_SIZE={world}")
        return cls(rank=rank, world=world, local_rank=local)


def _key_name(key: TableKey) -> str:
    return f"{key[0]}|{key[1]}"


def _parse_key(name: str) -> TableKey:
    model, context = name.split("|", 1)
    return model, context


class ShardStore:
    """The shard files and manifest of one run folder.

    Args:
        folder: where shards live (e.g. ``<out>/shards``).
        plan: what the shards are for (texts digest, shard size, tables, model identities);
            a folder made for another plan is refused rather than silently mixed.
    """

    def __init__(self, folder: str | os.PathLike[str], plan: Mapping[str, Any]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.plan = dict(plan)
        plan_file = self.folder / "plan.json"
        if plan_file.is_file():
            existing = json.loads(plan_file.read_text(encoding="utf-8"))
            if existing != self.plan:
                raise MiakitError(
                    f"{self.folder} holds shards of a different run (other texts, shard size, "
                    "attacks or models); use another --out or delete that folder"
                )
        else:
            tmp = self.folder / f".tmp-plan-{os.getpid()}.json"
            tmp.write_text(json.dumps(self.plan, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, plan_file)
        self.manifest = self.folder / "manifest.jsonl"

    def path(self, index: int) -> Path:
        return self.folder / f"shard-{index:05d}.parquet"

    def recorded(self) -> dict[int, dict[str, Any]]:
        """Manifest entries by shard index (a torn last line is ignored)."""
        out: dict[int, dict[str, Any]] = {}
        if not self.manifest.is_file():
            return out
        for line in self.manifest.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                out[int(entry["shard"])] = entry
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def _record(self, index: int, path: Path) -> None:
        entry = {"shard": index, "file": path.name, "bytes": path.stat().st_size}
        line = json.dumps(entry) + "\n"
        if self.manifest.is_file() and self.manifest.stat().st_size:
            with open(self.manifest, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a torn line from a crash: start a fresh line
                    line = "\n" + line
        fd = os.open(self.manifest, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def done(self, index: int) -> bool:
        """Whether shard ``index`` is finished (recovering a record lost in a crash)."""
        path = self.path(index)
        if not path.is_file():
            return False
        if index not in self.recorded():
            try:
                pq.read_metadata(path)
            except Exception:  # a complete rename never yields this; be safe anyway
                path.unlink()
                return False
            self._record(index, path)
        return True

    def write(self, index: int, tables: Mapping[TableKey, TokenSignals]) -> Path:
        """Write one shard atomically, then record it."""
        columns: dict[str, list[Any]] = {"table": [], "row": [], "n_text_tokens": []}
        columns["truncated"] = []
        columns["text_start"], columns["kept_chars"] = [], []
        stats = sorted({s for t in tables.values() for s in t.stats}, key=_stat_order)
        for s in stats:
            columns[s] = []
        for key, table in sorted(tables.items()):
            for i in range(table.n_samples):
                columns["table"].append(_key_name(key))
                columns["row"].append(i)
                columns["n_text_tokens"].append(int(table.n_text_tokens[i]))
                columns["truncated"].append(bool(table.truncated[i]))
                for name in ("text_start", "kept_chars"):  # -1: not recorded
                    known = getattr(table, name)
                    columns[name].append(-1 if known is None else int(known[i]))
                a, b = int(table.offsets[i]), int(table.offsets[i + 1])
                for s in stats:
                    columns[s].append(table.stats[s][a:b] if s in table.stats else None)
        arrays = {
            "table": pa.array(columns["table"], pa.string()),
            "row": pa.array(columns["row"], pa.int64()),
            "n_text_tokens": pa.array(columns["n_text_tokens"], pa.int64()),
            "truncated": pa.array(columns["truncated"], pa.bool_()),
            "text_start": pa.array(columns["text_start"], pa.int64()),
            "kept_chars": pa.array(columns["kept_chars"], pa.int64()),
        }
        for s in stats:
            arrays[s] = pa.array(
                [None if v is None else np.asarray(v, np.float32) for v in columns[s]],
                type=pa.list_(pa.float32()),
            )
        final = self.path(index)
        tmp = self.folder / f".tmp-{final.name}-{os.getpid()}"
        pq.write_table(pa.table(arrays), tmp)
        os.replace(tmp, final)
        self._record(index, final)
        return final

    def read(self, index: int) -> dict[TableKey, TokenSignals]:
        table = pq.read_table(self.path(index))
        cols = table.to_pydict()
        stats = [c for c in table.column_names if c in TOKEN_STATS or c.startswith("cross_")]
        by_key: dict[TableKey, list[int]] = {}
        for j, name in enumerate(cols["table"]):
            by_key.setdefault(_parse_key(name), []).append(j)
        out: dict[TableKey, TokenSignals] = {}
        for key, rows in by_key.items():
            rows.sort(key=lambda j: cols["row"][j])
            present = [s for s in stats if cols[s][rows[0]] is not None]
            lengths = [len(cols[present[0]][j]) if present else 0 for j in rows]
            offsets = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            out[key] = TokenSignals(
                offsets=offsets,
                stats={
                    s: np.asarray([v for j in rows for v in cols[s][j]], dtype=np.float32)
                    for s in present
                },
                truncated=np.array([cols["truncated"][j] for j in rows], dtype=bool),
                n_text_tokens=np.array([cols["n_text_tokens"][j] for j in rows], dtype=np.int64),
                text_start=_optional_column(cols, "text_start", rows),
                kept_chars=_optional_column(cols, "kept_chars", rows),
            )
        return out

    def clean_temporaries(self) -> None:
        for tmp in self.folder.glob(".tmp-shard-*"):
            tmp.unlink(missing_ok=True)


def _optional_column(cols: Mapping[str, list[Any]], name: str, rows: list[int]) -> Any:
    """Column ``name`` of ``rows`` as int64, or ``None`` where a shard (older files) or a
    table (-1 in ``text_start``) did not record it."""
    if name not in cols:
        return None
    values = np.array([cols[name][j] for j in rows], dtype=np.int64)
    return None if name == "text_start" and (values < 0).any() else values


def _stat_order(name: str) -> tuple[int, str]:
    return (TOKEN_STATS.index(name) if name in TOKEN_STATS else len(TOKEN_STATS), name)


def texts_digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(hashlib.sha256(t.encode("utf-8")).digest())
    return h.hexdigest()


def concat_tables(parts: Sequence[TokenSignals]) -> TokenSignals:
    """Concatenate per-shard tables of one (model, context) in order."""
    lengths = np.concatenate([p.n_scored for p in parts]) if parts else np.zeros(0, np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    stats = parts[0].stats.keys() if parts else []
    return TokenSignals(
        offsets=offsets,
        stats={s: np.concatenate([p.stats[s] for p in parts]) for s in stats},
        truncated=np.concatenate([p.truncated for p in parts]),
        n_text_tokens=np.concatenate([p.n_text_tokens for p in parts]),
        meta=dict(parts[0].meta) if parts else {},
        text_start=_joined([p.text_start for p in parts]),
        kept_chars=_joined([p.kept_chars for p in parts]),
    )


def _joined(parts: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """Per-sample arrays of the parts concatenated; ``None`` unless every part has one."""
    if not parts or any(p is None for p in parts):
        return None
    return np.concatenate([p for p in parts if p is not None])


def compute_sharded(
    texts: Sequence[str],
    compute: ComputeFn,
    store: ShardStore,
    *,
    shard_size: int,
    worker: WorkerInfo,
    wait_timeout_s: float = 24 * 3600.0,
    poll_s: float = 2.0,
    on_progress: Callable[[str], None] | None = None,
) -> dict[TableKey, TokenSignals] | None:
    """Score this worker's unfinished shards; on rank 0 wait for all, merge and return them.

    Returns:
        The merged tables on rank 0; ``None`` on the other ranks.
    """
    if shard_size < 1:
        raise InvalidParameterError(f"shard_size must be >= 1, got {shard_size}")
    n_shards = max(1, (len(texts) + shard_size - 1) // shard_size)
    store.clean_temporaries()
    say = on_progress or (lambda _msg: None)
    mine = [i for i in range(n_shards) if i % worker.world == worker.rank]
    for i in mine:
        if store.done(i):
            say(f"shard {i}: already done")
            continue
        chunk = texts[i * shard_size : (i + 1) * shard_size]
        store.write(i, compute(chunk))
        say(f"shard {i}: written")
    if worker.rank != 0:
        return None
    deadline = time.monotonic() + wait_timeout_s
    while not all(store.done(i) for i in range(n_shards)):
        if time.monotonic() > deadline:
            missing = [i for i in range(n_shards) if not store.done(i)]
            raise MiakitError(f"timed out waiting for shards {missing[:10]} from other workers")
        time.sleep(poll_s)
    shards = [store.read(i) for i in range(n_shards)]
    keys = sorted(shards[0])
    return {key: concat_tables([s[key] for s in shards]) for key in keys}

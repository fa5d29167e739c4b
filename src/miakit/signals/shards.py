"""Sharded, resumable signal computation across processes, GPUs and nodes.

The texts of a run are cut into contiguous shards of ``shard_size`` texts (deterministic:
shard ``i`` holds texts ``[i * shard_size, (i + 1) * shard_size)``). Worker ``rank`` of
``world`` workers scores shards ``rank, rank + world, ...``: every table the run needs, for the
texts of the shard. Each finished shard is written to ``shard-IIIII.parquet`` durably
(:func:`miakit._core.io.atomic_path`: temporary file, fsync, atomic rename, fsync of the folder),
then recorded in ``manifest.jsonl`` (one JSON line per shard with its size and SHA-256, appended
and fsynced). A rerun skips shards that are finished; the merge reads the shards in index
order, so the result does not depend on which worker scored what.

The plan (``plan.json``) identifies everything that determines a shard's contents: the texts'
digest, the shard size, and for every table the run computes its statistics and its signal
cache namespace (the hash of the model weights' fingerprint, tokenizer, context including the
prefix text, ``max_length``, BOS ids, dtype and engine version; see
:meth:`~miakit.signals.engine.SignalEngine.namespace`). A rerun whose plan differs is refused
with a message naming the keys and tables that changed, and the fix (another ``--out``, or
delete ``<out>/shards``): shards of two plans are never mixed, and old shards are never
returned for new inputs (other ReCaLL prefixes, dtype, in-memory weights). Building the plan
needs each model's fingerprint, so every rank loads its models before it looks at the shards,
even on a rerun whose shards are all done. A ``plan.json`` written before plans held
namespaces is refused too (its keys differ): delete ``<out>/shards`` once after upgrading.

Crash safety:

* killed while writing a shard: only ``.tmp-*`` exists; the shard is redone (the temporary file
  is removed once stale: its writer is gone, or it is over an hour old);
* killed between the rename and the manifest line: the file is complete (the rename is atomic),
  so it is verified and recorded on the next run;
* killed while appending the manifest line: a malformed last line is ignored;
* a shard that fails to read at the merge (truncated, garbled, SHA-256 other than recorded) is
  reported, removed and scored again by rank 0.

Launch one worker per GPU with ``torchrun`` (which also spans nodes); each worker reads
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. Rank 0 waits for every shard, merges and runs the
attacks; the other ranks exit once their shards are written. The same scheme maps onto a
cluster scheduler (SLURM arrays) or Ray Data (``read → map_batches(score_shard) → write``),
because a shard is an idempotent unit of work identified by its index.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from miakit._core.io import (
    atomic_path,
    atomic_write_text,
    clean_stale_temporaries,
    fsync_dir,
)
from miakit.errors import InvalidParameterError, MiakitError
from miakit.signals.shard_plan import NAMESPACE_INPUTS, file_sha256, plan_changes
from miakit.signals.shard_plan import texts_digest as texts_digest  # re-exported
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
        plan: what determines the shards' contents (texts digest, shard size, each table's
            cache namespace and statistics); a folder made for another plan is refused, naming
            what changed, rather than silently mixed or reused.

    Raises:
        MiakitError: if ``folder`` holds shards of another plan.
    """

    def __init__(self, folder: str | os.PathLike[str], plan: Mapping[str, Any]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.plan = json.loads(json.dumps(dict(plan), sort_keys=True))  # as plan.json holds it
        plan_file = self.folder / "plan.json"
        if plan_file.is_file():
            try:
                existing = json.loads(plan_file.read_text(encoding="utf-8"))
            except ValueError:
                existing = {"plan.json": "unreadable"}
            if existing != self.plan:
                changes = plan_changes(existing, self.plan)
                hint = (
                    f" (a table's namespace hashes its {NAMESPACE_INPUTS})"
                    if any("namespace" in c for c in changes)
                    else ""
                )
                raise MiakitError(
                    f"{self.folder} holds shards of a different run; changed: "
                    f"{'; '.join(changes)}{hint}. Its shards cannot be reused: use another "
                    f"--out, or delete {self.folder} to recompute them"
                )
        else:
            atomic_write_text(plan_file, json.dumps(self.plan, indent=1, sort_keys=True))
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
        entry = {
            "shard": index,
            "file": path.name,
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path),
        }
        line = json.dumps(entry) + "\n"
        if self.manifest.is_file() and self.manifest.stat().st_size:
            with open(self.manifest, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a torn line from a crash: start a fresh line
                    line = "\n" + line
        created = not self.manifest.exists()
        fd = os.open(self.manifest, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the manifest's name itself must survive a power loss
            fsync_dir(self.folder)

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
        with atomic_path(final) as tmp:
            pq.write_table(pa.table(arrays), tmp)
        self._record(index, final)
        return final

    def read_or_discard(self, index: int) -> dict[TableKey, TokenSignals] | None:
        """:meth:`read`, or ``None`` after a warning when the shard fails to read or does not
        match its manifest record (size, SHA-256); the file is then removed so it is redone."""
        path = self.path(index)
        try:
            entry = self.recorded().get(index, {})
            if "bytes" in entry and path.stat().st_size != entry["bytes"]:
                raise ValueError(f"{path.stat().st_size} bytes, {entry['bytes']} recorded")
            if "sha256" in entry and file_sha256(path) != entry["sha256"]:
                raise ValueError("its SHA-256 differs from the one recorded when it was written")
            return self.read(index)
        except (pa.ArrowException, OSError, KeyError, ValueError, IndexError, TypeError) as exc:
            warnings.warn(
                f"shard {path} could not be read ({type(exc).__name__}: {exc}); it was removed "
                "and will be recomputed",
                UserWarning,
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
            return None

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
        """Remove the stale temporary files of crashed writers (never a live writer's)."""
        clean_stale_temporaries(self.folder)


def _optional_column(cols: Mapping[str, list[Any]], name: str, rows: list[int]) -> Any:
    """Column ``name`` of ``rows`` as int64, or ``None`` where a shard (older files) or a
    table (-1 in ``text_start``) did not record it."""
    if name not in cols:
        return None
    values = np.array([cols[name][j] for j in rows], dtype=np.int64)
    return None if name == "text_start" and (values < 0).any() else values


def _stat_order(name: str) -> tuple[int, str]:
    return (TOKEN_STATS.index(name) if name in TOKEN_STATS else len(TOKEN_STATS), name)


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
    shards = []
    for i in range(n_shards):
        shard = store.read_or_discard(i)
        if shard is None:  # corrupt: rank 0 scores it again
            store.write(i, compute(texts[i * shard_size : (i + 1) * shard_size]))
            say(f"shard {i}: rewritten")
            shard = store.read(i)
        shards.append(shard)
    keys = sorted(shards[0])
    return {key: concat_tables([s[key] for s in shards]) for key in keys}

"""The plan of a sharded run and what tells two plans apart (:mod:`miakit.signals.shards`).

A plan is a JSON object of everything that determines the shards' contents: the texts'
digest (:func:`texts_digest`), the shard size and, for every table, its signal cache namespace
and statistics (:meth:`~miakit.signals.plan.SignalPlanner.table_identities`). Two plans that
differ are described by :func:`plan_changes`, for the message that refuses to mix them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: What a table's namespace hashes, in the words of the command line.
NAMESPACE_INPUTS = (
    "model weights, tokenizer, context (ReCaLL prefixes: --aux-nonmembers/--aux-members, "
    "--recall-shots, --seed, --recall-separator), --max-length, --bos, --dtype"
)


def texts_digest(texts: Sequence[str]) -> str:
    """SHA-256 over the texts' own SHA-256 values, in order."""
    h = hashlib.sha256()
    for t in texts:
        h.update(hashlib.sha256(t.encode("utf-8")).digest())
    return h.hexdigest()


def plan_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two plans, one entry per top-level key, e.g.
    ``["shard_size (2 -> 3)", "tables target|recall_nonmember (namespace)"]``."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key not in old or key not in new:
            changes.append(f"{key} ({'new' if key not in old else 'not in this run'})")
        elif isinstance(a, dict) and isinstance(b, dict):
            changes.append(f"{key} " + ", ".join(_entry_changes(a, b)))
        else:
            changes.append(f"{key} ({_short(a)} -> {_short(b)})")
    return changes


def _entry_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if name not in old:
            out.append(f"{name} (new)")
        elif name not in new:
            out.append(f"{name} (not in this run)")
        elif isinstance(a, dict) and isinstance(b, dict) and a != b:
            fields = [f for f in sorted(set(a) | set(b)) if a.get(f) != b.get(f)]
            out.append(f"{name} ({', '.join(fields)})")
        elif a != b:
            out.append(f"{name} ({_short(a)} -> {_short(b)})")
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 40 else text[:37] + "..."


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

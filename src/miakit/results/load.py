"""Read a written run folder back into a :class:`~miakit.results.RunRecord`.

``load_record(out)`` is the inverse of writing a record: for a folder written by
``miakit run``, ``load_record(out) == record``. It also reads the folders of earlier versions
and hand-made ones as the report always has: blind scores in ``scores.parquet`` as
``blind:<name>`` columns, labels as codes (1 member, 0 non-member, -1 unknown), rows of
``samples.parquet`` and ``blind_scores.parquet`` matched to ``scores.parquet`` by id.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from miakit.data import Label
from miakit.errors import DataError
from miakit.results.columns import AttackScores, SampleColumns, TokenCounts
from miakit.results.record import RunRecord

__all__ = ["REQUIRED", "load_record"]

#: The files a run folder must hold.
REQUIRED = ("metrics.json", "scores.parquet", "samples.parquet")

_LABELS = {"member": Label.MEMBER, "nonmember": Label.NONMEMBER, "non-member": Label.NONMEMBER}
_LABELS["unknown"] = Label.UNKNOWN
_CODES = {1: Label.MEMBER, 0: Label.NONMEMBER, -1: Label.UNKNOWN}
_TOKEN_COLUMNS = ("n_text_tokens", "n_scored_tokens", "truncated")
_BLIND_PREFIX = "blind:"


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"cannot read {path}: {exc}") from None


def _read_metrics(path: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("attacks"), dict):
        raise DataError(f"{path} has no 'attacks' object; is it a miakit run's output?")
    return metrics


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text_or_none(values: Any) -> tuple[str | None, ...]:
    """A Parquet string column as ``str``/``None`` (pandas reads nulls as NaN or None)."""
    return tuple(None if _missing(v) else str(v) for v in values)


def _labels(column: pd.Series) -> tuple[Label, ...]:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        got = [_CODES.get(int(v)) for v in column]
    else:
        got = [_LABELS.get(str(v).lower()) for v in column]
    bad = sorted({str(v) for v, g in zip(column, got, strict=True) if g is None})
    if bad:
        raise DataError(
            f"scores.parquet: labels must be member, nonmember or unknown; got {bad[:5]}. "
            "Re-run `miakit run` to rewrite the outputs."
        )
    return tuple(g for g in got if g is not None)


def _by_id(frame: pd.DataFrame, ids: tuple[str, ...]) -> pd.DataFrame | None:
    """``frame``'s rows in the order of ``ids`` (rows for missing ids all null), or ``None``
    when ``frame`` has no ``id`` column."""
    if "id" not in frame.columns:
        return None
    frame_ids = [str(i) for i in frame["id"]]
    if frame_ids == list(ids):
        return frame
    keyed = frame.assign(id=frame_ids).drop_duplicates("id").set_index("id")
    return keyed.reindex(list(ids)).reset_index()


def _samples(frame: pd.DataFrame | None, ids: tuple[str, ...], labels: tuple[Label, ...]) -> Any:
    def column(name: str) -> tuple[str | None, ...]:
        if frame is None or name not in frame.columns:
            return (None,) * len(ids)
        return _text_or_none(frame[name])

    return SampleColumns(
        ids=ids,
        labels=labels,
        sources=column("source"),
        texts=column("text"),
        groups=column("group"),
        doc_ids=column("doc_id"),
    )


def _tokens(frame: pd.DataFrame | None) -> TokenCounts | None:
    if frame is None or not all(c in frame.columns for c in _TOKEN_COLUMNS):
        return None
    if frame[list(_TOKEN_COLUMNS)].isna().any().any():  # rows matched to no sample
        return None
    return TokenCounts(
        frame["n_text_tokens"].to_numpy(dtype=np.int64),
        frame["n_scored_tokens"].to_numpy(dtype=np.int64),
        frame["truncated"].to_numpy(dtype=np.bool_),
    )


def load_record(out_dir: str | os.PathLike[str]) -> RunRecord:
    """The record of the run folder ``out_dir``.

    Args:
        out_dir: a folder written by ``miakit run``: ``metrics.json``, ``scores.parquet``,
            ``samples.parquet``, and ``blind_scores.parquet`` when blind baselines ran.

    Raises:
        DataError: if a file is missing or unreadable, ``metrics.json`` has no ``attacks``,
            ``scores.parquet`` has no ``id``/``label`` column or unknown labels, or its ids
            repeat; the message names the file and the fix.
    """
    run_dir = Path(out_dir)
    if not run_dir.is_dir():
        raise DataError(
            f"no run folder at {run_dir}: pass the --out folder of `miakit run` "
            "(it holds metrics.json, scores.parquet and samples.parquet)"
        )
    missing = [name for name in REQUIRED if not (run_dir / name).is_file()]
    if missing:
        raise DataError(
            f"{run_dir} has no {' or '.join(missing)}; a report needs {', '.join(REQUIRED)} "
            "as written by `miakit run`. Pass the run's --out folder, or re-run it."
        )
    metrics = _read_metrics(run_dir / "metrics.json")
    scores = _read_parquet(run_dir / "scores.parquet")
    samples_df = _read_parquet(run_dir / "samples.parquet")
    blind_path = run_dir / "blind_scores.parquet"
    blind_df = _read_parquet(blind_path) if blind_path.is_file() else None
    for col in ("id", "label"):
        if col not in scores.columns:
            raise DataError(
                f"scores.parquet has no {col!r} column (columns: {list(scores.columns)}); "
                "re-run `miakit run` to rewrite the outputs."
            )
    ids = tuple(str(i) for i in scores["id"])
    if len(set(ids)) != len(ids):
        raise DataError(
            f"{run_dir / 'scores.parquet'}: sample ids repeat; re-run `miakit run` to rewrite "
            "the outputs."
        )
    labels = _labels(scores["label"])
    per_sample = _by_id(samples_df, ids)
    attacks: dict[str, AttackScores] = {}
    blind: dict[str, np.ndarray] = {}
    for name in (str(c) for c in scores.columns if c not in ("id", "label")):
        values = scores[name].to_numpy(dtype=np.float64)
        if name.startswith(_BLIND_PREFIX):  # an earlier layout: blind scores beside attacks
            blind[name[len(_BLIND_PREFIX) :]] = values
            continue
        reason_col = f"nan_reason:{name}"
        reasons: tuple[str | None, ...] = (None,) * len(ids)
        if per_sample is not None and reason_col in per_sample.columns:
            reasons = _text_or_none(per_sample[reason_col])
        attacks[name] = AttackScores(values, reasons)
    if blind_df is not None:
        matched = _by_id(blind_df, ids)
        if matched is not None:
            for name in (str(c) for c in blind_df.columns if c not in ("id", "label")):
                blind[name] = matched[name].to_numpy(dtype=np.float64)
    truncated = (metrics.get("samples") or {}).get("truncated") or {}
    known = set(ids)
    return RunRecord(
        samples=_samples(per_sample, ids, labels),
        attacks=attacks,
        tokens=_tokens(per_sample),
        truncated_ids={
            str(k): tuple(str(i) for i in v if str(i) in known)
            for k, v in truncated.items()
            if isinstance(v, list)
        },
        blind=blind if blind_df is not None or blind else None,
        metrics=metrics,
    )

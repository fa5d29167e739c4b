"""Shapes a run's outputs into the plain values that the HTML template shows (private).

Nothing here computes a new statistic: numbers come from ``metrics.json``, curves from
:func:`miakit.metrics.roc_arrays` on the saved scores, and the sample explorer only sorts the
saved scores. Every string from the data stays a plain ``str`` here; the template engine
escapes it. The only markup is the SVG from :mod:`miakit.report.plots`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from miakit.errors import DataError
from miakit.metrics import roc_arrays
from miakit.report import plots
from miakit.report._common import SHORT_TEXT_CHARS, finite, shorten
from miakit.report._documents import documents_section
from miakit.report._warnings import blind_summary, warnings_section

#: Samples per list in the sample explorer.
EXPLORER_ROWS = 10

_LABEL_CODES = {"member": 1, "nonmember": 0, "non-member": 0, "unknown": -1}


@dataclass(frozen=True)
class Series:
    """One scored column: an attack or a blind baseline."""

    index: int  # position in the report; names HTML ids and unsafe plot labels
    name: str
    blind: bool
    metrics: Mapping[str, Any]
    scores: np.ndarray | None  # (n_samples,) float64, NaN = unscored; None if no column

    @property
    def plot_label(self) -> str:
        return plots.plot_label(self.name, self.index)


def label_codes(labels: pd.Series) -> np.ndarray:
    """``scores.parquet`` labels as ints: 1 member, 0 non-member, -1 unknown; shape (n,)."""
    if pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels):
        return labels.to_numpy(dtype=np.int64)
    codes = labels.astype(str).str.lower().map(_LABEL_CODES)
    if codes.isna().any():
        bad = sorted(set(labels[codes.isna()].astype(str)))[:5]
        raise DataError(
            f"scores.parquet: labels must be member, nonmember or unknown; got {bad}. "
            "Re-run `miakit run` to rewrite the outputs."
        )
    return codes.to_numpy(dtype=np.int64)


def collect_series(metrics: Mapping[str, Any], scores_df: pd.DataFrame) -> list[Series]:
    """Attacks, then blind baselines, each with its score column when present."""
    attacks = metrics.get("attacks") or {}
    blind = metrics.get("blind") or {}
    out: list[Series] = []
    for blind_flag, section in ((False, attacks), (True, blind)):
        for name, m in section.items():
            candidates = [f"blind:{name}"] if blind_flag else [name]
            if blind_flag and name not in attacks:
                candidates.append(name)
            col = next((c for c in candidates if c in scores_df.columns), None)
            values = None if col is None else scores_df[col].to_numpy(dtype=np.float64)
            out.append(Series(len(out) + 1, str(name), blind_flag, m or {}, values))
    return out


def _auroc_key(s: Series) -> tuple[int, float, str]:
    """Best AUROC first, NaN last, then by name."""
    a = finite(s.metrics.get("auroc"))
    return (1, 0.0, s.name) if a is None else (0, -a, s.name)


def _display_key(s: Series) -> tuple[bool, tuple[int, float, str]]:
    """Attacks by AUROC, then blind baselines by AUROC (plots and the sample explorer)."""
    return (s.blind, _auroc_key(s))


def setup_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, value)`` pairs describing how the run was made."""
    s = metrics.get("setup") or {}

    def v(key: str) -> str:
        value = s.get(key)
        return "—" if value is None or value == "" else str(value)

    counts = (
        f"{s.get('n_members', '?')} members · {s.get('n_nonmembers', '?')} non-members"
        f" · {s.get('n_unknown', 0)} unknown"
    )
    rows = [
        ("Target model", v("model")),
        ("Reference model", v("reference")),
        ("Members", v("members")),
        ("Non-members", v("nonmembers")),
        ("Labelled data", v("data")),
        ("Samples", counts),
        ("Split", v("split")),
        ("Seed", v("seed")),
        ("Bootstrap resamples", v("n_bootstrap")),
        ("Max tokens per text", v("max_length")),
        ("BOS policy", v("bos")),
        ("miakit version", str(metrics.get("miakit_version") or s.get("miakit_version") or "—")),
        ("Created", v("created")),
    ]
    for role, adapter in (s.get("adapters") or {}).items():  # PEFT adapters (issue 12)
        if isinstance(adapter, Mapping):
            fp = str(adapter.get("fingerprint") or "")[:12]
            rows.append(
                (
                    f"Adapter of '{role}'",
                    f"{adapter.get('path')} on base {adapter.get('base')} (fingerprint {fp}…)",
                )
            )
    for role, meta in (metrics.get("models") or {}).items():
        fp = str(meta.get("fingerprint") or "")[:12]
        detail = ", ".join(x for x in (f"fingerprint {fp}…" if fp else "", meta.get("device")) if x)
        name = str(meta.get("name") or "—")
        rows.append((f"Model '{role}'", f"{name} ({detail})" if detail else name))
    # which generator wrote each neighborhood attack's neighbors (paper or variant)
    aux = metrics.get("auxiliary") or {}
    # "neighbours": the key's spelling in a metrics.json written before issue 11
    for attack, info in (aux.get("neighbors") or aux.get("neighbours") or {}).items():
        if isinstance(info, Mapping):
            rows.append((f"Neighbors of '{attack}'", str(info.get("generator") or "—")))
    return rows


def _rate_label(key: str) -> str:
    return f"{float(key) * 100:g}%"


def leaderboard(series: Sequence[Series]) -> dict[str, Any]:
    """Rows sorted by AUROC (NaN last), with the TPR-at-FPR columns found in the metrics."""
    keys = sorted({k for s in series for k in (s.metrics.get("tpr_at_fpr") or {})}, key=float)
    rows: list[dict[str, Any]] = []
    floor_hit = False
    best_seen = False
    for s in sorted(series, key=_auroc_key):
        m = s.metrics
        n_neg = m.get("n_nonmembers") or 0
        tprs = []
        for k in keys:
            below_floor = bool(n_neg) and float(k) < 1.0 / n_neg
            floor_hit |= below_floor
            tprs.append(
                {
                    "value": finite((m.get("tpr_at_fpr") or {}).get(k)),
                    "ci": (m.get("tpr_at_fpr_ci") or {}).get(k),
                    "below_floor": below_floor,
                }
            )
        best = not s.blind and not best_seen and finite(m.get("auroc")) is not None
        rows.append(
            {
                "name": s.name,
                "blind": s.blind,
                "auroc": finite(m.get("auroc")),
                "auroc_ci": m.get("auroc_ci"),
                "tprs": tprs,
                "fpr_at_tpr": finite(m.get("fpr_at_tpr_0.95")),
                "n": m.get("n"),
                "n_nan": m.get("n_nan") or 0,
                "error": m.get("error"),
                "best": best,
            }
        )
        best_seen = best_seen or best
    return {
        "columns": [_rate_label(k) for k in keys],
        "rows": rows,
        "floor_hit": floor_hit,
        "has_blind": any(s.blind for s in series),
    }


def roc_figure(series: Sequence[Series], labels: np.ndarray) -> dict[str, Any]:
    """The ROC SVG (or ``None``), with notes on curves that could not be drawn."""
    curves, notes = [], []
    for s in sorted(series, key=_display_key):
        if s.scores is None:
            notes.append(f"{s.name}: no score column in scores.parquet")
            continue
        pts = roc_arrays(s.scores, labels)
        if "error" in pts:
            notes.append(f"{s.name}: {pts['error']}")
            continue
        curves.append(
            plots.RocCurve(
                label=s.plot_label,
                fpr=pts["fpr"],
                tpr=pts["tpr"],
                auroc=finite(s.metrics.get("auroc")) or math.nan,
                n_members=int(s.metrics.get("n_members") or 0),
                n_nonmembers=int(s.metrics.get("n_nonmembers") or 0),
                blind=s.blind,
            )
        )
    svg = plots.roc_svg(curves) if curves else None
    renamed = [(s.plot_label, s.name) for s in series if s.plot_label != s.name]
    return {"svg": svg, "notes": notes, "renamed": renamed}


def histograms(series: Sequence[Series], labels: np.ndarray) -> list[dict[str, Any]]:
    """One small histogram SVG per series with scores."""
    out = []
    for s in sorted(series, key=_display_key):
        if s.scores is None:
            continue
        finite = ~np.isnan(s.scores)
        out.append(
            {
                "name": s.name,
                "blind": s.blind,
                "svg": plots.histogram_svg(
                    s.scores[finite & (labels == 1)],
                    s.scores[finite & (labels == 0)],
                    title=s.plot_label,
                ),
                "n_members": int(np.count_nonzero(finite & (labels == 1))),
                "n_nonmembers": int(np.count_nonzero(finite & (labels == 0))),
                "n_nan": int(np.count_nonzero(~finite & (labels >= 0))),
                "renamed": s.plot_label != s.name,
            }
        )
    return out


def _extremes(
    scores: np.ndarray,
    mask: np.ndarray,
    *,
    descending: bool,
    ids: np.ndarray,
    texts: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The first :data:`EXPLORER_ROWS` samples of ``mask`` ordered by score."""
    idx = np.flatnonzero(mask)
    # stable sort: ties keep file order, so the report is reproducible
    order = np.argsort(-scores[idx] if descending else scores[idx], kind="stable")
    rows = []
    for i in idx[order[:EXPLORER_ROWS]]:
        sid = str(ids[i])
        text, source = texts.get(sid, (None, None))
        rows.append(
            {
                "id": sid,
                "score": float(scores[i]),
                "source": source,
                "text": None if text is None else shorten(str(text)),
            }
        )
    return rows


def explorer(
    series: Sequence[Series], ids: np.ndarray, labels: np.ndarray, texts: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Per series: the most member-like non-members and the least member-like members."""
    panels = []
    for s in sorted(series, key=_display_key):
        if s.scores is None:
            continue
        finite = ~np.isnan(s.scores)
        panels.append(
            {
                "index": s.index,
                "name": s.name,
                "blind": s.blind,
                "nonmembers": _extremes(
                    s.scores, finite & (labels == 0), descending=True, ids=ids, texts=texts
                ),
                "members": _extremes(
                    s.scores, finite & (labels == 1), descending=False, ids=ids, texts=texts
                ),
            }
        )
    return panels


def with_blind_columns(
    scores_df: pd.DataFrame, blind_scores_df: pd.DataFrame | None
) -> pd.DataFrame:
    """``scores_df`` plus a ``blind:<name>`` column per baseline of ``blind_scores.parquet``.

    Rows are matched by ``id``; samples missing from ``blind_scores_df`` get NaN.
    """
    if blind_scores_df is None or "id" not in blind_scores_df.columns:
        return scores_df
    names = [c for c in blind_scores_df.columns if c not in ("id", "label")]
    out = scores_df.copy()
    if list(blind_scores_df["id"]) == list(scores_df["id"]):
        for name in names:
            out[f"blind:{name}"] = blind_scores_df[name].to_numpy(dtype=np.float64)
        return out
    indexed = blind_scores_df.drop_duplicates("id").set_index("id")
    for name in names:
        out[f"blind:{name}"] = scores_df["id"].map(indexed[name]).to_numpy(dtype=np.float64)
    return out


def texts_by_id(samples_df: pd.DataFrame | None) -> dict[str, tuple[Any, Any]]:
    """``id -> (text, source)`` from ``samples.parquet`` (empty without it)."""
    if samples_df is None or "id" not in samples_df.columns:
        return {}
    n = len(samples_df)
    # tolist(): iterating an Arrow-backed string column value by value is several times slower
    texts = samples_df["text"].tolist() if "text" in samples_df.columns else [None] * n
    sources = samples_df["source"].tolist() if "source" in samples_df.columns else [None] * n
    return {str(i): (t, s) for i, t, s in zip(samples_df["id"].tolist(), texts, sources)}


def build_context(
    metrics: Mapping[str, Any],
    scores_df: pd.DataFrame,
    samples_df: pd.DataFrame | None,
    blind_scores_df: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Everything the template shows."""
    for col in ("id", "label"):
        if col not in scores_df.columns:
            raise DataError(
                f"scores.parquet has no {col!r} column (columns: {list(scores_df.columns)}); "
                "re-run `miakit run` to rewrite the outputs."
            )
    scores_df = with_blind_columns(scores_df, blind_scores_df)
    labels = label_codes(scores_df["label"])
    ids = scores_df["id"].astype(str).to_numpy()
    series = collect_series(metrics, scores_df)
    texts = texts_by_id(samples_df)
    setup = metrics.get("setup") or {}
    return {
        "model": str(setup.get("model") or "—"),
        "created": setup.get("created"),
        "version": str(metrics.get("miakit_version") or "—"),
        "setup": setup_rows(metrics),
        "skipped": sorted((metrics.get("skipped_attacks") or {}).items()),
        "leaderboard": leaderboard(series),
        "blind_summary": blind_summary(metrics),
        "documents": documents_section(metrics),  # issue 13
        "roc": roc_figure(series, labels),
        "histograms": histograms(series, labels),
        "warnings": warnings_section(metrics, texts),
        "explorer": explorer(series, ids, labels, texts),
        "has_texts": bool(texts),
        "explorer_rows": EXPLORER_ROWS,
        "short_chars": SHORT_TEXT_CHARS,
    }

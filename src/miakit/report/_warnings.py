"""The warnings section of the report: warnings, overlaps, NaN reasons, truncations (private)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from miakit.report._common import MAX_LISTED, finite, shorten


def warnings_section(metrics: Mapping[str, Any], texts: Mapping[str, Any]) -> dict[str, Any]:
    """Warnings, overlaps, NaN reasons and truncations, ready to list."""
    samples = metrics.get("samples") or {}
    items = [str(w) for w in metrics.get("warnings") or []]
    blind = blind_summary(metrics)
    if blind and blind["warning"] and blind["warning"] not in items:
        items.insert(0, blind["warning"])
    overlaps = []
    for pair in (samples.get("overlaps") or [])[:MAX_LISTED]:
        m_id, n_id = str(pair.get("member_id")), str(pair.get("nonmember_id"))
        text = texts.get(m_id, (None, None))[0]
        overlaps.append(
            {"member_id": m_id, "nonmember_id": n_id, "text": shorten(str(text))["short"]}
            if text is not None
            else {"member_id": m_id, "nonmember_id": n_id, "text": None}
        )
    nan = []
    for attack, entries in (samples.get("nan") or {}).items():
        if not entries:
            continue
        by_reason: dict[str, list[str]] = defaultdict(list)
        for e in entries:
            by_reason[str(e.get("reason"))].append(str(e.get("id")))
        counts = Counter({r: len(v) for r, v in by_reason.items()})
        nan.append(
            {
                "attack": attack,
                "n": len(entries),
                "reasons": [
                    {"reason": r, "n": n, "ids": by_reason[r][:5], "more": n - 5}
                    for r, n in counts.most_common()
                ],
            }
        )
    truncated = [
        {
            "key": key,
            "n": len(id_list),
            "ids": id_list[:MAX_LISTED],
            "more": len(id_list) - MAX_LISTED,
        }
        for key, id_list in (samples.get("truncated") or {}).items()
        if id_list
    ]
    errors = [
        (name, m["error"]) for name, m in (metrics.get("attacks") or {}).items() if m.get("error")
    ]
    near = near_duplicates(metrics, texts)
    return {
        "items": items,
        "overlaps": overlaps,
        "n_overlaps": int(samples.get("n_overlaps") or len(samples.get("overlaps") or [])),
        "nan": nan,
        "truncated": truncated,
        "n_samples": samples.get("n"),
        "errors": errors,
        "near_duplicates": near,
        "any": bool(items or overlaps or nan or truncated or errors or near),
    }


def blind_summary(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The blind-baseline summary (``metrics["blind_summary"]``), if the run has one.

    Reads ``best`` (a baseline name), ``best_auroc``/``best_auroc_ci`` (falling back to
    ``blind[best]``), ``warning`` (a message, or ``True`` for a generic one; empty or ``None``:
    no warning), ``n_folds``, ``notes``, ``interval_note`` (why the blind intervals are too
    narrow) and, when the permutation test ran, the family-wise ``permutation_p`` (older runs:
    ``best_permutation_p``), ``alpha`` and ``n_permutations``.
    """
    summary = metrics.get("blind_summary")
    if not isinstance(summary, Mapping):
        return None
    best = summary.get("best")
    best_metrics = ((metrics.get("blind") or {}).get(best) or {}) if best is not None else {}
    auroc = finite(summary.get("best_auroc", summary.get("auroc")))
    if auroc is None:
        auroc = finite(best_metrics.get("auroc"))
    flag = summary.get("warning")
    warning = None
    if isinstance(flag, str) and flag:
        warning = flag
    elif flag is True:
        at = f" reaches AUROC {auroc:.3f}" if auroc is not None else " is high"
        warning = (
            f"The best blind baseline ({best}){at} without looking at the model: members and "
            "non-members differ in ways a model-free classifier sees, so attack scores may "
            "measure this distribution shift rather than membership."
        )
    return {
        "best": None if best is None else str(best),
        "auroc": auroc,
        "auroc_ci": summary.get("best_auroc_ci") or best_metrics.get("auroc_ci"),
        "n_folds": summary.get("n_folds"),
        "notes": [str(n) for n in summary.get("notes") or []],
        "warning": warning,
        "permutation_p": finite(summary.get("permutation_p", summary.get("best_permutation_p"))),
        "alpha": finite(summary.get("alpha")),
        "n_permutations": summary.get("n_permutations"),
        "interval_note": summary.get("interval_note"),
    }


def near_duplicates(metrics: Mapping[str, Any], texts: Mapping[str, Any]) -> dict[str, Any] | None:
    """The exact and near-duplicate member/non-member pairs (``metrics["overlap"]``)."""
    section = metrics.get("overlap")
    if not isinstance(section, Mapping) or not section.get("pairs"):
        return None
    pairs = []
    for pair in section["pairs"][:MAX_LISTED]:
        n_id = str(pair.get("nonmember_id"))
        text = texts.get(n_id, (None, None))[0]
        pairs.append(
            {
                "member_id": str(pair.get("member_id")),
                "nonmember_id": n_id,
                "kind": str(pair.get("kind", "")),
                "containment": finite(pair.get("containment")),
                "text": None if text is None else shorten(str(text))["short"],
            }
        )
    n_total = int(section.get("n_exact") or 0) + int(section.get("n_near") or 0)
    return {
        "pairs": pairs,
        "n_pairs": max(n_total, len(section["pairs"])),
        "n_exact": section.get("n_exact"),
        "n_near": section.get("n_near"),
        "n": section.get("n"),
        "threshold": finite(section.get("threshold")),
        "n_nonmembers": section.get("n_nonmembers"),
        "n_affected": section.get("n_nonmembers_with_duplicate"),
        "fraction": finite(section.get("fraction_nonmembers")),
    }

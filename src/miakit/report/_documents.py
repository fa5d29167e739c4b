"""The report's documents section: document-level AUROCs from ``metrics.json`` (private).

It shows what :func:`miakit.pipeline.documents.document_sections` wrote (issue 13): each
attack's document AUROC with its bootstrap CI (documents resampled) for every aggregate of
its chunk scores, and the learned classifiers' cross-validated AUROCs. Nothing is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The learned classifiers, as the report names them.
_LEARNED = {
    "combiner": "learned combiner of the aggregates",
    "histogram": "token-probability histogram (arXiv 2310.15007)",
}


def documents_section(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The template's ``documents``, or ``None`` when the run has no documents section."""
    section = metrics.get("documents")
    if not isinstance(section, Mapping):
        return None
    aggregates = list(section.get("aggregates") or [])
    rows = []
    for attack, by_agg in (section.get("attacks") or {}).items():
        cells = [
            {
                "auroc": (by_agg.get(a) or {}).get("auroc"),
                "ci": (by_agg.get(a) or {}).get("auroc_ci"),
            }
            for a in aggregates
        ]
        n_nan = len((section.get("nan") or {}).get(attack) or [])
        rows.append({"name": attack, "cells": cells, "n_nan": n_nan})
    learned = []
    for key, title in _LEARNED.items():
        fit = (section.get("learned") or {}).get(key)
        if isinstance(fit, Mapping):
            learned.append({
                "name": title, "auroc": fit.get("auroc"), "ci": fit.get("auroc_ci"),
                "method": fit.get("method"), "error": fit.get("error"),
            })  # fmt: skip
    return {
        "n_documents": section.get("n_documents"),
        "n_chunks": section.get("n_chunks"),
        "n_members": section.get("n_members"),
        "n_nonmembers": section.get("n_nonmembers"),
        "window": section.get("window"),
        "stride": section.get("stride"),
        "aggregates": aggregates,
        "rows": rows,
        "learned": learned,
    }

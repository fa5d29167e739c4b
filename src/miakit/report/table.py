"""Plain-text leaderboard for the terminal."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: Printed under a leaderboard with blind rows (see :data:`miakit.blind.INTERVAL_NOTE`).
BLIND_FOOTNOTE = (
    "[blind] intervals hold the fitted out-of-fold scores fixed and are too narrow; the test of a\n"
    "distribution shift is the family-wise permutation p-value (metrics.json: blind_summary)."
)


def _f(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.{digits}f}"


def _ci(ci: Any) -> str:
    if not ci or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in ci):
        return ""
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def leaderboard(
    metrics: Mapping[str, Mapping[str, Any]],
    blind: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """A fixed-width table of attacks sorted by AUROC (best first, NaN last).

    ``blind`` (baseline name -> metrics, as ``metrics.json``'s ``"blind"``) adds the model-free
    baselines as rows named ``[blind] NAME``, sorted among the attacks: an attack ranked below
    a blind baseline does no better than a classifier that never saw the model. A footnote
    then says that their intervals are too narrow (:data:`BLIND_FOOTNOTE`).
    """
    entries = {**metrics, **{f"[blind] {k}": v for k, v in (blind or {}).items()}}
    header = (
        "attack",
        "AUROC",
        "95% CI",
        "TPR@0.1%",
        "TPR@1%",
        "TPR@5%",
        "FPR@95%TPR",
        "n",
        "NaN",
    )

    def key(item: tuple[str, Mapping[str, Any]]) -> tuple[int, float, str]:
        a = item[1].get("auroc")
        if not isinstance(a, int | float) or math.isnan(a):
            return (1, 0.0, item[0])
        return (0, -float(a), item[0])

    rows = []
    for name, m in sorted(entries.items(), key=key):
        t = m.get("tpr_at_fpr", {})
        rows.append(
            (
                name,
                _f(m.get("auroc")),
                _ci(m.get("auroc_ci")),
                _f(t.get("0.001")),
                _f(t.get("0.01")),
                _f(t.get("0.05")),
                _f(m.get("fpr_at_tpr_0.95")),
                str(m.get("n", "")),
                str(m.get("n_nan", "")),
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    if blind:
        lines += ["", BLIND_FOOTNOTE]
    return "\n".join(lines)

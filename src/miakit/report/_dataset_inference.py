"""Dataset inference in HTML: the run report's section and the standalone page (private).

Both are drawn from the content of ``dataset_inference.json`` alone (a plain dict, as
:meth:`miakit.inference.DatasetInferenceResult.to_dict` writes it) and compute nothing:

- :func:`section`: the template context of the run report's "Dataset inference" section
  (``templates/dataset_inference.html.j2``), shown when the report is given such a dict
  (the demo passes its verdict; ``miakit report DIR`` reads ``DIR/dataset_inference.json``,
  :func:`read`);
- :func:`page`: ``dataset_inference.html``, the self-contained page that ``miakit
  dataset-inference --out DIR`` writes beside its JSON (that folder has no run to report on).

They share the summary rows (:func:`summary_rows`) and the "how many texts do you need?"
plot (:func:`power_svg`). Every string from the dict is escaped: Jinja2's autoescaping in the
report, :func:`html.escape` on the page; the SVG is built from numbers only (each value is
converted with ``float``/``int`` first, so a string in the file cannot reach the markup).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from miakit.errors import DataError

#: The file ``miakit dataset-inference --out`` and the demo write, read by ``miakit report``.
FILE = "dataset_inference.json"
#: Plot size and margins, in SVG pixels.
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 560, 300, 60, 20, 20, 45


def read(run_dir: Path) -> dict[str, Any] | None:
    """``run_dir/dataset_inference.json`` as a dict, or ``None`` when there is none.

    Raises:
        DataError: the file is not a JSON object with a ``verdict`` (the message names it).
    """
    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not readable JSON ({e}); delete it or re-create it.") from e
    if not isinstance(data, dict) or "verdict" not in data:
        raise DataError(
            f"{path} holds no dataset-inference result (no 'verdict'); delete it or re-create "
            "it with `miakit dataset-inference --out`."
        )
    return data


def _x(n: float, lo: float, hi: float) -> float:
    span = math.log10(hi) - math.log10(lo) or 1.0
    return LEFT + (math.log10(n) - math.log10(lo)) / span * (WIDTH - LEFT - RIGHT)


def _y(p: float, p_min: float) -> float:
    span = -math.log10(p_min) or 1.0
    return TOP + (-math.log10(max(p, p_min))) / span * (HEIGHT - TOP - BOTTOM)


def power_svg(power: list[dict[str, Any]], alpha: float, p_min: float) -> str:
    """Median p (line) and every draw's p (dots) against texts per set, log-log, and alpha."""
    if not power:
        return "<p>No p-value curve (withheld, or --power-repeats 0).</p>"
    alpha, p_min = float(alpha), float(p_min)
    rows = [
        (int(r["n_per_set"]), float(r["median_p"]), [float(p) for p in r["p_values"]])
        for r in power
    ]
    ns = [n for n, _, _ in rows]
    lo, hi = min(ns), max(max(ns), min(ns) + 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'role="img" aria-label="p-value against the number of texts per set">',
        f'<line x1="{LEFT}" y1="{_y(alpha, p_min):.1f}" x2="{WIDTH - RIGHT}" '
        f'y2="{_y(alpha, p_min):.1f}" stroke="#c00" stroke-dasharray="4 3"/>',
        f'<text x="{WIDTH - RIGHT}" y="{_y(alpha, p_min) - 4:.1f}" text-anchor="end" '
        f'font-size="11" fill="#c00">alpha = {alpha:g}</text>',
    ]
    for p in (1.0, 0.1, 0.01, 0.001):
        if p >= p_min:
            y = _y(p, p_min)
            parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                         f'font-size="11">{p:g}</text>')  # fmt: skip
    for n in ns:
        parts.append(f'<text x="{_x(n, lo, hi):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                     f'text-anchor="middle" font-size="11">{n}</text>')  # fmt: skip
    for n, _, p_values in rows:
        for p in p_values:
            parts.append(f'<circle cx="{_x(n, lo, hi):.1f}" '
                         f'cy="{_y(p, p_min):.1f}" r="2.5" fill="#89a"/>')  # fmt: skip
    points = " ".join(f"{_x(n, lo, hi):.1f},{_y(m, p_min):.1f}" for n, m, _ in rows)
    parts.append(f'<polyline points="{points}" fill="none" stroke="#124" stroke-width="2"/>')
    parts.append(f'<text x="{(WIDTH + LEFT) / 2}" y="{HEIGHT - 8}" text-anchor="middle" '
                 'font-size="12">texts per set (log scale)</text>')  # fmt: skip
    parts.append(f'<text x="14" y="{HEIGHT / 2}" font-size="12" '
                 f'transform="rotate(-90 14 {HEIGHT / 2})" text-anchor="middle">p-value '
                 "(log scale)</text></svg>")  # fmt: skip
    return "\n".join(parts)


def summary_rows(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, value)`` rows: verdict, p-value, alpha, method, effect size, set sizes."""
    p = d.get("p_value")
    effect = d.get("effect_size") or {}
    method = d.get("method") or {}
    rows = [("verdict", str(d["verdict"]))]
    rows.append(("p-value", "null (withheld)" if p is None else f"{float(p):.3g}"))
    rows.append(("alpha", f"{float(d['alpha']):g}"))
    rows.append(("method", str(method.get("note", method.get("name", "")))))
    if effect:
        ci = effect.get("auroc_ci")
        ci_text = f" [{float(ci[0]):.3f}, {float(ci[1]):.3f}]" if ci else ""
        rows.append(("held-out AUROC (95% CI)", f"{float(effect['auroc']):.3f}{ci_text}"))
        if effect.get("null_auroc_mean") is not None:
            rows.append((
                "null AUROC (mean ± sd over the permutations)",
                f"{float(effect['null_auroc_mean']):.3f} ± {float(effect['null_auroc_sd']):.3f}",
            ))  # fmt: skip
    rows.append(("suspect / validation", f"{d.get('n_suspect')} / {d.get('n_validation')}"))
    return rows


def _p_min(d: Mapping[str, Any]) -> float:
    return 1.0 / (1 + int((d.get("method") or {}).get("n_permutations", 999)))


def section(d: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The report template's ``dataset_inference``, or ``None`` without a result."""
    if d is None:
        return None
    checks = d.get("assumption_checks") or {}
    auroc = d.get("feature_auroc") or {}
    weights = sorted((d.get("weights") or {}).items(), key=lambda kv: -abs(float(kv[1])))
    return {
        "verdict": str(d["verdict"]),
        "withheld": d["verdict"] == "withheld",
        "rows": summary_rows(d),
        "reason": str(d.get("reason", "")),
        "assumption": str(d.get("assumption", "")),
        "blind_best": checks.get("blind_best"),
        "blind_p": checks.get("blind_permutation_p"),
        "blind_auroc": checks.get("blind_best_auroc"),
        "weights": [(str(k), float(w), auroc.get(k)) for k, w in weights],
        "power": [
            (int(r["n_per_set"]), float(r["median_p"]), float(r["detected"]))
            for r in d.get("p_value_by_n") or []
        ],
        "svg": power_svg(list(d.get("p_value_by_n") or []), float(d["alpha"]), _p_min(d)),
    }


def page(d: Mapping[str, Any]) -> str:
    """The whole standalone page for the content of ``dataset_inference.json``."""
    table = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary_rows(d)
    )
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>Dataset inference</title>"
        "<style>body{font-family:sans-serif;max-width:760px;margin:2em auto}th{text-align:"
        "left;padding-right:1em;vertical-align:top}</style></head><body>\n"
        "<h1>Dataset inference</h1>\n"
        f"<table>{table}</table>\n<p>{html.escape(str(d['reason']))}</p>\n"
        f"<p>Assumption: {html.escape(str(d['assumption']))}.</p>\n"
        "<h2>How many texts do you need?</h2>\n"
        "<p>The test on random subsets of n suspect and n validation texts: each draw's p "
        "(dots) and their median (line). Descriptive: the verdict is the one test on all "
        "texts.</p>\n"
        + power_svg(list(d["p_value_by_n"]), float(d["alpha"]), _p_min(d))
        + "\n</body></html>\n"
    )

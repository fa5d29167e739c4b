"""``dataset_inference.html``: the verdict and the "how many texts do you need?" plot.

A self-contained page (inline SVG, no script, no external file) written beside
``dataset_inference.json`` from that result alone; it computes nothing. The run's HTML report
(:mod:`miakit.report`) has no dataset-inference section yet: this page stands in for it.
"""

from __future__ import annotations

import html
import math
from typing import Any

#: Plot size and margins, in SVG pixels.
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 560, 300, 60, 20, 20, 45


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
    ns = [row["n_per_set"] for row in power]
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
    for row in power:
        for p in row["p_values"]:
            parts.append(f'<circle cx="{_x(row["n_per_set"], lo, hi):.1f}" '
                         f'cy="{_y(p, p_min):.1f}" r="2.5" fill="#89a"/>')  # fmt: skip
    points = " ".join(f"{_x(r['n_per_set'], lo, hi):.1f},{_y(r['median_p'], p_min):.1f}"
                      for r in power)  # fmt: skip
    parts.append(f'<polyline points="{points}" fill="none" stroke="#124" stroke-width="2"/>')
    parts.append(f'<text x="{(WIDTH + LEFT) / 2}" y="{HEIGHT - 8}" text-anchor="middle" '
                 'font-size="12">texts per set (log scale)</text>')  # fmt: skip
    parts.append(f'<text x="14" y="{HEIGHT / 2}" font-size="12" '
                 f'transform="rotate(-90 14 {HEIGHT / 2})" text-anchor="middle">p-value '
                 "(log scale)</text></svg>")  # fmt: skip
    return "\n".join(parts)


def page(result: Any) -> str:
    """The whole page for a :class:`~miakit.inference.DatasetInferenceResult`."""
    d = result.to_dict()
    p = d["p_value"]
    effect = d["effect_size"]
    rows = [("verdict", d["verdict"]), ("p-value", "null (withheld)" if p is None else f"{p:.3g}")]
    rows += [("alpha", f"{d['alpha']:g}"), ("method", d["method"]["note"])]
    if effect:
        ci = effect.get("auroc_ci")
        rows.append(("held-out AUROC", f"{effect['auroc']:.3f}" + (
            f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")))  # fmt: skip
    rows += [("suspect / validation", f"{d['n_suspect']} / {d['n_validation']}")]
    table = "\n".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    p_min = 1.0 / (1 + d["method"]["n_permutations"])
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>Dataset inference</title>"
        "<style>body{font-family:sans-serif;max-width:760px;margin:2em auto}th{text-align:"
        "left;padding-right:1em;vertical-align:top}</style></head><body>\n"
        "<h1>Dataset inference</h1>\n"
        f"<table>{table}</table>\n<p>{html.escape(d['reason'])}</p>\n"
        f"<p>Assumption: {html.escape(d['assumption'])}.</p>\n"
        "<h2>How many texts do you need?</h2>\n"
        "<p>The test on random subsets of n suspect and n validation texts: each draw's p "
        "(dots) and their median (line). Descriptive: the verdict is the one test on all "
        "texts.</p>\n" + power_svg(d["p_value_by_n"], d["alpha"], p_min) + "\n</body></html>\n"
    )

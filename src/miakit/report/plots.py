"""Figures of a run as inline SVG strings: ROC curves and per-attack score histograms.

The figures are written by hand (:mod:`miakit.report._svg`), not drawn with a plotting
library: importing matplotlib took 0.3-0.5 s and drawing the report's figures about 1 s on a
2-core CPU, more than every other stage after scoring together at 400 samples; writing the
same figures as SVG text takes milliseconds (``benchmarks/post.py``). Nothing global is
touched, so the report can be rendered from a notebook or a GUI program.

The SVGs go into the HTML report unescaped, so nothing taken from the data is written into
them except attack names that match :data:`SAFE_LABEL` (anything else is shown as
``series N``) and numbers; the writer escapes every text as well.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miakit.report._svg import (
    FONT_SIZE,
    Canvas,
    Scale,
    Ticks,
    axes,
    dash_array,
    fitting_ticks,
    linear_ticks,
    log_ticks,
    percent,
    text_width,
)

__all__ = [
    "MEMBER_COLOR",
    "NONMEMBER_COLOR",
    "SAFE_LABEL",
    "RocCurve",
    "histogram_svg",
    "plot_label",
    "roc_svg",
    "thin_roc",
]

#: Names allowed verbatim inside an SVG (labels, legends, titles).
SAFE_LABEL = re.compile(r"^[A-Za-z0-9_:.+-]+$")

# Okabe & Ito's palette: distinguishable with the common colour-vision deficiencies. Members are
# blue and solid, non-members orange and dashed, so the plots also read in greyscale.
MEMBER_COLOR = "#0072B2"
NONMEMBER_COLOR = "#E69F00"
_SERIES_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000")
# dash patterns in line widths (on, off, ...); () = solid
_SERIES_DASHES: tuple[tuple[float, ...], ...] = ((), (6, 2), (6, 2, 1, 2), (2, 1.5))
_BLIND_COLOR = "#6B7280"
_BLIND_DASHES: tuple[tuple[float, ...], ...] = ((1.2, 1.6), (5, 1.5, 1.2, 1.5), (3, 3))
_DIAGONAL: dict[str, Any] = {"stroke": "#9CA3AF", "width": 0.9, "dash": dash_array((4, 3), 0.9)}
_FPR_MARK = "#D1D5DB"

# layout of the ROC figure, in pt: two square panels, then the legend
_ROC_HEIGHT, _ROC_TOP, _ROC_BOTTOM = 288.0, 26.0, 40.0


@dataclass(frozen=True)
class RocCurve:
    """One ROC curve to draw.

    Attributes:
        label: legend label; must match :data:`SAFE_LABEL` (see :func:`plot_label`).
        fpr: ``(n_points,)`` false-positive rates, ascending, from 0 to 1.
        tpr: ``(n_points,)`` true-positive rates, same length as ``fpr``.
        auroc: the area under the curve, shown in the legend (NaN: not shown).
        n_members: members with a score (sets the TPR floor of the log axes).
        n_nonmembers: non-members with a score (sets the FPR floor of the log axes).
        blind: a model-free (blind) baseline: drawn grey and dotted.
    """

    label: str
    fpr: np.ndarray
    tpr: np.ndarray
    auroc: float
    n_members: int
    n_nonmembers: int
    blind: bool = False


def plot_label(name: str, index: int) -> str:
    """``name`` if it is safe to write into an SVG verbatim, else ``"series {index}"``."""
    return name if SAFE_LABEL.fullmatch(name) else f"series {index}"


def thin_roc(
    fpr: np.ndarray, tpr: np.ndarray, *, exact_below: float = 0.1, n_bins: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Drop ROC points that cannot be seen, keeping the low-FPR region exactly.

    Every point with ``fpr <= exact_below`` is kept (that is where the log axes look closely).
    Above it, the points are grouped into ``n_bins`` equal FPR bins over [0, 1] and the first
    and last point of each bin are kept, so the drawn curve is off by less than one bin width.

    Args:
        fpr: ``(n_points,)`` ascending false-positive rates.
        tpr: ``(n_points,)`` true-positive rates.
        exact_below: FPR up to which every point is kept.
        n_bins: bins over the FPR range above ``exact_below``.

    Returns:
        ``(fpr, tpr)``, subsets of the inputs in the same order, first and last point kept.
    """
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    if fpr.shape[0] <= 2:
        return fpr, tpr
    keep = fpr <= exact_below
    bins = np.minimum((fpr * n_bins).astype(np.int64), n_bins - 1)  # (n_points,)
    change = np.flatnonzero(np.diff(bins)) + 1  # first index of each new bin
    keep[change] = True  # first point of a bin
    keep[change - 1] = True  # last point of the previous bin
    keep[0] = keep[-1] = True
    return fpr[keep], tpr[keep]


def _styles(curves: Sequence[RocCurve]) -> list[dict[str, Any]]:
    """Line styles: attacks take the palette in order (then dashes); blind baselines grey."""
    styles, n_attack, n_blind = [], 0, 0
    for c in curves:
        if c.blind:
            dash = _BLIND_DASHES[n_blind % len(_BLIND_DASHES)]
            styles.append({"stroke": _BLIND_COLOR, "width": 1.6, "dash": dash_array(dash, 1.6)})
            n_blind += 1
            continue
        color = _SERIES_COLORS[n_attack % len(_SERIES_COLORS)]
        dash = _SERIES_DASHES[(n_attack // len(_SERIES_COLORS)) % len(_SERIES_DASHES)]
        styles.append({"stroke": color, "width": 1.5, "dash": dash_array(dash, 1.5)})
        n_attack += 1
    return styles


def _log_axis_ticks(floor: float) -> Ticks:
    # under two decades, label 1-2-5 steps too, or the axis may show one tick only
    major, minor = log_ticks(floor, 1.0, (1, 2, 5) if floor > 0.01 else (1,))
    return Ticks(major, [percent(v) for v in major], minor)


def roc_svg(curves: Sequence[RocCurve]) -> str:
    """ROC curves on log-log axes (left) and linear axes (right), as one SVG.

    The log axes start at ``1 / n`` (the smallest non-zero rate that ``n`` samples can
    show, from the largest class counts among the curves; at most 10%); rates of 0 are drawn
    at that floor.
    Both panels show the diagonal of a random guess; the log panel marks 0.1%, 1% and 5% FPR.

    Args:
        curves: the curves, drawn and listed in the legend in this order.

    Returns:
        An ``<svg>`` element as a string.
    """
    n_neg = max((c.n_nonmembers for c in curves), default=1)
    n_pos = max((c.n_members for c in curves), default=1)
    # under 10 samples a class still gets one decade of log axis
    x_floor, y_floor = min(1.0 / max(n_neg, 1), 0.1), min(1.0 / max(n_pos, 1), 0.1)
    log_x, log_y = _log_axis_ticks(x_floor), _log_axis_ticks(y_floor)
    lin_values, lin_labels = linear_ticks(0.0, 1.0)
    lin = Ticks(lin_values, lin_labels)
    labels = []
    for c in curves:
        auc = "" if not np.isfinite(c.auroc) else f"  (AUROC {c.auroc:.3f})"
        labels.append(f"{c.label}{' [blind]' if c.blind else ''}{auc}")
    labels.append("random guess")

    size = _ROC_HEIGHT - _ROC_TOP - _ROC_BOTTOM  # each panel is square
    x0 = 24.0 + max(text_width(t) for t in log_y.labels)
    x1 = x0 + size + 30.0 + max(text_width(t) for t in lin.labels)
    legend_x = x1 + size + 16.0
    width = legend_x + 26.0 + max(text_width(t, FONT_SIZE - 1) for t in labels) + 8.0
    canvas = Canvas(width, _ROC_HEIGHT, label="ROC curves, log-log and linear axes")
    top, bottom = _ROC_TOP, _ROC_TOP + size

    # log-log panel
    xs = Scale(x_floor, 1.0, x0, x0 + size, log=True)
    ys = Scale(y_floor, 1.05, bottom, top, log=True)
    axes(canvas, xs, ys, xticks=log_x, yticks=log_y, title="log-log (low-FPR regime)",
         xlabel="false-positive rate", ylabel="true-positive rate")  # fmt: skip
    for fpr_target in (0.001, 0.01, 0.05):
        if fpr_target >= x_floor:
            px = float(xs(fpr_target))
            canvas.line(px, bottom, px, top, stroke=_FPR_MARK, width=0.8)
    lo = max(x_floor, y_floor)  # the diagonal's visible part starts where both axes do
    canvas.line(float(xs(lo)), float(ys(lo)), float(xs(1.0)), float(ys(1.0)), **_DIAGONAL)
    thinned = [thin_roc(c.fpr, c.tpr) for c in curves]
    styles = _styles(curves)
    for (fpr, tpr), style in zip(thinned, styles):
        canvas.polyline(
            xs(np.maximum(fpr, x_floor)), ys(np.maximum(tpr, y_floor)), monotone=True, **style
        )

    # linear panel
    xs = Scale(0.0, 1.0, x1, x1 + size)
    ys = Scale(0.0, 1.0, bottom, top)
    axes(canvas, xs, ys, xticks=lin, yticks=lin, title="linear",
         xlabel="false-positive rate", ylabel="true-positive rate")  # fmt: skip
    canvas.line(x1, bottom, x1 + size, top, **_DIAGONAL)
    for (fpr, tpr), style in zip(thinned, styles):
        canvas.polyline(xs(fpr), ys(tpr), monotone=True, **style)

    # legend, top left beside the linear panel
    for i, (label, style) in enumerate(zip(labels, [*styles, _DIAGONAL])):
        y = top + 6.0 + 14.0 * i
        canvas.line(legend_x, y, legend_x + 20.0, y, **style)
        canvas.text(legend_x + 26.0, y, label, size=FONT_SIZE - 1, baseline="central")
    return canvas.svg()


def histogram_svg(
    members: np.ndarray, nonmembers: np.ndarray, *, title: str, bins: int = 40
) -> str:
    """Score histograms of members and non-members on shared bins, as one small SVG.

    Densities, not counts, so unequal class sizes compare. The bins span the 0.5th to 99.5th
    percentile of all scores; scores outside are counted in the edge bins, so one outlier
    cannot squash the plot.

    Args:
        members: ``(n_members,)`` finite scores of members.
        nonmembers: ``(n_nonmembers,)`` finite scores of non-members.
        title: plot title; must match :data:`SAFE_LABEL` (see :func:`plot_label`).
        bins: the most bins; fewer for small samples.

    Returns:
        An ``<svg>`` element as a string.
    """
    members = np.asarray(members, dtype=np.float64)
    nonmembers = np.asarray(nonmembers, dtype=np.float64)
    both = np.concatenate([members, nonmembers])
    series: list[tuple[np.ndarray, str, tuple[float, ...]]] = []
    x_lo, x_hi, y_hi = 0.0, 1.0, 1.0
    if both.size:
        lo, hi = (float(v) for v in np.percentile(both, [0.5, 99.5]))
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        n_bins = int(min(bins, max(8, np.sqrt(both.size) * 2)))
        edges = np.linspace(lo, hi, n_bins + 1)
        classes: tuple[tuple[np.ndarray, str, tuple[float, ...]], ...] = (
            (members, MEMBER_COLOR, ()),
            (nonmembers, NONMEMBER_COLOR, (4.0, 2.0)),
        )
        for values, color, dash in classes:
            if values.size:
                density, _ = np.histogram(np.clip(values, lo, hi), bins=edges, density=True)
                series.append((density, color, dash))
        pad = 0.05 * (hi - lo)  # the data's margins, as a plotting library leaves them
        x_lo, x_hi = lo - pad, hi + pad
        y_hi = max(float(d.max()) for d, _, _ in series) * 1.08 or 1.0
    y_values, y_labels = linear_ticks(0.0, y_hi, target=6)
    width, height = 259.2, 180.0
    left = 22.0 + max(text_width(t) for t in y_labels)
    right = width - 14.0
    x_values, x_labels = fitting_ticks(x_lo, x_hi, right - left)
    canvas = Canvas(width, height, label=f"score histograms of {title}")
    xs = Scale(x_lo, x_hi, left, right)
    ys = Scale(0.0, y_hi, height - 40.0, 22.0)
    axes(canvas, xs, ys, xticks=Ticks(x_values, x_labels), yticks=Ticks(y_values, y_labels),
         title=title, xlabel="score (higher = more member-like)", ylabel="density",
         grid_x=False)  # fmt: skip
    if series:
        # the colour key and the class sizes are in the HTML, once for all panels
        px = xs(edges)  # (n_bins + 1,)
        step_x = np.repeat(px, 2)  # outline: up at each edge, across each bin
        for density, color, dash in series:
            step_y = np.r_[ys(0.0), np.repeat(ys(density), 2), ys(0.0)]
            canvas.polyline(step_x, step_y, stroke=color, width=0, fill=color, opacity=0.28,
                            closed=True)  # fmt: skip
            canvas.polyline(step_x, step_y, stroke=color, width=1.4,
                            dash=dash_array(dash, 1.4))  # fmt: skip
    return canvas.svg()

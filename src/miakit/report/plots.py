"""Figures of a run as inline SVG strings: ROC curves and per-attack score histograms.

The figures are drawn with matplotlib's object-oriented API (``matplotlib.figure.Figure`` saved
straight to SVG) rather than ``pyplot`` with ``matplotlib.use("Agg")``: no backend is switched
and no global figure registry is touched, so calling the report from a notebook or a GUI
program leaves that program's matplotlib state alone, and figures are freed like any object.
Style settings are applied in a ``matplotlib.rc_context`` for the same reason.

The SVGs go into the HTML report unescaped, so nothing taken from the data is written into
them except attack names that match :data:`SAFE_LABEL` (anything else is shown as
``series N``) and numbers.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
_SERIES_DASHES: tuple[Any, ...] = ("-", (0, (6, 2)), (0, (6, 2, 1, 2)), (0, (2, 1.5)))
_BLIND_COLOR = "#6B7280"
_BLIND_DASHES: tuple[Any, ...] = ((0, (1.2, 1.6)), (0, (5, 1.5, 1.2, 1.5)), (0, (3, 3)))
_INK = "#1F2937"
_GRID = "#E5E7EB"

_RC: dict[Any, Any] = {
    "svg.fonttype": "none",  # text stays text: small files, crisp at any zoom
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "Liberation Sans"],
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.edgecolor": "#9CA3AF",
    "axes.labelcolor": _INK,
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": _GRID,
    "grid.linewidth": 0.6,
    "xtick.color": "#4B5563",
    "ytick.color": "#4B5563",
    "text.color": _INK,
    "legend.frameon": False,
    "legend.fontsize": 8.0,
    "path.simplify": True,
}


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
            styles.append({"color": _BLIND_COLOR, "linestyle": dash, "linewidth": 1.6})
            n_blind += 1
            continue
        color = _SERIES_COLORS[n_attack % len(_SERIES_COLORS)]
        dash = _SERIES_DASHES[(n_attack // len(_SERIES_COLORS)) % len(_SERIES_DASHES)]
        styles.append({"color": color, "linestyle": dash, "linewidth": 1.5})
        n_attack += 1
    return styles


def _percent(x: float, _pos: Any = None) -> str:
    """Tick label of a rate as a percentage: 0.001 -> 0.1%."""
    return f"{x * 100:.10g}%"


def _to_svg(fig: Any, salt: str) -> str:
    """The figure as an SVG element for inline use in HTML.

    The XML prolog, the DOCTYPE, the RDF metadata block and the namespace declarations are
    removed: HTML parsers do not need them, and the report then holds no URL at all.
    """
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):  # stable, per-figure unique ids
        fig.savefig(buf, format="svg", metadata={"Date": None}, transparent=True)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.strip()


def roc_svg(curves: Sequence[RocCurve], *, salt: str = "roc") -> str:
    """ROC curves on log-log axes (left) and linear axes (right), as one SVG.

    The log axes start at ``1 / n`` (the smallest non-zero rate that ``n`` samples can
    show, from the largest class counts among the curves); rates of 0 are drawn at that floor.
    Both panels show the diagonal of a random guess.

    Args:
        curves: the curves, drawn and listed in the legend in this order.
        salt: makes the SVG's internal ids unique within the HTML page.

    Returns:
        An ``<svg>`` element as a string.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(10.0, 4.0), layout="constrained")
        ax_log, ax_lin = fig.subplots(1, 2)
        n_neg = max((c.n_nonmembers for c in curves), default=1)
        n_pos = max((c.n_members for c in curves), default=1)
        x_floor, y_floor = 1.0 / max(n_neg, 1), 1.0 / max(n_pos, 1)
        handles: list[Line2D] = []
        labels: list[str] = []
        for c, style in zip(curves, _styles(curves)):
            fpr, tpr = thin_roc(c.fpr, c.tpr)
            ax_log.plot(np.maximum(fpr, x_floor), np.maximum(tpr, y_floor), **style)
            (line,) = ax_lin.plot(fpr, tpr, **style)
            handles.append(line)
            auc = "" if not np.isfinite(c.auroc) else f"  (AUROC {c.auroc:.3f})"
            labels.append(f"{c.label}{' [blind]' if c.blind else ''}{auc}")
        diag: dict[str, Any] = {
            "color": "#9CA3AF",
            "linewidth": 0.9,
            "linestyle": (0, (4, 3)),
            "zorder": 0,
        }
        lo = min(x_floor, y_floor)
        ax_log.plot([lo, 1.0], [lo, 1.0], **diag)
        ax_lin.plot([0.0, 1.0], [0.0, 1.0], **diag)
        for fpr_target in (0.001, 0.01, 0.05):
            if fpr_target >= x_floor:
                ax_log.axvline(fpr_target, color="#D1D5DB", linewidth=0.8, zorder=0)
        ax_log.set_xscale("log")
        ax_log.set_yscale("log")
        ax_log.set_xlim(x_floor, 1.0)
        ax_log.set_ylim(y_floor, 1.05)
        ax_log.set_title("log-log (low-FPR regime)")
        ax_lin.set_xlim(0.0, 1.0)
        ax_lin.set_ylim(0.0, 1.0)
        for axis, floor in ((ax_log.xaxis, x_floor), (ax_log.yaxis, y_floor)):
            # under two decades, label 1-2-5 steps too, or the axis may show one tick only
            subs = (1.0, 2.0, 5.0) if floor > 0.01 else (1.0,)
            axis.set_major_locator(LogLocator(base=10.0, subs=subs))
            axis.set_major_formatter(FuncFormatter(_percent))
            axis.set_minor_formatter(NullFormatter())
        ax_lin.set_title("linear")
        for ax in (ax_log, ax_lin):
            ax.set_box_aspect(1.0)
            ax.set_xlabel("false-positive rate")
            ax.set_ylabel("true-positive rate")
        handles.append(Line2D([], [], **diag))
        labels.append("random guess")
        # an axes legend outside the axes: constrained layout makes room (matplotlib >= 3.5)
        ax_lin.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.04, 1.0))
        return _to_svg(fig, salt)


def histogram_svg(
    members: np.ndarray, nonmembers: np.ndarray, *, title: str, salt: str, bins: int = 40
) -> str:
    """Score histograms of members and non-members on shared bins, as one small SVG.

    Densities, not counts, so unequal class sizes compare. The bins span the 0.5th to 99.5th
    percentile of all scores; scores outside are counted in the edge bins, so one outlier
    cannot squash the plot.

    Args:
        members: ``(n_members,)`` finite scores of members.
        nonmembers: ``(n_nonmembers,)`` finite scores of non-members.
        title: plot title; must match :data:`SAFE_LABEL` (see :func:`plot_label`).
        salt: makes the SVG's internal ids unique within the HTML page.
        bins: the most bins; fewer for small samples.

    Returns:
        An ``<svg>`` element as a string.
    """
    import matplotlib
    from matplotlib.figure import Figure

    both = np.concatenate([members, nonmembers])
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(3.6, 2.5), layout="constrained")
        ax = fig.subplots()
        ax.set_title(title)
        if both.size:
            lo, hi = (float(v) for v in np.percentile(both, [0.5, 99.5]))
            if not hi > lo:
                lo, hi = lo - 0.5, hi + 0.5
            n_bins = int(min(bins, max(8, np.sqrt(both.size) * 2)))
            edges = np.linspace(lo, hi, n_bins + 1).tolist()
            for values, color, dash in (
                (members, MEMBER_COLOR, "-"),
                (nonmembers, NONMEMBER_COLOR, (0, (4, 2))),
            ):
                if values.size == 0:
                    continue
                clipped = np.clip(values, lo, hi)
                ax.hist(clipped, bins=edges, density=True, color=color, alpha=0.28, lw=0)
                ax.hist(
                    clipped,
                    bins=edges,
                    density=True,
                    histtype="step",
                    color=color,
                    linestyle=dash,
                    linewidth=1.4,
                )
            ax.margins(y=0.08)
        # the colour key and the class sizes are in the HTML, once for all panels
        ax.set_xlabel("score (higher = more member-like)")
        ax.set_ylabel("density")
        ax.grid(axis="x", visible=False)
        return _to_svg(fig, salt)

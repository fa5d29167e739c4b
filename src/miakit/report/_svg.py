"""Hand-written SVG for the report's figures (private): scales, ticks, axes, lines and text.

No plotting library is imported: a figure is a few hundred elements written as strings, which
takes milliseconds where matplotlib took about 0.1 s per figure plus 0.3-0.5 s to import. The
output is an ``<svg>`` element for inline use in HTML: no XML prolog, no namespace URL, no
ids (so nothing can clash between figures of one page) and no external reference.

Every text is escaped here (:func:`esc`), whatever the caller already checked. Coordinates are
SVG user units, drawn at 1 unit = 1 pt at the figure's natural size; the report scales each
figure to its column (``width: 100%``) through the ``viewBox``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FONT = "DejaVu Sans, Arial, Helvetica, Liberation Sans, sans-serif"
INK = "#1F2937"
TICK = "#4B5563"
GRID = "#E5E7EB"
SPINE = "#9CA3AF"
FONT_SIZE = 9.0
TITLE_SIZE = 10.0
#: Width of the x strips in which a monotone line keeps two points (0.5 units: under one
#: screen pixel at the report's widths).
COLUMN = 0.5
#: Average advance of one character of DejaVu Sans, in font sizes (for layout only).
CHAR_WIDTH = 0.6


def esc(text: str) -> str:
    """``text`` safe as SVG/HTML character data or a quoted attribute value."""
    return html.escape(text, quote=True)


def num(x: float) -> str:
    """A coordinate with at most 2 decimals, no trailing zeros (``12.5``, ``3``)."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimated width of ``text`` at ``size`` (enough to reserve room for labels)."""
    return len(text) * size * CHAR_WIDTH


@dataclass(frozen=True)
class Scale:
    """Data values to pixel positions along one axis: ``lo`` maps to ``p_lo``, ``hi`` to
    ``p_hi`` (``p_hi < p_lo`` for a y axis, which grows downwards in SVG)."""

    lo: float
    hi: float
    p_lo: float
    p_hi: float
    log: bool = False

    def __call__(self, values: np.ndarray | Sequence[float] | float) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        if self.log:
            t = (np.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return np.asarray(self.p_lo + t * (self.p_hi - self.p_lo))

    def inside(self, v: float) -> bool:
        return self.lo - 1e-12 * abs(self.lo) <= v <= self.hi + 1e-12 * abs(self.hi)


def linear_ticks(lo: float, hi: float, *, target: int = 5) -> tuple[list[float], list[str]]:
    """Round tick values in ``[lo, hi]`` (steps 1, 2, 2.5 or 5 times a power of ten, at most
    ``target + 1`` ticks) and their labels with as many decimals as the step needs."""
    span = hi - lo
    if not span > 0 or not math.isfinite(span):
        return [lo], [_label(lo, 0)]
    mag = 10.0 ** math.floor(math.log10(span / target))
    step, mult = 10.0 * mag, 10.0
    for m in (1.0, 2.0, 2.5, 5.0):
        if span / (m * mag) <= target:
            step, mult = m * mag, m
            break
    first = math.ceil(lo / step - 1e-9)
    values = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if mult == 2.5 else 0)
    big = max(abs(v) for v in values) >= 1e5 if values else False
    labels = [f"{v:.3g}" if big or decimals > 6 else _label(v, decimals) for v in values]
    return values, labels


def _label(v: float, decimals: int) -> str:
    s = f"{v:.{decimals}f}"
    if s.startswith("-"):  # a typographic minus sign; no "-0"
        return s[1:] if float(s) == 0 else "\u2212" + s[1:]
    return s


def fitting_ticks(lo: float, hi: float, length: float) -> tuple[list[float], list[str]]:
    """:func:`linear_ticks` with as many ticks (up to 7) as fit side by side in ``length``
    units of a horizontal axis, their labels a character's width apart at least."""
    for target in (6, 5, 4, 3, 2):
        values, labels = linear_ticks(lo, hi, target=target)
        widest = max((text_width(t) for t in labels), default=0.0) + FONT_SIZE * CHAR_WIDTH
        if len(labels) * widest <= length:
            break
    return values, labels


def log_ticks(lo: float, hi: float, subs: Sequence[float]) -> tuple[list[float], list[float]]:
    """``(major, minor)`` ticks of a base-10 log axis over ``[lo, hi]``: majors at ``subs``
    times each power of ten, minors at the other integer multiples 2..9."""
    major: list[float] = []
    minor: list[float] = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in range(1, 10):
            v = float(f"{m}e{e}")  # exact decimal, e.g. 0.001 rather than 10**-3
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                (major if m in subs else minor).append(v)
    return major, minor


def percent(x: float) -> str:
    """A rate as a percentage tick label: 0.001 -> ``0.1%``."""
    return f"{x * 100:.10g}%"


def dash_array(pattern: Sequence[float] | None, width: float) -> str:
    """An SVG ``stroke-dasharray`` value: the on/off lengths scaled by the line width
    (as matplotlib scales its dash patterns); ``""`` for a solid line."""
    if not pattern:
        return ""
    return " ".join(num(p * width) for p in pattern)


class Canvas:
    """An SVG being written: elements are appended as strings, :meth:`svg` closes it."""

    def __init__(self, width: float, height: float, *, label: str) -> None:
        self.width, self.height, self.label = width, height, label
        self.parts: list[str] = []

    def line(
        self, x1: float, y1: float, x2: float, y2: float, *, stroke: str, width: float = 0.8,
        dash: str = "",
    ) -> None:  # fmt: skip
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" '
            f'stroke="{stroke}" stroke-width="{num(width)}"{d}/>'
        )

    def polyline(
        self, xs: np.ndarray, ys: np.ndarray, *, stroke: str, width: float, dash: str = "",
        fill: str = "none", opacity: float | None = None, closed: bool = False,
        monotone: bool = False,
    ) -> None:  # fmt: skip
        """A line through the points, in pixels; consecutive points that round to the same
        pixel position (0.01 units) are written once. ``monotone``: the points rise in x and
        y (a ROC curve), so only the first and last point of each :data:`COLUMN`-wide strip
        of x are kept: the line between them stays inside the strip, as the points did."""
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        if monotone and xs.shape[0] > 2:
            strip = np.floor(xs / COLUMN)
            edge = np.flatnonzero(np.diff(strip)) + 1  # first point of each new strip
            keep = np.zeros(xs.shape[0], dtype=bool)
            keep[edge] = keep[edge - 1] = True
            keep[0] = keep[-1] = True
            xs, ys = xs[keep], ys[keep]
        xy = np.round(np.column_stack([xs, ys]), 2)  # (n_points, 2)
        if xy.shape[0] > 1:
            keep = np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]
            keep[-1] = True
            xy = xy[keep]
        pts = " ".join(f"{num(x)},{num(y)}" for x, y in xy.tolist())
        tag = "polygon" if closed else "polyline"
        attrs = f'fill="{fill}"'
        if opacity is not None:
            attrs += f' fill-opacity="{num(opacity)}"'
        if width > 0:
            attrs += f' stroke="{stroke}" stroke-width="{num(width)}" stroke-linejoin="round"'
            if dash:
                attrs += f' stroke-dasharray="{dash}"'
        self.parts.append(f'<{tag} points="{pts}" {attrs}/>')

    def text(
        self, x: float, y: float, text: str, *, size: float = FONT_SIZE, anchor: str = "start",
        color: str = INK, bold: bool = False, rotate: bool = False, baseline: str = "auto",
    ) -> None:  # fmt: skip
        attrs = f'x="{num(x)}" y="{num(y)}" font-size="{num(size)}" fill="{color}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if baseline != "auto":
            attrs += f' dominant-baseline="{baseline}"'
        if bold:
            attrs += ' font-weight="bold"'
        if rotate:
            attrs += f' transform="rotate(-90 {num(x)} {num(y)})"'
        self.parts.append(f"<text {attrs}>{esc(text)}</text>")

    def svg(self) -> str:
        w, h = num(self.width), num(self.height)
        return (
            f'<svg viewBox="0 0 {w} {h}" width="{w}pt" height="{h}pt" role="img" '
            f'aria-label="{esc(self.label)}" font-family="{FONT}">' + "".join(self.parts) + "</svg>"
        )


@dataclass(frozen=True)
class Ticks:
    """One axis's ticks: positions in data units, their labels, unlabelled minor ticks."""

    values: Sequence[float]
    labels: Sequence[str]
    minor: Sequence[float] = ()


def axes(
    c: Canvas, x: Scale, y: Scale, *, xticks: Ticks, yticks: Ticks, title: str, xlabel: str,
    ylabel: str, grid_x: bool = True, grid_y: bool = True,
) -> None:  # fmt: skip
    """Grid, left and bottom spines, outward ticks with labels, axis labels and a bold title
    at the top left: the frame of one panel (data are drawn on top of it afterwards)."""
    left, right = x.p_lo, x.p_hi
    bottom, top = y.p_lo, y.p_hi
    xs = [v for v in xticks.values if x.inside(v)]
    ys = [v for v in yticks.values if y.inside(v)]
    for v in xs if grid_x else ():
        px = float(x(v))
        c.line(px, bottom, px, top, stroke=GRID, width=0.6)
    for v in ys if grid_y else ():
        py = float(y(v))
        c.line(left, py, right, py, stroke=GRID, width=0.6)
    c.line(left, bottom, right, bottom, stroke=SPINE, width=0.8)
    c.line(left, bottom, left, top, stroke=SPINE, width=0.8)
    for v, label in zip(xticks.values, xticks.labels):
        half = text_width(label) / 2
        if x.inside(v) and half <= float(x(v)) <= c.width - half:  # labels stay on the canvas
            px = float(x(v))
            c.line(px, bottom, px, bottom + 3.5, stroke=TICK, width=0.8)
            c.text(px, bottom + 5.5, label, anchor="middle", color=TICK, baseline="hanging")
    for v, label in zip(yticks.values, yticks.labels):
        if y.inside(v):
            py = float(y(v))
            c.line(left, py, left - 3.5, py, stroke=TICK, width=0.8)
            c.text(left - 5.5, py, label, anchor="end", color=TICK, baseline="central")
    for v in (m for m in xticks.minor if x.inside(m)):
        px = float(x(v))
        c.line(px, bottom, px, bottom + 2.0, stroke=TICK, width=0.6)
    for v in (m for m in yticks.minor if y.inside(m)):
        py = float(y(v))
        c.line(left, py, left - 2.0, py, stroke=TICK, width=0.6)
    c.text((left + right) / 2, bottom + 27.0, xlabel, anchor="middle")
    widest = max((text_width(t) for t in yticks.labels), default=0.0)
    c.text(left - 10.0 - widest, (top + bottom) / 2, ylabel, anchor="middle", rotate=True)
    c.text(left, top - 7.0, title, size=TITLE_SIZE, bold=True)

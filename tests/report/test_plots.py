"""The report's hand-written SVG figures: well-formed, self-contained, escaped, drawn where the
data say, and rendered without matplotlib (issue 15)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from miakit.metrics import roc_curve
from miakit.report import _svg
from miakit.report.plots import RocCurve, histogram_svg, roc_svg


def _curve(label: str, scores: np.ndarray, labels: np.ndarray, *, blind: bool = False):
    fpr, tpr, _ = roc_curve(scores, labels)
    n_pos = int(labels.sum())
    return RocCurve(label, fpr, tpr, 0.5, n_pos, labels.size - n_pos, blind=blind)


def _points(element: ET.Element) -> np.ndarray:
    """``(n, 2)`` points of a polyline or polygon."""
    pairs = element.attrib["points"].split()
    return np.array([[float(v) for v in p.split(",")] for p in pairs])


def _ticks(root: ET.Element, anchor: str, attr: str) -> list[tuple[float, float]]:
    """(value, pixel) of the first and the last numeric tick label of one axis."""
    ticks = [
        (float(t.text or ""), float(t.attrib[attr]))
        for t in root.iter("text")
        if t.attrib.get("text-anchor") == anchor and re.fullmatch(r"[\d.]+", t.text or "")
    ]
    return [ticks[0], ticks[-1]]


@pytest.fixture
def leaky():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(300, int), np.zeros(300, int)]
    return rng.normal(size=600) + labels, labels


def test_roc_svg_is_well_formed_self_contained_and_lists_every_curve(leaky):
    scores, labels = leaky
    curves = [_curve("loss", scores, labels), _curve("bag", -scores, labels, blind=True)]
    svg = roc_svg(curves)
    root = ET.fromstring(svg)  # well-formed XML; no namespace URL needed inline in HTML
    assert root.tag == "svg" and root.attrib["viewBox"].startswith("0 0 ")
    assert "http" not in svg and "url(" not in svg and "<script" not in svg
    assert not re.search(r"\sid=", svg)  # no ids: nothing can clash between figures
    texts = [t.text for t in root.iter("text")]
    assert "loss  (AUROC 0.500)" in texts and "bag [blind]  (AUROC 0.500)" in texts
    assert "random guess" in texts and "log-log (low-FPR regime)" in texts
    # the log x axis starts at 1/300: ticks 1%, 10%, 100% (decades only below 1%)
    assert {"1%", "10%", "100%"} <= set(texts) and "0.1%" not in texts
    # two panels: each curve drawn twice
    assert len(root.findall("polyline")) == 2 * len(curves)


def test_roc_lines_go_through_the_curve_points_in_the_linear_panel():
    fpr, tpr = np.array([0.0, 0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0, 1.0])
    root = ET.fromstring(roc_svg([RocCurve("a", fpr, tpr, 0.875, 2, 2)]))
    linear = _points(root.findall("polyline")[1])
    # the panel's corners, from its diagonal (the line drawn from (0, 0) to (1, 1))
    diag = [e for e in root.iter("line") if e.attrib.get("stroke-dasharray") == "3.6 2.7"][1]
    x0, y0 = float(diag.attrib["x1"]), float(diag.attrib["y1"])
    x1, y1 = float(diag.attrib["x2"]), float(diag.attrib["y2"])
    expected = np.column_stack([x0 + fpr * (x1 - x0), y0 + tpr * (y1 - y0)])
    np.testing.assert_allclose(linear, expected, atol=0.011)


def test_label_text_is_escaped():
    curve = RocCurve('a<b>&"', np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.5, 1, 1)
    svg = roc_svg([curve])
    assert "<b>" not in svg and "a&lt;b&gt;&amp;&quot;" in svg
    assert "<i>" not in histogram_svg(np.ones(3), np.zeros(3), title="<i>")


def test_monotone_lines_keep_two_points_per_strip_and_both_ends():
    x = np.sort(np.random.default_rng(1).uniform(0, 100, 50_000))
    y = np.linspace(0, 80, x.size)
    canvas = _svg.Canvas(100, 100, label="t")
    canvas.polyline(x, y, stroke="#000", width=1, monotone=True)
    kept = _points(ET.fromstring(canvas.svg()).find("polyline"))
    strips = int(100 / _svg.COLUMN)
    # two per strip at most; fewer where the last of a strip and the first of the next round
    # to the same written position
    assert strips <= kept.shape[0] <= 2 * strips + 2
    np.testing.assert_allclose(kept[[0, -1]], np.round([[x[0], y[0]], [x[-1], y[-1]]], 2))
    # every kept point is an input point (rounded to the 0.01 units written)
    assert np.isin(kept[:, 0], np.round(x, 2)).all()


def test_histogram_bars_are_the_densities():
    members = np.r_[np.zeros(30), np.ones(10)]
    nonmembers = np.full(40, 0.5)
    root = ET.fromstring(histogram_svg(members, nonmembers, title="loss", bins=8))
    fills = [p for p in root.iter("polygon")]
    assert len(fills) == 2  # one filled outline per class
    # pixels -> data units through the tick labels: (value, pixel) of the first and last
    (v0, p0), (v1, p1) = _ticks(root, "end", "y")
    outline = _points(fills[0])[:-1]  # a step line: up at each edge, across each bin
    edges = np.linspace(*np.percentile(np.r_[members, nonmembers], [0.5, 99.5]), 9)
    expected, _ = np.histogram(members, bins=edges, density=True)
    # the outline's height at each bin's middle: the last point left of it, in data units
    (u0, q0), (u1, q1) = _ticks(root, "middle", "x")
    middles = q0 + ((edges[:-1] + edges[1:]) / 2 - u0) * (q1 - q0) / (u1 - u0)
    tops = np.array([outline[outline[:, 0] <= m][-1, 1] for m in middles])
    density = v0 + (tops - p0) * (v1 - v0) / (p1 - p0)
    np.testing.assert_allclose(density, expected, atol=0.01 * expected.max())


def test_ticks_and_labels():
    assert _svg.linear_ticks(0.0, 1.0) == ([0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0],
                                           ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])  # fmt: skip
    values, labels = _svg.linear_ticks(-2.3, 2.9, target=4)
    assert labels == ["\u22122", "0", "2"] and values[0] == -2.0
    assert _svg.linear_ticks(2.9981, 3.0019, target=4)[1] == ["2.999", "3.000", "3.001"]
    assert _svg.log_ticks(0.005, 1.0, (1,)) == ([0.01, 0.1, 1.0], [0.005, 0.006, 0.007,
        0.008, 0.009, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.2, 0.3, 0.4, 0.5,
        0.6, 0.7, 0.8, 0.9])  # fmt: skip
    assert [_svg.percent(v) for v in (0.001, 0.01, 1.0)] == ["0.1%", "1%", "100%"]


_RENDER = """
import json, sys
import numpy as np, pandas as pd
from miakit.metrics import evaluate
from miakit.report import render_report
rng = np.random.default_rng(0)
y = np.r_[np.ones(50, int), np.zeros(50, int)]
s = rng.normal(size=100) + y
labels = np.where(y == 1, "member", "nonmember")
ids = [f"s{i}" for i in range(100)]
html = render_report(
    {"attacks": {"loss": evaluate(s, y, n_resamples=20)}, "setup": {}},
    pd.DataFrame({"id": ids, "label": labels, "loss": s}),
    pd.DataFrame({"id": ids, "text": ["t"] * 100, "source": "x"}),
)
assert html.count("<svg") == 2
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_rendering_the_report_imports_no_plotting_library():
    done = subprocess.run(
        [sys.executable, "-c", _RENDER], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "jinja2" in loaded  # the probe sees what the report imported
    assert "matplotlib" not in loaded and "PIL" not in loaded

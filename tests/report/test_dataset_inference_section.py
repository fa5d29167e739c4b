"""The run report's "Dataset inference" section and the standalone page (issue 13)."""

from __future__ import annotations

import json
import re
from html import escape
from xml.etree import ElementTree

import numpy as np
import pytest

from miakit.cli.main import main
from miakit.errors import DataError
from miakit.inference import ShiftCheck, dataset_inference_from_features
from miakit.report._dataset_inference import page, section
from miakit.report.html import render_report, write_report

HOSTILE_FEATURE = "<script>window.__pwned=3</script>"


def _result(*, shift: ShiftCheck | None = None, hostile: bool = False) -> dict:
    """A real ``dataset_inference.json`` content: members shifted up in the first feature."""
    rng = np.random.default_rng(0)
    s, v = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    s[:, 0] += 1.5
    names = ["loss", "zlib", HOSTILE_FEATURE if hostile else "min_k"]
    r = dataset_inference_from_features(
        s, v, feature_names=names, n_permutations=199, power_repeats=2, n_resamples=20,
        shift=shift,
    )  # fmt: skip
    return json.loads(r.to_json())


def _section_html(html: str) -> str:
    start = html.index('<section id="dataset-inference"')
    return html[start : html.index("</section>", start)]


def test_report_dir_picks_up_dataset_inference_json(make_run_dir, capsys):
    run_dir = make_run_dir(n_per_class=30)
    assert main(["report", str(run_dir)]) == 0
    without = (run_dir / "report.html").read_text()
    assert 'id="dataset-inference"' not in without and "#dataset-inference" not in without
    d = _result()
    (run_dir / "dataset_inference.json").write_text(json.dumps(d))
    assert main(["report", str(run_dir)]) == 0
    html = (run_dir / "report.html").read_text()
    assert '<a href="#dataset-inference">Dataset inference</a>' in html
    sec = _section_html(html)
    assert d["verdict"] == "member"
    assert "<th>verdict</th><td>member</td>" in sec
    assert f"<td>{d['p_value']:.3g}</td>" in sec and "<td>0.01</td>" in sec  # p, alpha
    auroc, (lo, hi) = d["effect_size"]["auroc"], d["effect_size"]["auroc_ci"]
    assert f"{auroc:.3f} [{lo:.3f}, {hi:.3f}]" in sec
    assert escape("label-permutation test of the whole fit") in sec  # the method
    for name, w in d["weights"].items():  # per-feature weights, largest first
        assert re.search(rf">{name}</td><td class=\"num\">{w:.3f}</td>", sec)
    assert sec.index(">loss<") < sec.index(">zlib<")
    n_rows = len(re.findall(r"<tr>", sec.split('id="dataset-inference-power"')[1]))
    assert n_rows == len(d["p_value_by_n"]) + 1  # the power table: header and one per size
    svg = sec[sec.index("<svg") : sec.index("</svg>") + 6]
    root = ElementTree.fromstring(svg)  # the power curve, well-formed
    assert root.find("{http://www.w3.org/2000/svg}polyline") is not None


def test_withheld_section_names_the_baseline_and_its_p_value(make_run_dir):
    shift = ShiftCheck(blind_p=0.004, blind_best="dates", blind_auroc=0.71)
    d = _result(shift=shift)
    assert d["verdict"] == "withheld"
    run_dir = make_run_dir(n_per_class=30)
    sec = _section_html(write_report(run_dir, dataset_inference=d).read_text())
    assert "null (withheld)" in sec
    reason = sec[sec.index('id="dataset-inference-reason"') :]
    assert "the sets differ without the model" in reason
    assert "&#39;dates&#39;" in reason and "p = 0.004" in reason  # the baseline and its p
    assert 'class="mono">dates</span> (AUROC 0.710), family-wise permutation p = 0.004' in sec
    assert "dataset-inference-weights" not in sec and "No p-value curve" in sec


def test_every_string_is_escaped_in_the_report_and_the_page(make_run_dir):
    d = _result(hostile=True)
    d["reason"] += ' <img src=x onerror="window.__pwned=4">'
    d["assumption"] = "<b>bold</b>"
    html = write_report(make_run_dir(n_per_class=30), dataset_inference=d).read_text()
    standalone = page(d)
    for doc in (_section_html(html), standalone):
        assert HOSTILE_FEATURE not in doc and "<img" not in doc and "<b>" not in doc
        assert "&lt;img src=x" in doc and "&lt;b&gt;bold" in doc
    assert escape(HOSTILE_FEATURE) in _section_html(html)


def test_the_svg_takes_numbers_only():
    d = _result()
    d["p_value_by_n"][0]["n_per_set"] = "<text>evil</text>"
    with pytest.raises(ValueError):
        section(d)
    with pytest.raises(ValueError):
        page(d)


def test_page_and_section_show_the_same_rows():
    d = _result()
    rows = section(d)["rows"]
    standalone = page(d)
    for k, v in rows:
        assert f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" in standalone


def test_damaged_dataset_inference_json_is_an_error_naming_the_file(make_run_dir, capsys):
    run_dir = make_run_dir(n_per_class=30)
    (run_dir / "dataset_inference.json").write_text("{not json")
    with pytest.raises(DataError, match=r"dataset_inference\.json is not readable JSON"):
        write_report(run_dir)
    (run_dir / "dataset_inference.json").write_text("[1, 2]")
    assert main(["report", str(run_dir)]) == 2
    assert "no dataset-inference result" in capsys.readouterr().err


def test_render_report_without_a_result_has_no_section(run_dir):
    import pandas as pd

    metrics = json.loads((run_dir / "metrics.json").read_text())
    scores = pd.read_parquet(run_dir / "scores.parquet")
    html = render_report(metrics, scores, None)
    assert "dataset-inference" not in html

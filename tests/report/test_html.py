"""The HTML report: self-contained, complete, escaped, and written by the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

import miakit.report
from miakit.cli.main import main
from miakit.errors import DataError
from miakit.report import render_report, write_report
from miakit.report.plots import SAFE_LABEL, plot_label, thin_roc

TEMPLATES = Path(miakit.report.__file__).parent / "templates"
HOSTILE_ATTACK = "evil<svg onload=window.__pwned=3>"
HOSTILE_WARNING = "<i>not italic</i> & <b>not bold</b>"
URL_ATTRIBUTES = {"src", "href", "xlink:href", "action", "formaction", "poster", "srcset", "data"}


class _Collector(HTMLParser):
    """Every (tag, attribute, value) of the real markup; text content is not markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_script = tag == "script"
        self.attrs.extend((tag, k, v or "") for k, v in attrs)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _parse(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser


def _read(path: Path) -> str:
    return path.read_text("utf-8")


@pytest.fixture(scope="module")
def report(run_dir: Path) -> str:
    return _read(write_report(run_dir))


def test_report_is_one_self_contained_file(run_dir, tmp_path):
    before = {p.name for p in run_dir.iterdir()}
    path = write_report(run_dir, out=tmp_path / "sub" / "r.html")
    assert path == tmp_path / "sub" / "r.html"
    assert [p.name for p in path.parent.iterdir()] == ["r.html"]  # no temp file left
    assert {p.name for p in run_dir.iterdir()} == before
    html = _read(path)
    assert "http://" not in html and "https://" not in html and "//" not in _urls(html)
    for tag, attr, value in _parse(html).attrs:
        if attr in URL_ATTRIBUTES:
            assert value.startswith(("#", "data:")), f"<{tag} {attr}={value!r}> is external"
    assert not re.search(r"url\(\s*['\"]?(?!#)", html)  # only url(#clip-path) references
    assert "@import" not in html
    tags = _parse(html).tags
    assert "iframe" not in tags and "object" not in tags and "embed" not in tags


def _urls(html: str) -> str:
    return " ".join(v for _, a, v in _parse(html).attrs if a in URL_ATTRIBUTES)


def test_report_shows_attacks_cis_and_warnings(report, run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for section in (metrics["attacks"], metrics["blind"]):
        for name, m in section.items():
            assert f">{name}<" in report
            lo, hi = m["auroc_ci"]
            assert f"{m['auroc']:.3f}" in report and f"[{lo:.3f}, {hi:.3f}]" in report
            for key, (lo, hi) in m["tpr_at_fpr_ci"].items():
                assert f"{m['tpr_at_fpr'][key]:.3f}" in report and f"[{lo:.3f}, {hi:.3f}]" in report
    for warning in metrics["warnings"]:
        assert str(escape(warning)) in report
    assert "blind baseline &#39;char_ngrams&#39; separates" in report  # blind_summary warning
    assert report.count("blind baseline &#39;char_ngrams&#39; separates") == 1  # not repeated
    assert "2 exact or near-duplicate member/non-member pair(s)" in report
    assert "too short for min_k k=0.2" in report  # NaN reasons
    assert ">m1</td>" in report and ">n1</td>" in report  # the overlap pair
    for setup_value in ("/models/target-7b", "/models/reference-1b", "/data/members.jsonl"):
        assert setup_value in report


def test_leaderboard_sorted_by_auroc_with_blind_rows_marked(report, run_dir, synth):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    table = report[
        report.index('id="leaderboard-table"') : report.index(
            "</table>", report.index('id="leaderboard-table"')
        )
    ]
    rows = re.findall(
        r'<tr class="(attack|blind)[^"]*" data-kind="\w+">.*?<td class="attack">([^<]+)<',
        table,
        re.S,
    )
    assert len(rows) == len(synth.attacks) + len(synth.blind)
    all_metrics = {**metrics["attacks"], **metrics["blind"]}
    aurocs = [all_metrics[name]["auroc"] for _, name in rows]
    assert aurocs == sorted(aurocs, reverse=True)
    assert {name for kind, name in rows if kind == "blind"} == set(synth.blind)


def test_hostile_texts_ids_and_names_are_escaped(make_run_dir, synth):
    run = make_run_dir(attacks=("loss", HOSTILE_ATTACK), warnings=(HOSTILE_WARNING,))
    html = _read(write_report(run))
    hostile = (synth.script_text, synth.img_text, synth.hostile_id, '"><b>')
    for raw in (*hostile, HOSTILE_ATTACK, HOSTILE_WARNING):
        assert raw not in html, f"{raw!r} appears unescaped"
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt;" in html
    assert "id&#34;&gt;&lt;b&gt;bold" in html
    assert str(escape(HOSTILE_ATTACK)) in html and str(escape(HOSTILE_WARNING)) in html
    # the unsafe attack name never enters an SVG; the plots call it "series N"
    assert not SAFE_LABEL.fullmatch(HOSTILE_ATTACK)
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        assert "evil" not in svg and "onload" not in svg
    assert re.search(r"series \d+</span> is <span class=\"mono\">evil&lt;svg", html)
    parsed = _parse(html)
    assert parsed.tags.count("script") == 1  # only the report's own script
    assert not [a for _, a, _ in parsed.attrs if a.startswith("on")]  # no event handlers


def test_only_generated_svgs_are_marked_safe():
    uses = []
    for template in TEMPLATES.glob("*.j2"):
        uses += re.findall(r"\{\{\s*([^}]*?)\s*\|\s*safe", template.read_text())
    assert uses, "expected the figures to be marked safe"
    for expr in uses:
        assert re.fullmatch(r"[\w\[\]\"']*svg[\"']?\]?", expr), f"|safe on {expr!r}"


def test_csp_blocks_the_network_and_pins_the_script(report):
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', report)
    assert csp is not None
    policy = csp.group(1).replace("&#39;", "'")
    assert "default-src 'none'" in policy
    (script,) = _parse(report).scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy


def test_report_is_deterministic(run_dir, tmp_path):
    a = _read(write_report(run_dir, out=tmp_path / "a.html"))
    b = _read(write_report(run_dir, out=tmp_path / "b.html"))
    assert a == b


def test_sample_explorer_lists_the_errors_of_each_attack(report, run_dir, synth):
    scores = pd.read_parquet(run_dir / "scores.parquet")
    for i, name in enumerate(synth.attacks):
        panel = report[report.index(f'<div class="explorer-panel" data-index="{i + 1}"') :]
        top = scores[scores["label"] == "nonmember"].nlargest(10, name)
        first_ids = re.findall(r'<td class="id mono">([^<]+)<', panel)[:10]
        assert first_ids == [str(escape(i)) for i in top["id"]]
    assert "Show the full text" in report  # long texts are shortened


def test_long_texts_are_shortened_and_kept_whole(make_run_dir):
    run = make_run_dir(attacks=("loss",), blind=())
    samples = pd.read_parquet(run / "samples.parquet")
    scores = pd.read_parquet(run / "scores.parquet")
    metrics = json.loads((run / "metrics.json").read_text())
    long_text = "word " * 400 + "THE-END"
    target = scores.loc[scores["label"] == "nonmember", "loss"].idxmax()
    samples.loc[target, "text"] = long_text
    html = render_report(metrics, scores, samples)
    assert "THE-END" in html  # in the <details>
    assert html.count("THE-END") == 1
    assert "2007 characters" in html


def test_render_without_samples_and_with_a_failed_attack(make_run_dir):
    run = make_run_dir(attacks=("loss", "zlib"), blind=())
    scores = pd.read_parquet(run / "scores.parquet")
    metrics = json.loads((run / "metrics.json").read_text())
    scores["zlib"] = np.nan
    metrics["attacks"]["zlib"].update(auroc=float("nan"), error="need both members and ...")
    html = render_report(metrics, scores, None)
    assert "need both members and ..." in html
    assert "Not drawn: zlib" in html
    assert "The texts were not available" in html


def test_size_stays_small_for_ten_attacks_and_2000_samples(make_run_dir):
    attacks = tuple(f"attack_{i}" for i in range(10))
    run = make_run_dir(n_per_class=1000, attacks=attacks, blind=(), n_resamples=20)
    size = write_report(run).stat().st_size
    assert size < 2_000_000, f"report is {size} bytes"


def test_thin_roc_keeps_the_low_fpr_region_exactly():
    rng = np.random.default_rng(0)
    fpr = np.r_[0.0, np.sort(rng.uniform(0, 1, 5000)), 1.0]
    tpr = np.sqrt(fpr)
    f, t = thin_roc(fpr, tpr, exact_below=0.1, n_bins=100)
    low = fpr <= 0.1
    np.testing.assert_array_equal(f[f <= 0.1], fpr[low])
    np.testing.assert_array_equal(t[f <= 0.1], tpr[low])
    assert f[0] == 0.0 and f[-1] == 1.0 and len(f) < 0.25 * len(fpr)
    assert np.all(np.isin(f, fpr))


def test_plot_labels():
    assert plot_label("min_k_plus_plus", 3) == "min_k_plus_plus"
    assert plot_label("blind:char-ngrams.v2+", 3) == "blind:char-ngrams.v2+"
    for bad in ("a b", "<x>", "$x$", "", "é"):
        assert plot_label(bad, 4) == "series 4"


def test_cli_report_regenerates(run_dir, tmp_path, capsys):
    (run_dir / "report.html").unlink(missing_ok=True)
    assert main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "report.html")
    assert (run_dir / "report.html").stat().st_size > 10_000
    out = tmp_path / "elsewhere.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    assert out.is_file() and capsys.readouterr().out.strip() == str(out)


def test_cli_report_missing_metrics_exits_2(tmp_path, capsys):
    (tmp_path / "scores.parquet").write_bytes(b"")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "metrics.json" in err and str(tmp_path) in err and "Traceback" not in err
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no run folder" in capsys.readouterr().err
    with pytest.raises(DataError, match=r"metrics\.json"):
        write_report(tmp_path)


def test_cli_report_damaged_metrics_exits_2(run_dir, tmp_path, capsys):
    for name in ("scores.parquet", "samples.parquet"):
        (tmp_path / name).write_bytes((run_dir / name).read_bytes())
    (tmp_path / "metrics.json").write_text("{not json")
    assert main(["report", str(tmp_path)]) == 2
    assert "metrics.json is not valid JSON" in capsys.readouterr().err


def test_run_writes_the_report(tmp_path, tiny_model_dir, synth):
    """`miakit run` end to end: report.html beside metrics.json, hostile texts escaped."""
    rows = {
        "members.jsonl": [("m0", synth.script_text), ("m1", "The quick fox."), ("m2", "A cat.")],
        "nonmembers.jsonl": [(synth.hostile_id, synth.img_text), ("n1", "Glaciers."), ("n2", "Ok")],
    }
    for name, items in rows.items():
        (tmp_path / name).write_text(
            "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in items)
        )
    out = tmp_path / "out"
    args = ["run", "--model", str(tiny_model_dir), "--members", str(tmp_path / "members.jsonl")]
    args += ["--nonmembers", str(tmp_path / "nonmembers.jsonl"), "--out", str(out), "--no-cache"]
    args += ["--attacks", "loss,zlib,min_k", "--n-bootstrap", "50", "--no-progress"]
    assert main(args) == 0
    html = _read(out / "report.html")
    for raw in (synth.script_text, synth.img_text, synth.hostile_id):
        assert raw not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    for name in ("loss", "zlib", "min_k"):
        assert f">{name}<" in html
    assert str(escape(str(tiny_model_dir))) in html


def test_blind_scores_from_either_file_give_the_same_report(run_dir):
    """Blind columns in blind_scores.parquet (the runner) or as blind:<name> in scores."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    scores = pd.read_parquet(run_dir / "scores.parquet")
    samples = pd.read_parquet(run_dir / "samples.parquet")
    blind = pd.read_parquet(run_dir / "blind_scores.parquet")
    a = render_report(metrics, scores, samples, blind_scores_df=blind)
    merged = scores.copy()
    for name in metrics["blind"]:
        merged[f"blind:{name}"] = blind[name]
    b = render_report(metrics, merged, samples)
    shuffled = blind.iloc[::-1].reset_index(drop=True)  # matched by id, not by position
    c = render_report(metrics, scores, samples, blind_scores_df=shuffled)
    assert a == b == c
    assert "no score column" not in a
    assert a.count("<svg") == 1 + len(metrics["attacks"]) + len(metrics["blind"])


def test_generic_blind_warning_flag(make_run_dir):
    run = make_run_dir(attacks=("loss",))
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["warnings"] = []
    metrics["blind_summary"]["warning"] = True
    html = render_report(
        metrics,
        pd.read_parquet(run / "scores.parquet"),
        None,
        blind_scores_df=pd.read_parquet(run / "blind_scores.parquet"),
    )
    best = metrics["blind_summary"]["best"]
    assert f"The best blind baseline ({best}) reaches AUROC" in html

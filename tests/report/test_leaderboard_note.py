"""The leaderboard's note on reading many confidence intervals at once."""

from __future__ import annotations

import re

from miakit.report import write_report


def test_leaderboard_says_how_to_read_many_intervals(make_run_dir, synth):
    html = write_report(make_run_dir()).read_text("utf-8")
    note = re.search(r'<p class="note" id="multiplicity-note">(.*?)</p>', html, re.S)
    assert note is not None
    text = note.group(1)
    n_rows = len(synth.attacks) + len(synth.blind)
    assert f"Reading {n_rows} intervals" in text and f"{n_rows * 0.05:.1f}" in text
    assert "null split" in text and "family-wise permutation p-value" in text
    assert "blind_summary in metrics.json" in text
    # it sits with the leaderboard, not elsewhere in the report
    board = html[html.index('id="leaderboard"') : html.index('id="roc"')]
    assert 'id="multiplicity-note"' in board


def test_no_multiplicity_note_for_a_single_row(make_run_dir):
    html = write_report(make_run_dir(attacks=("loss",), blind=())).read_text("utf-8")
    assert 'id="multiplicity-note"' not in html

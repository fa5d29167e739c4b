"""The run record inside a real run (tiny in-process model): the files are written from it,
read back equal, keep each value with its sample id, and are never read back by the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import miakit
from miakit.backends.hf import HFTokenScorer
from miakit.results import RunRecord
from tinymodels import build_llama, build_tokenizer

ROWS = [
    ("m0", "The quick brown fox jumps over the lazy dog.", "member", "a", "d0"),
    ("m1", "Paris is the capital of France; Berlin is in Germany.", "member", "a", None),
    ("m2", "the cat sat on the mat and the dog sat on the log", "member", None, "d1"),
    ("m3", "A language model assigns probabilities to sequences of tokens.", "member", "b", "d1"),
    ("n0", "Sourdough bread rises slowly because of wild yeast.", "nonmember", "a", "d2"),
    ("n1", "The committee postponed the vote until next spring.", "nonmember", None, None),
    ("n2", "Ok", "nonmember", "b", "d3"),
    ("n3", "Glaciers carve valleys over thousands of years.", "nonmember", "b", "d3"),
]  # fmt: skip
ATTACKS = ["loss", "zlib", "min_k"]


@pytest.fixture(scope="module")
def scorer():
    tok = build_tokenizer()
    return HFTokenScorer(build_llama(len(tok)), tok, name="tiny")


def _run(folder: Path, scorer, order: list[int], **options) -> miakit.RunResult:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data.jsonl"
    with open(data, "w", encoding="utf-8") as f:
        for i in order:
            sid, text, label, group, doc = ROWS[i]
            f.write(json.dumps({"id": sid, "text": text, "label": label, "group": group,
                                "doc_id": doc}) + "\n")  # fmt: skip
    return miakit.run(
        data=str(data),
        attacks=ATTACKS,
        scorers={"target": scorer},
        out=str(folder / "out"),
        no_cache=True,
        n_bootstrap=20,
        max_length=12,  # some texts are truncated
        **options,
    )


@pytest.fixture(scope="module")
def result(tmp_path_factory, scorer) -> miakit.RunResult:
    return _run(tmp_path_factory.mktemp("run"), scorer, list(range(len(ROWS))))


def test_the_files_are_the_record_and_read_back_equal(result):
    record, out = result.record, result.out_dir
    assert record is not None and out is not None
    loaded = RunRecord.load(out)
    assert loaded == record
    assert (out / "metrics.json").read_text("utf-8") == record.metrics_json()
    frames = record.frames()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "scores.parquet"), frames.scores)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "samples.parquet"), frames.samples)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "blind_scores.parquet"), frames.blind)
    # RunResult's tables and sections are the record's
    pd.testing.assert_frame_equal(result.scores, frames.scores)
    assert json.dumps(result.metrics, allow_nan=True) == json.dumps(record.to_metrics())
    assert result.metrics["setup"]["timings"]["outputs"] >= 0  # the final timings
    # the record holds what the run saw, by id
    assert record.truncated(), "max_length=12 should truncate some texts"
    assert record.nan_reasons("min_k")["n2"].startswith("too short")
    assert record.samples.groups[record.position("m2")] is None
    assert record.samples.doc_ids[record.position("m3")] == "d1"


def test_permuting_the_input_rows_permutes_every_output(tmp_path, scorer, result):
    """The same samples in another row order: each id keeps its scores, NaN reasons, token
    counts, text, group and document in every file."""
    order = [5, 2, 7, 0, 3, 6, 1, 4]
    permuted = _run(tmp_path, scorer, order)
    a, b = result.record, permuted.record
    assert a is not None and b is not None and permuted.out_dir is not None
    assert b.ids == [ROWS[i][0] for i in order]
    back = b.reordered(a.ids)
    for name in ATTACKS:
        np.testing.assert_allclose(back.attacks[name].scores, a.attacks[name].scores, rtol=1e-5)
        assert back.attacks[name].reasons == a.attacks[name].reasons
    assert back.tokens == a.tokens
    assert back.truncated_ids == a.truncated_ids
    for column in ("ids", "labels", "texts", "groups", "doc_ids"):
        assert getattr(back.samples, column) == getattr(a.samples, column), column
    # the files agree row by row with the ids they carry
    files = pd.read_parquet(permuted.out_dir / "samples.parquet").set_index("id")
    first = pd.read_parquet(result.out_dir / "samples.parquet").set_index("id")
    cols = ["label", "text", "group", "doc_id", "n_text_tokens", "truncated", "nan_reason:min_k"]
    pd.testing.assert_frame_equal(files.loc[first.index, cols], first[cols])
    blind = pd.read_parquet(permuted.out_dir / "blind_scores.parquet")
    assert list(blind["id"]) == b.ids  # the blind scores were matched by id
    for name in ATTACKS:  # AUROC does not depend on the order
        assert permuted.metrics["attacks"][name]["auroc"] == pytest.approx(
            result.metrics["attacks"][name]["auroc"], rel=1e-6
        )


def test_the_run_reads_none_of_the_files_it_writes(tmp_path, scorer, monkeypatch):
    """write_outputs renders the report from the record in memory: reading any file of the
    output folder back (Parquet, metrics.json) during the run fails the test."""
    out = (tmp_path / "out").resolve()
    reads: list[str] = []

    def guard(path: object) -> None:
        resolved = Path(str(path)).resolve()
        if resolved == out or out in resolved.parents:
            reads.append(str(resolved))
            raise AssertionError(f"the run read back {resolved}")

    real_read_parquet, real_read_table = pd.read_parquet, pq.read_table
    real_read_text, real_read_bytes, real_open = Path.read_text, Path.read_bytes, Path.open

    def read_parquet(path, *args, **kwargs):
        guard(path)
        return real_read_parquet(path, *args, **kwargs)

    def read_table(source, *args, **kwargs):
        guard(source)
        return real_read_table(source, *args, **kwargs)

    def read_text(self, *args, **kwargs):
        guard(self)
        return real_read_text(self, *args, **kwargs)

    def read_bytes(self):
        guard(self)
        return real_read_bytes(self)

    def path_open(self, mode="r", *args, **kwargs):
        if "r" in mode and "+" not in mode:
            guard(self)
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(pd, "read_parquet", read_parquet)
    monkeypatch.setattr(pq, "read_table", read_table)
    monkeypatch.setattr(Path, "read_text", read_text)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(Path, "open", path_open)
    result = _run(tmp_path, scorer, list(range(len(ROWS))))
    monkeypatch.undo()
    assert reads == []
    assert result.out_dir == out
    assert {p.name for p in out.iterdir()} >= {
        "scores.parquet", "samples.parquet", "blind_scores.parquet", "metrics.json",
        "config.resolved.yaml", "report.html",
    }  # fmt: skip
    assert "<html" in (out / "report.html").read_text("utf-8")

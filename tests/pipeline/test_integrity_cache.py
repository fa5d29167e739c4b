"""The blind baselines and overlap check are cached by their inputs (issue 15).

A rerun on the same samples and settings reads ``<cache dir>/integrity/<key>.json`` instead of
computing them again; its outputs are the computed run's, byte for byte. Any change to a text,
a label or a setting, a damaged record and ``no_cache`` all compute again. Every test here also
asserts a cache hit somewhere, so none passes without the cache.
"""

from __future__ import annotations

import json
import logging

import pytest

import miakit
import miakit.blind._background as background
import miakit.blind._integrity as integrity
from auxmodels import MEMBERS, NONMEMBERS, write_jsonl
from miakit.backends.hf import HFTokenScorer
from tinymodels import build_llama, build_tokenizer


@pytest.fixture(scope="module")
def scorer():
    tokenizer = build_tokenizer(bos=True)
    return HFTokenScorer(build_llama(len(tokenizer)), tokenizer, name="tiny")


@pytest.fixture()
def calls(monkeypatch):
    """Counts the blind baselines' and the overlap check's computations."""
    counts = {"blind": 0, "overlap": 0}
    blind, overlap = integrity.run_blind_baselines, integrity.overlap_report

    def counted_blind(*args, **kwargs):
        counts["blind"] += 1
        return blind(*args, **kwargs)

    def counted_overlap(*args, **kwargs):
        counts["overlap"] += 1
        return overlap(*args, **kwargs)

    monkeypatch.setattr(integrity, "run_blind_baselines", counted_blind)
    monkeypatch.setattr(integrity, "overlap_report", counted_overlap)
    return counts


def files(tmp_path, members=MEMBERS, nonmembers=NONMEMBERS):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return {
        "members": str(write_jsonl(tmp_path / "m.jsonl", members, "m")),
        "nonmembers": str(write_jsonl(tmp_path / "n.jsonl", nonmembers, "n")),
    }


def run(scorer, tmp_path, out, data, **kw):
    base = {
        "scorers": {"target": scorer},
        "out": str(tmp_path / out),
        "cache_dir": str(tmp_path / "cache"),
        "n_bootstrap": 50,
        "blind_permutations": 19,
        "attacks": ["loss", "zlib"],
        **data,
    }
    return miakit.run(**{**base, **kw})


def records(tmp_path):
    return sorted((tmp_path / "cache" / "integrity").glob("*.json"))


def without_timings(path):
    metrics = json.loads(path.read_text(encoding="utf-8"))
    metrics["setup"].pop("timings")
    return metrics


@pytest.mark.parametrize("in_background", [False, True])
def test_a_cached_rerun_computes_nothing_and_writes_the_same_bytes(
    scorer, tmp_path, monkeypatch, in_background
):
    if in_background:  # the path of a GPU target: the job is not even started
        monkeypatch.setattr(background, "BACKGROUND_DEVICES", frozenset({"cpu", "cuda"}))
    data = files(tmp_path)
    first = run(scorer, tmp_path, "a", data)
    assert len(records(tmp_path)) == 1

    def boom(*args, **kwargs):
        raise AssertionError("computed again despite the cache")

    monkeypatch.setattr(integrity, "run_blind_baselines", boom)
    monkeypatch.setattr(integrity, "overlap_report", boom)
    second = run(scorer, tmp_path, "b", data)
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "blind_scores.parquet").read_bytes() == (b / "blind_scores.parquet").read_bytes()
    ma, mb = without_timings(a / "metrics.json"), without_timings(b / "metrics.json")
    assert ma == mb
    for name in ("blind", "blind_summary", "overlap", "warnings"):  # byte for byte
        assert json.dumps(ma[name], indent=2) == json.dumps(mb[name], indent=2)
    assert ma.get("blind")  # the baselines did run
    assert first.blind_scores.equals(second.blind_scores)
    assert list(first.blind_scores.dtypes) == list(second.blind_scores.dtypes)
    assert "blind_baselines" in first.metrics["setup"]["timings"]
    assert "blind_baselines" not in second.metrics["setup"]["timings"]


def changed_member(i, text):
    out = list(MEMBERS)
    out[i] = text
    return out


@pytest.mark.parametrize(
    "change",
    [
        {"data": {"members": changed_member(0, MEMBERS[0] + " Indeed.")}},  # one text
        {  # one label: a member becomes a non-member
            "data": {"members": MEMBERS[1:], "nonmembers": [*NONMEMBERS, MEMBERS[0]]},
        },
        {"kw": {"blind_alpha": 0.1}},
        {"kw": {"blind_permutations": 29}},
        {"kw": {"seed": 1}},
        {"kw": {"n_bootstrap": 60}},
        {"kw": {"overlap_warn_fraction": 0.5}},
        {"kw": {"blind": False}},
    ],
    ids=["text", "label", "alpha", "permutations", "seed", "bootstrap", "overlap", "no-blind"],
)
def test_a_changed_input_or_setting_computes_again(scorer, tmp_path, calls, change):
    data = files(tmp_path / "d0")
    run(scorer, tmp_path, "a", data)
    run(scorer, tmp_path, "b", data)
    assert calls["overlap"] == 1  # the unchanged rerun was a hit
    changed = dict(data)
    if "data" in change:
        changed = files(tmp_path / "d1", **change["data"])
    changed_run = run(scorer, tmp_path, "c", changed, **change.get("kw", {}))
    assert calls["overlap"] == 2
    assert len(records(tmp_path)) == 2
    fresh = run(scorer, tmp_path, "d", changed, no_cache=True, **change.get("kw", {}))
    for name in ("blind", "blind_summary", "overlap", "warnings"):
        assert json.dumps(changed_run.metrics.get(name)) == json.dumps(fresh.metrics.get(name))


def test_a_damaged_record_is_ignored_and_computed_again(scorer, tmp_path, calls, caplog):
    data = files(tmp_path)
    computed = run(scorer, tmp_path, "a", data)
    (record,) = records(tmp_path)
    good = record.read_text(encoding="utf-8")
    damaged = [
        good[: len(good) // 2],  # truncated
        "[]",  # not an object
        good.replace('"blind_warning"', '"blind_warnin"'),  # a field missing
        json.dumps({**json.loads(good), "key": "0" * 64}),  # another key's record
    ]
    for i, text in enumerate(damaged):
        record.write_text(text, encoding="utf-8")
        with caplog.at_level(logging.WARNING, logger="miakit"):
            again = run(scorer, tmp_path, f"b{i}", data)
        assert calls["blind"] == i + 2
        assert "integrity cache: ignoring damaged" in caplog.text
        caplog.clear()
        assert json.dumps(again.metrics["blind"]) == json.dumps(computed.metrics["blind"])
        assert record.read_text(encoding="utf-8") == good  # written again, whole
    run(scorer, tmp_path, "c", data)
    assert calls["blind"] == len(damaged) + 1  # and read back


def test_no_cache_neither_reads_nor_writes_the_record(scorer, tmp_path, calls):
    data = files(tmp_path)
    run(scorer, tmp_path, "a", data)
    run(scorer, tmp_path, "b", data)
    assert calls["blind"] == 1  # a hit
    (record,) = records(tmp_path)
    record.unlink()
    run(scorer, tmp_path, "c", data, no_cache=True)
    assert calls["blind"] == 2
    assert records(tmp_path) == []


def test_the_key_covers_each_sample_field_its_order_and_each_option():
    from dataclasses import replace

    from miakit.data import Label, Sample, SampleSet
    from miakit.pipeline.integrity_cache import integrity_key

    base = [
        Sample("a", "one text", Label.MEMBER, doc_id="d1"),
        Sample("b", "two text", Label.NONMEMBER, doc_id="d1"),
        Sample("c", "three", Label.NONMEMBER),
    ]
    options = {"blind": True, "seed": 0, "n_resamples": 50, "n_permutations": 19}
    options |= {"alpha": 0.05, "overlap_warn_fraction": 0.01}
    key = integrity_key(SampleSet.of(base), options)
    assert integrity_key(SampleSet.of(list(base)), dict(reversed(options.items()))) == key
    variants = [
        [replace(base[0], label=Label.NONMEMBER), *base[1:]],
        [replace(base[0], text="one text "), *base[1:]],
        [replace(base[0], id="z"), *base[1:]],
        [replace(base[0], doc_id=None), *base[1:]],
        [base[1], base[0], base[2]],
        base[:2],
    ]
    keys = {integrity_key(SampleSet.of(v), options) for v in variants}
    keys |= {integrity_key(SampleSet.of(base), {**options, k: 0.5}) for k in options}
    assert key not in keys and len(keys) == len(variants) + len(options)

"""Tests of miakit.data.validate: ids, empty texts and member/non-member overlaps."""

from __future__ import annotations

import json

import pytest

from miakit.data import Label, Sample, SampleSet, ValidationReport, find_overlaps, validate
from miakit.errors import DataError, OverlapError

M, N, U = Label.MEMBER, Label.NONMEMBER, Label.UNKNOWN


def sset(*specs: tuple[str, str, Label]) -> SampleSet:
    return SampleSet.of([Sample(id=i, text=t, label=lab, source=f"f:{i}") for i, t, lab in specs])


def test_find_overlaps_exact_matches_only() -> None:
    samples = sset(
        ("m1", "same", M),
        ("m2", "other", M),
        ("m3", "same", M),
        ("n1", "same", N),
        ("n2", "same ", N),  # differs by a space: not an overlap
        ("n3", "other", N),
        ("u1", "same", U),  # unknown labels never overlap
    )
    assert find_overlaps(samples) == [("m1", "n1"), ("m3", "n1"), ("m2", "n3")]
    assert find_overlaps(sset(("m", "a", M), ("n", "b", N))) == []


def test_validate_counts_and_report_is_json_ready() -> None:
    report = validate(sset(("a", "x", M), ("b", "y", N), ("c", "z", N), ("d", "w", U)))
    assert report == ValidationReport(n_members=1, n_nonmembers=2, n_unknown=1)
    assert json.loads(json.dumps(report.to_dict())) == {
        "n_members": 1,
        "n_nonmembers": 2,
        "n_unknown": 1,
        "n_overlaps": 0,
        "overlaps": [],
    }


def test_duplicate_ids_are_all_listed() -> None:
    samples = sset(("a", "1", M), ("b", "2", M), ("a", "3", N), ("b", "4", N))
    with pytest.raises(DataError, match=r"duplicate sample ids: 'a' \(f:a and f:a\); 'b'"):
        validate(samples)


def test_empty_texts_are_all_listed() -> None:
    samples = sset(("a", "", M), ("b", "ok", M), ("c", " \n\t", N))
    with pytest.raises(
        DataError, match=r"2 sample\(s\) with an empty or whitespace-only text: 'a' \(f:a\); 'c'"
    ):
        validate(samples)


def test_overlap_refused_with_every_pair_up_to_ten() -> None:
    specs = [(f"m{i}", f"text {i}", M) for i in range(12)]
    specs += [(f"n{i}", f"text {i}", N) for i in range(12)]
    with pytest.raises(OverlapError) as info:
        validate(sset(*specs))
    message = str(info.value)
    assert message.startswith("12 member/non-member pair(s) have identical texts")
    assert "member 'm0' = non-member 'n0'" in message
    assert "member 'm9' = non-member 'n9'; and 2 more" in message
    assert "'m10'" not in message
    assert "pass --allow-overlap to score them anyway (they will be reported)" in message
    assert isinstance(info.value, DataError)


def test_overlap_allowed_is_reported() -> None:
    samples = sset(("m1", "dup", M), ("m2", "x", M), ("n1", "dup", N))
    with pytest.raises(OverlapError, match=r"member 'm1' = non-member 'n1'"):
        validate(samples)
    report = validate(samples, allow_overlap=True)
    assert report.overlaps == (("m1", "n1"),)
    assert report.to_dict()["overlaps"] == [{"member_id": "m1", "nonmember_id": "n1"}]
    assert report.to_dict()["n_overlaps"] == 1


def test_ids_are_checked_before_overlaps() -> None:
    samples = sset(("a", "dup", M), ("a", "dup", N))
    with pytest.raises(DataError, match="duplicate sample ids") as info:
        validate(samples)
    assert not isinstance(info.value, OverlapError)

"""Run warnings name the samples they are about, once per reason."""

from __future__ import annotations

from miakit.pipeline.outputs import run_warnings, scored_nothing_warnings


def _attack(n: int, n_nan: int) -> dict:
    return {"n": n, "n_nan": n_nan}


def test_nan_warning_once_per_reason_with_ids_and_attacks():
    short = "too short for k=0.2: needs at least 5 scored tokens"
    empty = "no scored tokens in target/plain (text shorter than 2 tokens?)"
    samples = {
        "n": 20,
        "nan": {
            "loss": [{"id": "a", "reason": empty}],
            "min_k": [{"id": "a", "reason": empty}, {"id": "b", "reason": short}],
            "min_k_plus_plus": [{"id": "a", "reason": empty}, {"id": "b", "reason": short}],
        },
    }
    attacks = {name: _attack(20, len(v)) for name, v in samples["nan"].items()}
    warnings = run_warnings(samples, attacks)
    assert len(warnings) == 2
    first = next(w for w in warnings if empty in w)
    assert "loss, min_k, min_k_plus_plus" in first and ": a" in first
    second = next(w for w in warnings if short in w)
    assert "min_k, min_k_plus_plus" in second and "loss" not in second and ": b" in second


def test_many_ids_are_listed_first_few_then_counted():
    ids = [f"s{i}" for i in range(12)]
    samples = {"n": 20, "truncated": {"target:plain": ids, "target:lowercase": ids}}
    warnings = run_warnings(samples, {}, max_length=64)
    assert len(warnings) == 1
    w = warnings[0]
    assert "12 text(s)" in w and "max_length=64" in w and "target:plain, target:lowercase" in w
    assert "s0, s1, s2, s3, s4 and 7 more" in w and "s5" not in w


def test_an_attack_that_scored_nothing_is_named_once_loudly():
    reason = "too short for k=0.2: needs at least 5 scored tokens"
    samples = {"n": 3, "nan": {"min_k": [{"id": i, "reason": reason} for i in "abc"]}}
    attacks = {
        "min_k": {**_attack(3, 3), "error": "need both members and non-members with a score"},
        "loss": _attack(3, 0),
    }
    loud = scored_nothing_warnings(samples, attacks)
    assert len(loud) == 1 and loud[0].startswith("min_k scored nothing")
    assert reason in loud[0]
    quiet = run_warnings(samples, attacks)
    assert not any("need both members" in w for w in quiet)  # said once, loudly
    assert any(reason in w for w in quiet)  # the ids stay listed


def test_reasons_that_differ_only_in_numbers_share_a_line():
    samples = {
        "n": 9,
        "nan": {
            "lowercase": [
                {"id": "m1", "reason": "truncation left 10 characters"},
                {"id": "m3", "reason": "truncation left 23 characters"},
            ]
        },
    }
    warnings = run_warnings(samples, {"lowercase": _attack(9, 2)})
    assert len(warnings) == 1
    assert "2 sample(s)" in warnings[0] and ": m1, m3" in warnings[0]
    assert "e.g. m1: truncation left 10 characters" in warnings[0]

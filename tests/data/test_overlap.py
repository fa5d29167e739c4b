"""Tests of miakit.data.overlap: planted exact and near duplicates, none on a clean split."""

from __future__ import annotations

import itertools
import re
from pydoc_data.topics import topics

import numpy as np
import pytest

from miakit.data import Label, Sample
from miakit.data.overlap import NearDuplicate, find_near_duplicates, overlap_report
from miakit.errors import InvalidParameterError

M, N, U = Label.MEMBER, Label.NONMEMBER, Label.UNKNOWN


def all_paragraphs(min_words: int = 20) -> list[str]:
    out = []
    for key in sorted(topics):
        for p in topics[key].split("\n\n"):
            p = " ".join(p.split())
            if len(p.split()) >= min_words:
                out.append(p)
    return list(dict.fromkeys(out))


def clean_paragraphs(n: int) -> list[str]:
    """Paragraphs sharing no word 8-gram with each other (the docs have near-duplicates)."""
    out: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for p in all_paragraphs():
        words = re.findall(r"\w+", p.lower())
        grams = {tuple(words[i : i + 8]) for i in range(len(words) - 7)}
        if not grams & seen:
            seen |= grams
            out.append(p)
    assert len(out) >= n
    return out[:n]


def documents(k: int) -> list[str]:
    """``k`` longer texts (150+ words), each several clean paragraphs joined."""
    paras = clean_paragraphs(600)[200:]
    out, current = [], []
    for p in paras:
        current.append(p)
        if sum(len(c.split()) for c in current) >= 150:
            out.append(" ".join(current))
            current = []
    assert len(out) >= k
    return out[:k]


def make(members: list[str], nonmembers: list[str], unknown: list[str] = ()) -> list[Sample]:
    return (
        [Sample(id=f"m{i}", text=t, label=M) for i, t in enumerate(members)]
        + [Sample(id=f"n{i}", text=t, label=N) for i, t in enumerate(nonmembers)]
        + [Sample(id=f"u{i}", text=t, label=U) for i, t in enumerate(unknown)]
    )


def brute_force(samples: list[Sample], *, n: int = 13, threshold: float = 0.5) -> set:
    """Every member x non-member pair, by the documented definition, without any sketch."""

    def words(t):
        return re.findall(r"\w+", t.lower())

    out = set()
    members = [s for s in samples if s.label is M]
    nonmembers = [s for s in samples if s.label is N]
    for a, b in itertools.product(members, nonmembers):
        wa, wb = words(a.text), words(b.text)
        if a.text == b.text:
            out.add((a.id, b.id, 1.0, "exact"))
            continue
        if min(len(wa), len(wb)) < 3:
            continue
        g = min(n, len(wa), len(wb))
        ga = {tuple(wa[i : i + g]) for i in range(len(wa) - g + 1)}
        gb = {tuple(wb[i : i + g]) for i in range(len(wb) - g + 1)}
        common = len(ga & gb)
        c = max(common / len(ga), common / len(gb))
        if c >= threshold:
            out.add((a.id, b.id, c, "near"))
    return out


def as_set(pairs: list[NearDuplicate]) -> set:
    return {(p.member_id, p.nonmember_id, p.containment, p.kind) for p in pairs}


def edit_words(text: str, k: int, seed: int) -> str:
    """Replace ``k`` words at random positions."""
    words = text.split()
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(words), size=k, replace=False):
        words[i] = f"edited{i}"
    return " ".join(words)


def test_no_pairs_on_a_clean_random_split():
    texts = clean_paragraphs(400)
    order = np.random.default_rng(0).permutation(400)
    samples = make([texts[i] for i in order[:200]], [texts[i] for i in order[200:]])
    assert find_near_duplicates(samples) == []
    report = overlap_report(samples)
    assert report.n_exact == report.n_near == 0 and report.fraction_nonmembers == 0.0


def test_finds_planted_exact_and_near_duplicates():
    texts = clean_paragraphs(200)
    members, nonmembers = texts[:100] + documents(4), texts[100:]
    a, b, c, d = range(100, 104)  # the long members
    nonmembers[10] = members[a]  # exact copy
    nonmembers[20] = edit_words(members[b], 3, seed=0)  # a few words changed (13-grams: harsh)
    nonmembers[30] = members[c] + " " + nonmembers[30]  # a member pasted into a longer text
    nonmembers[40] = edit_words(members[d], 40, seed=1)  # mostly rewritten: not a duplicate
    samples = make(members, nonmembers)
    pairs = find_near_duplicates(samples)
    found = {(p.member_id, p.nonmember_id): p for p in pairs}
    assert set(found) == {(f"m{a}", "n10"), (f"m{b}", "n20"), (f"m{c}", "n30")}
    assert found[(f"m{a}", "n10")].kind == "exact" and found[(f"m{a}", "n10")].containment == 1.0
    assert found[(f"m{b}", "n20")].kind == "near" and 0.5 <= found[(f"m{b}", "n20")].containment < 1
    assert found[(f"m{c}", "n30")].containment == 1.0  # the member is wholly contained
    assert as_set(pairs) == brute_force(samples)  # containments are exact, not estimates
    assert [p.nonmember_id for p in pairs] == ["n10", "n20", "n30"]  # non-member order


def test_agrees_with_brute_force_on_real_text_with_natural_near_duplicates():
    # Python's docs repeat many sentences ("break"/"continue", "Changed in version ..."),
    # so a random split of them has genuine near-duplicates, of every length.
    texts = all_paragraphs(min_words=1)[:500]
    order = np.random.default_rng(3).permutation(len(texts))
    samples = make([texts[i] for i in order[:250]], [texts[i] for i in order[250:]])
    expected = brute_force(samples)
    assert len(expected) >= 5
    assert as_set(find_near_duplicates(samples)) == expected


def test_short_texts_use_their_length_and_tiny_ones_are_skipped():
    member = "the interpreter reads the source file line by line and then executes each statement"
    samples = make(
        [member, "Ok", "another member text that says something quite different entirely"],
        ["reads the source file line", "line by", "Ok", "completely unrelated words here"],
    )
    report = overlap_report(samples)
    pairs = {(p.member_id, p.nonmember_id): p for p in report.pairs}
    # a 5-word non-member inside a member: compared at n=5, containment 1
    assert pairs[("m0", "n0")].kind == "near" and pairs[("m0", "n0")].containment == 1.0
    assert pairs[("m1", "n2")].kind == "exact"  # exact copies are found even when tiny
    assert set(pairs) == {("m0", "n0"), ("m1", "n2")}
    assert set(report.skipped) == {"m1", "n1", "n2"}  # fewer than 3 words
    assert as_set(report.pairs) == brute_force(samples)


def test_unknown_labels_are_ignored():
    text = clean_paragraphs(1)[0]
    samples = make([text], ["something else entirely, nothing in common"], unknown=[text])
    assert find_near_duplicates(samples) == []


def test_result_does_not_depend_on_the_seed_for_clear_pairs():
    short = clean_paragraphs(200)
    long = documents(10)
    members, nonmembers = long + short[:30], short[30:70]
    for i in range(5):
        nonmembers[i] = edit_words(members[i], 2, seed=i)  # large sets: found by LSH
    for i in range(5, 8):
        nonmembers[i] = short[100 + i] + " " + members[10 + i]  # small sets: found exactly
    samples = make(members, nonmembers)
    first = find_near_duplicates(samples, seed=0)
    assert as_set(first) == brute_force(samples)
    assert [p.nonmember_id for p in first] == [f"n{i}" for i in range(8)]
    for seed in (1, 2, 3):
        assert find_near_duplicates(samples, seed=seed) == first


def test_a_short_text_inside_a_long_one_is_found():
    # Jaccard of such a pair is tiny; containment is 1 (the case plain Jaccard LSH misses)
    texts = clean_paragraphs(200)
    host = " ".join(texts[100:200])  # several thousand words
    short = next(t for t in texts[:100] if 20 <= len(t.split()) <= 40)
    long_member = documents(1)[0]
    samples = make([short, long_member], [host + " " + short, host + " " + long_member])
    pairs = {(p.member_id, p.nonmember_id): p.containment for p in find_near_duplicates(samples)}
    assert pairs[("m0", "n0")] == 1.0
    assert pairs[("m1", "n1")] == 1.0


def test_report_to_dict_caps_pairs_but_counts_all():
    texts = clean_paragraphs(20)
    samples = make(texts[:10], texts[:10])  # every non-member is an exact copy
    report = overlap_report(samples)
    d = report.to_dict(max_pairs=3)
    assert d["n_exact"] == 10 and d["n_near"] == 0
    assert len(d["pairs"]) == 3 and d["pairs_truncated"]
    assert d["n_nonmembers_with_duplicate"] == 10 and d["fraction_nonmembers"] == 1.0
    assert d["n"] == 13 and d["threshold"] == 0.5
    assert set(d["pairs"][0]) == {"member_id", "nonmember_id", "containment", "kind"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n": 2}, "n must be"), ({"threshold": 0.0}, r"\(0, 1\]"), ({"threshold": "x"}, "number")],
)
def test_invalid_parameters(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        find_near_duplicates(make(["a b c"], ["d e f"]), **kwargs)

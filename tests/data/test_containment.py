"""Tests of miakit.data.containment: both shares, both search modes, short texts, speed."""

from __future__ import annotations

import time
import unicodedata

import numpy as np
import pytest

from miakit.data.containment import EXACT_MAX_NGRAMS, find_contained, fold_text, too_short, words
from miakit.errors import InvalidParameterError


def zipf_texts(k: int, lo: int, hi: int, seed: int) -> list[str]:
    """``k`` texts of random words with a Zipf-like vocabulary (so some n-grams repeat)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20000)])
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    return [" ".join(rng.choice(vocab, size=int(rng.integers(lo, hi)), p=p)) for _ in range(k)]


def test_both_shares_and_the_direction() -> None:
    base = zipf_texts(1, 40, 41, seed=0)[0]
    longer = base + " " + zipf_texts(1, 40, 41, seed=1)[0]  # base, then as much again
    [c] = find_contained([longer], [base])
    assert (c.i, c.j, c.n) == (0, 0, 13)
    assert c.b_in_a == 1.0  # every 13-gram of base is in longer
    assert c.a_in_b == pytest.approx(28 / 68)  # 28 of longer's 68 13-grams are base's
    assert c.containment == 1.0


EVAL = (
    "Café owners in the old town said the new parking rules had cut their trade by half "
    "since spring began"
)


@pytest.mark.parametrize(
    "disguise",
    [
        lambda t: t,
        lambda t: unicodedata.normalize("NFD", t),  # decomposed accents
        lambda t: t.replace("owners", "ｏｗｎｅｒｓ"),  # full-width letters
        lambda t: t.replace("parking", "park\u200bing"),  # a zero-width space
        lambda t: t.replace("trade", "tr\u00adade"),  # a soft hyphen
        lambda t: t.replace("since", "SINCE").replace("Café", "CAFÉ"),
        lambda t: "\ufeff" + t.replace("town", "to\u200dwn"),  # BOM, zero-width joiner
    ],
    ids=["plain", "nfd", "fullwidth", "zwsp", "soft-hyphen", "case", "bom-zwj"],
)
def test_invisible_and_compatibility_characters_do_not_hide_a_copy(disguise) -> None:
    """An evaluation text copied into an auxiliary one is found however its characters are
    encoded (review of issue 10: one zero-width space hid it, full-width letters gave 0.75)."""
    aux = disguise(EVAL) + " And then the council met again to discuss it."
    [c] = find_contained([aux], [EVAL])
    assert c.b_in_a == 1.0
    assert words(disguise(EVAL)) == words(EVAL)


def test_fold_text() -> None:
    assert fold_text("Hello World") == "hello world"
    assert fold_text("ＳＴＲＡßＥ") == "strasse"
    assert fold_text("so\u00adft ze\u200bro") == "soft zero"
    assert fold_text(unicodedata.normalize("NFD", "café")) == "café"


@pytest.mark.parametrize("exact", [True, False])
def test_exact_index_and_lsh_find_the_same_planted_pairs(exact) -> None:
    a = zipf_texts(60, 80, 200, seed=2)
    b = zipf_texts(60, 80, 200, seed=3)
    for k in range(0, 60, 6):
        b[k] = a[k] + " and a closing sentence of eight words"
        b[k + 1] = " ".join(a[k + 1].split()[5:-5])
    pairs = {(c.i, c.j) for c in find_contained(a, b, exact=exact)}
    planted = {(k, k) for k in range(0, 60, 6)} | {(k + 1, k + 1) for k in range(0, 60, 6)}
    assert planted <= pairs and len(pairs - planted) == 0


def test_short_texts_use_their_own_length() -> None:
    a = ["glaciers carve valleys over thousands of years", "owls", "in the end"]
    b = ["far north, GLACIERS carve valleys over thousands of years. Slowly.", "In the end!"]
    found = {(c.i, c.j): c for c in find_contained(a, b)}
    assert set(found) == {(0, 0), (2, 1)}
    assert found[(0, 0)].n == 7 and found[(0, 0)].a_in_b == 1.0
    assert found[(0, 0)].b_in_a == pytest.approx(1 / 4)  # 10 words: 4 distinct 7-grams
    assert found[(2, 1)].n == 3 and found[(2, 1)].containment == 1.0
    assert too_short(a) == [1]


def test_parameters_are_checked() -> None:
    with pytest.raises(InvalidParameterError, match="n must be"):
        find_contained(["a b c"], ["a b c"], n=2)
    with pytest.raises(InvalidParameterError, match="threshold"):
        find_contained(["a b c"], ["a b c"], threshold=0)


def test_two_thousand_against_two_thousand_is_fast() -> None:
    """Performance sanity: 2,000 auxiliary against 2,000 evaluation texts of 30-250 words
    (about 2 s on 2 shared CPU cores; the bound only catches a quadratic blow-up)."""
    a = zipf_texts(2000, 30, 250, seed=4)
    b = zipf_texts(2000, 30, 250, seed=5)
    b[10] = a[10] + " one more sentence at the end."
    assert sum(len(t.split()) - 12 for t in a) <= EXACT_MAX_NGRAMS  # the exact index is used
    start = time.perf_counter()
    pairs = find_contained(a, b)
    elapsed = time.perf_counter() - start
    assert (10, 10) in {(c.i, c.j) for c in pairs}
    assert elapsed < 20.0, f"{elapsed:.1f} s"

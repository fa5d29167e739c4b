"""The numpy shared-n-gram counts against Python sets, and the lazy format-character table."""

from __future__ import annotations

import sys
import unicodedata

import numpy as np
import pytest

from miakit.data._ngram_index import NgramSets, Vocabulary, shared_counts
from miakit.data.containment import fold_text, word_ngrams


def _texts(rng: np.random.Generator, n: int, vocab: int) -> list[list[str]]:
    # a small vocabulary: many repeated n-grams within and across texts; some short texts
    return [
        [f"w{v}" for v in rng.integers(0, vocab, size=int(rng.integers(0, 40)))] for _ in range(n)
    ]


@pytest.mark.parametrize("n", [3, 4, 13])
def test_shared_counts_equal_python_set_intersections(n):
    rng = np.random.default_rng(n)
    vocab_size = 2 if n > 4 else 6  # long n-grams repeat only over a tiny vocabulary
    a_tok, b_tok = _texts(rng, 60, vocab_size), _texts(rng, 50, vocab_size)
    keep_a = [i for i in range(60) if i % 7]  # some texts left out
    vocab = Vocabulary()
    a, b = NgramSets(a_tok, keep_a, n, vocab), NgramSets(b_tok, range(50), n, vocab)
    sets_a = {i: word_ngrams(a_tok[i], n) if i in keep_a else set() for i in range(60)}
    sets_b = {j: word_ngrams(b_tok[j], n) for j in range(50)}
    assert a.sizes.tolist() == [len(sets_a[i]) for i in range(60)]
    assert b.total() == sum(map(len, sets_b.values()))
    expected = sorted(
        (j, i, len(sets_a[i] & sets_b[j]))
        for i in range(60)
        for j in range(50)
        if sets_a[i] & sets_b[j]
    )
    assert expected  # the fixture shares n-grams
    i, j, common = shared_counts(a, b)
    assert list(zip(j.tolist(), i.tolist(), common.tolist(), strict=True)) == expected
    mask = np.zeros(60, dtype=bool)
    mask[::2] = True
    i2, j2, c2 = shared_counts(a.subset(mask), b)
    assert list(zip(j2.tolist(), i2.tolist(), c2.tolist(), strict=True)) == [
        e for e in expected if e[1] % 2 == 0
    ]


def test_no_ngram_on_either_side_gives_no_pair():
    vocab = Vocabulary()
    a = NgramSets([["a", "b"]], [0], 3, vocab)
    b = NgramSets([["a", "b", "c"]], [0], 3, vocab)
    assert a.total() == 0 and all(x.size == 0 for x in shared_counts(a, b))


def test_vocabulary_ids_are_exact():
    vocab = Vocabulary()
    first = list(vocab.ids(["x", "y", "x"]))
    second = list(vocab.ids(["y", "z", "x"]))
    assert first[0] == first[2] == second[2] and first[1] == second[0]
    assert len({first[0], first[1], second[1]}) == 3


def test_fold_text_drops_every_format_character_and_nothing_else():
    cf = [cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "Cf"]
    assert 0xAD in cf and 0x200B in cf and 0xFEFF in cf
    text = "".join(chr(cp) for cp in cf) + "Ab\u00e9"
    assert fold_text(text) == "ab\u00e9"
    assert (
        fold_text("x\u00adY\u200bz\u2003") == unicodedata.normalize("NFKC", "xyz\u2003").casefold()
    )

"""Vectorised char_wb and word hashing equal scikit-learn's HashingVectorizer, entry by entry."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32 as sklearn_murmur

from miakit.blind._hashing import (
    WHITESPACE,
    char_wb_counts,
    hash_columns,
    murmurhash3_32,
    word_ngram_counts,
)
from miakit.blind._text import N_HASH_FEATURES, tfidf_baseline

TRICKY = [
    "",
    "   ",
    "\n\t\n",
    "a",
    "é",
    "ab",
    " x  y\t\tz\n",
    "a\u00a0b\u2003c\x1cd\u3000e\x85f",
    "日本語のテキスト 漢字",
    "emoji 😀😀 ok 𝔘𝔫𝔦",
    "Ünïcödé wörds and CAPS, İstanbul ß",
    "x" * 40,
    "The 2nd of May, 1999 (see [1]); e-mail: a.b@c.org!",
]


def _words(buffer: bytes) -> np.ndarray:
    raw = np.frombuffer(buffer + bytes(24), dtype=np.uint8).astype(np.uint32)
    return raw[:-3] | raw[1:-2] << 8 | raw[2:-1] << 16 | raw[3:] << 24


def test_whitespace_is_what_str_split_splits_on():
    assert {c for c in range(0x110000) if chr(c).isspace()} == WHITESPACE


def test_murmurhash_equals_sklearn_on_every_length_and_offset():
    rng = np.random.default_rng(0)
    strings = [bytes(rng.integers(0, 256, size=n, dtype=np.uint8)) for n in range(21)] * 8
    rng.shuffle(strings)
    start = np.cumsum([0] + [len(b) for b in strings])[:-1]  # unaligned offsets
    lengths = np.array([len(b) for b in strings], dtype=np.int64)
    got = murmurhash3_32(_words(b"".join(strings)), start, lengths)
    want = np.array([sklearn_murmur(b, seed=0) for b in strings], dtype=np.int32)
    np.testing.assert_array_equal(got, want)


def test_hash_columns_of_the_most_negative_hash():
    h = np.array([-(2**31), -5, 7, 2**31 - 1], dtype=np.int32)
    # FeatureHasher: abs(h) % n, and 2**31 - 1 - (n - 1) for the most negative h
    np.testing.assert_array_equal(hash_columns(h, 1000), [(2**31 - 1 - 999) % 1000, 5, 7, 647])


def _random_texts(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = [*"abcdeABC  \t\n.,'-0123", "é", "ß", "日", "😀", "\u00a0", "\u2003"]
    return ["".join(rng.choice(alphabet, size=int(rng.integers(0, 60)))) for _ in range(n)]


@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("ngram_range", [(2, 5), (2, 3), (3, 3), (3, 6)])
@pytest.mark.parametrize("n_features", [2**10, N_HASH_FEATURES])
def test_char_wb_counts_equal_hashing_vectorizer(lowercase, ngram_range, n_features):
    texts = TRICKY + _random_texts(np.random.default_rng(len(ngram_range) + n_features), 200)
    ref = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=ngram_range,
        lowercase=lowercase,
        n_features=n_features,
        alternate_sign=False,
        norm=None,
    ).transform(texts)
    got = char_wb_counts(texts, ngram_range=ngram_range, n_features=n_features, lowercase=lowercase)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.data, ref.data)
    assert got.has_sorted_indices


def test_char_ngrams_featurize_is_the_vectorised_matrix_and_no_text_gives_empty_rows():
    featurize = tfidf_baseline(
        analyzer="char_wb", ngram_range=(2, 5), lowercase=False, min_df=2
    ).featurize
    x = featurize(["", "ab cd", "  "])
    assert x.shape == (3, N_HASH_FEATURES)
    # per padded word " ab ": " a", "ab", "b ", " ab", "ab ", " ab " (6); two words
    assert np.diff(x.indptr).tolist() == [0, 12, 0]
    assert char_wb_counts([], ngram_range=(2, 5), n_features=64).shape == (0, 64)


def test_a_lone_surrogate_raises_as_scikit_learn_does():
    featurize = tfidf_baseline(
        analyzer="char_wb", ngram_range=(2, 5), lowercase=False, min_df=2
    ).featurize
    with pytest.raises(UnicodeEncodeError):
        featurize(["ok", "bad \ud800 text"])


@pytest.mark.parametrize("ngram_range", [(1, 3), (4, 5), (3, 2)])
def test_other_ngram_ranges_are_refused(ngram_range):
    with pytest.raises(ValueError, match="ngram_range"):
        char_wb_counts(["some text"], ngram_range=ngram_range, n_features=64)


@pytest.mark.parametrize("ngram_range", [(1, 2), (1, 1), (2, 3), (1, 4)])
@pytest.mark.parametrize("n_features", [2**10, N_HASH_FEATURES])
def test_word_ngram_counts_equal_hashing_vectorizer(ngram_range, n_features):
    long_word = "Supercalifragilistic" * 7  # a token of many 4-byte blocks
    texts = [*TRICKY, long_word + " and " + long_word.upper()]
    texts += _random_texts(np.random.default_rng(n_features + ngram_range[1]), 200)
    ref = HashingVectorizer(
        analyzer="word",
        ngram_range=ngram_range,
        lowercase=True,
        n_features=n_features,
        alternate_sign=False,
        norm=None,
    )
    want = ref.transform(texts)
    got = word_ngram_counts(
        texts, token_pattern=ref.token_pattern, ngram_range=ngram_range, n_features=n_features
    )
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)
    assert got.has_sorted_indices


def test_bag_of_words_featurize_is_the_vectorised_matrix():
    featurize = tfidf_baseline(
        analyzer="word", ngram_range=(1, 2), lowercase=True, min_df=1
    ).featurize
    x = featurize(["", "Ab cd ab", "a b"])  # tokens of two or more word characters
    assert x.shape == (3, N_HASH_FEATURES)
    assert np.diff(x.indptr).tolist() == [0, 4, 0]  # ab, cd, "ab cd", "cd ab"
    assert x.sum() == 5  # "ab" twice
    # a lone surrogate is no word character: never in a token, no error (as scikit-learn)
    assert featurize(["ok", "bad \ud800 text"]).sum() == 4


def test_texts_without_a_token_give_empty_rows():
    for texts in ([], ["", "a ! 1"], ["x"]):
        got = word_ngram_counts(
            texts, token_pattern=r"(?u)\b\w\w+\b", ngram_range=(1, 2), n_features=64
        )
        assert got.shape == (len(texts), 64) and got.nnz == 0

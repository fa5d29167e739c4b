"""Hashed character and word n-gram counts, vectorised: scikit-learn's ``HashingVectorizer``.

``HashingVectorizer(analyzer="char_wb", alternate_sign=False, norm=None)`` builds every n-gram
as a Python string and hashes it in a loop that holds the GIL: 3.3 CPU seconds for 4,000
Wikipedia leads of about 1,000 characters (16 million n-grams), most of the blind baselines'
time left after the kernels, and time taken from a run's scoring loop when the baselines run on
a background thread. :func:`char_wb_counts` computes the same matrix with numpy over one
array of all texts: the same n-grams, the same MurmurHash3 (x86, 32 bit, seed 0) of their UTF-8
bytes, the same columns and counts, in the same sorted CSR layout; ``tests/blind`` checks it
equals scikit-learn's entry for entry. :func:`word_ngram_counts` does the same for the lowercased
word n-grams of ``bag_of_words`` (scikit-learn joins each n-gram in Python: 0.2 s of 0.45 at
4,000 texts; what is left holding the GIL is the token regex, one C call per text).

The n-grams of ``char_wb`` (scikit-learn's ``_char_wb_ngrams``): each whitespace-separated word
``w`` (``str.split()``) is padded to ``" " + w + " "`` and contributes every substring of length
``n`` in ``ngram_range`` that fits in the padded word. Written as one stream ``" w1 w2 ... "``
(words of all texts, one space apart), those are exactly the windows of length ``n`` whose
interior (all but the first and last character) holds no space.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

#: The code points for which ``str.isspace()`` is true (what ``str.split()`` splits on).
WHITESPACE = (
    frozenset(range(0x09, 0x0E))
    | frozenset(range(0x1C, 0x21))
    | frozenset(
        (0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
    )
)

_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix(k: np.ndarray) -> np.ndarray:
    return _rotl(k * _C1, 15) * _C2


def murmurhash3_32(words: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """MurmurHash3 x86_32, seed 0, of many byte strings of one buffer, as signed int32.

    Args:
        words: ``(n_bytes + 24,)`` uint32: ``words[i]`` is the little-endian 4-byte word that
            starts at byte ``i`` of the buffer (zero past its end).
        start: ``(m,)`` int64 byte offset of each string.
        length: ``(m,)`` int64 byte length of each string.

    Returns:
        ``(m,)`` int32, equal to ``sklearn.utils.murmurhash3_32(bytes, seed=0)``.
    """
    h = np.zeros(start.shape, dtype=np.uint32)
    blocks = length >> 2
    at = np.flatnonzero(blocks)
    j = 0
    while at.size:  # the strings with a j-th block; each pass only scans those of the last
        k = _mix(words[start[at] + 4 * j])
        h[at] = _rotl(h[at] ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
        j += 1
        at = at[blocks[at] > j]
    tail = (length & 3).astype(np.uint32)
    at = np.flatnonzero(tail)
    mask = (np.uint32(1) << (np.uint32(8) * tail[at])) - np.uint32(1)  # the tail's low bytes
    h[at] ^= _mix(words[start[at] + 4 * blocks[at]] & mask)
    h ^= length.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h.view(np.int32)


def hash_columns(h: np.ndarray, n_features: int) -> np.ndarray:
    """Column of each signed hash, as scikit-learn's ``FeatureHasher`` computes it."""
    h64 = h.astype(np.int64)
    cols = np.abs(h64) % n_features
    cols[h64 == -(2**31)] = (2**31 - 1 - (n_features - 1)) % n_features
    return cols


def char_wb_counts(
    texts: Sequence[str],
    *,
    ngram_range: tuple[int, int],
    n_features: int,
    lowercase: bool = False,
) -> sp.csr_matrix:
    """``(n_texts, n_features)`` float64 CSR counts of hashed ``char_wb`` n-grams.

    Equal to ``HashingVectorizer(analyzer="char_wb", ngram_range=ngram_range,
    lowercase=lowercase, n_features=n_features, alternate_sign=False, norm=None)
    .transform(texts)``: same indices (sorted within rows), counts and ``indptr``.

    Raises:
        UnicodeEncodeError: a text holds a lone surrogate (as scikit-learn raises).
        ValueError: ``ngram_range`` does not start at 2 or 3 (scikit-learn then also counts
            padded spaces alone, or a padded word shorter than ``n``; not reproduced here).
    """
    min_n, max_n = ngram_range
    if not 2 <= min_n <= 3 or max_n < min_n:
        raise ValueError(f"char_wb_counts needs ngram_range (2 or 3, >= that); got {ngram_range}")
    words = [" ".join(t.lower().split() if lowercase else t.split()) for t in texts]
    sizes = np.array([len(w) + 1 if w else 0 for w in words], dtype=np.int64)
    if not sizes.any():  # no word in any text
        return _counts_csr([], 1, len(texts), n_features)
    stream = " " + " ".join(w for w in words if w) + " "  # words one space apart, padded
    cp, byte_at, word32 = _encoded(stream)
    n_chars = cp.shape[0]
    doc = np.repeat(np.arange(len(texts)), sizes)  # (n_chars - 1,) text of each char
    doc = np.concatenate([doc, [len(texts) - 1]])  # the stream's closing space
    space = np.isin(cp, np.fromiter(WHITESPACE, dtype=np.int64))
    spaces_before = np.concatenate([[0], np.cumsum(space)])  # (n_chars + 1,)
    shift = max(int(n_features - 1).bit_length(), 1)  # key = text << shift | column
    # the text of the first word character at or after each position (a window's text)
    first_word = doc[np.minimum(np.arange(n_chars) + space, n_chars - 1)]
    keys = []
    for n in range(min_n, max_n + 1):
        m = max(n_chars - n + 1, 0)  # windows [p, p + n), p < m
        if n >= 3:  # the interior p+1 .. p+n-2 holds no space
            valid = spaces_before[n - 1 : n - 1 + m] == spaces_before[1 : 1 + m]
        else:  # no two spaces are adjacent in the stream, but it may be one space only
            valid = ~(space[:m] & space[1 : 1 + m])
        p = np.flatnonzero(valid)
        h = _span_hashes(word32, byte_at, p, np.full(p.shape, n, dtype=np.int64))
        keys.append(first_word[p] << shift | hash_columns(h, n_features))
    return _counts_csr(keys, shift, len(texts), n_features)


def word_ngram_counts(
    texts: Sequence[str], *, token_pattern: str, ngram_range: tuple[int, int], n_features: int
) -> sp.csr_matrix:
    """``(n_texts, n_features)`` float64 CSR counts of hashed, lowercased word n-grams.

    Equal to ``HashingVectorizer(analyzer="word", token_pattern=token_pattern,
    ngram_range=ngram_range, lowercase=True, n_features=n_features, alternate_sign=False,
    norm=None).transform(texts)``: scikit-learn lowercases each text, finds its tokens with the
    pattern and joins ``n`` consecutive tokens with one space; written as one stream of every
    text's tokens one space apart, each n-gram is a span of that stream, hashed in place.

    Raises:
        UnicodeEncodeError: a text holds a lone surrogate (as scikit-learn raises).
    """
    min_n, max_n = ngram_range
    if not 1 <= min_n <= max_n:
        raise ValueError(f"word_ngram_counts needs 1 <= min_n <= max_n; got {ngram_range}")
    pattern = re.compile(token_pattern)
    tokens = [pattern.findall(t.lower()) for t in texts]  # C-level regex, one call per text
    per_text = np.array([len(t) for t in tokens], dtype=np.int64)
    shift = max(int(n_features - 1).bit_length(), 1)
    if not per_text.any():
        return _counts_csr([], shift, len(texts), n_features)
    flat = [tok for toks in tokens for tok in toks]
    lengths = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))  # (n_tokens,)
    start = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])  # char offset in the stream
    _, byte_at, word32 = _encoded(" ".join(flat))
    doc = np.repeat(np.arange(len(texts)), per_text)  # (n_tokens,) text of each token
    keys = []
    for n in range(min_n, max_n + 1):
        first = np.arange(max(len(flat) - n + 1, 0))  # n-grams from token first .. first+n-1
        first = first[doc[first] == doc[first + n - 1]]  # inside one text
        end = start[first + n - 1] + lengths[first + n - 1]
        h = _span_hashes(word32, byte_at, start[first], end - start[first])
        keys.append(doc[first] << shift | hash_columns(h, n_features))
    return _counts_csr(keys, shift, len(texts), n_features)


def _encoded(stream: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``(code points (n_chars,), byte offset of each char (n_chars + 1,), words)`` of
    ``stream``'s UTF-8 encoding; ``words`` as :func:`murmurhash3_32` takes them. The offsets
    are ``None`` for ASCII (then a byte offset is the character offset)."""
    if stream.isascii():
        raw8 = np.frombuffer(stream.encode("ascii") + bytes(24), dtype=np.uint8)
        cp = raw8[:-24].astype(np.int64)
        byte_at = None
    else:
        cp = np.frombuffer(stream.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        utf8 = 1 + (cp >= 0x80) + (cp >= 0x800) + (cp >= 0x10000)  # (n_chars,) bytes per char
        byte_at = np.concatenate([[0], np.cumsum(utf8)])
        raw8 = np.frombuffer(stream.encode("utf-8") + bytes(24), dtype=np.uint8)
    return cp, byte_at, _words_at_every_byte(raw8)


def _words_at_every_byte(raw8: np.ndarray) -> np.ndarray:
    """``(len(raw8) - 3,)`` uint32: the little-endian word starting at each byte: four
    zero-copy word views of the buffer, at byte offsets 0-3, interleaved."""
    n = raw8.shape[0] - 3
    out = np.empty(n, dtype=np.uint32)
    buffer = raw8.tobytes()
    for k in range(4):
        count = (len(buffer) - k) // 4
        out[k::4] = np.frombuffer(buffer, dtype="<u4", count=count, offset=k)[: len(out[k::4])]
    return out


def _span_hashes(
    words: np.ndarray, byte_at: np.ndarray | None, start: np.ndarray, n_chars: np.ndarray
) -> np.ndarray:
    """MurmurHash3 of the substrings ``[start, start + n_chars)`` (in characters)."""
    if byte_at is None:  # ASCII: byte offset = character offset
        return murmurhash3_32(words, start, n_chars)
    return murmurhash3_32(words, byte_at[start], byte_at[start + n_chars] - byte_at[start])


def _counts_csr(keys: list[np.ndarray], shift: int, n_texts: int, n_features: int) -> sp.csr_matrix:
    """Canonical CSR counts from ``text << shift | column`` keys, one per occurrence."""
    key = np.sort(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
    if not key.size:  # no n-gram in any text
        empty = np.zeros(n_texts + 1, dtype=np.int32)
        return sp.csr_matrix((np.zeros(0), np.zeros(0, np.int32), empty), (n_texts, n_features))
    first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))  # each distinct key
    counts = np.diff(np.concatenate([first, [key.shape[0]]])).astype(np.float64)
    distinct = key[first]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(distinct >> shift, minlength=n_texts))])
    columns = (distinct & ((1 << shift) - 1)).astype(np.int32)
    # sorted by text, then column, each n-gram counted once: scikit-learn's canonical CSR
    return sp.csr_matrix((counts, columns, indptr.astype(np.int32)), shape=(n_texts, n_features))

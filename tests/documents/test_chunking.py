"""Token windows of long texts: arithmetic, character spans, samples (miakit.data.chunking)."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.data import Label, Sample, SampleSet
from miakit.data.chunking import char_windows, check_windows, chunk_samples, token_windows
from miakit.errors import DataError, InvalidParameterError


def test_token_windows_known_answers():
    assert token_windows(10, 4, 4) == [(0, 4), (4, 8), (8, 10)]
    assert token_windows(10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert token_windows(8, 4, 4) == [(0, 4), (4, 8)]  # the last window ends exactly at n
    assert token_windows(3, 4, 4) == [(0, 3)]  # shorter than a window: one chunk
    assert token_windows(4, 4, 1) == [(0, 4)]
    assert token_windows(0, 4, 2) == [(0, 0)]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(1, 40), st.data())
def test_token_windows_cover_every_token(n, window, data):
    stride = data.draw(st.integers(1, window))
    spans = token_windows(n, window, stride)
    assert spans[0][0] == 0 and spans[-1][1] == n
    covered = set()
    for k, (a, b) in enumerate(spans):
        assert a == k * stride and 0 <= b - a <= window
        covered |= set(range(a, b))
    assert covered == set(range(n))
    # the last window is the first that reaches the end; none before it does
    assert all(a + window < n for a, _ in spans[:-1])


@pytest.mark.parametrize(
    ("window", "stride", "match"),
    [
        (4, 5, "larger than --doc-window"),
        (4, 0, "stride of 0 never advances"),
        (0, None, "--doc-window must be"),
        (True, None, "--doc-window must be"),
        (4, 2.5, "--doc-stride must be a whole number"),
    ],
)
def test_bad_window_or_stride(window, stride, match):
    with pytest.raises(InvalidParameterError, match=match):
        check_windows(window, stride)


def test_default_stride_is_the_window():
    assert check_windows(7, None) == 7


# --- character spans, with a word tokenizer whose offsets are known --------------------------


def words(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def count_words(text: str) -> int:
    return len(words(text))


def end_of_words(text: str, k: int) -> int:
    spans = words(text)
    return spans[k - 1][1] if k else 0


def expected_spans(text: str, window: int, stride: int) -> list[tuple[int, int]]:
    """Independent reference: token windows of the whole text's words, as characters (a
    window starts where the previous token ends; the last one ends at the end of the text)."""
    tok = words(text)
    out = []
    for a, b in token_windows(len(tok), window, stride):
        start = tok[a - 1][1] if a else 0
        stop = tok[b - 1][1] if b < len(tok) else len(text)
        out.append((start, stop))
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text("abcdé", min_size=1, max_size=12), min_size=0, max_size=400),
    st.integers(1, 30),
    st.data(),
)
def test_char_windows_match_the_whole_texts_token_windows(tokens, window, data):
    stride = data.draw(st.integers(1, window))
    seps = data.draw(st.lists(st.sampled_from([" ", "  ", "\n"]), min_size=len(tokens) + 1,
                              max_size=len(tokens) + 1))  # fmt: skip
    text = seps[0] + "".join(t + s for t, s in zip(tokens, seps[1:], strict=True))
    spans = char_windows(text, window, stride, count=count_words, end_of=end_of_words)
    assert spans == expected_spans(text, window, stride)
    # the chunks cover every character, consecutive ones meet or overlap
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(b[0] <= a[1] for a, b in itertools.pairwise(spans))
    # each chunk holds at most `window` tokens (of its own tokenization)
    assert all(count_words(text[a:b]) <= window for a, b in spans)


def test_text_shorter_than_a_window_is_one_chunk():
    assert char_windows("a b c", 3, 1, count=count_words, end_of=end_of_words) == [(0, 5)]
    assert char_windows("", 3, 1, count=count_words, end_of=end_of_words) == [(0, 0)]


def test_long_text_is_linear_in_slices():
    """Every tokenizer call sees a slice a few windows long, not the rest of the text."""
    text = " ".join(f"w{i}" for i in range(20_000))
    longest = [0]

    def count(t: str) -> int:
        longest[0] = max(longest[0], len(t))
        return count_words(t)

    spans = char_windows(text, 50, 25, count=count, end_of=end_of_words)
    assert len(spans) == len(token_windows(20_000, 50, 25))
    assert longest[0] < 5_000 < len(text)


def test_tokenizer_without_offsets_is_a_clear_error():
    with pytest.raises(DataError, match=r"'s1'.*cannot map its tokens to characters"):
        char_windows("a b c d", 2, 2, count=count_words, end_of=lambda t, k: None, name="s1")


def test_no_progress_is_a_clear_error():
    with pytest.raises(DataError, match="cover no character"):
        char_windows("a b c d", 2, 1, count=count_words, end_of=lambda t, k: 0, name="s1")


def test_real_tokenizer_windows(tokenizer):
    """With the tiny BPE tokenizer: chunk starts are the whole text's token boundaries, and
    each chunk re-tokenizes to the window (the last one to at most it)."""
    from tinymodels import CORPUS

    text = " ".join(CORPUS * 3)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]

    def count(t: str) -> int:
        return len(tokenizer(t, add_special_tokens=False)["input_ids"])

    def end_of(t: str, k: int) -> int:
        offs = tokenizer(t, add_special_tokens=False, return_offsets_mapping=True)
        return max((e for _, e in offs["offset_mapping"][:k]), default=0)

    window, stride = 12, 5
    spans = char_windows(text, window, stride, count=count, end_of=end_of)
    starts = [0] + [offsets[k * stride - 1][1] for k in range(1, len(spans))]
    assert [a for a, _ in spans] == starts
    assert len(spans) == len(token_windows(len(offsets), window, stride))
    assert all(count(text[a:b]) == window for a, b in spans[:-1])
    assert count(text[spans[-1][0] :]) <= window and spans[-1][1] == len(text)


# --- samples -------------------------------------------------------------------------------


def test_chunk_samples_ids_labels_and_doc_ids():
    samples = SampleSet.of([
        Sample("a", "0123456789", Label.MEMBER, group="g", source="m.jsonl:1"),
        Sample("b", "short", Label.NONMEMBER, doc_id="book"),
        Sample("c", "abcdef", Label.NONMEMBER, doc_id="book"),
    ])  # fmt: skip
    out = chunk_samples(samples, [[(0, 6), (4, 10)], [(0, 5)], [(0, 3), (3, 6)]])
    assert out.ids == ["a#0", "a#1", "b", "c#0", "c#1"]
    assert out.texts == ["012345", "456789", "short", "abc", "def"]
    assert [s.doc_id for s in out] == ["a", "a", "book", "book", "book"]
    assert [s.label for s in out] == [Label.MEMBER] * 2 + [Label.NONMEMBER] * 3
    assert out[0].group == "g" and out[1].source == "m.jsonl:1 chars 4-10"
    assert out[2] == Sample("b", "short", Label.NONMEMBER, doc_id="book")


def test_chunk_id_collision_is_a_clear_error():
    samples = SampleSet.of([Sample("a", "0123"), Sample("a#1", "x")])
    with pytest.raises(DataError, match="rename the samples whose ids end in"):
        chunk_samples(samples, [[(0, 2), (2, 4)], [(0, 1)]])


def test_chunk_samples_checks_spans():
    samples = SampleSet.of([Sample("a", "0123")])
    with pytest.raises(ValueError, match="out of range"):
        chunk_samples(samples, [[(0, 9)]])
    with pytest.raises(ValueError, match="span lists"):
        chunk_samples(samples, [])

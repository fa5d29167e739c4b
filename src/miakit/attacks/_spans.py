"""Which part of a text each signal table scored, for attacks that combine several tables.

``max_length`` truncates the text part of an input. Under a prefix (ReCaLL shots) less of
the text fits than in the plain context; a lowercased text or another model's tokenizer
splits the text differently. Two tables of one sample may then score different stretches of
the text, and a ratio of their means compares different things. The helpers here make the
stretches equal (:func:`common_span_means`: text tokens scored in every table) or flag the
samples where they differ (:func:`require_same_characters`, :func:`scored_characters`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import SignalView

TableRef = tuple[str, str]  # (model, context)

#: What to do when a prefix leaves too little room for the text.
PREFIX_FIX = "raise --max-length or use fewer or shorter shots (--recall-shots)"


def _name(ref: TableRef) -> str:
    return f"{ref[0]}/{ref[1]}"


def common_span_means(
    signals: SignalView,
    reasons: _ops.Reasons,
    refs: Sequence[TableRef],
    *,
    stat: str = "token_log_prob",
    fix: str = PREFIX_FIX,
) -> list[np.ndarray]:
    """Per-sample means of ``stat`` in each table of ``refs``, all over the *common span*.

    The tables must score one tokenization of the same text under different prefixes (text
    and prefix are tokenized apart, so text token ``j`` has the same id in every table). Table
    ``c`` scores text tokens ``start_c .. stop_c - 1`` (:meth:`TokenSignals.text_spans`:
    ``start_c`` is 1 where nothing precedes the text, ``stop_c`` is where truncation cut it);
    the common span is ``max_c start_c .. min_c stop_c - 1``, the tokens every table scored.
    Samples with no common token get a reason naming the spans and ``fix``.

    Returns:
        One float64 array of shape ``(n_samples,)`` per table of ``refs``; NaN where the
        sample is unscorable (its reason is in ``reasons``).
    """
    n = signals.n_samples
    reads = []
    for model, context in refs:
        values, offsets = _ops.token_values(signals, reasons, stat, model=model, context=context)
        start, stop = signals.table(model=model, context=context).text_spans()
        reasons.add(
            start < 0,
            f"{_name((model, context))} does not record which text tokens it scored "
            "(every sample truncated in a table without text_start); recompute the signals",
        )
        reads.append((values, offsets, start, stop))
    lo = np.max([r[2] for r in reads], axis=0)
    hi = np.min([r[3] for r in reads], axis=0)
    known = np.min([r[2] for r in reads], axis=0) >= 0
    width = np.where(known, np.maximum(hi - lo, 0), 0)  # (n,) tokens of the common span

    def empty(i: int) -> str:
        spans = ", ".join(
            f"{_name(ref)} scores text tokens [{int(r[2][i])}, {int(r[3][i])})"
            for ref, r in zip(refs, reads, strict=True)
        )
        return (
            "the common span is empty, no text token is scored in every context "
            f"({spans}; truncation to max_length cut the text after a prefix); {fix}"
        )

    reasons.add(known & (width == 0), empty)
    ends = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(width, out=ends[1:])
    seg = np.repeat(np.arange(n), width)  # (n_common,) owning sample of each position
    within = np.arange(int(ends[-1])) - ends[:-1][seg]
    out = []
    for values, offsets, start, _ in reads:
        pos = offsets[:-1][seg] + (lo - start)[seg] + within
        out.append(_ops.segment_mean(values[pos], ends))
    return out


def require_same_characters(
    signals: SignalView, reasons: _ops.Reasons, a: TableRef, b: TableRef, *, why: str
) -> None:
    """Record samples where tables ``a`` and ``b`` scored different characters of the text.

    Both cover the whole text where neither was truncated; otherwise they agree only where
    both record how many characters their kept tokens cover
    (:attr:`TokenSignals.kept_chars`) and the counts are equal. ``why`` says why the
    tokenizations differ (for the reason).
    """
    ta, tb = signals.table(model=a[0], context=a[1]), signals.table(model=b[0], context=b[1])
    n = signals.n_samples
    chars_a = ta.kept_chars if ta.kept_chars is not None else np.full(n, -1, dtype=np.int64)
    chars_b = tb.kept_chars if tb.kept_chars is not None else np.full(n, -1, dtype=np.int64)
    cut = ta.truncated | tb.truncated
    same = ~cut | ((chars_a >= 0) & (chars_a == chars_b))

    def differ(i: int) -> str:
        def cover(t: np.ndarray, chars: np.ndarray) -> str:
            if not t[i]:
                return "the whole text"
            return f"its first {int(chars[i])} characters" if chars[i] >= 0 else "an unknown part"

        return (
            f"truncation to max_length left {_name(a)} with "
            f"{cover(ta.truncated, chars_a)} and {_name(b)} with {cover(tb.truncated, chars_b)} "
            f"({why}), so they score different text; raise --max-length so the text fits"
        )

    reasons.add(~same, differ)


def scored_characters(
    signals: SignalView, reasons: _ops.Reasons, texts: Sequence[str], ref: TableRef
) -> list[str]:
    """The part of each text that table ``ref``'s kept tokens cover: the whole text where it
    was not truncated, else its first ``kept_chars`` characters. Samples truncated where the
    tokenizer could not say how far the kept tokens reach get a reason (and ``""``)."""
    table = signals.table(model=ref[0], context=ref[1])
    chars = table.kept_chars
    out: list[str] = []
    unknown = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        if not table.truncated[i]:
            out.append(text)
        elif chars is not None and chars[i] >= 0:
            out.append(text[: int(chars[i])])
        else:
            out.append("")
            unknown[i] = True
    reasons.add(
        unknown,
        f"{_name(ref)} truncated the text to max_length and its tokenizer does not say which "
        "characters the kept tokens cover; raise --max-length so the text fits",
    )
    return out

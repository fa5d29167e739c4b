"""Documents longer than a model window, split into windows of tokens (issue 13).

A document is scored as a series of *chunks*: windows of ``window`` tokens of the target
model's tokenization, one every ``stride`` tokens, each mapped back to a span of characters
of the text. Every chunk becomes an ordinary :class:`~miakit.data.schema.Sample` whose text is
that span, so every model of a run (a reference with another tokenizer too) scores the same
characters, and the attacks, the signal cache and the blind baselines work on chunks
unchanged. Chunks keep the document's label and carry its ``doc_id``; document scores are
aggregated from them afterwards (:mod:`miakit.pipeline.documents`).

Window arithmetic (in tokens of the whole text, ``n`` of them): windows start at ``0, stride,
2 * stride, ...``; the last one is the first that reaches the end (``start + window >= n``),
and it ends at the end of the text. A text of at most ``window`` tokens is one chunk, the
sample itself. ``stride <= window`` (a larger stride would skip text), so the chunks cover
every character of the text; ``stride == window`` tiles it without overlap.

The tokenizer is asked through two callables (this layer sees no model): ``count(text)``, the
number of tokens of a text, and ``end_of(text, k)``, how many characters its first ``k``
tokens cover (``None`` where the tokenizer cannot tell). They are only ever given a slice of
the text starting at a chunk's first character, a little longer than the window (doubled
until it holds ``window + MARGIN`` tokens), so the cost is linear in the text's length.
A slice's tokens agree with the whole text's from a token boundary on for the usual
pre-tokenizing BPE tokenizers; where a tokenizer merges across that boundary, a chunk can
re-tokenize to a token more or less than ``window``. Papers: arXiv 2310.15007 (documents as
windows of a book), 2411.00154 (document and collection scores from chunk scores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from miakit.data.schema import Sample, SampleSet
from miakit.errors import DataError, InvalidParameterError

#: Tokens past the window that a slice must hold before its first ``window`` tokens are
#: trusted to be the whole text's (a cut word at the slice's end changes only its last ones).
MARGIN = 16

Span = tuple[int, int]
Counter = Callable[[str], int]
EndOf = Callable[[str, int], "int | None"]


def check_windows(window: int, stride: int | None) -> int:
    """The stride to use (``window`` when ``stride`` is ``None``).

    Raises:
        InvalidParameterError: ``window`` or ``stride`` below 1, or ``stride > window``.
    """
    problems = []
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        problems.append(f"--doc-window must be a whole number of tokens >= 1, got {window!r}")
    if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int)):
        problems.append(f"--doc-stride must be a whole number of tokens, got {stride!r}")
    elif stride is not None and stride < 1:
        problems.append(
            f"--doc-stride must be >= 1 token, got {stride} (a stride of 0 never advances)"
        )
    elif stride is not None and not problems and stride > window:
        problems.append(
            f"--doc-stride {stride} is larger than --doc-window {window}: the tokens between "
            "windows would never be scored; use a stride of at most the window (equal: no "
            "overlap)"
        )
    if problems:
        raise InvalidParameterError("; ".join(problems))
    return window if stride is None else stride


def token_windows(n_tokens: int, window: int, stride: int) -> list[Span]:
    """``(start, stop)`` token indices of each window over ``n_tokens`` tokens (see the module
    docstring); one window ``(0, n_tokens)`` when they fit in one."""
    stride = check_windows(window, stride)
    if n_tokens < 0:
        raise InvalidParameterError(f"n_tokens must be >= 0, got {n_tokens}")
    out: list[Span] = []
    start = 0
    while start + window < n_tokens:
        out.append((start, start + window))
        start += stride
    out.append((start, n_tokens))
    return out


def char_windows(
    text: str, window: int, stride: int, *, count: Counter, end_of: EndOf, name: str = ""
) -> list[Span]:
    """``(start, stop)`` character spans of the token windows of ``text``.

    Consecutive spans overlap by the characters of ``window - stride`` tokens; the first
    starts at 0 and the last stops at ``len(text)``.

    Raises:
        DataError: the tokenizer cannot map tokens to characters, or makes no progress;
            ``name`` (the sample's id) is in the message.
    """
    stride = check_windows(window, stride)
    spans: list[Span] = []
    start = 0
    budget = max(256, 8 * (window + MARGIN))  # characters per slice; doubled when short
    while True:
        rest = len(text) - start
        piece = text[start : start + min(rest, budget)]
        n = count(piece)
        whole = len(piece) == rest
        if not whole and n < window + MARGIN:
            budget *= 2
            continue
        if whole and n <= window:
            spans.append((start, len(text)))
            return spans
        stop, step = end_of(piece, window), end_of(piece, stride)
        if stop is None or step is None:
            raise DataError(
                f"sample {name!r}: the target's tokenizer cannot map its tokens to characters, "
                "so the text cannot be split into windows; use a model with a fast (Rust) "
                "tokenizer, or split the document into parts yourself (rows sharing a doc_id)"
            )
        if step < 1:
            raise DataError(
                f"sample {name!r}: {stride} tokens from character {start} cover no character, "
                "so the window cannot advance; raise --doc-stride"
            )
        spans.append((start, start + stop))
        start += step


def chunk_samples(samples: SampleSet, spans: Sequence[Sequence[Span]]) -> SampleSet:
    """``samples`` with each one replaced by its chunks (``spans[i]`` for sample ``i``).

    A chunk of sample ``s`` has id ``f"{s.id}#{k}"`` (``k`` from 0), the span's characters as
    text, ``s``'s label, group and metadata, and ``doc_id`` ``s.doc_id`` or, when that is
    unset, ``s.id``; its ``source`` names the characters. A sample with a single span covering
    its whole text stays as it is (id and text), with that ``doc_id``.

    Raises:
        ValueError: ``spans`` does not have one entry per sample, or a span is out of range.
        DataError: a chunk id equals another sample's id.
    """
    if len(spans) != len(samples):
        raise ValueError(f"{len(spans)} span lists for {len(samples)} samples")
    out: list[Sample] = []
    for s, own in zip(samples, spans, strict=True):
        doc = s.doc_id if s.doc_id is not None else s.id
        if not own or any(not 0 <= a <= b <= len(s.text) for a, b in own):
            raise ValueError(f"sample {s.id!r}: spans {list(own)[:3]} out of range")
        if len(own) == 1 and tuple(own[0]) == (0, len(s.text)):
            out.append(_replace(s, id=s.id, text=s.text, doc_id=doc, source=s.source))
            continue
        for k, (a, b) in enumerate(own):
            where = f"{s.source or s.id} chars {a}-{b}"
            out.append(_replace(s, id=f"{s.id}#{k}", text=s.text[a:b], doc_id=doc, source=where))
    chunks = SampleSet.of(out)
    try:
        chunks.require_unique_ids()
    except DataError as exc:
        raise DataError(
            f"{exc} (after splitting documents into windows: chunk k of sample ID is "
            "'ID#k'; rename the samples whose ids end in '#<number>')"
        ) from None
    return chunks


def _replace(s: Sample, *, id: str, text: str, doc_id: str, source: str) -> Sample:
    return Sample(
        id=id,
        text=text,
        label=s.label,
        group=s.group,
        doc_id=doc_id,
        metadata=dict(s.metadata),
        source=source,
    )

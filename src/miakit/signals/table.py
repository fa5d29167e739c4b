"""The in-memory signal table: ragged per-token statistics for one (model, context)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from miakit.errors import MissingSignalError


@dataclass(frozen=True)
class TokenSignals:
    """Per-token statistics of one model under one context, for ``n`` samples.

    Token values of sample ``i`` are ``stats[name][offsets[i]:offsets[i + 1]]``: one value per
    *scored* token (a token predicted from at least one earlier input token).

    Attributes:
        offsets: shape ``(n + 1,)``, int64, non-decreasing, ``offsets[0] == 0``.
        stats: statistic name -> flat array of shape ``(offsets[-1],)`` (float32; ``token_rank``
            is stored as float32 too, exact up to 2**24).
        truncated: shape ``(n,)``, bool: the text was cut to ``max_length`` tokens.
        n_text_tokens: shape ``(n,)``, int64: tokens of the (transformed) text before truncation.
        text_start: shape ``(n,)``, int64, or ``None`` (unknown): the index, among the text's
            tokens, of its first scored token: 0 where a BOS or a prefix precedes the text, 1
            where nothing does (token 0 then has no predictor). Scored tokens are text tokens
            ``text_start .. text_start + n_scored - 1``; see :meth:`text_spans`.
        kept_chars: shape ``(n,)``, int64, or ``None`` (unknown): how many characters of the
            raw text the kept tokens cover (``len(text)`` where not truncated); -1 where the
            tokenizer cannot say, or the context's transform changes the text's length (see
            :meth:`~miakit.signals.engine.SignalEngine.text_coverage`).
    """

    offsets: np.ndarray
    stats: Mapping[str, np.ndarray]
    truncated: np.ndarray
    n_text_tokens: np.ndarray
    meta: Mapping[str, object] = field(default_factory=dict)
    text_start: np.ndarray | None = None
    kept_chars: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_tok = int(self.offsets[-1])
        for name, arr in self.stats.items():
            if arr.shape != (n_tok,):
                raise ValueError(f"stat {name!r} has shape {arr.shape}, expected ({n_tok},)")
        for name in ("text_start", "kept_chars"):
            arr = getattr(self, name)
            if arr is not None and np.shape(arr) != (self.n_samples,):
                raise ValueError(f"{name} has shape {np.shape(arr)}, expected ({self.n_samples},)")

    @property
    def n_samples(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_scored(self) -> np.ndarray:
        """Number of scored tokens per sample, shape ``(n,)``."""
        return np.diff(self.offsets)

    def text_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """``(start, stop)``, int64 of shape ``(n,)`` each: sample ``i``'s scored tokens are its
        text tokens ``start[i] .. stop[i] - 1`` (indices into the text's own tokenization).

        Where :attr:`text_start` is unknown (tables built by hand, or read from files that
        predate it), it is inferred: the same for every sample of a table (one BOS/prefix
        policy), it is ``n_text_tokens - n_scored`` of any sample that was not truncated.
        ``start`` and ``stop`` are -1 where it cannot be inferred (every sample truncated).
        """
        n_scored = self.n_scored
        if self.text_start is not None:
            start = np.asarray(self.text_start, dtype=np.int64)
        else:
            whole = ~self.truncated & (self.n_text_tokens > 0)
            seen = np.unique((self.n_text_tokens - n_scored)[whole])
            value = int(seen[0]) if len(seen) == 1 and seen[0] in (0, 1) else -1
            start = np.full(self.n_samples, value, dtype=np.int64)
        stop = np.where(start >= 0, start + n_scored, -1)
        return start, stop

    def flat(self, stat: str) -> np.ndarray:
        if stat not in self.stats:
            raise MissingSignalError(
                f"statistic {stat!r} was not computed; computed: {sorted(self.stats)}"
            )
        return self.stats[stat]

    def rows(self, stat: str) -> list[np.ndarray]:
        """Per-sample float64 arrays of ``stat``."""
        flat = self.flat(stat).astype(np.float64)
        return [flat[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)]

    def take(self, index: np.ndarray) -> TokenSignals:
        """Return the table restricted to samples ``index`` (in that order)."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.n_scored[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if len(index):
            pos = np.concatenate(
                [np.arange(self.offsets[i], self.offsets[i + 1]) for i in index]
            ).astype(np.int64)
        else:
            pos = np.zeros(0, dtype=np.int64)
        return TokenSignals(
            offsets=offsets,
            stats={k: v[pos] for k, v in self.stats.items()},
            truncated=self.truncated[index],
            n_text_tokens=self.n_text_tokens[index],
            meta=dict(self.meta),
            text_start=None if self.text_start is None else self.text_start[index],
            kept_chars=None if self.kept_chars is None else self.kept_chars[index],
        )


def concat_rows(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ragged rows into ``(flat, offsets)``."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    if rows:
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        flat = np.concatenate(rows) if offsets[-1] else np.zeros(0, dtype=np.float32)
    else:
        flat = np.zeros(0, dtype=np.float32)
    return flat, offsets

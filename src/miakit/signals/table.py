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
    """

    offsets: np.ndarray
    stats: Mapping[str, np.ndarray]
    truncated: np.ndarray
    n_text_tokens: np.ndarray
    meta: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_tok = int(self.offsets[-1])
        for name, arr in self.stats.items():
            if arr.shape != (n_tok,):
                raise ValueError(f"stat {name!r} has shape {arr.shape}, expected ({n_tok},)")

    @property
    def n_samples(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_scored(self) -> np.ndarray:
        """Number of scored tokens per sample, shape ``(n,)``."""
        return np.diff(self.offsets)

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

"""PAC's augmentation: copies of a text with random pairs of its words swapped (EDA random
swap, arXiv 1901.11196), as the official code of Polarized Augment Calibration (arXiv
2405.11930, ``src/eda.py``) makes them.

A text is split on single spaces (``text.split(" ")``, so newlines and tabs stay inside their
words, as in the official code) and ``n = max(1, ⌊alpha · W⌋)`` swaps of two word positions
are applied one after the other (a later swap may undo an earlier one), ``W`` being the
number of words; the words are joined again with single spaces. Each swap draws two
*distinct* positions uniformly (the official code redraws the second position up to four times
and leaves the text unchanged if it keeps drawing the first; with two words that is a
no-op once in 16, otherwise rarer); a text of fewer than two words has no augmentation.

Determinism: each text's copies come from a ``random.Random`` seeded with the run seed and the
text (:func:`~miakit.perturb.base.text_seed`), so they do not depend on the other texts or the
batching. It needs no model: it is a :class:`~miakit.perturb.base.Perturber` so that the
neighbor cache and the neighbor plumbing serve it too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from miakit.errors import InvalidParameterError
from miakit.perturb.base import text_seed

#: The identity kind of :class:`WordSwapPerturber`.
SWAP_KIND = "eda_random_swap"


def n_swaps(alpha: float, n_words: int) -> int:
    """``max(1, int(alpha · n_words))``, the official code's count in float arithmetic (so
    ``0.29 · 100`` gives 28); 0 below two words."""
    if n_words < 2:
        return 0
    return max(1, int(alpha * n_words))


class WordSwapPerturber:
    """Copies of a text with ``n_swaps(alpha, W)`` random word swaps each (PAC's augmentation).

    Args:
        alpha: the share of the words swapped, ``0 < alpha <= 1`` (PAC's default 0.3).
    """

    def __init__(self, alpha: float = 0.3) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha <= 1:
            raise InvalidParameterError(
                f"the word-swap share alpha must be a number in (0, 1]; got {alpha!r} "
                "(PAC's default is 0.3)"
            )
        self.alpha = float(alpha)

    @property
    def identity(self) -> Mapping[str, Any]:
        return {"kind": SWAP_KIND, "alpha": self.alpha, "version": 1}

    def swapped(self, text: str, rng: random.Random) -> str:
        """One augmentation of ``text`` drawn from ``rng``."""
        words = text.split(" ")
        for _ in range(n_swaps(self.alpha, len(words))):
            i, j = rng.sample(range(len(words)), 2)
            words[i], words[j] = words[j], words[i]
        return " ".join(words)

    def neighbors(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]:
        """``m`` augmentations of each text (none for a text of fewer than two words)."""
        out: list[list[str]] = []
        for text in texts:
            if len(text.split(" ")) < 2:
                out.append([])
                continue
            rng = random.Random(text_seed(seed, text))
            out.append([self.swapped(text, rng) for _ in range(m)])
        return out

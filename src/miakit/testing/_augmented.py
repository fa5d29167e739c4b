"""Synthetic values of PAC's extra ``pac_augmented`` for the conformance checks.

Random ones (a few samples without augmentations), label-independent leaky ones, the one row
:func:`~miakit.testing._synth.Synth.insert` adds, and :func:`polarize`: the membership signal
PAC reads, which no table carries (as ``grad_norms``'s): a member's augmentations spread their
log-probs further apart than the member's own (arXiv 2405.11930).
"""

from __future__ import annotations

import numpy as np

from miakit.attacks.pac import AugmentedLogProbs

NO_COPY = "no augmentation (synthetic)"


def random_augmented(rng: np.random.Generator, n: int) -> AugmentedLogProbs:
    """1 to 5 augmentations of 2-80 tokens per sample; a tenth of the samples have none."""
    rows = []
    for _ in range(n):
        count = 0 if rng.random() < 0.1 else int(rng.integers(1, 6))
        rows.append([-rng.exponential(2.0, int(rng.integers(2, 80))) for _ in range(count)])
    return AugmentedLogProbs.of_rows(rows, NO_COPY)


def leaky_augmented(rng: np.random.Generator, n: int) -> AugmentedLogProbs:
    # log-probs like leaky_synth's unshifted ones (-1 - Exp(0.7)); label-independent here
    rows = [
        [-1.0 - rng.exponential(0.7, int(rng.integers(40, 120))) for _ in range(5)]
        for _ in range(n)
    ]
    return AugmentedLogProbs.of_rows(rows, NO_COPY)


def one_row(n_tokens: int) -> AugmentedLogProbs:
    """One sample with two augmentations of ``max(n_tokens, 1)`` tokens."""
    size = max(n_tokens, 1)
    return AugmentedLogProbs.of_rows(
        [[np.linspace(-3.0, -1.0, size), np.full(size, -2.0)]], NO_COPY
    )


def polarize(value: AugmentedLogProbs, labels: np.ndarray) -> AugmentedLogProbs:
    """Members' augmentations stretched 1.6-fold around -1: their lowest log-probs fall."""
    rows = [
        tuple(-1.0 + 1.6 * (r + 1.0) for r in row) if label else row
        for row, label in zip(value.rows, labels, strict=True)
    ]
    return AugmentedLogProbs(
        value.values, value.reasons, tuple(rows), value.augmentations, value.alpha
    )

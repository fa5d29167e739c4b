"""PAC's word-swap augmentation (:class:`miakit.perturb.swap.WordSwapPerturber`)."""

from __future__ import annotations

from collections import Counter

import pytest

from miakit.errors import InvalidParameterError
from miakit.perturb import Perturber
from miakit.perturb.swap import WordSwapPerturber, n_swaps

TEXT = "one two three four five six seven eight nine ten"


def test_swap_count_follows_the_official_code() -> None:
    # max(1, int(alpha * words)); below two words there is nothing to swap
    assert [n_swaps(0.3, w) for w in (0, 1, 2, 3, 4, 10, 11, 100)] == [0, 0, 1, 1, 1, 3, 3, 30]
    assert n_swaps(0.29, 100) == 28  # int(28.999999999999996), as the official code


def test_copies_permute_the_words_and_keep_other_whitespace() -> None:
    text = "alpha beta\ngamma delta  epsilon"  # newline and double space stay in their words
    copies = WordSwapPerturber(0.5).neighbors([text], 20, seed=0)[0]
    assert len(copies) == 20
    for copy in copies:
        assert Counter(copy.split(" ")) == Counter(text.split(" "))
    assert any(c != text for c in copies)


def test_one_swap_changes_exactly_two_positions() -> None:
    copies = WordSwapPerturber(0.1).neighbors([TEXT], 10, seed=3)[0]  # 1 swap of 10 words
    for copy in copies:
        moved = [a != b for a, b in zip(copy.split(" "), TEXT.split(" "), strict=True)]
        assert sum(moved) == 2


def test_seeded_per_text_and_independent_of_the_batch() -> None:
    swap = WordSwapPerturber()
    alone = swap.neighbors([TEXT], 5, seed=7)
    batch = swap.neighbors(["a b c d", TEXT, "x"], 5, seed=7)
    assert batch[1] == alone[0] and batch[2] == []  # one word: no augmentation
    assert swap.neighbors([TEXT], 5, seed=8) != alone
    assert isinstance(swap, Perturber) and swap.identity["kind"] == "eda_random_swap"
    assert WordSwapPerturber(0.5).identity != swap.identity  # the cache keys on alpha


@pytest.mark.parametrize("alpha", [0, -0.1, 1.5, "0.3", True])
def test_bad_alpha_is_refused(alpha) -> None:
    with pytest.raises(InvalidParameterError, match="alpha must be a number in"):
        WordSwapPerturber(alpha)

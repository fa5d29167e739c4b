"""Grid search of a hyperparameter on calibration labels only."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.errors import InvalidParameterError
from miakit.inference import grid_search
from miakit.metrics import auroc

LABELS = np.array([1, 1, 1, 0, 0, 0])
BASE = np.array([0.9, 0.2, 0.6, 0.5, 0.1, 0.7])
NOISE = np.array([-1.0, 1.0, -0.5, 0.5, 1.5, -1.5])


def score(gamma: float) -> np.ndarray:
    # gamma = 0 is the informative end: noise grows with gamma
    return BASE + gamma * NOISE


def test_picks_highest_auroc_and_reports_the_grid() -> None:
    grid = (0.0, 0.5, 1.0)
    result = grid_search(score, grid, LABELS, attack="con_recall", param="gamma")
    expected = [auroc(score(g), LABELS) for g in grid]
    assert result.auroc == pytest.approx(tuple(expected))
    assert result.best == grid[int(np.argmax(expected))]
    d = result.to_dict()
    assert d["chosen"] == result.best and [r["value"] for r in d["grid"]] == list(grid)


def test_flipped_labels_change_the_choice() -> None:
    grid = (0.0, 0.5, 1.0)
    a = grid_search(score, grid, LABELS, attack="x", param="g")
    b = grid_search(score, grid, 1 - LABELS, attack="x", param="g")
    assert a.best != b.best


def test_ties_go_to_the_first_value_and_nan_is_counted() -> None:
    def constant(value: float) -> np.ndarray:
        s = BASE.copy()
        if value == 2:
            s[0] = np.nan
        return s

    result = grid_search(constant, (3, 1, 2), LABELS, attack="x", param="g")
    assert result.best == 3
    assert result.n_nan == (0, 0, 1)


@pytest.mark.parametrize(
    ("labels", "match"),
    [(np.array([1, 1, 1]), "members and non-members"), (np.array([1, 2, 0]), "0/1")],
)
def test_bad_labels(labels, match) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        grid_search(lambda g: np.zeros(3), (0.0,), labels, attack="x", param="g")


def test_empty_grid_and_all_nan() -> None:
    with pytest.raises(InvalidParameterError, match="empty"):
        grid_search(score, (), LABELS, attack="x", param="g")
    with pytest.raises(InvalidParameterError, match="no grid value"):
        grid_search(lambda g: np.full(6, np.nan), (0.0,), LABELS, attack="x", param="g")

"""Tests of the blind-baseline registry and of each baseline's features."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from miakit.blind import BaselineRegistry, BlindPipeline, default_baselines
from miakit.blind._text import TrainVocabulary
from miakit.blind.dates import FEATURE_NAMES, date_features
from miakit.errors import InvalidParameterError


def test_default_registry_discovers_one_module_per_baseline():
    registry = default_baselines()
    assert registry.names() == ["bag_of_words", "char_ngrams", "dates"]
    for spec in registry:
        assert spec.paper == "2406.16201" and spec.summary
        pipeline = spec.build(seed=0)
        assert isinstance(pipeline, BlindPipeline)
        # unsupervised: the shared ridge classifier is not part of the baseline
        assert hasattr(pipeline.transform, "fit") and hasattr(pipeline.transform, "transform")
        assert not hasattr(pipeline.transform, "predict_proba")
    with pytest.raises(RuntimeError, match="frozen"):
        registry.register("late", paper="-")(lambda *, seed: None)


def test_registry_errors():
    registry = BaselineRegistry()
    with pytest.raises(TypeError, match="keyword-only seed"):
        registry.register("bad", paper="-")(lambda seed: None)
    registry.register("wrong_type", paper="-")(lambda *, seed: "not a pipeline")
    with pytest.raises(TypeError, match="expected a BlindPipeline"):
        registry.get("wrong_type").build(seed=0)
    with pytest.raises(InvalidParameterError, match="Did you mean 'wrong_type'"):
        registry.get("wrong_typ")


def test_date_features_count_years_months_numbers():
    text = (
        "Released in March 1999, updated on 2024-05-01 and in Dec. 2025; "
        "it costs 1,000 dollars, not 3.5, and 12345 is no year."
    )
    f = dict(zip(FEATURE_NAMES, date_features([text])[0], strict=True))
    assert f["n_years"] == 3  # 1999, 2024, 2025 (12345 is a longer digit run)
    assert f["decade_1990"] == 1 and f["decade_2020"] == 2
    assert f["max_year"] == 2025 and f["min_year"] == 1999
    assert f["mean_year"] == pytest.approx((1999 + 2024 + 2025) / 3)
    assert f["n_months"] == 2  # March, Dec
    assert f["n_iso_dates"] == 1
    # 1999, 2024, 05, 01, 2025, 1,000, 3.5, 12345
    assert f["n_numbers"] == 8
    assert sum(v for k, v in f.items() if k.startswith("decade_")) == f["n_years"]


def test_date_features_without_years_are_nan_not_zero():
    f = dict(zip(FEATURE_NAMES, date_features(["no dates at all"])[0], strict=True))
    assert f["n_years"] == 0
    assert np.isnan([f["max_year"], f["min_year"], f["mean_year"]]).all()
    assert date_features([]).shape == (0, len(FEATURE_NAMES))


def test_train_vocabulary_keeps_training_columns_only():
    X_train = sp.csr_matrix(np.array([[1, 0, 2, 0], [3, 0, 0, 0], [1, 0, 5, 0]]))
    vocab = TrainVocabulary(min_df=2).fit(X_train)
    assert vocab.columns_.tolist() == [0, 2]
    X_test = sp.csr_matrix(np.array([[0, 9, 1, 7]]))
    assert vocab.transform(X_test).toarray().tolist() == [[0, 1]]  # unseen columns dropped
    top = TrainVocabulary(max_features=1).fit(X_train)
    assert top.columns_.tolist() == [2]  # total count 7 beats 5
    with pytest.raises(ValueError, match="empty vocabulary"):
        TrainVocabulary(min_df=4).fit(X_train)

"""Inference on top of attack scores: calibration, dataset inference, collection tests.

- :func:`grid_search` (:mod:`~miakit.inference.calibrate`): a hyperparameter chosen on a
  labelled calibration split apart from the evaluation data;
- :func:`dataset_inference_from_features` (:mod:`~miakit.inference.dataset`): was this set of
  texts used to train the model? Suspect vs validation features, a permutation-calibrated
  test, a verdict (arXiv 2406.06443). :func:`miakit.dataset_inference` runs it from files,
  with the model and the model-free checks of its assumption;
- :func:`collection_test` (:mod:`~miakit.inference.collection`): a collection of documents
  against labelled reference members and non-members (arXiv 2411.00154).

Pure numpy and scipy; nothing here loads a model or reads a file.
"""

from miakit.inference.assumptions import ShiftCheck
from miakit.inference.calibrate import GridResult, grid_search
from miakit.inference.collection import CollectionResult, collection_test
from miakit.inference.dataset import (
    DEFAULT_ALPHA,
    MIN_TEXTS,
    DatasetInferenceResult,
    dataset_inference_from_features,
)
from miakit.inference.permutation import DEFAULT_FOLDS, DEFAULT_PERMUTATIONS

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_FOLDS",
    "DEFAULT_PERMUTATIONS",
    "MIN_TEXTS",
    "CollectionResult",
    "DatasetInferenceResult",
    "GridResult",
    "ShiftCheck",
    "collection_test",
    "dataset_inference_from_features",
    "grid_search",
]

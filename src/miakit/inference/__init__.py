"""Inference on top of attack scores: hyperparameter calibration on held-out labelled data."""

from miakit.inference.calibrate import GridResult, grid_search

__all__ = ["GridResult", "grid_search"]

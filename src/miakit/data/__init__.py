"""Data: the sample schema, loaders and validation."""

from miakit.data.loaders import load_inputs, load_samples
from miakit.data.schema import Label, Sample, SampleSet
from miakit.data.validate import ValidationReport, find_overlaps, validate

__all__ = [
    "Label",
    "Sample",
    "SampleSet",
    "ValidationReport",
    "find_overlaps",
    "load_inputs",
    "load_samples",
    "validate",
]

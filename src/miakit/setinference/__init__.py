"""Set-level membership from files: dataset inference and the collection test.

- :func:`dataset_inference` (``miakit.dataset_inference``, arXiv 2406.06443): were these
  suspect texts used to train the model, against validation texts known not to be?
- :func:`collection_test` (``miakit.collection_test``, arXiv 2411.00154): was this collection
  of documents trained on, against labelled reference members and non-members?

This layer composes the ones below it and re-implements none of them: the run
(:mod:`miakit.pipeline`) scores the texts, the blind baselines (:mod:`miakit.blind`) check
that the compared sets differ only by membership, the statistics are :mod:`miakit.inference`
and the standalone page is :mod:`miakit.report`. It loads files and may write an output
folder; it prints nothing (the verbs of :mod:`miakit.cli` print).
"""

from miakit.setinference.collection import collection_test
from miakit.setinference.dataset import dataset_inference

__all__ = ["collection_test", "dataset_inference"]

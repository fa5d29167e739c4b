"""Word tf-idf (unigrams and bigrams) + ridge classifier: the classic blind baseline."""

from __future__ import annotations

from miakit.blind._registry import BlindPipeline, register_baseline


@register_baseline("bag_of_words", paper="2406.16201")
def bag_of_words(*, seed: int) -> BlindPipeline:
    """Word uni+bigram tf-idf and a ridge classifier: topic and vocabulary shift.

    Features: lowercased word unigrams and bigrams (scikit-learn's default token pattern, tokens of
    two or more word characters), sublinear tf-idf over the terms seen in the training folds (at
    most 200,000, the most frequent), l2-normalised. Classifier: the shared ridge classifier
    (:mod:`miakit.blind._ridge`). Vocabulary, idf and classifier are fitted on the training
    folds only; terms first seen in a test fold are ignored (see :mod:`miakit.blind._text`).

    Paper: arXiv 2406.16201 (Das, Zhang, Tramèr), "Blind Baselines Beat Membership Inference
    Attacks for Foundation Models".

    Args:
        seed: unused (every step is deterministic); part of the factory interface.

    Returns:
        A :class:`~miakit.blind.BlindPipeline`.
    """
    from miakit.blind._text import tfidf_baseline

    del seed
    return tfidf_baseline(analyzer="word", ngram_range=(1, 2), lowercase=True, min_df=1)

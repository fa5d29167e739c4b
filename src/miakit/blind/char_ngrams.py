"""Character 2–5-gram tf-idf + ridge classifier: spelling, formatting and script shift."""

from __future__ import annotations

from miakit.blind._registry import BlindPipeline, register_baseline


@register_baseline("char_ngrams", paper="2406.16201")
def char_ngrams(*, seed: int) -> BlindPipeline:
    """Character 2–5-gram tf-idf and a ridge classifier: style and formatting shift.

    Features: ``char_wb`` n-grams of 2 to 5 characters (n-grams inside word boundaries, padded with
    a space), case kept (capitalisation and markup differences are exactly the kind of shift
    this baseline should see), sublinear tf-idf over the n-grams found in at least two training
    texts (at most 200,000, the most frequent), l2-normalised. Classifier: the shared ridge
    classifier (:mod:`miakit.blind._ridge`). Vocabulary, idf and classifier are fitted on the
    training folds only.

    Paper: arXiv 2406.16201 (Das, Zhang, Tramèr); their greedy character n-gram selection is
    replaced by plain tf-idf, which needs no search on the evaluation data.

    Args:
        seed: unused (every step is deterministic); part of the factory interface.

    Returns:
        A :class:`~miakit.blind.BlindPipeline`.
    """
    from miakit.blind._text import tfidf_baseline

    del seed
    return tfidf_baseline(analyzer="char_wb", ngram_range=(2, 5), lowercase=False, min_df=2)

"""The assumption check: blind baselines and overlap on suspect vs validation texts."""

from __future__ import annotations

from pydoc_data.topics import topics

import numpy as np
import pytest

from miakit.blind import evaluation_integrity
from miakit.data import Label, Sample, SampleSet
from miakit.inference import ShiftCheck


def paragraphs(min_words: int = 20) -> list[str]:
    """Distinct paragraphs of Python's own documentation (real English, offline)."""
    out = []
    for key in sorted(topics):
        for p in topics[key].split("\n\n"):
            p = " ".join(p.split())
            if len(p.split()) >= min_words:
                out.append(p)
    return list(dict.fromkeys(out))


def _check(suspect: list[str], validation: list[str], **kw) -> ShiftCheck:
    samples = SampleSet.of(
        [Sample(f"s{i}", t, Label.MEMBER) for i, t in enumerate(suspect)]
        + [Sample(f"v{i}", t, Label.NONMEMBER) for i, t in enumerate(validation)]
    )
    integrity = evaluation_integrity(samples, n_resamples=50, **kw)
    return ShiftCheck.from_sections(
        integrity.sections.get("blind_summary"), integrity.sections.get("overlap")
    )


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    texts = paragraphs()
    return [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:160]]


def test_a_random_split_of_one_corpus_passes(corpus):
    check = _check(corpus[:80], corpus[80:])
    assert check.ran and check.blind_p is not None and check.blind_p > 0.05
    assert check.withhold_reason() is None
    assert check.to_dict()["withhold"] is False


def test_a_date_shifted_pair_is_withheld(corpus):
    """Suspect texts from one period, validation texts from a later one (the temporal split
    of many benchmarks, as examples/temporal_shift's Django notes)."""
    rng = np.random.default_rng(1)
    old = [f"{t} Revised in {rng.integers(1995, 2005)}." for t in corpus[:80]]
    new = [f"{t} Revised in {rng.integers(2024, 2027)}." for t in corpus[80:]]
    check = _check(old, new)
    reason = check.withhold_reason()
    assert reason is not None and "differ without the model" in reason
    assert f"'{check.blind_best}'" in reason and f"p = {check.blind_p:.3g}" in reason
    assert check.blind_p <= 0.05


def test_texts_of_another_length_are_withheld(corpus):
    short = [" ".join(t.split()[:12]) for t in corpus[:80]]
    check = _check(short, corpus[80:])
    assert check.withhold_reason() is not None


def test_duplicated_validation_texts_are_withheld(corpus):
    validation = corpus[80:150] + corpus[:10]  # 10 of 80 validation texts are suspect texts
    check = _check(corpus[:80], validation, n_permutations=0)
    assert check.overlap_fraction == pytest.approx(10 / 80)
    reason = check.withhold_reason()
    assert reason is not None and "12.5% of the validation texts" in reason
    assert "the blind baselines ran without their permutation test" in check.notes


def test_reads_the_sections_it_is_given():
    summary = {"permutation_p": 0.01, "alpha": 0.05, "test_best": "char_ngrams"}
    summary |= {"best_auroc": 0.66, "notes": ["folds reduced"]}
    overlap = {"fraction_nonmembers": 0.0, "n_exact": 0, "n_near": 0}
    check = ShiftCheck.from_sections(summary, overlap)
    assert check.blind_best == "char_ngrams" and check.notes == ("folds reduced",)
    assert "AUROC 0.660" in check.withhold_reason()
    empty = ShiftCheck.from_sections(None, None)
    assert not empty.ran and empty.withhold_reason() is None
    assert "the blind baselines did not run" in empty.notes


def test_a_shift_warning_without_the_permutation_test_withholds():
    """``--blind-permutations 0``: the baselines' interval rule warns, and that must withhold
    as the permutation test would (review of issue 13: it was ignored)."""
    summary = {"best": "dates", "best_auroc": 0.9, "warning": "dates tells them apart", "notes": []}
    check = ShiftCheck.from_sections(summary, None)
    reason = check.withhold_reason()
    assert reason is not None and "dates tells them apart" in reason
    assert check.to_dict()["withhold"] is True
    quiet = ShiftCheck.from_sections({**summary, "warning": None}, None)
    assert quiet.withhold_reason() is None

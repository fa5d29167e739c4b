"""Collection-level membership: was this set of documents, as a whole, trained on?

Puerto et al., "Scaling Up Membership Inference: When and How Attacks Succeed on Large
Language Models" (arXiv 2411.00154). With labelled reference documents (known members and
known non-members of the model), a combiner of the per-document attack scores is trained to
separate them; a collection of documents is then scored by it and its scores are compared
with those of known non-members by a one-sided Mann–Whitney U test.

Validity. The non-members the collection is compared with must not have trained the
combiner: a model scores its own training rows differently from new ones, which would make
any collection look different. So the reference members and non-members are each split at
random (``holdout``): the combiner (:mod:`miakit.inference.combiner`: clipping and
standardisation fitted on the training part, ridge) is fitted on the training parts, and the
collection is compared with the *held-out* non-members only. If the collection's documents
are non-members distributed like the reference non-members, the collection's scores and the
held-out non-members' scores are independent draws of one distribution under one fixed
function, and the U test's p-value is valid (scipy's ``mannwhitneyu``: exact for small
samples without ties, else the normal approximation with tie correction). That is the
assumption, as in dataset inference: reference non-members like the collection in all but
membership. It is checked the same way, without the model (:class:`~miakit.inference.
assumptions.ShiftCheck`, ``shift=``): when the blind baselines tell the collection from the
reference non-members, or too many reference non-members have a near-duplicate in the
collection, the verdict is ``"withheld"`` and nothing is tested (:func:`withheld_result`;
:func:`miakit.collection_test` runs those checks on the texts before any model loads).

The collection score is ``U / (n_collection * n_heldout)``: the chance that a collection
document outscores a held-out non-member (0.5: no difference). ``reference_auroc``, the
combiner's AUROC on the held-out members against the held-out non-members, says how well the
reference separates members at the document level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from miakit.errors import DataError, InvalidParameterError
from miakit.inference.assumptions import ShiftCheck
from miakit.inference.combiner import CLIP_QUANTILE, Preprocessor
from miakit.inference.features import feature_matrix
from miakit.metrics.ranks import auroc_columns
from miakit.metrics.ridge import ridge_fit

PAPER = "2411.00154"
#: Fewest reference members and non-members (half of each is held out by default).
MIN_REFERENCE = 10
#: The names of the sets the assumption check compares, in its messages.
SETS = ("collection documents", "reference non-members")
#: The assumption, in words (``collection_test.json``).
ASSUMPTION = (
    "the reference non-members are distributed like the collection's documents in all but "
    "membership (same source, period and format)"
)


@dataclass(frozen=True)
class CollectionResult:
    """The outcome of :func:`collection_test`.

    Attributes:
        verdict: ``"member"`` (p <= alpha), ``"not_detected"``, or ``"withheld"`` (the
            checks without the model tell the collection from the reference non-members:
            nothing is tested, and the numbers of the test are ``None`` or empty).
        p_value: one-sided Mann–Whitney U p-value, collection > held-out non-members.
        alpha: the level.
        score: the collection score, ``U / (n_collection * n_heldout)``.
        u_statistic: U.
        reference_auroc: held-out members vs held-out non-members (the combiner's quality).
        weights: feature -> ridge weight on standardised features.
        n_collection, n_train_members, n_train_nonmembers, n_heldout_members,
            n_heldout_nonmembers: counts.
        collection_scores: ``(n_collection,)`` combiner scores of the collection.
        nonmember_scores: ``(n_heldout_nonmembers,)`` those of the held-out non-members.
        reason: the verdict in words, with its numbers and what the checks said.
        assumptions: the checks without the model (``None``: none ran).
    """

    verdict: Literal["member", "not_detected", "withheld"]
    p_value: float | None
    alpha: float
    score: float | None
    u_statistic: float | None
    reference_auroc: float | None
    weights: dict[str, float]
    n_collection: int
    n_train_members: int
    n_train_nonmembers: int
    n_heldout_members: int
    n_heldout_nonmembers: int
    collection_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    nonmember_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reason: str = ""
    assumptions: ShiftCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        arrays = ("collection_scores", "nonmember_scores", "assumptions")
        d = {k: v for k, v in self.__dict__.items() if k not in arrays}
        d["assumption"] = ASSUMPTION
        d["assumption_checks"] = (
            self.assumptions.to_dict() if self.assumptions is not None else {"ran": False}
        )
        d["method"] = "one-sided Mann-Whitney U, collection vs held-out reference non-members"
        d["paper"] = f"arXiv {PAPER}"
        return d


def collection_test(
    collection: Any,
    members: Any,
    nonmembers: Any,
    *,
    feature_names: Sequence[str] | None = None,
    holdout: float = 0.5,
    alpha: float = 0.01,
    clip: float = CLIP_QUANTILE,
    seed: int = 0,
    shift: ShiftCheck | None = None,
) -> CollectionResult:
    """Test whether a collection's documents score higher than known non-members.

    Args:
        collection: ``(n_c, f)`` features of the documents under test (array or DataFrame).
        members: ``(n_m, f)`` features of reference documents known to be members.
        nonmembers: ``(n_n, f)`` features of reference documents known to be non-members.
        feature_names: names of the columns (arrays) or the columns to use (DataFrames).
        holdout: share of the reference members and of the non-members held out from the
            fit; the collection is compared with the held-out non-members.
        alpha: level of the verdict.
        clip: share of each tail clipped per feature, fitted on the training part.
        seed: seed of the split.
        shift: the checks without the model of the collection against the reference
            non-members (:class:`ShiftCheck` with ``sets=SETS``); when they say the sets
            differ, the verdict is ``"withheld"`` and nothing is tested. ``None``: unchecked,
            and the reason says so.

    Raises:
        InvalidParameterError: options out of range or features that do not match.
        DataError: an empty collection or fewer than :data:`MIN_REFERENCE` reference
            members or non-members.
    """
    from scipy.stats import mannwhitneyu

    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 < holdout < 1:
        raise InvalidParameterError(f"holdout must be a share in (0, 1), e.g. 0.5; got {holdout}.")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha must be a number in (0, 1), e.g. 0.01; got {alpha}.")
    import pandas as pd

    xc, names = feature_matrix(collection, feature_names, "collection")
    by_name = names if feature_names is not None or isinstance(collection, pd.DataFrame) else None
    xm, m_names = feature_matrix(members, by_name, "reference member")
    xn, n_names = feature_matrix(nonmembers, by_name, "reference non-member")
    if not (names == m_names == n_names) or not (xc.shape[1] == xm.shape[1] == xn.shape[1]):
        raise InvalidParameterError(
            f"the collection and reference features differ: {names}, {m_names}, {n_names}."
        )
    if xc.shape[0] == 0:
        raise DataError("the collection is empty: give at least one document to test.")
    small = [
        f"{n} {w}"
        for w, n in (("members", xm.shape[0]), ("non-members", xn.shape[0]))
        if n < MIN_REFERENCE
    ]
    if small:
        raise DataError(
            f"the collection test needs at least {MIN_REFERENCE} reference members and "
            f"{MIN_REFERENCE} reference non-members (part of each is held out); got "
            f"{' and '.join(small)}. Add labelled reference documents."
        )
    rng = np.random.default_rng([seed, 2411, 154])
    m_train, m_held = _split(rng, xm.shape[0], holdout)
    n_train, n_held = _split(rng, xn.shape[0], holdout)
    floor = 1.0 / math.comb(xc.shape[0] + n_held.size, xc.shape[0])  # U at its maximum
    if floor > alpha:
        raise DataError(
            f"the collection test cannot reach alpha = {alpha:g}: with {xc.shape[0]} "
            f"collection document(s) and {n_held.size} held-out non-members the smallest "
            f"possible p-value is {floor:.3g}. Add reference non-members (or collection "
            "documents), hold out a larger share (holdout), or test at a larger alpha."
        )
    if shift is not None and shift.withhold_reason() is not None:
        return withheld_result(
            shift, alpha=alpha, n_collection=xc.shape[0], n_members=xm.shape[0],
            n_nonmembers=xn.shape[0], holdout=holdout,
        )  # fmt: skip
    x_train = np.vstack([xm[m_train], xn[n_train]])
    y_train = np.r_[np.ones(m_train.size), np.zeros(n_train.size)]
    pre = Preprocessor.fit(x_train, clip=clip)
    w, mu = ridge_fit(pre.transform(x_train), y_train)

    def score(x: np.ndarray) -> np.ndarray:
        return np.asarray((pre.transform(x) - mu) @ w)

    s_c, s_nh, s_mh = score(xc), score(xn[n_held]), score(xm[m_held])
    test = mannwhitneyu(s_c, s_nh, alternative="greater", method="auto")
    u = float(test.statistic)
    ref = np.r_[s_mh, s_nh]
    ref_y = np.r_[np.ones(s_mh.size, dtype=np.int64), np.zeros(s_nh.size, dtype=np.int64)]
    p = float(test.pvalue)
    u_score = u / (s_c.size * s_nh.size)
    return CollectionResult(
        verdict="member" if p <= alpha else "not_detected",
        p_value=p,
        alpha=float(alpha),
        score=u_score,
        u_statistic=u,
        reference_auroc=float(auroc_columns(ref, ref_y[:, None])[0]),
        weights={n: float(v) for n, v in zip(names, w, strict=True)},
        n_collection=int(s_c.size),
        n_train_members=int(m_train.size),
        n_train_nonmembers=int(n_train.size),
        n_heldout_members=int(m_held.size),
        n_heldout_nonmembers=int(n_held.size),
        collection_scores=s_c,
        nonmember_scores=s_nh,
        reason=_reason(p, float(alpha), u_score, shift),
        assumptions=shift,
    )


def withheld_result(
    shift: ShiftCheck,
    *,
    alpha: float,
    n_collection: int,
    n_members: int,
    n_nonmembers: int,
    holdout: float = 0.5,
) -> CollectionResult:
    """The ``"withheld"`` result for checks that say the sets differ; nothing is tested.

    The counts of the split are those the test would have used (the same rounding).

    Raises:
        InvalidParameterError: ``shift`` does not withhold.
    """
    why = shift.withhold_reason()
    if why is None:
        raise InvalidParameterError("withheld_result needs checks that withhold the verdict")
    m_held, n_held = (min(max(1, round(holdout * n)), n - 1) for n in (n_members, n_nonmembers))
    return CollectionResult(
        verdict="withheld", p_value=None, alpha=float(alpha), score=None, u_statistic=None,
        reference_auroc=None, weights={}, n_collection=n_collection,
        n_train_members=n_members - m_held, n_train_nonmembers=n_nonmembers - n_held,
        n_heldout_members=m_held, n_heldout_nonmembers=n_held,
        reason=f"verdict withheld: {why}.", assumptions=shift,
    )  # fmt: skip


def _reason(p: float, alpha: float, score: float, shift: ShiftCheck | None) -> str:
    stats = f"U score {score:.3f}, one-sided Mann-Whitney p = {p:.3g}"
    if p <= alpha:
        text = (
            f"the collection's documents score higher than held-out reference non-members "
            f"({stats} <= alpha = {alpha:g}): evidence that the model was trained on the "
            "collection, provided the reference non-members are distributed like it"
        )
    else:
        text = (
            f"no evidence at alpha = {alpha:g} ({stats} > alpha); not evidence that the "
            "collection was NOT trained on"
        )
    if shift is None:
        return text + ". The model-free checks of that assumption did not run."
    if not shift.ran:
        return text + ". The blind-baseline check could not run: " + "; ".join(shift.notes) + "."
    return (
        f"{text}. Model-free check: the blind baselines did not tell the collection from the "
        f"reference non-members (family-wise p = {shift.blind_p:.3g} > {shift.blind_alpha:g}), "
        "which does not prove that they are alike."
    )


def _split(rng: np.random.Generator, n: int, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held)`` positions: a seeded shuffle, ``round(holdout * n)`` held out (>= 1
    on each side)."""
    order = rng.permutation(n)
    k = min(max(1, round(holdout * n)), n - 1)
    return np.sort(order[k:]), np.sort(order[:k])

"""Cross-validated scoring of the blind baselines, and the distribution-shift test.

A blind baseline never sees the model: it learns to tell members from non-members from the
texts alone. If it can, the two sets differ in distribution (time, topic, format), and an
attack's AUROC on them measures that difference, not membership (arXiv 2406.16201).

Scores. Every labelled sample gets an *out-of-fold* score: seeded k-fold cross-validation
over positions; for each fold a fresh clone of the baseline's transformer (vocabulary, idf,
imputer, scaler) is fitted on the other folds, and a ridge classifier (:mod:`._ridge`: least
squares on the 0/1 label, intercept unpenalised, penalty scaled to the features) fitted on
them scores the held-out fold. Nothing fitted ever sees the texts it scores, unlike a
vectorizer refitted on the test split (the flaw noted in the Blind-MIA code). Only the
stateless, row-wise featurization (hashed n-gram counts, regex date counts) runs once over all
texts; see :class:`~miakit.blind.BlindPipeline`. The pooled out-of-fold scores then go through
:func:`miakit.metrics.evaluate`, so blind baselines get the same metrics and bootstrap
intervals as attacks.

The test. The warning rests on a label-permutation test of the *best* baseline, run by default
(``n_permutations``, ``--blind-permutations``; 0 turns it off), at level ``alpha``
(``--blind-alpha``, 0.05). Its statistic is the maximum over the baselines of their pooled
out-of-fold AUROCs; every permutation of the labels reruns the whole procedure, all baselines
on the same permuted labels, and ``p = (1 + #{max_perm >= max_obs}) / (1 + n_permutations)``.
Under no shift the labels are exchangeable given the texts, so this p is exact and
family-wise: it already pays for picking the best of the baselines. Three choices make the
rerun cheap enough to run by default, and keep it exact:

* the folds are label-independent (``KFold`` over positions, not ``StratifiedKFold``), so the
  real and the permuted labellings use the same folds; a training fold left with one class
  scores its test fold with a constant (ridge has nothing to fit), which is still a fixed
  function of the labels, so exactness holds;
* the per-fold transformers are unsupervised, so each fold's matrices and linear kernels are
  computed once and serve every permutation;
* ridge regression is linear in the labels, so all permutations of one fold are one Cholesky
  solve of the ``(n_train, n_train)`` centred kernel (dual form, :mod:`._ridge`), and the
  AUROCs of all permutations are one vectorised rank computation.

One classifier serves both the AUROC shown and the test, so the p-value tests what is shown.
Earlier versions used logistic regression, stratified folds and a rerun of the
cross-validation per permutation: 37.7 s for 199 permutations at 400 texts and about 65 s at
4,000, so the test was off by default; now 0.35 s and 11.3 s (``benchmarks/README.md``). The
folds of all baselines run side by side on a pool of threads (:mod:`._pool`) and character
n-grams are hashed with numpy (:mod:`._hashing`); the kernels, inherent to per-fold tf-idf,
are most of what is left (issue 15, same README).
Ridge separates planted shifts as well as logistic regression did: mean AUROCs over 10 splits
of 400 Wikipedia leads, logistic regression vs ridge, ``dates`` 0.586 vs 0.595 when 20% of the
non-members mention later years, ``bag_of_words`` 0.605 vs 0.593 when 20% are about another
topic. Above :data:`MAX_TEST` labelled texts the kernel would not fit comfortably in memory:
the AUROCs shown are then solved in primal form on all texts (the same model, iteratively), and
the test runs on a seeded random subsample of :data:`MAX_TEST` (a test on a random subsample is
still exact), which a note says. ``alpha`` must be reachable, ``alpha >= 1 / (1 +
n_permutations)``, or the options are refused before anything runs.

Measured (``benchmarks/blind_null.py``, ``benchmarks/results/blind_null.json``; 400 of the
demo's Wikipedia leads per split, 199 permutations, alpha 0.05): on 300 random splits the
warning fired on 5.7% (binomial standard error 1.3%). On planted shifts (40 splits each) it
fired on 22.5% / 65% / 92.5% / 100% of splits when 10 / 20 / 30 / 50% of the non-members
mention later years (``dates`` AUROC 0.535 / 0.583 / 0.633 / 0.736), and on 22.5% / 72.5% /
97.5% / 100% when as many are about another topic; the old rule (interval lower bound > 0.6)
caught 0% / 2.5% / 27.5% / 97.5% and 0% / 0% / 42.5% / 100%. A shift of AUROC about 0.55 or
less at 400 texts is mostly missed: a quiet check is not proof of no shift.

Reading the intervals. The bootstrap resamples samples with their out-of-fold scores held
fixed, so it leaves out the variability of fitting the classifiers, and cross-validated
AUROCs vary more than that. On 300 random member/non-member splits of 400 Wikipedia leads
(``benchmarks/results/blind_null.json``) the baselines' AUROCs had a standard deviation of
0.036-0.039 where the intervals imply 0.029, and each baseline's 95% interval excluded 0.5 in
15-16% of the splits (at least one of the three in 37%), not 5%. They are therefore labelled
"too narrow" wherever they are shown (:data:`INTERVAL_NOTE`: report, terminal leaderboard,
``blind_summary["interval_note"]``), and ``blind_summary["null_auroc"]`` gives each
baseline's mean and standard deviation over the permutations, its honest spread under no
shift. The family-wise permutation p-value is the test: on the same 300 splits it was at most
0.05 in 5.7% of them (17; binomial standard error 1.3%), at most 0.1 in 10.0% and at most 0.25
in 26.7%.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from miakit.blind._checks import DEFAULT_ALPHA, DEFAULT_PERMUTATIONS, check_test_options
from miakit.blind._checks import check_names as _check_names
from miakit.blind._checks import label_codes as _label_codes
from miakit.blind._family import family_test
from miakit.blind._pool import DaemonPool
from miakit.blind._registry import BaselineRegistry, default_baselines
from miakit.data.schema import Label
from miakit.errors import InvalidParameterError
from miakit.metrics import evaluate
from miakit.metrics.ranks import auroc_columns

#: Without the permutation test (``n_permutations=0``) the warning falls back to: the lower
#: bound of the best baseline's AUROC interval exceeds this (a margin for the too-narrow
#: intervals; it misses weak shifts, hence the test by default).
WARN_AUROC_LOWER = 0.6
#: Most labelled texts the permutation test uses (a seeded random subsample above it).
MAX_TEST = 4000
#: Shown with every blind-baseline interval.
INTERVAL_NOTE = (
    "Blind-baseline intervals hold the fitted out-of-fold scores fixed and are too narrow "
    "(on 300 random splits of real text each excluded 0.5 in 15-16% of splits, not 5%); the "
    "family-wise permutation p-value is the test of a shift"
)
PAPER = "2406.16201"

_CODES = {Label.MEMBER: 1, Label.NONMEMBER: 0, Label.UNKNOWN: -1}


@dataclass(frozen=True)
class BlindResult:
    """Out-of-fold scores and metrics of the blind baselines.

    Attributes:
        scores: baseline name -> ``(n_samples,)`` float64 out-of-fold ridge score of the
            member label (higher = more likely member; near 0..1, not a probability); NaN
            for unknown labels (and for every sample when the baseline could not be fitted).
        metrics: baseline name -> :func:`miakit.metrics.evaluate` output (an ``"error"`` key
            when the baseline could not be scored).
        best: the baseline with the highest AUROC (the first name when none has one).
        warning: the distribution-shift message, else ``None``: the family-wise permutation
            p-value is at most ``alpha`` (or, without the test, the lower bound of the best
            AUROC's interval exceeds :data:`WARN_AUROC_LOWER`).
        n_folds: folds actually used (fewer than asked when a class is small; 0 when it was
            too small for cross-validation at all).
        seed: seed of the folds, the permutations and the bootstrap.
        notes: what was changed or could not be done, for the report.
        test: the permutation test: ``{"permutation_p", "alpha", "n_permutations",
            "test_n", "test_best", "permutation_null_mean", "null_auroc"}`` (``null_auroc``:
            baseline -> ``[mean, sd]`` of its AUROC over the permutations); empty when it did
            not run.
    """

    scores: dict[str, np.ndarray]
    metrics: dict[str, dict[str, Any]]
    best: str
    warning: str | None
    n_folds: int
    seed: int
    notes: tuple[str, ...] = field(default=())
    test: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """``{"best", "best_auroc", "best_auroc_ci", "interval_note", "warning", "n_folds",
        "notes"}``, plus the keys of :attr:`test` when the permutation test ran."""
        m = self.metrics[self.best]
        out = {
            "best": self.best,
            "best_auroc": m["auroc"],
            "best_auroc_ci": list(m["auroc_ci"]),
            "interval_note": INTERVAL_NOTE,
            "warning": self.warning,
            "n_folds": self.n_folds,
            "notes": list(self.notes),
        }
        out.update(self.test)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"metrics": {...}, "summary": {...}, "seed": int}``.

        Scores are left out (they are per sample; the runner writes them to Parquet). NaN
        metrics stay ``float("nan")``, which ``json.dumps`` writes as ``NaN`` by default.
        """
        return {"metrics": self.metrics, "summary": self.summary(), "seed": self.seed}


def run_blind_baselines(
    texts: Sequence[str],
    labels: ArrayLike,
    *,
    names: Sequence[str] | None = None,
    n_folds: int = 5,
    seed: int = 0,
    n_resamples: int = 1000,
    registry: BaselineRegistry | None = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    alpha: float = DEFAULT_ALPHA,
    groups: Sequence[str] | None = None,
) -> BlindResult:
    """Score members against non-members with model-free classifiers, by cross-validation.

    Folds: ``KFold(n_folds, shuffle=True, random_state=seed)`` over the labelled samples'
    positions, shared by all baselines and all permutations. If the smaller class has fewer
    than ``n_folds`` samples the fold count drops to that size (at least 2) and a note says
    so; with fewer than 2 samples in a class there is no cross-validation: every score is NaN
    and every metric carries an ``"error"``. A baseline whose transformer cannot be fitted
    (e.g. no word of two letters in a training fold) gets NaN scores and an ``"error"``, is
    left out of the test, and the others still run.

    Deterministic: the same inputs and seed give the same scores, metrics and p-value.

    Args:
        texts: ``n_samples`` texts.
        labels: ``(n_samples,)`` 1 = member, 0 = non-member, -1 = unknown, or
            :class:`~miakit.data.Label` values. Unknown samples are neither trained on nor
            scored.
        names: baselines to run, in this order (default: all registered, sorted by name).
        n_folds: cross-validation folds, at least 2.
        seed: seed of the folds, of the permutations and of the bootstrap.
        n_resamples: bootstrap resamples for the confidence intervals.
        registry: where to look the names up (default: :func:`default_baselines`).
        n_permutations: label permutations of the family-wise test (0: no test, and the
            warning falls back to the interval rule). See the module docstring.
        alpha: the test's level: warn when the family-wise p-value is at most this.
        groups: ``n_samples`` document ids: folds and permutations keep a document whole.

    Returns:
        A :class:`BlindResult`.

    Raises:
        InvalidParameterError: unknown or repeated names, ``n_folds < 2``, a bad
            ``n_permutations`` or ``alpha`` (see :func:`check_test_options`), lengths that
            differ, labels outside {-1, 0, 1} or texts that are not strings.
    """
    from threadpoolctl import threadpool_limits

    # scipy on first use: ``import miakit.blind`` (every run) stays light
    from miakit.blind._folds import (
        featurize,
        group_codes,
        make_folds,
        oof_scores,
        oof_scores_primal,
        permuted_labels,
        pool_size,
    )

    registry = registry if registry is not None else default_baselines()
    chosen = _check_names(registry, names)
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
        raise InvalidParameterError(f"n_folds must be an integer >= 2; got {n_folds!r}.")
    check_test_options(n_permutations=n_permutations, alpha=alpha)
    y = _label_codes(labels)
    text_list = list(texts)
    if len(text_list) != y.shape[0]:
        raise InvalidParameterError(
            f"texts and labels differ in length: {len(text_list)} texts, {y.shape[0]} labels."
        )
    bad = [i for i, t in enumerate(text_list) if not isinstance(t, str)]
    if bad:
        raise InvalidParameterError(
            f"texts must be strings; positions {bad[:10]} are not (first: "
            f"{type(text_list[bad[0]]).__name__})."
        )

    n = y.shape[0]
    known = np.flatnonzero(y != -1)  # (n_labelled,) positions into texts
    y_known = y[known]
    n_known = int(y_known.shape[0])
    n_members = int(np.count_nonzero(y_known == 1))
    smaller = min(n_members, n_known - n_members)
    g_known = None if groups is None else group_codes(groups, y)[known]
    if g_known is not None:  # documents per class bound the folds
        smaller = min(len(np.unique(g_known[y_known == c])) for c in (0, 1))
    notes: list[str] = []
    k = n_folds
    scores = {name: np.full(n, np.nan, dtype=np.float64) for name in chosen}
    stats: dict[str, np.ndarray] = {}  # name -> (1 + n_permutations,) AUROCs of the test
    errors: dict[str, str] = {}
    test_idx = np.arange(n_known)
    if smaller < 2:
        k = 0
        reason = (
            f"blind baselines need at least 2 members and 2 non-members for cross-validation; "
            f"got {n_members} member(s) and {n_known - n_members} non-member(s)"
        )
        errors = dict.fromkeys(chosen, reason)
        notes.append(reason)
    else:
        if smaller < n_folds:
            k = max(2, smaller)
            which = "members" if n_members < n_known - n_members else "non-members"
            notes.append(
                f"cross-validation folds reduced from {n_folds} to {k}: only {smaller} {which}"
            )
        folds = make_folds(n_known, k, seed, g_known)
        dual = n_known <= MAX_TEST
        test_folds, g_test = folds, g_known
        if not dual:
            rng = np.random.default_rng([seed, 2406, 1])
            test_idx = np.sort(rng.choice(n_known, size=MAX_TEST, replace=False))
            g_test = None if g_known is None else g_known[test_idx]
            test_folds = make_folds(MAX_TEST, k, seed, g_test)
            if n_permutations:
                notes.append(
                    f"the permutation test ran on a seeded random subsample of {MAX_TEST} of "
                    f"the {n_known} labelled texts (the kernel of all would not fit in memory)"
                )
        y_test = y_known[test_idx]
        labellings = y_test[:, None]  # (n_test, 1 + n_permutations); column 0: the real one
        if n_permutations:
            permuted = permuted_labels(y_test, n_permutations, seed, g_test)
            labellings = np.concatenate([labellings, permuted], axis=1)
        # (baseline, fold) jobs on a pool of threads, one BLAS thread each: on 2 cores more
        # BLAS threads only add hand-offs, and a fixed count keeps the scores' last bits
        # independent of the machine's core count (the pool's size changes nothing).
        pending: dict[str, Callable[[], np.ndarray]] = {}
        threads, known_texts = pool_size(len(chosen) * k), [text_list[i] for i in known]
        with (
            threadpool_limits(limits=1, user_api="blas"),
            DaemonPool(threads, "miakit-blind") as pool,
        ):
            # Stateless, row-wise (BlindPipeline): once for all texts leaks nothing; row chunks
            # featurized side by side (all baselines at once) stack to the same matrix.
            featurized = {n: registry.get(n).build(seed=seed) for n in chosen}
            features = {n: featurize(p, known_texts, pool, threads) for n, p in featurized.items()}
            for name in chosen:
                pipeline = featurized[name]
                try:
                    X = features[name]()  # (n_labelled, f)
                    if dual:
                        pending[name] = oof_scores(pipeline, X, labellings, folds, pool)
                    else:
                        scores[name][known] = oof_scores_primal(pipeline, X, y_known, folds)
                        if n_permutations:
                            xs = X[test_idx]
                            pending[name] = oof_scores(pipeline, xs, labellings, test_folds, pool)
                except ValueError as exc:  # e.g. an empty vocabulary in a training fold
                    errors[name] = f"blind baseline {name!r} could not be fitted: {exc}"
            for name, wait in pending.items():
                try:
                    s = wait()  # (n_test, 1 + P)
                except ValueError as exc:
                    errors[name] = f"blind baseline {name!r} could not be fitted: {exc}"
                    continue
                if dual:
                    scores[name][known] = s[:, 0]
                if n_permutations:
                    stats[name] = auroc_columns(s, labellings)
        notes.extend(errors[name] for name in chosen if name in errors)

    metrics: dict[str, dict[str, Any]] = {}
    for name in chosen:
        m = evaluate(scores[name], y, n_resamples=n_resamples, seed=seed)
        if name in errors:
            m["error"] = errors[name]
        metrics[name] = m
    best = _best(chosen, metrics)
    test = family_test(stats, alpha, int(test_idx.shape[0])) if stats else {}
    return BlindResult(
        scores=scores,
        metrics=metrics,
        best=best,
        warning=shift_warning(best, metrics[best], test=test),
        n_folds=k,
        seed=seed,
        notes=tuple(notes),
        test=test,
    )


def shift_warning(
    name: str, metrics: dict[str, Any], *, test: dict[str, Any] | None = None
) -> str | None:
    """The distribution-shift warning for the best baseline, or ``None``.

    With the permutation test (``test`` from :class:`BlindResult`): fires when its
    family-wise p-value is at most its ``alpha``. Without it: when the lower bound of the
    AUROC interval exceeds :data:`WARN_AUROC_LOWER` (the bound, not the point estimate, with
    a margin for the too-narrow intervals).
    """
    auroc = metrics.get("auroc", math.nan)
    ci = metrics.get("auroc_ci", [math.nan, math.nan])
    lo, hi = ci[0], ci[1]
    if test:
        p, alpha = test["permutation_p"], test["alpha"]
        if not p <= alpha:
            return None
        evidence = (
            f"(95% CI [{lo:.3f}, {hi:.3f}]; label-permutation test over all blind baselines, "
            f"family-wise p = {p:.3g} <= alpha = {alpha:g}, {test['n_permutations']} "
            f"permutations)"
        )
    else:
        if not isinstance(lo, int | float) or math.isnan(lo) or lo <= WARN_AUROC_LOWER:
            return None
        evidence = f"(95% CI [{lo:.3f}, {hi:.3f}], lower bound above {WARN_AUROC_LOWER})"
    return (
        f"members and non-members are distinguishable WITHOUT the model: the model-free "
        f"blind baseline {name!r} reaches AUROC {auroc:.3f} {evidence} from the texts "
        f"alone. The two sets differ in distribution (time, topic or format), so the attack "
        f"AUROCs of this run are not evidence of membership. Use members and non-members "
        f"drawn at random from one corpus before training (see `miakit split`). "
        f"(arXiv {PAPER})"
    )


def _best(names: list[str], metrics: dict[str, dict[str, Any]]) -> str:
    best, best_auroc = names[0], -math.inf
    for name in names:
        a = metrics[name]["auroc"]
        if isinstance(a, int | float) and not math.isnan(a) and a > best_auroc:
            best, best_auroc = name, float(a)
    return best

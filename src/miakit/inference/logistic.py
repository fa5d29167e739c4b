"""L2-penalised logistic regression with its penalty chosen by stratified cross-validation.

The classifier of the supervised white-box attack (:mod:`miakit.attacks.whitebox`, Pandora's
White-Box, arXiv 2402.17012), fitted on a labelled calibration split only. Pure numpy.

**Model.** scikit-learn's parametrisation, so that ``C`` means what it means there: the
weights ``w`` and the unpenalised intercept ``b`` minimise::

    ½‖w‖² + C Σ_i [log(1 + exp(s_i)) − y_i s_i],      s_i = x_i·w + b,  y_i ∈ {0, 1}

by Newton's method with a backtracking line search (the objective is strictly convex in
``w`` and convex in ``b``; the Hessian ``[[I + C XᵀDX, C Xᵀd], [C dᵀX, C Σd]]``,
``D = diag(p(1 − p))``, is solved with a tiny ridge on ``b`` for separable data). The score of a
row is its log-odds of membership, ``x·w + b``.

**Features** are standardised with :class:`~miakit.inference.combiner.Preprocessor`
(``clip=None``: the training rows' mean and standard deviation; a missing value becomes 0, the
training mean), fitted on the training rows of each fit.

**Penalty.** ``C`` is chosen from :data:`C_GRID` by stratified ``k``-fold cross-validation
inside the calibration split (``k = min(5, smaller class)``, folds seeded): the mean over folds
of the held-out fold's AUROC, each fold's scaler and model fitted on the other folds; ties go
to the smaller ``C`` (the stronger penalty). The final model is fitted on the whole split with
the chosen ``C``. Nothing here sees evaluation data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.inference.combiner import Preprocessor
from miakit.metrics import auroc

#: The values of ``C`` the cross-validation compares (scikit-learn's meaning of ``C``).
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
#: The most folds; fewer when the smaller class has fewer samples.
MAX_FOLDS = 5
#: Newton iterations at most, and the step size at which they stop.
MAX_ITER = 100
TOL = 1e-10


def _objective(x: np.ndarray, y: np.ndarray, theta: np.ndarray, c: float) -> float:
    s = x @ theta[:-1] + theta[-1]
    return 0.5 * float(theta[:-1] @ theta[:-1]) + c * float(np.sum(np.logaddexp(0.0, s) - y * s))


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """``(w (f,), b)`` of the L2 logistic regression of ``y`` (0/1) on ``x`` ``(n, f)``
    (see the module docstring); ``x`` is used as given (standardise it first)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, f = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(f + 1)
    current = _objective(x, y, theta, c)
    for _ in range(MAX_ITER):
        p = 1.0 / (1.0 + np.exp(-(xb @ theta)))
        grad = c * (xb.T @ (p - y))
        grad[:-1] += theta[:-1]
        hess = c * (xb.T * (p * (1.0 - p))) @ xb
        hess[np.diag_indices(f)] += 1.0
        hess[f, f] += 1e-12
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-12:
            trial = theta - t * step
            value = _objective(x, y, trial, c)
            if value <= current - 1e-4 * t * float(grad @ step):
                break
            t /= 2.0
        theta, current = trial, value
        if float(np.max(np.abs(t * step))) < TOL:
            break
    return theta[:-1], float(theta[-1])


@dataclass(frozen=True)
class FittedLogistic:
    """The calibration split's classifier and its cross-validation.

    Attributes:
        mean, scale: the standardisation (``z = (x − mean) / scale``, missing values 0;
            ``mean`` is NaN for a feature with no finite training value: 0 everywhere).
        coef, intercept: the weights of ``z`` and the intercept; log-odds ``z·coef + b``.
        c: the chosen penalty; ``cv_auroc``: its mean held-out-fold AUROC.
        n_folds: the folds; ``grid``: ``C`` -> mean held-out AUROC, for every ``C`` tried.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    c: float
    cv_auroc: float
    n_folds: int
    grid: dict[float, float] = field(default_factory=dict)


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``(n,)`` fold of each row: each class shuffled (seeded) and dealt round the folds."""
    folds = np.empty(len(y), dtype=np.int64)
    rng = np.random.default_rng(seed)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        folds[rng.permutation(idx)] = np.arange(len(idx)) % k
    return folds


def _fit_scaled(x: np.ndarray, y: np.ndarray, c: float) -> tuple[Preprocessor, np.ndarray, float]:
    pre = Preprocessor.fit(x, clip=None)
    w, b = fit_logistic(pre.transform(x), y, c)
    return pre, w, b


def fit_cv(
    x: np.ndarray, y: np.ndarray, *, seed: int = 0, grid: tuple[float, ...] = C_GRID
) -> FittedLogistic:
    """Choose ``C`` by stratified cross-validation and fit on all rows (module docstring).

    Args:
        x: ``(n, f)`` raw features of the calibration split (non-finite = missing).
        y: ``(n,)`` labels, 1 = member, 0 = non-member.
        seed: seeds the folds.

    Raises:
        InvalidParameterError: fewer than 2 members or 2 non-members.
    """
    y = np.asarray(y, dtype=np.int64)
    smaller = min(int((y == 1).sum()), int((y == 0).sum()))
    if smaller < 2:
        raise InvalidParameterError(
            f"the supervised classifier needs at least 2 members and 2 non-members in its "
            f"calibration split to cross-validate; got {int((y == 1).sum())} member(s) and "
            f"{int((y == 0).sum())} non-member(s): add labelled rows to --calibrate"
        )
    k = min(MAX_FOLDS, smaller)
    folds = stratified_folds(y, k, seed)
    table: dict[float, float] = {}
    for c in grid:
        fold_auc = []
        for j in range(k):
            train, test = folds != j, folds == j
            pre, w, b = _fit_scaled(x[train], y[train], c)
            fold_auc.append(auroc(pre.transform(x[test]) @ w + b, y[test]))
        table[c] = float(np.mean(fold_auc))
    best = max(grid, key=lambda c: (table[c], -c))  # ties: the smaller C
    pre, w, b = _fit_scaled(x, y, best)
    mean = np.where(np.isnan(pre.low), np.nan, pre.mean)  # NaN: no finite training value
    return FittedLogistic(mean, pre.scale, w, b, best, table[best], k, table)

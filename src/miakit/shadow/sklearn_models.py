"""scikit-learn estimators as shadow (and target) models.

``model="logreg"`` (:data:`SKLEARN_MODELS`), any scikit-learn estimator with
``predict_proba`` (cloned for each model), or :class:`SklearnModel` (a zero-argument factory)
trains one estimator per membership column on its half of the pool, one after another.
Every attack then runs on the same signals as for torch models: the logits are the log
class probabilities, ``z = log predict_proba(x)``, so ``φ = log p_y − log Σ_{y'≠y} p_{y'}``
(arXiv 2112.03570, Sec. IV-B) as for a network. A probability of exactly 0 (a class the
estimator never saw in its half, or a saturated model) is floored at the smallest normal
float, log ≈ −708. Images are flattened; queries (flips, shifts) are applied to the image
before flattening.

An estimator is not saved (that would need pickle, which miakit never writes or reads):
``models/model-NNNN.logprob.npz`` keeps its log-probabilities on every pool example and
query, which is all the attacks use. A rerun trains only the models without such a file;
new queries refit the models. The estimator's ``random_state`` (when it has one, per
``get_params``) is set to ``seed · 100003 + m`` for model ``m``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from miakit._core.io import atomic_write
from miakit.errors import InvalidParameterError
from miakit.shadow import store
from miakit.shadow.queries import Query
from miakit.shadow.signals import FLOAT_SIGNALS, ShadowSignals, logit_signals

#: Smallest probability before the log (the smallest normal float64): log ≈ −708.
MIN_PROB = float(np.finfo(np.float64).tiny)


def _logreg() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000)


#: Built-in scikit-learn model names.
SKLEARN_MODELS: dict[str, Callable[[], Any]] = {"logreg": _logreg}


@dataclass(frozen=True)
class SklearnModel:
    """A scikit-learn model for shadow training.

    Attributes:
        make: zero-argument factory of an unfitted estimator with ``fit`` and
            ``predict_proba``.
        name: its name in the manifest (``"sklearn:<class>"`` unless given).
    """

    make: Callable[[], Any]
    name: str = ""


def as_sklearn(model: object) -> SklearnModel | None:
    """The :class:`SklearnModel` that ``model`` names or is (a built-in name, an estimator
    instance, a :class:`SklearnModel`); ``None`` for anything else (a torch model)."""
    if isinstance(model, SklearnModel):
        return model if model.name else SklearnModel(model.make, f"sklearn:{_class(model.make)}")
    if isinstance(model, str) and model in SKLEARN_MODELS:
        return SklearnModel(SKLEARN_MODELS[model], model)
    from sklearn.base import BaseEstimator, clone

    if isinstance(model, BaseEstimator):
        return SklearnModel(lambda: clone(model), f"sklearn:{type(model).__name__}")
    return None


def _class(make: Callable[[], Any]) -> str:
    return type(make()).__name__


def logprob_path(folder: Path, m: int) -> Path:
    return folder / store.MODELS / f"model-{m:04d}.logprob.npz"


def stored_queries(path: Path) -> list[str] | None:
    """The queries a stored model was evaluated on (``None``: no file)."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return [str(q) for q in z["queries"]]


def log_proba(estimator: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n, n_classes)`` log class probabilities of a fitted estimator on ``x`` ``(n, d)``,
    classes it never saw given probability 0 (floored at :data:`MIN_PROB`)."""
    proba = np.asarray(estimator.predict_proba(x), dtype=np.float64)
    classes = np.asarray(estimator.classes_, dtype=np.int64)
    full = np.zeros((x.shape[0], n_classes))
    full[:, classes] = proba
    return np.log(np.maximum(full, MIN_PROB))


def fit_models(
    model: SklearnModel,
    x: torch.Tensor,
    y: torch.Tensor,
    membership: np.ndarray,
    queries: Sequence[Query],
    *,
    folder: Path,
    models: Sequence[int],
    seed: int,
    n_classes: int,
    on_trained: Callable[[int], None] | None = None,
) -> None:
    """Fit model ``m`` of ``models`` on the pool examples with ``membership[:, m]`` and store
    its log-probabilities on every example and query (:func:`logprob_path`).

    Raises:
        InvalidParameterError: the estimator lacks ``predict_proba``'s output for the data.
    """
    x_cpu, y_np = x.detach().cpu(), y.detach().cpu().numpy()
    flat = [q.apply(x_cpu).flatten(1).numpy().astype(np.float64) for q in queries]
    names = np.array([q.name for q in queries])
    for m in models:
        est = model.make()
        if "random_state" in est.get_params():
            est.set_params(random_state=seed * 100003 + m)
        inn = membership[:, m]
        est.fit(flat[0][inn], y_np[inn])
        logp = np.stack([log_proba(est, xq, n_classes) for xq in flat])  # (q, n, classes)
        if not np.isfinite(logp).all():
            raise InvalidParameterError(f"{model.name}: predict_proba returned non-finite values")
        path = logprob_path(folder, m)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, partial(_save, logp=logp, names=names))
        if on_trained is not None:
            on_trained(m)


def _save(tmp: Path, logp: np.ndarray, names: np.ndarray) -> None:
    with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
        np.savez(fh, logprob=logp, queries=names)


def load_signals(
    folder: Path, n_models: int, y: torch.Tensor, membership: np.ndarray, queries: Sequence[str]
) -> ShadowSignals:
    """The signals of the stored log-probabilities of models ``0..n_models-1``."""
    labels = y.detach().cpu().to(torch.int64)
    columns: dict[str, list[np.ndarray]] = {}
    for m in range(n_models):
        with np.load(logprob_path(folder, m), allow_pickle=False) as z:
            logp = torch.from_numpy(z["logprob"])  # (q, n, classes)
        sig = logit_signals(logp, labels.expand(logp.shape[0], -1))  # each (q, n)
        for k, v in sig.items():
            columns.setdefault(k, []).append(v.T.numpy())  # (n, q)
    stacked = {k: np.stack(v, axis=1) for k, v in columns.items()}  # (n, models, q)
    return ShadowSignals(
        **{k: stacked[k].astype(np.float64) for k in FLOAT_SIGNALS},
        pred=stacked["pred"].astype(np.int64),
        labels=labels.numpy(),
        membership=membership,
        queries=tuple(queries),
    )


__all__ = [
    "MIN_PROB",
    "SKLEARN_MODELS",
    "SklearnModel",
    "as_sklearn",
    "fit_models",
    "load_signals",
    "log_proba",
    "logprob_path",
    "stored_queries",
]

"""Per-query signals of every shadow model on every pool example.

For each example ``i``, model ``m`` and query ``q`` (:mod:`miakit.shadow.queries`), with
logits ``z`` and true label ``y``:

- ``phi``: LiRA's logit-scaled confidence (arXiv 2112.03570, Sec. IV-B)
  ``φ = log p_y − log Σ_{y'≠y} p_{y'}``. The softmax normaliser cancels, so it is computed
  as ``z_y − logsumexp_{y'≠y} z_{y'}``: no probability is formed, and it stays exact for
  logits far beyond float range of ``exp`` (a confident model's ``1 − p_y`` rounds to 0);
- ``loss``: cross-entropy ``logsumexp(z) − z_y``;
- ``log_max_prob``: ``max(z) − logsumexp(z)``, the log of the top softmax probability
  (label-free confidence);
- ``pred``: ``argmax z``.

Inference always runs in eval mode (a BatchNorm model in train mode would normalise with the
query batch's own statistics and update its running statistics; LiRA's reference code did
this, tensorflow/privacy#427), under ``torch.no_grad``; each model's mode is restored after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from miakit._core.io import atomic_write
from miakit.errors import DataError
from miakit.shadow.queries import Query

#: The per-query float signals (each ``(n_samples, n_models, n_queries)``).
FLOAT_SIGNALS = ("phi", "loss", "log_max_prob")


def logit_signals(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """``phi``, ``loss``, ``log_max_prob`` and ``pred`` of logits ``(..., n_classes)`` and
    labels ``(...)`` (same leading shape), in the logits' dtype."""
    z_y = logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    lse = torch.logsumexp(logits, dim=-1)
    others = logits.scatter(-1, labels.unsqueeze(-1), float("-inf"))
    return {
        "phi": z_y - torch.logsumexp(others, dim=-1),
        "loss": lse - z_y,
        "log_max_prob": logits.max(dim=-1).values - lse,
        "pred": logits.argmax(dim=-1),
    }


@dataclass(frozen=True)
class ShadowSignals:
    """Signals of ``n_models`` models on ``n_samples`` pool examples and ``n_queries`` queries.

    Attributes:
        phi, loss, log_max_prob: ``(n_samples, n_models, n_queries)`` float64.
        pred: ``(n_samples, n_models, n_queries)`` int64 predicted labels.
        labels: ``(n_samples,)`` int64 true labels.
        membership: ``(n_samples, n_models)`` bool, True = trained on.
        queries: the query names, ``queries[0] == "identity"``.
    """

    phi: np.ndarray
    loss: np.ndarray
    log_max_prob: np.ndarray
    pred: np.ndarray
    labels: np.ndarray
    membership: np.ndarray
    queries: tuple[str, ...]

    def __post_init__(self) -> None:
        shape = self.phi.shape
        n, k = self.membership.shape
        bad = [
            name
            for name, a in (("loss", self.loss), ("log_max_prob", self.log_max_prob),
                            ("pred", self.pred))
            if a.shape != shape
        ]  # fmt: skip
        if len(shape) != 3 or shape[:2] != (n, k) or bad or self.labels.shape != (n,):
            raise DataError(
                f"inconsistent signal shapes: phi {shape}, membership {(n, k)}, labels "
                f"{self.labels.shape}, mismatched {bad}"
            )
        if shape[2] != len(self.queries):
            raise DataError(f"{shape[2]} queries in the arrays but {len(self.queries)} names")

    @property
    def n_models(self) -> int:
        return int(self.membership.shape[1])

    @property
    def correct(self) -> np.ndarray:
        """``(n_samples, n_models, n_queries)`` bool: the prediction is the true label."""
        return self.pred == self.labels[:, None, None]

    def float_signals(self) -> dict[str, np.ndarray]:
        """``{"phi": ..., "loss": ..., "log_max_prob": ...}``."""
        return {"phi": self.phi, "loss": self.loss, "log_max_prob": self.log_max_prob}

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            **{k: v.astype(np.float32) for k, v in self.float_signals().items()},
            "pred": self.pred.astype(np.int16 if self.pred.max(initial=0) < 2**15 else np.int64),
            "labels": self.labels,
            "membership": self.membership,
            "queries": np.array(self.queries, dtype=str),
        }
        atomic_write(path, lambda p: np.savez(p, **arrays))  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> ShadowSignals:
        if not path.is_file():
            raise DataError(f"{path} is missing: compute the signals first (miakit shadow train)")
        with np.load(path, allow_pickle=False) as z:
            return cls(
                **{k: z[k].astype(np.float64) for k in FLOAT_SIGNALS},
                pred=z["pred"].astype(np.int64),
                labels=z["labels"].astype(np.int64),
                membership=z["membership"].astype(bool),
                queries=tuple(str(q) for q in z["queries"]),
            )


@torch.no_grad()
def model_signals(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    queries: Iterable[Query],
    *,
    batch_size: int = 4096,
) -> dict[str, np.ndarray]:
    """One model's signals, each ``(n_samples, n_queries)``, computed in eval mode.

    Args:
        x: ``(n_samples, *input_shape)`` on the model's device; ``y``: ``(n_samples,)``.
    """
    was_training = model.training
    model.eval()
    try:
        per_query: list[dict[str, torch.Tensor]] = []
        for q in queries:
            xq = q.apply(x)  # the whole pool at once: noise queries draw for all rows
            parts = []
            for start in range(0, len(x), batch_size):
                xb, yb = xq[start : start + batch_size], y[start : start + batch_size]
                parts.append(logit_signals(model(xb).double(), yb))
            per_query.append({k: torch.cat([p[k] for p in parts]) for k in parts[0]})
    finally:
        model.train(was_training)
    return {k: torch.stack([p[k] for p in per_query], dim=1).cpu().numpy() for k in per_query[0]}


def compute_signals(
    models: Iterable[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    membership: np.ndarray,
    queries: tuple[Query, ...],
    *,
    batch_size: int = 4096,
    on_model: Callable[[int], None] | None = None,
) -> ShadowSignals:
    """Signals of each model (in membership column order) on every pool example."""
    columns: dict[str, list[np.ndarray]] = {}
    for m, model in enumerate(models):
        for k, v in model_signals(model, x, y, queries, batch_size=batch_size).items():
            columns.setdefault(k, []).append(v)
        if on_model is not None:
            on_model(m)
    stacked = {k: np.stack(v, axis=1) for k, v in columns.items()}  # (n, n_models, n_queries)
    if stacked["phi"].shape[1] != membership.shape[1]:
        raise DataError(
            f"{stacked['phi'].shape[1]} models for a membership matrix of "
            f"{membership.shape[1]} columns"
        )
    return ShadowSignals(
        **{k: stacked[k] for k in FLOAT_SIGNALS},
        pred=stacked["pred"].astype(np.int64),
        labels=y.cpu().numpy().astype(np.int64),
        membership=membership,
        queries=tuple(q.name for q in queries),
    )


__all__ = ["FLOAT_SIGNALS", "ShadowSignals", "compute_signals", "logit_signals", "model_signals"]

"""Training shadow models: the schedule shared by both trainers, and the sequential trainer.

Model ``m`` trains on the pool examples with ``membership[:, m]`` True (exactly half the
pool). What it sees is fixed by the seed alone, so the sequential trainer (here) and the
concurrent one (:mod:`miakit.shadow.concurrent`) train the same models:

- initialisation: ``factory()`` under ``torch.manual_seed(seed * 100003 + m)`` inside
  :func:`torch.random.fork_rng`, so the caller's global generator is left untouched;
- batches: each epoch a fresh permutation of the model's examples from
  ``numpy.random.default_rng([seed, m])``, cut into batches of ``batch_size`` (the last one
  smaller); every model has the same number of examples, hence the same batch shapes;
- optimiser: SGD with momentum or Adam (torch's own, with its default implementation for the
  device: a ``foreach`` kernel over all tensors on an accelerator), both elementwise, so one
  optimiser over the stacked parameters of many models is the same as one optimiser per model.

Host synchronisations: one per epoch in both trainers (the epoch's permutation is copied to
the device at once; the steps slice it there and read nothing back), so the host queues the
steps of an epoch without waiting for the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from miakit.errors import InvalidParameterError
from miakit.shadow.models import ModelFactory

#: ``(model index, state dict)``: called once per trained model (to save it)
OnTrained = Callable[[int, dict[str, torch.Tensor]], None]


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of every shadow model (one setting for all, as LiRA's shadows).

    Attributes:
        epochs: passes over the model's half of the pool.
        batch_size: examples per step.
        lr: learning rate.
        optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9).
        weight_decay: L2 penalty (coupled, as in ``torch.optim``).
        seed: seeds the initialisation and the batch order of every model.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if self.optimizer not in ("adam", "sgd"):
            problems.append(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if problems:
            raise InvalidParameterError("; ".join(problems))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def init_model(factory: ModelFactory, m: int, seed: int) -> nn.Module:
    """Model ``m``'s initial weights (the global torch generator is restored afterwards)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 100003 + m)
        return factory()


def make_optimizer(params: Sequence[torch.Tensor], config: TrainConfig) -> torch.optim.Optimizer:
    # torch's default implementation for the device (foreach on CUDA), the same for both
    # trainers: what a plain training loop gets, so the sequential baseline is not slowed
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)


def epoch_batches(
    examples: Sequence[np.ndarray],
    config: TrainConfig,
    models: Sequence[int],
    device: torch.device | None = None,
) -> Iterator[torch.Tensor]:
    """``(len(models), b)`` pool positions per step (int64 tensors on ``device``), for all
    epochs. Each epoch's permutation is copied to the device once; the batches are views of it.

    Args:
        examples: per model (in ``models`` order), its ``(n_pool / 2,)`` pool positions.
        models: the model indices (they seed each model's batch order).
    """
    rngs = [np.random.default_rng([config.seed, m]) for m in models]
    n = len(examples[0])
    dev = torch.device("cpu") if device is None else device
    for _ in range(config.epochs):
        perms = torch.from_numpy(
            np.stack([ex[rng.permutation(n)] for ex, rng in zip(examples, rngs)]).astype(np.int64)
        )
        if dev.type == "cuda":  # pinned, so the copy does not wait for the queued steps
            perms = perms.pin_memory()
        on_device = perms.to(dev, non_blocking=True)
        for start in range(0, n, config.batch_size):
            yield on_device[:, start : start + config.batch_size]


def member_positions(membership: np.ndarray, models: Sequence[int]) -> list[np.ndarray]:
    return [np.flatnonzero(membership[:, m]) for m in models]


def train_sequential(
    factory: ModelFactory,
    x: torch.Tensor,
    y: torch.Tensor,
    membership: np.ndarray,
    config: TrainConfig,
    *,
    models: Sequence[int],
    on_trained: OnTrained,
    device: torch.device,
) -> None:
    """Train ``models`` one after another (the fallback, and the reference of the concurrent
    trainer).

    Args:
        x: ``(n_pool, *input_shape)`` float32 pool inputs on ``device``.
        y: ``(n_pool,)`` int64 labels on ``device``.
        membership: ``(n_pool, n_models)`` bool.
    """
    for m in models:
        model = init_model(factory, m, config.seed).to(device)
        model.train()
        opt = make_optimizer(list(model.parameters()), config)
        for batch in epoch_batches(member_positions(membership, [m]), config, [m], device):
            idx = batch[0]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        on_trained(m, dict(model.state_dict()))


__all__ = ["OnTrained", "TrainConfig", "init_model", "train_sequential"]

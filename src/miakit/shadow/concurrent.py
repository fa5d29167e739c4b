"""Many small models trained at once on one device: ``torch.func`` over stacked weights.

The parameters and buffers of ``k`` models (same architecture) are stacked along a new first
dimension (:func:`torch.func.stack_module_state`); one forward of
``vmap(functional_call(model, ...))`` runs all ``k`` models on their own batches
``(k, b, ...)``. The loss is the sum of the models' mean losses, so its gradient with respect
to the stacked parameters is each model's own gradient, and one elementwise optimiser (Adam,
SGD) over the stacked tensors takes every model's own step.

BatchNorm: the running statistics are buffers, stacked like the parameters and passed through
``functional_call``; under ``vmap`` the in-place update of a batched buffer updates that
model's slice only, so every model keeps its own running mean and variance (checked against
the sequential trainer in ``tests/shadow/test_train.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from miakit.errors import InvalidParameterError
from miakit.shadow.models import ModelFactory, SmallCNN
from miakit.shadow.train import (
    OnTrained,
    TrainConfig,
    epoch_batches,
    init_model,
    make_optimizer,
    member_positions,
)


def train_concurrent(
    factory: ModelFactory,
    x: torch.Tensor,
    y: torch.Tensor,
    membership: np.ndarray,
    config: TrainConfig,
    *,
    models: Sequence[int],
    on_trained: OnTrained,
    device: torch.device,
    max_concurrent: int = 64,
    unfold_convs: bool = False,
) -> None:
    """Train ``models`` in groups of ``max_concurrent``, each group in one vmapped loop.

    Same arguments as :func:`miakit.shadow.train.train_sequential`, plus ``max_concurrent``:
    models per group (bounds memory; the models are the same for any grouping), and
    ``unfold_convs``: the built-in CNN computes its convolutions as unfold + batched matmul
    instead of grouped convolutions (the same models up to round-off; which is faster
    depends on the device, ``benchmarks/shadow.py`` times both).

    Raises:
        InvalidParameterError: ``unfold_convs`` with a model other than the built-in CNN.
    """
    models = list(models)
    for start in range(0, len(models), max_concurrent):
        group = models[start : start + max_concurrent]
        _train_group(factory, x, y, membership, config, group, on_trained, device, unfold_convs)


def _train_group(
    factory: ModelFactory,
    x: torch.Tensor,
    y: torch.Tensor,
    membership: np.ndarray,
    config: TrainConfig,
    group: list[int],
    on_trained: OnTrained,
    device: torch.device,
    unfold_convs: bool,
) -> None:
    nets = [init_model(factory, m, config.seed).to(device) for m in group]
    keys = list(nets[0].state_dict())  # persistent parameters and buffers, in order
    params, buffers = stack_module_state(nets)  # name -> (k, ...); params are fresh leaves
    base = copy.deepcopy(nets[0]).to("meta")
    base.train()
    if unfold_convs:
        if not isinstance(base, SmallCNN):
            raise InvalidParameterError(
                f"unfold_convs applies to the built-in cnn only, not {type(base).__name__}"
            )
        base.unfold_convs = True
    del nets

    def forward(p: dict, b: dict, xb: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (xb,))

    batched = vmap(forward)
    opt = make_optimizer(list(params.values()), config)
    for idx in epoch_batches(member_positions(membership, group), config, group, device):
        # idx: (k, b) on the device
        logits = batched(params, buffers, x[idx])  # (k, b, n_classes)
        k, b, c = logits.shape
        losses = nn.functional.cross_entropy(
            logits.reshape(k * b, c), y[idx].reshape(k * b), reduction="none"
        )
        loss = losses.view(k, b).mean(dim=1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for i, m in enumerate(group):
        state = {**params, **buffers}
        on_trained(m, {name: state[name][i].detach() for name in keys})


__all__ = ["train_concurrent"]

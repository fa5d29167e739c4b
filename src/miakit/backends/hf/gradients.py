"""Exact per-sample gradient norms of a Hugging Face causal LM (the ``gradients`` capability).

For each input ``(ids, first_scored)`` the loss is the mean token NLL of the scored tokens
``ids[first_scored:]`` (each predicted from the position before it, fp32 log-softmax), and
its gradient with respect to every weight is taken with :func:`torch.autograd.grad` for that
input alone: a micro-batch of one sample, so the gradient is exactly per sample (never a
batch mean) and no ``.grad`` buffer of the model is touched. Per parameter group
(:func:`layer_of`) the L1, L2 and L∞ norms are accumulated on the device in float64 and one
small array per sample is copied back.

Why not ``torch.func`` (``functional_call`` + ``vmap`` + ``grad``): it would hold one full
gradient per sample of the vmapped batch (``batch × n_params`` floats: 8 samples of a 1B
model in fp32 are 32 GB) and many Hugging Face attention paths do not vmap; for short texts
the loop is slower than a vmapped batch, not asymptotically worse.

Memory, per sample: the model's activations for one input of at most ``max_length`` tokens
with autograd, its fp32 logits ``(T, V)`` (2k tokens × 128k vocabulary: 1 GB), and one
gradient of the model's size in the model's dtype (8B parameters in bf16: 16 GB), freed
before the next sample. Long texts are bounded by ``max_length``, as for scoring.

The model is put in eval mode (dropout off) and every parameter's ``requires_grad`` is set
for the call; both are restored afterwards, and no weight is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from miakit._core.lazy import lazy_module
from miakit.backends.transfer import to_device

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

_BLOCK = re.compile(r"^(.*?\.\d+)\.")


def layer_of(name: str, embeddings: set[str], head: set[str]) -> str:
    """The group of parameter ``name``: ``embeddings`` (token and position embeddings),
    the transformer block (``model.layers.3``, ``transformer.h.0``: the name up to its first
    numeric component), ``head`` (the LM head, when not tied to the embeddings) or ``final``
    (the final norm and anything else outside the blocks)."""
    if name in embeddings:
        return "embeddings"
    if name in head:
        return "head"
    match = _BLOCK.match(name)
    return match.group(1) if match else "final"


def parameter_groups(model: Any) -> tuple[list[str], list[int], list[torch.nn.Parameter]]:
    """The group names in first-seen order, each parameter's group index and the parameters
    (tied parameters once, as ``named_parameters`` yields them)."""
    embeddings = {
        f"{mod_name}.{p_name}" if mod_name else p_name
        for mod_name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Embedding)
        for p_name, _ in mod.named_parameters(recurse=False)
    }
    head_module = model.get_output_embeddings()
    head_ids = {id(p) for p in head_module.parameters()} if head_module is not None else set()
    named = list(model.named_parameters())
    head = {n for n, p in named if id(p) in head_ids and n not in embeddings}
    names: list[str] = []
    index: list[int] = []
    for name, _ in named:
        group = layer_of(name, embeddings, head)
        if group not in names:
            names.append(group)
        index.append(names.index(group))
    return names, index, [p for _, p in named]


def gradient_norms(
    model: Any,
    inputs: Sequence[tuple[Sequence[int], int]],
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Per-sample, per-group ``(Σ|g|, √Σg², max|g|)`` of the gradient of each input's mean
    token NLL (see the module docstring).

    Args:
        model: a ``PreTrainedModel`` with an LM head.
        inputs: ``(ids, first_scored)`` per sample.
        progress: called with each sample's token count after it is done.

    Returns:
        The group names ``(L,)`` and a float64 array ``(n, L, 3)``; NaN rows for an input with
        no scored token.
    """
    names, index, params = parameter_groups(model)
    out = np.full((len(inputs), len(names), 3), np.nan)
    was_training = model.training
    flags = [p.requires_grad for p in params]
    try:
        model.eval()
        for p in params:
            p.requires_grad_(True)
        with torch.enable_grad():
            for i, (ids, first) in enumerate(inputs):
                if len(ids) > max(1, first):
                    out[i] = _one(model, params, index, len(names), ids, first)
                if progress is not None:
                    progress(len(ids))
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
    return names, out


def _one(
    model: Any,
    params: list[torch.nn.Parameter],
    group_of: list[int],
    n_groups: int,
    ids: Sequence[int],
    first: int,
) -> np.ndarray:
    """``(L, 3)`` norms of the gradient of one input's mean NLL over ``ids[first:]``."""
    device = params[0].device
    input_ids = to_device(torch.tensor([list(ids)], dtype=torch.long), device)
    logits = model(input_ids=input_ids, use_cache=False).logits[0]  # (T, V)
    # position t - 1 predicts token t: the scored tokens are t = first .. T-1
    log_probs = torch.log_softmax(logits[first - 1 : -1].float(), dim=-1)
    targets = input_ids[0, first:]
    loss = -log_probs.gather(1, targets[:, None]).mean()
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    l1 = torch.zeros(n_groups, dtype=torch.float64, device=device)
    sq = torch.zeros_like(l1)
    mx = torch.zeros_like(l1)
    for j, g in enumerate(grads):
        if g is None:  # a parameter the loss does not reach (unused position rows are 0)
            continue
        g64 = g.detach().double()
        k = group_of[j]
        l1[k] += g64.abs().sum()
        sq[k] += g64.square().sum()
        mx[k] = torch.maximum(mx[k], g64.abs().max())
    del grads
    return torch.stack([l1, sq.sqrt(), mx], dim=1).cpu().numpy()

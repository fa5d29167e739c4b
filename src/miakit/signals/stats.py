"""Step 4 of the forward loop, *statistics*: per-token statistics from fp32 logits, one chunk
of positions at a time.

The engine never materialises ``[batch, time, vocab]`` logits: the forward step
(:mod:`~miakit.signals.forward`) gathers the hidden states of predicting positions, then
:func:`chunked_token_stats` makes fp32 logits of at most ``chunk_tokens`` of them at a time and
calls :func:`token_stats` (fused: :func:`token_stats_fast`) on each chunk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, TypeAlias

from miakit._core.lazy import lazy_module
from miakit.backends.compiled import CudaCompiled

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

#: ``token_id`` is stored as float32 like every other statistic; float32's 24-bit significand
#: holds every integer below 2**24 exactly, so vocabularies of more than 2**24 entries are refused.
MAX_VOCAB_FOR_TOKEN_ID = 2**24


def token_stats(
    logits: torch.Tensor, targets: torch.Tensor, stats: Collection[str]
) -> dict[str, torch.Tensor]:
    """Statistics of next-token distributions at ``n`` positions.

    Args:
        logits: shape ``(n, vocab)``, float32.
        targets: shape ``(n,)``, int64: the token that actually followed.
        stats: which of ``token_log_prob``, ``mean_log_prob``, ``var_log_prob``, ``token_rank``
            and ``token_id`` (the target id itself, as float32).

    Returns:
        name -> shape ``(n,)`` float32 tensor.

    ``var_log_prob`` is the centred second moment ``sum_v p (log p - mu)^2`` (never
    ``E[x^2] - mu^2``, which cancels catastrophically). Zero-probability entries contribute 0.
    """
    if logits.dtype != torch.float32:
        raise TypeError(f"token_stats needs float32 logits, got {logits.dtype}")
    out: dict[str, torch.Tensor] = {}
    lse = torch.logsumexp(logits, dim=-1)  # (n,)
    target_logit = logits.gather(1, targets[:, None]).squeeze(1)  # (n,)
    if "token_log_prob" in stats:
        out["token_log_prob"] = target_logit - lse
    if "mean_log_prob" in stats or "var_log_prob" in stats:
        log_p = logits - lse[:, None]  # (n, vocab)
        p = log_p.exp()
        finite = torch.isfinite(log_p)
        plogp = torch.where(finite, p * log_p, torch.zeros((), dtype=p.dtype, device=p.device))
        mu = plogp.sum(dim=-1)  # (n,)
        if "mean_log_prob" in stats:
            out["mean_log_prob"] = mu
        if "var_log_prob" in stats:
            dev = torch.where(finite, log_p - mu[:, None], torch.zeros((), device=p.device))
            out["var_log_prob"] = (p * dev * dev).sum(dim=-1)
    if "token_rank" in stats:
        out["token_rank"] = (logits > target_logit[:, None]).sum(dim=-1).to(torch.float32)
    if "token_id" in stats:
        if logits.shape[-1] > MAX_VOCAB_FOR_TOKEN_ID:
            raise ValueError(
                "token_id is stored as float32, exact only for ids < 2**24; this vocabulary "
                f"has {logits.shape[-1]} entries"
            )
        out["token_id"] = targets.to(torch.float32)
    return out


#: On the CPU, statistics are computed a few rows of logits at a time, so that the several
#: passes they make over each row hit the core's cache instead of memory. Measured 2026-11-26
#: on this project's 2-core EPYC (V = 49,152, SmolLM2's vocabulary, 2 threads): 2,730
#: positions took 4.8 s in chunks of 1,365 rows and 1.8 s (most of it the fp32 logits GEMM)
#: with the statistics in blocks of 8 rows; a 4-layer, 256-wide model scoring 300 texts went
#: from 82 s to 28 s. The demo (SmolLM2-135M) did not get measurably faster: its fp32 decoder
#: GEMMs take most of its time.
CPU_BLOCK_BYTES = 1 << 21


def in_row_blocks(
    fn: Callable[..., dict[str, torch.Tensor]], *tensors: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``fn(*tensors)`` for row-wise statistics: whole on CUDA; on the CPU over blocks of rows
    of about :data:`CPU_BLOCK_BYTES` (all tensors together), results concatenated."""
    first = tensors[0]
    if first.is_cuda or first.dim() != 2:
        return fn(*tensors)
    width = sum(t.shape[1] * t.element_size() for t in tensors if t.dim() == 2)
    rows = max(1, CPU_BLOCK_BYTES // max(1, width))
    if first.shape[0] <= rows:
        return fn(*tensors)
    parts = [fn(*(t[s : s + rows] for t in tensors)) for s in range(0, first.shape[0], rows)]
    return {name: torch.cat([p[name] for p in parts]) for name in parts[0]}


StatsFn: TypeAlias = (
    "Callable[[torch.Tensor, torch.Tensor, Collection[str]], dict[str, torch.Tensor]]"
)
_compiled: dict[tuple[StatsFn, tuple[str, ...]], CudaCompiled] = {}


def fused_stats(
    fn: StatsFn, a: torch.Tensor, b: torch.Tensor, stats: Collection[str]
) -> dict[str, torch.Tensor]:
    """``fn(a, b, stats)`` for row-wise statistics: compiled once per ``(fn, stats)`` and run
    fused on CUDA (:class:`~miakit.backends.compiled.CudaCompiled`), eager in cache-sized row
    blocks on the CPU (:func:`in_row_blocks`)."""
    key = (fn, tuple(sorted(stats)))
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compiled[key] = CudaCompiled(functools.partial(_with_stats, fn, key[1]))
    return in_row_blocks(compiled, a, b)


def _with_stats(
    fn: StatsFn, stats: tuple[str, ...], a: torch.Tensor, b: torch.Tensor
) -> dict[str, torch.Tensor]:
    return fn(a, b, stats)


def token_stats_fast(
    logits: torch.Tensor, targets: torch.Tensor, stats: Collection[str]
) -> dict[str, torch.Tensor]:
    """:func:`token_stats`, fused by ``torch.compile`` on CUDA (eager elsewhere; see
    :class:`~miakit.backends.compiled.CudaCompiled`), in cache-sized row blocks on the CPU
    (:func:`in_row_blocks`).

    The compiled kernel reads each logits chunk about once instead of once per statistic.
    """
    return fused_stats(token_stats, logits, targets, stats)


def chunked_token_stats(
    logits: Callable[[torch.Tensor], torch.Tensor],
    hidden: torch.Tensor,
    targets: torch.Tensor,
    stats: Sequence[str],
    *,
    chunk_tokens: int,
) -> dict[str, list[torch.Tensor]]:
    """Statistics of the predicting states ``hidden`` ``(N, d)`` for ``targets`` ``(N,)``.

    Args:
        logits: the backend's fp32 logits of hidden states, ``(C, d)`` -> ``(C, vocab)``.
        hidden: the predicting hidden states.
        targets: the token each of them predicts.
        stats: which statistics.
        chunk_tokens: the most positions per logits chunk.

    Returns:
        name -> the chunks ``(C_j,)`` (in order, on the logits' device) that cover ``N``.
    """
    parts: dict[str, list[torch.Tensor]] = {s: [] for s in stats}
    for start in range(0, hidden.shape[0], chunk_tokens):
        stop = start + chunk_tokens
        chunk = logits(hidden[start:stop])  # (C, V) fp32
        for name, value in token_stats_fast(chunk, targets[start:stop], stats).items():
            parts[name].append(value)
    return parts

"""Varlen attention for packed (padding-free) rows of a Hugging Face model.

The signal engine packs samples into rows (:mod:`miakit.signals.batching`). Each row is one
forward pass with batch size 1: ``position_ids`` restart at 0 for every sample, and the
attention function receives ``cu_seq_lens_q/k`` and ``max_length_q/k`` so that no token
attends across a sample boundary. No 2-D attention mask is passed and ``use_cache=False``
(transformers only forwards the packing kwargs when there is no cache; a silent cross-sample
leak otherwise).

The attention function registered here (``"miakit_varlen"``) uses
``torch.nn.attention.varlen.varlen_attn`` (FlashAttention-2 varlen) on CUDA and, on CPU or when
that is unavailable, a per-sample causal SDPA loop that is slow but exact: it is the
correctness reference for the packed path in the CPU test suite.

Architectures whose attention does not go through transformers' ``AttentionInterface``, or
that need more than positions to separate samples (Mamba-style ``seq_idx``, absolute
positions with offsets), fall back to the padded path: see :func:`supports_packing`, which
:class:`~miakit.backends.hf.HFTokenScorer` asks once, at construction, for its
:class:`~miakit.backends.base.Capabilities`.

Module state, deliberately kept: the registration flag (transformers' interface is itself
global) and the per-process answer of :func:`probe_native_gqa`, which must be read inside the
attention function (called by transformers, possibly in a compiled region) without a call.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
from typing import TYPE_CHECKING, Any

from miakit._core.lazy import lazy_module
from miakit.backends.compiled import CudaCompiled

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

ATTN_NAME = "miakit_varlen"
_REGISTERED = False

#: Prefix KV reuse state for the packed forward in flight, set by the backend:
#: ``(kv, gather, cu_seq_k, max_k, (rows, prefix))``. ``kv``: the per-layer ``(key, value)``
#: of the shared prefix, each ``(1, kv_heads, P, head_dim)``. ``gather``: indices into
#: ``[prefix ; row]`` keys that lay out ``[prefix ; own tokens]`` for every sample, and
#: ``cu_seq_k``, ``max_k`` its boundaries (exact path; ``None`` when the merge path runs, see
#: :func:`prefix_merge_available`). ``rows``/``prefix``: the device tensors ``[0, T]`` and
#: ``[0, P]`` (merge path).
PREFIX_KV: contextvars.ContextVar[tuple[Any, ...] | None] = contextvars.ContextVar(
    "miakit_prefix_kv", default=None
)


def prefix_layout(
    cu_seqlens: torch.Tensor, n_prefix: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """For packed samples with boundaries ``cu_seqlens`` that all attend to a prefix of
    ``n_prefix`` keys: the gather index into ``cat([prefix, row])`` keys, ``cu_seq_k``, and
    the longest key sequence."""
    bounds = cu_seqlens.tolist()
    pieces = []
    prefix_index = torch.arange(n_prefix)
    for a, b in itertools.pairwise(bounds):
        pieces += [prefix_index, n_prefix + torch.arange(a, b)]
    gather = torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.long)
    steps = torch.arange(len(bounds), dtype=torch.int64)
    cu_k = (cu_seqlens.to(torch.int64).cpu() + n_prefix * steps).to(torch.int32)
    longest = max((b - a for a, b in itertools.pairwise(bounds)), default=0)
    return gather, cu_k, longest + n_prefix


#: Model types checked to pack correctly through ``AttentionInterface`` with position_ids.
PACKABLE_MODEL_TYPES = frozenset(
    {
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "gemma",
        "gemma2",
        "gemma3_text",
        "olmo",
        "olmo2",
        "phi3",
        "smollm3",
        "granite",
        "starcoder2",
        "gpt_neox",
    }
)


@functools.lru_cache(maxsize=1)
def _varlen_params() -> frozenset[str]:
    """Keyword names ``varlen_attn`` accepts in this torch (checked once, not per layer)."""
    import inspect

    from torch.nn.attention.varlen import varlen_attn

    return frozenset(inspect.signature(varlen_attn).parameters)


#: Whether ``varlen_attn`` takes fewer key/value heads than query heads (grouped-query
#: attention) without repeating them; set by :func:`probe_native_gqa` outside any compiled
#: region. Repeating the heads costs two extra copies of the keys and values per layer: about
#: 10% of the GPU time of an 8B Llama shape on an H100 (compiled, 2026-11-26).
_NATIVE_GQA = False


@functools.cache
def probe_native_gqa(device: torch.device) -> bool:
    """Check once per device that FlashAttention varlen handles grouped-query attention
    natively (it does in torch 2.11: FlashAttention-2 supports ``heads_q % heads_kv == 0``),
    by comparing one tiny call with the repeated-heads call; record the answer for
    :func:`_gqa_args`."""
    global _NATIVE_GQA
    if device.type != "cuda":
        return False  # the CPU path is the exact per-sample reference, never varlen
    try:
        from torch.nn.attention.varlen import varlen_attn

        g = torch.Generator(device=device).manual_seed(0)
        q = torch.randn(6, 4, 64, device=device, dtype=torch.bfloat16, generator=g)
        k = torch.randn(6, 2, 64, device=device, dtype=torch.bfloat16, generator=g)
        v = torch.randn(6, 2, 64, device=device, dtype=torch.bfloat16, generator=g)
        cu = torch.tensor([0, 2, 6], dtype=torch.int32, device=device)
        kwargs: dict[str, Any] = {}
        if "window_size" in _varlen_params():
            kwargs["window_size"] = (-1, 0)
        native = varlen_attn(q, k, v, cu, cu, 4, 4, **kwargs)
        rk, rv = k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1)
        repeated = varlen_attn(q, rk, rv, cu, cu, 4, 4, **kwargs)
        assert isinstance(native, torch.Tensor) and isinstance(repeated, torch.Tensor)
        ok = bool(torch.allclose(native.float(), repeated.float(), atol=1e-2))
    except Exception:  # no varlen API, or GQA shapes refused: repeat the heads
        ok = False
    _NATIVE_GQA = ok
    return ok


def _gqa_args(
    heads_q: int, *tensors: torch.Tensor
) -> tuple[dict[str, Any], tuple[torch.Tensor, ...]]:
    """Keyword arguments and key/value tensors for ``varlen_attn`` with ``heads_q`` query
    heads: unchanged when the heads match or the kernel takes grouped heads natively,
    otherwise each key/value head repeated for its query group."""
    heads_kv = tensors[0].shape[1]
    if heads_q == heads_kv:
        return {}, tensors
    if "enable_gqa" in _varlen_params():
        return {"enable_gqa": True}, tensors
    if _NATIVE_GQA:
        return {}, tensors
    rep = heads_q // heads_kv
    return {}, tuple(t.repeat_interleave(rep, dim=1) for t in tensors)


def _varlen_cuda(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_q: torch.Tensor,
    cu_k: torch.Tensor,
    max_q: int,
    max_k: int,
    scale: float | None,
) -> torch.Tensor | None:
    """FlashAttention varlen through torch; ``None`` when this torch has no such API."""

    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    if q.dtype not in (torch.float16, torch.bfloat16):
        return None  # FlashAttention kernels are half precision only
    params = _varlen_params()
    kwargs: dict[str, Any] = {"scale": scale}
    if "window_size" in params:
        kwargs["window_size"] = (-1, 0)  # causal, bottom-right aligned
    elif "is_causal" in params:
        kwargs["is_causal"] = True
    else:
        return None
    gqa, (k, v) = _gqa_args(q.shape[1], k, v)
    out = varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k, **kwargs, **gqa)
    return out if isinstance(out, torch.Tensor) else out[0]


def prefix_merge_available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether prefix reuse on ``device`` in ``dtype`` runs the FlashAttention merge path
    (:func:`_prefix_merge_cuda`), which needs no per-sample key layout."""
    if device.type != "cuda" or dtype not in (torch.float16, torch.bfloat16):
        return False
    try:
        params = _varlen_params()
    except ImportError:
        return False
    return "return_aux" in params and "window_size" in params


def merge_partial_attention(
    o1: torch.Tensor, lse1: torch.Tensor, o2: torch.Tensor, lse2: torch.Tensor
) -> torch.Tensor:
    """Softmax attention over the union of two disjoint key sets, from each set's attention
    output ``o`` ``(T, H, D)`` and log-sum-exp ``lse`` ``(T, H)`` (natural log of the softmax
    normaliser per query and head). Exact: the weight of part 1 is
    ``e^lse1 / (e^lse1 + e^lse2) = sigmoid(lse1 - lse2)``. Computed in fp32, returned in
    ``o1``'s dtype.
    """
    w1 = torch.sigmoid(lse1.float() - lse2.float()).unsqueeze(-1)
    return torch.lerp(o2.float(), o1.float(), w1).to(o1.dtype)


#: One fused kernel on CUDA: the eager version writes four fp32 copies of ``(T, H, D)``.
_merge_fast = CudaCompiled(merge_partial_attention)


def _prefix_merge_cuda(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    pk: torch.Tensor,
    pv: torch.Tensor,
    cu_q: torch.Tensor,
    max_q: int,
    scale: float | None,
    bounds: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor | None:
    """Attention to ``[shared prefix ; own tokens]`` without copying the prefix per sample.

    ``bounds`` are the device tensors ``[0, T]`` and ``[0, P]``, made once per row: creating
    them here, once per layer, would block the host on the GPU at every layer.

    Two FlashAttention calls: every query against the prefix (one dense, non-causal block), and
    each sample's queries causally against its own keys (varlen); the two partial softmaxes
    are merged exactly through their log-sum-exps. ``None`` when this torch lacks the API.
    """

    try:
        from torch.nn.attention.varlen import AuxRequest, varlen_attn
    except ImportError:
        return None
    if q.dtype not in (torch.float16, torch.bfloat16):
        return None
    params = _varlen_params()
    if "return_aux" not in params or "window_size" not in params:
        return None
    gqa, (k, v, pk, pv) = _gqa_args(q.shape[1], k, v, pk, pv)
    n_q, n_p = q.shape[0], pk.shape[0]
    one, pre = bounds
    aux = AuxRequest(lse=True)
    o1, lse1 = varlen_attn(  # every query attends to the whole prefix
        q, pk, pv, one, pre, n_q, n_p, return_aux=aux, scale=scale, window_size=(-1, -1), **gqa
    )
    cu = cu_q.to(torch.int32)
    o2, lse2 = varlen_attn(  # each sample's queries attend causally to its own tokens
        q, k, v, cu, cu, max_q, max_q, return_aux=aux, scale=scale, window_size=(-1, 0), **gqa
    )
    # lse: (heads, T) or (T, heads), natural log of each query's softmax normaliser
    if lse1.shape[0] != n_q:
        lse1, lse2 = lse1.transpose(0, 1), lse2.transpose(0, 1)
    return _merge_fast(o1, lse1, o2, lse2)  # type: ignore[no-any-return]


def _varlen_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_q: torch.Tensor,
    cu_k: torch.Tensor,
    scale: float | None,
) -> torch.Tensor:
    """Per-sample causal SDPA, bottom-right aligned (queries are the last keys)."""
    out = torch.empty_like(q)
    rep = q.shape[1] // k.shape[1]
    for i in range(len(cu_q) - 1):
        qa, qb = int(cu_q[i]), int(cu_q[i + 1])
        ka, kb = int(cu_k[i]), int(cu_k[i + 1])
        qs = q[qa:qb].transpose(0, 1)  # (H, Tq, D)
        ks = k[ka:kb].transpose(0, 1).repeat_interleave(rep, dim=0)
        vs = v[ka:kb].transpose(0, 1).repeat_interleave(rep, dim=0)
        tq, tk = qb - qa, kb - ka
        mask = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(diagonal=tk - tq)
        out[qa:qb] = torch.nn.functional.scaled_dot_product_attention(
            qs, ks, vs, attn_mask=mask, scale=scale
        ).transpose(0, 1)
    return out


def varlen_attention_forward(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    cu_seq_lens_q: torch.Tensor | None = None,
    cu_seq_lens_k: torch.Tensor | None = None,
    max_length_q: int | None = None,
    max_length_k: int | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: ``query`` (1, Hq, T, D) -> output (1, T, Hq, D)."""
    if cu_seq_lens_q is None or query.shape[0] != 1:
        raise RuntimeError(
            "miakit_varlen attention needs packed inputs (batch 1 with cu_seq_lens_q); "
            "it is only used by miakit's packed scoring path"
        )
    cu_k = cu_seq_lens_k if cu_seq_lens_k is not None else cu_seq_lens_q
    q = query[0].transpose(0, 1)  # (T, Hq, D)
    k = key[0].transpose(0, 1)
    v = value[0].transpose(0, 1)
    prefix = PREFIX_KV.get()
    if prefix is not None:
        # every sample's keys are [shared prefix ; its own tokens]: cu_seq_k != cu_seq_q.
        # One gather per layer with an index built once per row (no host sync per layer).
        kv, gather, cu_k, max_length_k, bounds = prefix
        layer = getattr(module, "layer_idx", None)
        if layer is None:
            raise RuntimeError("prefix reuse needs attention modules with a layer_idx")
        pk = kv[layer][0][0].transpose(0, 1).to(k.dtype)  # (P, Hkv, D)
        pv = kv[layer][1][0].transpose(0, 1).to(v.dtype)
        if q.is_cuda:
            merged = _prefix_merge_cuda(
                q, k, v, pk, pv, cu_seq_lens_q, int(max_length_q or 0), scaling, bounds
            )
            if merged is not None:
                return merged.unsqueeze(0), None
        if gather is None:
            raise RuntimeError("internal error: prefix reuse without a key layout")
        k = torch.cat([pk, k]).index_select(0, gather)
        v = torch.cat([pv, v]).index_select(0, gather)
    out = None
    if q.is_cuda:
        out = _varlen_cuda(
            q,
            k,
            v,
            cu_seq_lens_q.to(torch.int32),
            cu_k.to(torch.int32),
            int(max_length_q or 0),
            int(max_length_k or max_length_q or 0),
            scaling,
        )
    if out is None:
        out = _varlen_reference(q, k, v, cu_seq_lens_q, cu_k, scaling)
    return out.unsqueeze(0), None


def register_varlen_attention() -> str:
    """Register ``miakit_varlen`` with transformers (idempotent); return its name."""
    global _REGISTERED
    if not _REGISTERED:
        from transformers import AttentionInterface

        AttentionInterface.register(ATTN_NAME, varlen_attention_forward)
        try:
            from transformers.masking_utils import AttentionMaskInterface

            AttentionMaskInterface.register(ATTN_NAME, lambda *args, **kwargs: None)
        except ImportError:  # older transformers build masks inside the model
            pass
        _REGISTERED = True
    return ATTN_NAME


def supports_packing(model: Any) -> bool:
    """Whether ``model`` is known to score correctly on packed rows."""
    cfg = getattr(model, "config", None)
    return getattr(cfg, "model_type", None) in PACKABLE_MODEL_TYPES

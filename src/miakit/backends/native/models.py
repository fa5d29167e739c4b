"""Llama and GPT-NeoX decoders in plain torch, with transformers' parameter names.

Why: on the GPU host of issue 15, importing transformers' model stack costs 6-7 s per process
(it pulls in scikit-learn, torch.distributed and torch._dynamo) and its loader another 2-5 s;
the arithmetic of a 400-text audit is about 4 s. These modules compute the same forward pass
as ``LlamaForCausalLM`` and ``GPTNeoXForCausalLM`` (transformers 5) for the configurations
:mod:`miakit.backends.native.config` accepts, and present the part of transformers' interface
that :class:`~miakit.backends.hf.HFTokenScorer` uses: ``config``, ``base_model_prefix``,
``get_output_embeddings()``, ``set_attn_implementation()``, a decoder returning
``last_hidden_state`` (and ``past_key_values`` with ``use_cache=True``), and ``logits`` from
the whole model. Parameter names equal transformers', so checkpoints, LoRA adapters and the
per-layer gradient groups read the same.

Attention: packed rows (``cu_seq_lens_q``) go through miakit's varlen attention function,
the same one registered with transformers (prefix reuse included); padded batches and prefix
caches through ``scaled_dot_product_attention`` with a boolean causal-and-padding mask.
Parity with transformers: ``tests/backends/native/``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from miakit.backends.native.config import NativeConfig


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Rotary:
    """RoPE ``cos``/``sin`` for positions, computed in fp32 and cast to the activations' dtype
    (as transformers does), on the first ``rotary_dim`` dims of each head."""

    def __init__(self, cfg: NativeConfig) -> None:
        dim = cfg.rotary_dim
        steps = torch.arange(0, dim, 2, dtype=torch.int64, device="cpu")  # also under meta
        self.inv_freq = 1.0 / (cfg.rope_theta ** (steps.float() / dim))
        self._on: dict[torch.device, torch.Tensor] = {}

    def __call__(self, x: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        inv = self._on.get(x.device)
        if inv is None:
            inv = self._on.setdefault(x.device, self.inv_freq.to(x.device))
        freqs = positions[..., None].float() * inv
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def apply_rotary(q: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``q`` (B, H, T, D) rotated on its first ``cos.shape[-1]`` dims."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    r = cos.shape[-1]
    if r == q.shape[-1]:
        return (q * cos) + (rotate_half(q) * sin)
    rot, rest = q[..., :r], q[..., r:]
    return torch.cat([(rot * cos) + (rotate_half(rot) * sin), rest], dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)


def activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "silu":
        return nn.functional.silu(x)
    return nn.functional.gelu(x, approximate="tanh" if name == "gelu_tanh" else "none")


def attend(
    module: nn.Module,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    ctx: dict[str, Any],
    scale: float,
) -> torch.Tensor:
    """Attention output ``(B, T, H, D)`` of ``q`` ``(B, H, T, D)`` against ``k``/``v``."""
    if ctx.get("cu_seq_lens_q") is not None:
        from miakit.backends.hf.attention import varlen_attention_forward

        out, _ = varlen_attention_forward(module, q, k, v, None, scaling=scale, **ctx)
        return out
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=ctx["mask"], scale=scale)
    return out.transpose(1, 2)


class LlamaAttention(nn.Module):
    def __init__(self, cfg: NativeConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx, self.head_dim, self.scale = layer_idx, cfg.head_dim, cfg.head_dim**-0.5
        q, kv = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, q, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, kv, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, kv, bias=False)
        self.o_proj = nn.Linear(q, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, ...], ctx: dict) -> torch.Tensor:
        shape = (*x.shape[:-1], -1, self.head_dim)
        q = apply_rotary(self.q_proj(x).view(shape).transpose(1, 2), *rope)
        k = apply_rotary(self.k_proj(x).view(shape).transpose(1, 2), *rope)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        k, v = _with_cache(self.layer_idx, k, v, ctx)
        out = attend(self, q, k, v, ctx, self.scale)
        return self.o_proj(out.reshape(*x.shape[:-1], -1).contiguous())


class LlamaMLP(nn.Module):
    def __init__(self, cfg: NativeConfig) -> None:
        super().__init__()
        self.act = cfg.activation
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(activation(self.act, self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, cfg: NativeConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(cfg, layer_idx)
        self.mlp = LlamaMLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.norm_eps)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, ...], ctx: dict) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope, ctx)
        return x + self.mlp(self.post_attention_layernorm(x))


class NeoXAttention(nn.Module):
    def __init__(self, cfg: NativeConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx, self.head_dim, self.scale = layer_idx, cfg.head_dim, cfg.head_dim**-0.5
        h = cfg.hidden_size
        self.query_key_value = nn.Linear(h, 3 * h, bias=cfg.qkv_bias)
        self.dense = nn.Linear(h, h, bias=cfg.qkv_bias)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, ...], ctx: dict) -> torch.Tensor:
        qkv = self.query_key_value(x).view(*x.shape[:-1], -1, 3 * self.head_dim).transpose(1, 2)
        q, k, v = qkv.chunk(3, dim=-1)
        q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        k, v = _with_cache(self.layer_idx, k, v, ctx)
        out = attend(self, q, k, v, ctx, self.scale)
        return self.dense(out.reshape(*x.shape[:-1], -1).contiguous())


class NeoXMLP(nn.Module):
    def __init__(self, cfg: NativeConfig) -> None:
        super().__init__()
        self.act = cfg.activation
        self.dense_h_to_4h = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.dense_4h_to_h = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(activation(self.act, self.dense_h_to_4h(x)))


class NeoXLayer(nn.Module):
    def __init__(self, cfg: NativeConfig, layer_idx: int) -> None:
        super().__init__()
        self.parallel = cfg.parallel_residual
        self.input_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.norm_eps)
        self.post_attention_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.norm_eps)
        self.attention = NeoXAttention(cfg, layer_idx)
        self.mlp = NeoXMLP(cfg)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, ...], ctx: dict) -> torch.Tensor:
        attn = self.attention(self.input_layernorm(x), rope, ctx)
        if self.parallel:
            return self.mlp(self.post_attention_layernorm(x)) + attn + x
        attn = attn + x
        return self.mlp(self.post_attention_layernorm(attn)) + attn


def _with_cache(
    layer: int, k: torch.Tensor, v: torch.Tensor, ctx: dict
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values after a cached prefix (``ctx["past"]``), recording them when asked."""
    past = ctx.get("past")
    if past is not None:
        pk, pv = past[layer]
        k, v = torch.cat([pk.to(k.dtype), k], dim=2), torch.cat([pv.to(v.dtype), v], dim=2)
    if ctx.get("record") is not None:
        ctx["record"].append(SimpleNamespace(keys=k, values=v))
    return k, v


class Decoder(nn.Module):
    """The stack of layers between the embedding and the LM head."""

    def __init__(self, cfg: NativeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.rotary = Rotary(cfg)
        if cfg.model_type == "llama":
            self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
            self.layers = nn.ModuleList(LlamaLayer(cfg, i) for i in range(cfg.num_layers))
            self.norm: nn.Module = RMSNorm(cfg.hidden_size, cfg.norm_eps)
        else:
            self.embed_in = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
            self.layers = nn.ModuleList(NeoXLayer(cfg, i) for i in range(cfg.num_layers))
            self.final_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.norm_eps)

    def embedding(self) -> nn.Embedding:
        return self.embed_tokens if self.cfg.model_type == "llama" else self.embed_in

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        use_cache: bool = False,
        past_key_values: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        **packing: Any,
    ) -> SimpleNamespace:
        """``last_hidden_state`` ``(B, T, d)``; with ``use_cache`` also ``past_key_values``
        (``.layers[i].keys``/``.values``). ``packing``: transformers' packed-row keywords
        (``cu_seq_lens_q/k``, ``max_length_q/k``); ``past_key_values``: per-layer prefix keys
        and values ``(B, Hkv, P, D)`` that every position attends to."""
        batch, length = input_ids.shape
        n_past = 0 if past_key_values is None else int(past_key_values[0][0].shape[2])
        if position_ids is None:
            position_ids = n_past + torch.arange(length, device=input_ids.device)[None, :]
        ctx: dict[str, Any] = {"past": past_key_values, "record": [] if use_cache else None}
        if packing.get("cu_seq_lens_q") is not None:
            ctx.update(packing)
        else:
            ctx["mask"] = _mask(batch, length, n_past, attention_mask, input_ids.device)
        x = self.embedding()(input_ids)
        rope = self.rotary(x, position_ids)
        for layer in self.layers:
            x = layer(x, rope, ctx)
        x = self.norm(x) if self.cfg.model_type == "llama" else self.final_layer_norm(x)
        cache = SimpleNamespace(layers=ctx["record"]) if use_cache else None
        return SimpleNamespace(last_hidden_state=x, past_key_values=cache)


def _mask(
    batch: int, length: int, n_past: int, attention_mask: torch.Tensor | None, device: Any
) -> torch.Tensor:
    """Boolean ``(B, 1, T, P+T)``: causal (queries are the last ``T`` keys) and no padded key
    (``attention_mask`` ``(B, P+T)``, 1 = real). A query with no key left (a padded query of
    an all-padding row) keeps its own position, so SDPA returns numbers, never NaN."""
    total = n_past + length
    causal = torch.ones(length, total, dtype=torch.bool, device=device).tril(diagonal=n_past)
    mask = causal[None, None].expand(batch, 1, length, total)
    if attention_mask is not None:
        mask = mask & attention_mask.to(device=device, dtype=torch.bool)[:, None, None, :]
        own = torch.zeros(length, total, dtype=torch.bool, device=device)
        own[torch.arange(length), n_past + torch.arange(length)] = True
        mask = mask | (own[None, None] & ~mask.any(dim=-1, keepdim=True))
    return mask


class NativeCausalLM(nn.Module):
    """A decoder plus its LM head, with transformers' names and the interface the scorer
    uses (see the module docstring)."""

    def __init__(self, cfg: NativeConfig) -> None:
        super().__init__()
        self.config = cfg
        self.base_model_prefix = cfg.base_prefix
        setattr(self, cfg.base_prefix, Decoder(cfg))
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    @property
    def decoder(self) -> Decoder:
        out = getattr(self, self.config.base_prefix)
        assert isinstance(out, Decoder)
        return out

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_attn_implementation(self, name: str) -> None:
        """transformers' switch; the decoder picks its path from its inputs instead."""
        self.config._attn_implementation = name

    def forward(self, input_ids: torch.Tensor, **kwargs: Any) -> SimpleNamespace:
        """``logits`` ``(B, T, vocab)`` in the weights' dtype (as transformers returns)."""
        out = self.decoder(input_ids, **kwargs)
        return SimpleNamespace(
            logits=self.get_output_embeddings()(out.last_hidden_state),
            last_hidden_state=out.last_hidden_state,
        )


__all__ = ["Decoder", "NativeCausalLM"]

"""Which ``config.json`` files miakit's native decoders implement, read without transformers.

A config is accepted only when every setting that changes the forward pass is one this
package implements; anything else (another architecture, a RoPE scaling type, biases a
Llama does not have, custom code) returns a reason, and the caller loads the model through
transformers instead. Nothing is guessed: an unknown setting is a refusal, not a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: ``hidden_act`` values and the activation each means (transformers' ``ACT2FN`` names).
ACTIVATIONS = {
    "silu": "silu",
    "swish": "silu",
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
}


@dataclass
class NativeConfig:
    """The settings of a decoder-only model that its forward pass depends on."""

    model_type: str  # "llama" or "gpt_neox"
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rope_theta: float
    rotary_dim: int  # leading dims of each head that rotate (GPT-NeoX: a fraction)
    norm_eps: float
    activation: str  # "silu", "gelu" or "gelu_tanh"
    tie_word_embeddings: bool
    parallel_residual: bool = False  # GPT-NeoX only
    qkv_bias: bool = False  # GPT-NeoX only (attention_bias)

    #: transformers' attributes, read by the scorer (its logits; the attention it sets)
    final_logit_softcapping: None = None
    logit_scale: None = None
    _attn_implementation: str = "sdpa"

    @property
    def base_prefix(self) -> str:
        """The decoder's attribute name, as in transformers' checkpoints."""
        return "model" if self.model_type == "llama" else "gpt_neox"


#: transformers' config-class defaults of the settings a ``config.json`` may omit (the
#: ``LlamaConfig``/``GPTNeoXConfig`` values transformers then uses): an untied Llama head, a
#: quarter of each GPT-NeoX head rotating.
DEFAULT_TIED = {"llama": False, "gpt_neox": False}
DEFAULT_ROTARY_FACTOR = {"llama": 1.0, "gpt_neox": 0.25}


def _rope(cfg: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The RoPE settings in either spelling (``rope_parameters``, transformers 5; or
    ``rope_theta``/``rope_scaling``/``rotary_pct``, before), or a refusal; a setting absent
    from all of them takes the config class's default (:data:`DEFAULT_ROTARY_FACTOR`)."""
    params = dict(cfg.get("rope_parameters") or {})
    scaling = cfg.get("rope_scaling")
    if scaling:
        params = {**scaling, **params}
    kind = params.get("rope_type", params.get("type", "default"))
    if kind != "default":
        return params, f"RoPE type {kind!r}"
    if "rope_theta" not in params:
        params["rope_theta"] = cfg.get("rope_theta", cfg.get("rotary_emb_base", 10000.0))
    if "partial_rotary_factor" not in params:
        params["partial_rotary_factor"] = cfg.get(
            "rotary_pct",
            cfg.get("partial_rotary_factor", DEFAULT_ROTARY_FACTOR[str(cfg["model_type"])]),
        )
    return params, None


def parse(cfg: dict[str, Any]) -> NativeConfig | str:
    """The :class:`NativeConfig` of a ``config.json`` dict, or why it is not implemented."""
    kind = cfg.get("model_type")
    if kind not in ("llama", "gpt_neox"):
        return f"model_type {kind!r}"
    if cfg.get("auto_map") or cfg.get("quantization_config"):
        return "custom code or quantization"
    act = ACTIVATIONS.get(str(cfg.get("hidden_act", "silu" if kind == "llama" else "gelu")))
    if act is None:
        return f"hidden_act {cfg.get('hidden_act')!r}"
    # transformers 5 reads a GPT-NeoX config's RoPE from rotary_emb_base/rotary_pct only: a
    # top-level rope_theta/partial_rotary_factor would mean one thing here, another there
    top_level = "rope_theta" in cfg or "partial_rotary_factor" in cfg
    if kind == "gpt_neox" and "rope_parameters" not in cfg and top_level:
        return "GPT-NeoX RoPE settings (top-level rope_theta/partial_rotary_factor)"
    rope, why = _rope(cfg)
    if why:
        return why
    hidden, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    common = dict(
        model_type=kind,
        vocab_size=int(cfg["vocab_size"]),
        hidden_size=hidden,
        intermediate_size=int(cfg["intermediate_size"]),
        num_layers=int(cfg["num_hidden_layers"]),
        num_heads=heads,
        head_dim=head_dim,
        rope_theta=float(rope["rope_theta"]),
        rotary_dim=int(head_dim * float(rope["partial_rotary_factor"])),
        activation=act,
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", DEFAULT_TIED[kind])),
    )
    if kind == "llama":
        if cfg.get("attention_bias") or cfg.get("mlp_bias"):
            return "Llama with attention or MLP biases"
        if int(cfg.get("pretraining_tp", 1) or 1) != 1:
            return "pretraining_tp != 1"
        if common["rotary_dim"] != head_dim:
            return "partial rotary on a Llama"
        return NativeConfig(
            num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
            norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            **common,  # type: ignore[arg-type]
        )
    if head_dim * heads != hidden:
        return "GPT-NeoX with head_dim * heads != hidden_size"
    return NativeConfig(
        num_kv_heads=heads,
        norm_eps=float(cfg.get("layer_norm_eps", 1e-5)),
        parallel_residual=bool(cfg.get("use_parallel_residual", True)),
        qkv_bias=bool(cfg.get("attention_bias", True)),
        **common,  # type: ignore[arg-type]
    )


__all__ = ["ACTIVATIONS", "DEFAULT_ROTARY_FACTOR", "DEFAULT_TIED", "NativeConfig", "parse"]

"""A Hugging Face causal LM as a :class:`~miakit.backends.base.TokenScorer`.

It implements every capability protocol of :mod:`miakit.backends.base` and declares, once at
construction, which apply (:attr:`HFTokenScorer.capabilities`): packed scoring only for
architectures known to pack correctly (:func:`~miakit.backends.hf.attention.supports_packing`).
Loading from local files, with the safety rules, is :mod:`miakit.backends.hf.loading`.

Precision: the forward pass runs in bf16 on CUDA and fp32 on CPU by default; logits for the
statistics are always produced in fp32 (see :meth:`HFTokenScorer.logits`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from miakit._core.lazy import inference_mode, lazy_module
from miakit.backends.base import Capabilities
from miakit.backends.hf.attention import (
    PREFIX_KV,
    prefix_layout,
    prefix_merge_available,
    probe_native_gqa,
    register_varlen_attention,
    supports_packing,
)
from miakit.backends.hf.files import ModelSpec, fingerprint_module, fingerprint_tokenizer
from miakit.backends.hf.loading import load_local
from miakit.backends.hf.tokenizer_facts import lead_ids_of
from miakit.backends.transfer import to_device
from miakit.errors import ModelLoadError

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


class HFTokenScorer:
    """A Hugging Face causal LM (``AutoModelForCausalLM``) as a :class:`TokenScorer`.

    Build one with :meth:`load` from a local path, or wrap an in-memory model and tokenizer
    (tests, notebooks) with the constructor.

    Args:
        model: a ``PreTrainedModel`` with an LM head (``get_output_embeddings()``).
        tokenizer: its tokenizer.
        name: a label used in outputs.
        fingerprint: precomputed weights hash; computed from the parameters when omitted.
        device: device to move the model to (``None`` keeps it where it is).
        compile: ``torch.compile`` the decoder (``--compile``; worth it for long runs on GPU).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "model",
        fingerprint: str | None = None,
        device: torch.device | None = None,
        compile: bool = False,
    ) -> None:
        if device is not None:
            model = model.to(device)
        model.eval()
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = next(model.parameters()).device
        self._fingerprint = fingerprint
        # the weights' in-place edit counters when the fingerprint was taken: a model trained
        # or edited in place after that (a notebook fine-tuning the same object) is rehashed
        self._weights_key = _weights_key(model)
        self._tok_fingerprint: str | None = None
        head = model.get_output_embeddings()
        if head is None:
            raise ModelLoadError(f"model {name!r} has no LM head (get_output_embeddings())")
        self._head = head
        self.vocab_size = int(head.weight.shape[0])
        prefix = getattr(model, "base_model_prefix", "model")
        base = getattr(model, prefix, None)
        if base is None or base is model:
            raise ModelLoadError(
                f"model {name!r}: cannot find its decoder (attribute {prefix!r}); only "
                "AutoModelForCausalLM-style models with a separate LM head are supported"
            )
        # torch.compile of the decoder (``--compile``): +23% on packed rows measured on an
        # H100 for an 8B shape (2026-11-26), after a one-time compile of 10-20 s; measure per model
        self._decoder = base  # uncompiled: prefix/cache paths and signature checks
        self._base = torch.compile(base, dynamic=True) if compile else base
        cfg = getattr(model, "config", None)
        self._softcap = getattr(cfg, "final_logit_softcapping", None)
        self._logit_scale = getattr(cfg, "logit_scale", None)
        self._head_fp32: torch.Tensor | None = None
        #: what this model can do, decided once (see :mod:`miakit.backends.base`)
        self.capabilities = Capabilities(
            packed=supports_packing(model),
            prefix_kv=True,
            char_offsets=True,
            tokenizer=True,
            gradients=True,
        )

    # -- construction ------------------------------------------------------------------
    @classmethod
    def load(cls, spec: ModelSpec, *, name: str | None = None) -> HFTokenScorer:
        """Load a model and tokenizer from local files, applying the safety rules
        (:func:`~miakit.backends.hf.loading.load_local`)."""
        model, tokenizer, fingerprint, device = load_local(spec)
        return cls(
            model,
            tokenizer,
            name=name or spec.path,
            fingerprint=spec.fingerprint or fingerprint,
            device=device,
            compile=spec.compile,
        )

    # -- identity ----------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """The weights' hash: the files' (given at load) until a parameter is changed in
        place, then a hash of the parameters themselves, recomputed after every change."""
        key = _weights_key(self.model)
        if key != self._weights_key:
            self._fingerprint, self._weights_key = None, key
        if self._fingerprint is None:
            self._fingerprint = fingerprint_module(self.model)
        return self._fingerprint

    @property
    def tokenizer_fingerprint(self) -> str:
        if self._tok_fingerprint is None:
            self._tok_fingerprint = fingerprint_tokenizer(self.tokenizer)
        return self._tok_fingerprint

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    # -- tokenization ------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [list(map(int, ids)) for ids in enc]

    def char_ends(self, texts: Sequence[str], n_tokens: int) -> list[int | None]:
        """For each text, how many of its characters its first ``n_tokens`` tokens cover
        (the end offset of the last of them); ``None`` where the tokenizer cannot tell.

        Uses the fast tokenizer's offset mapping; otherwise the decoded tokens, where they
        are a prefix of the text.
        """
        if not texts:
            return []
        if n_tokens < 1:
            return [0] * len(texts)
        if getattr(self.tokenizer, "is_fast", False):
            enc = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
            # the largest end among the kept tokens: a character split over several byte
            # tokens counts as covered once any of them is kept
            return [
                max((int(end) for _, end in offsets[:n_tokens]), default=0)
                for offsets in enc["offset_mapping"]
            ]
        out: list[int | None] = []
        for text, ids in zip(texts, self.encode(texts), strict=True):
            decoded = self.tokenizer.decode(ids[:n_tokens])
            out.append(len(decoded) if text.startswith(decoded) else None)
        return out

    def lead_ids(self, bos: str) -> list[int]:
        """Special ids before every input.

        ``auto``: whatever the tokenizer itself puts before a text (its BOS, if it adds one);
        ``always``: the tokenizer's BOS token (error if it has none); ``never``: nothing.
        """
        return lead_ids_of(self.tokenizer, bos, self.name)

    # -- gradients (white-box): miakit.backends.hf.gradients ----------------------------
    def gradient_norms(self, inputs: Sequence[tuple[Sequence[int], int]]) -> tuple[list[str], Any]:
        """Per-sample, per-group gradient norms of each input's mean token NLL
        (:meth:`miakit.backends.base.GradientScorer.gradient_norms`)."""
        from miakit.backends.hf.gradients import gradient_norms

        return gradient_norms(self.model, inputs)

    # -- forward -----------------------------------------------------------------------
    @inference_mode
    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self._base(
            input_ids=to_device(input_ids, self.device),
            attention_mask=to_device(attention_mask, self.device),
            use_cache=False,
        )
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return hidden

    @inference_mode
    def prefix_state(self, prefix_ids: list[int]) -> tuple[list[Any], torch.Tensor]:
        """Run a shared prefix once: per-layer ``(key, value)`` tensors of shape
        ``(1, heads, P, head_dim)`` and the last position's hidden state ``(d,)``."""
        out = self._decoder(
            input_ids=torch.tensor([prefix_ids], device=self.device), use_cache=True
        )
        cache = out.past_key_values
        layers = getattr(cache, "layers", None)
        if layers is not None:
            kv = [(layer.keys, layer.values) for layer in layers]
        else:  # older transformers: key_cache / value_cache lists
            kv = list(zip(cache.key_cache, cache.value_cache, strict=True))
        return kv, out.last_hidden_state[0, -1]

    @inference_mode
    def hidden_states_after_prefix(
        self,
        kv: list[Any],
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Hidden states ``(B, W, d)`` of right-padded suffixes that attend to a shared prefix
        given as per-layer ``(key, value)`` from :meth:`prefix_state`."""
        from miakit.backends.native.models import NativeCausalLM

        batch = input_ids.shape[0]
        prefix_len = kv[0][0].shape[2]
        expanded = [
            (k.expand(batch, -1, -1, -1).contiguous(), v.expand(batch, -1, -1, -1).contiguous())
            for k, v in kv
        ]
        cache: Any = expanded
        if not isinstance(self.model, NativeCausalLM):  # a transformers model
            from transformers import DynamicCache

            cache = DynamicCache(expanded)
        mask = torch.cat(
            [torch.ones((batch, prefix_len), dtype=attention_mask.dtype), attention_mask], dim=1
        )
        positions = prefix_len + torch.arange(input_ids.shape[1])[None, :].expand(batch, -1)
        out = self._decoder(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            use_cache=True,
            **{self._cache_kwarg(): cache},
        )
        return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    def _cache_kwarg(self) -> str:
        """``cache`` in recent transformers, ``past_key_values`` before."""
        import inspect

        params = inspect.signature(self._decoder.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    @inference_mode
    def hidden_states_packed(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        cu_seqlens: torch.Tensor,
        max_length: int,
        prefix_kv: list[Any] | None = None,
    ) -> torch.Tensor:
        """Final hidden states ``(1, T, d)`` of one packed row (samples back to back).

        With ``prefix_kv`` (from :meth:`prefix_state`) every sample also attends to that shared
        prefix; ``position_ids`` must then start at the prefix length.
        """
        name = register_varlen_attention()
        probe_native_gqa(self.device)  # once per device, outside any compiled region
        previous = getattr(self.model.config, "_attn_implementation", None) or "sdpa"
        self.model.set_attn_implementation(name)
        cu = to_device(cu_seqlens, self.device)
        state: tuple[Any, ...] | None = None
        if prefix_kv is not None:
            n_prefix = int(prefix_kv[0][0].shape[2])
            bounds = (
                to_device(
                    torch.tensor([0, int(input_ids.shape[1])], dtype=torch.int32), self.device
                ),
                to_device(torch.tensor([0, n_prefix], dtype=torch.int32), self.device),
            )
            if prefix_merge_available(self.device, self.dtype):
                state = (prefix_kv, None, None, None, bounds)  # no per-sample key layout
            else:
                gather, cu_k, max_k = prefix_layout(cu_seqlens, n_prefix)
                layout = (to_device(gather, self.device), to_device(cu_k, self.device), max_k)
                state = (prefix_kv, *layout, bounds)
        token = PREFIX_KV.set(state)
        try:
            out = self._base(
                input_ids=to_device(input_ids, self.device),
                position_ids=to_device(position_ids, self.device),
                use_cache=False,
                cu_seq_lens_q=cu,
                cu_seq_lens_k=cu,
                max_length_q=int(max_length),
                max_length_k=int(max_length),
            )
        finally:
            PREFIX_KV.reset(token)
            self.model.set_attn_implementation(previous)
        return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    @inference_mode
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 logits ``(n, vocab)`` from hidden states ``(n, d_model)``.

        On CUDA with a bf16/fp16 model the product uses ``torch.mm(..., out_dtype=float32)``
        where available (fp32 accumulation and output at bf16 GEMM speed); otherwise both
        operands are cast to fp32.
        """
        weight = self._head.weight
        bias = getattr(self._head, "bias", None)
        logits: torch.Tensor | None = None
        if hidden.dtype != torch.float32 and hidden.device.type == "cuda":
            try:
                logits = torch.mm(hidden, weight.t(), out_dtype=torch.float32)  # type: ignore[call-arg]
            except (TypeError, RuntimeError):
                logits = None
        if logits is None:
            if weight.dtype == torch.float32:
                w32 = weight
            else:
                if self._head_fp32 is None:
                    self._head_fp32 = weight.float()
                w32 = self._head_fp32
            logits = hidden.float() @ w32.t()
        if bias is not None:
            logits = logits + bias.float()
        if self._logit_scale is not None:
            logits = logits * float(self._logit_scale)
        if self._softcap is not None:
            cap = float(self._softcap)
            logits = torch.tanh(logits / cap) * cap
        return logits


#: Values sampled per tensor (evenly spaced) for :func:`_weights_key`.
WEIGHT_SAMPLES = 64


def _weights_key(model: torch.nn.Module) -> tuple[tuple[tuple[int, int], ...], str]:
    """What tells that ``model``'s weights changed, without hashing them all.

    Two parts: each state tensor's storage address and in-place version counter (an optimiser
    step, ``copy_``, ``load_state_dict`` bump it; rebinding ``param.data`` changes the
    address), and a hash of :data:`WEIGHT_SAMPLES` evenly spaced values of each tensor, for
    in-place edits made through ``param.data`` (e.g. ``weight.data += delta``, an adapter
    merged in place), which bypass the version counter. A change that touches none of the
    sampled values of a tensor and goes through ``.data`` is not seen: build a new scorer after
    such an edit. Cost: one ``state_dict()`` walk, a small gather per tensor, one copy.
    """
    tensors = list(model.state_dict().values())
    ident = tuple((t.data_ptr(), t._version) for t in tensors)
    samples = []
    for t in tensors:
        n = t.numel()
        if n == 0:
            continue
        flat = t.detach().reshape(-1)
        index = torch.linspace(0, n - 1, steps=min(n, WEIGHT_SAMPLES), device=flat.device)
        # float32 linspace rounds n - 1 up past the end for large n (an embedding of 28M)
        index = index.long().clamp_(max=n - 1)
        samples.append(flat.index_select(0, index).to(torch.float32))
    blob = torch.cat(samples).cpu().numpy().tobytes() if samples else b""
    return ident, hashlib.sha256(blob).hexdigest()

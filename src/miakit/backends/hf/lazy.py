"""An :class:`~miakit.backends.hf.scorer.HFTokenScorer` whose weights load on first use.

A rerun whose signals are all cached needs only what names the cache (the files' fingerprint,
the tokenizer, the dtype) and the tokenizer for text preparation: :class:`LazyHFTokenScorer`
has those at construction, and loads the weights the first time a forward pass (or anything
else that reads the model) needs them. Its identity, ``vocab_size``, ``device`` and
:class:`~miakit.backends.base.Capabilities` are those the eager scorer would have: read from
``config.json`` and checked against the loaded model.
"""

from __future__ import annotations

from typing import Any

import torch

from miakit.backends.base import Capabilities
from miakit.backends.hf.attention import PACKABLE_MODEL_TYPES
from miakit.backends.hf.files import ModelSpec, cached_fingerprint, locate
from miakit.backends.hf.loading import load_tokenizer, load_weights, read_config
from miakit.backends.hf.scorer import HFTokenScorer
from miakit.errors import ModelLoadError

#: What :class:`HFTokenScorer` builds from the model: read through, they load the weights.
_MODEL_ATTRS = frozenset(
    {
        "model",
        "_base",
        "_decoder",
        "_head",
        "_softcap",
        "_logit_scale",
        "_head_fp32",
        "_weights_key",
    }
)


class LazyHFTokenScorer(HFTokenScorer):
    """A folder-loaded :class:`HFTokenScorer` that loads its weights on first use.

    Build it with :meth:`load`, which falls back to the eager :meth:`HFTokenScorer.load` where
    the model's shape cannot be known without its weights (GGUF files, custom code, a
    ``config.json`` without ``model_type`` or ``vocab_size``).
    """

    def __init__(self, spec: ModelSpec, *, name: str, config: dict[str, Any]) -> None:
        folder, gguf, tokenizer, device, dtype = load_tokenizer(spec)
        self._spec = spec
        self.tokenizer = tokenizer
        self.name = name
        # where the eager scorer's parameters would be (``cuda`` -> ``cuda:<current>``)
        self.device = torch.empty(0, device=device).device
        self._dtype = dtype
        self._fingerprint = cached_fingerprint(folder, gguf, spec.fingerprint_cache)
        self._tok_fingerprint = None
        self.vocab_size = int(config["vocab_size"])
        self.capabilities = Capabilities(
            packed=config["model_type"] in PACKABLE_MODEL_TYPES,
            prefix_kv=True,
            char_offsets=True,
            tokenizer=True,
        )
        self._folder, self._gguf = folder, gguf

    @classmethod
    def load(cls, spec: ModelSpec, *, name: str | None = None) -> HFTokenScorer:
        """A lazy scorer for a safetensors/pickle folder, an eager one otherwise."""
        folder, gguf = locate(spec)
        if gguf is not None or spec.trust_remote_code or not (folder / "config.json").is_file():
            return HFTokenScorer.load(spec, name=name)
        config = read_config(folder)
        if not isinstance(config.get("model_type"), str) or not isinstance(
            config.get("vocab_size"), int
        ):
            return HFTokenScorer.load(spec, name=name)
        return cls(spec, name=name or spec.path, config=config)

    @property
    def loaded(self) -> bool:
        """Whether the weights are loaded."""
        return "model" in self.__dict__

    def _materialize(self) -> None:
        # the first use may sit inside torch.inference_mode (the packed forward): weights made
        # there would be inference tensors, which track no in-place version (the fingerprint
        # follows those versions) and cannot be used outside that mode
        with torch.inference_mode(False):
            model = load_weights(
                self._spec, self._folder, self._gguf, self._dtype, device=self.device
            )
            eager = HFTokenScorer(
                model,
                self.tokenizer,
                name=self.name,
                fingerprint=self._fingerprint,
                device=self.device,
                compile=self._spec.compile,
            )
        seen = (eager.vocab_size, eager.device, eager.capabilities, eager.dtype)
        told = (self.vocab_size, self.device, self.capabilities, self._dtype)
        if seen != told:
            raise ModelLoadError(
                f"model {self.name!r}: its weights (vocab, device, capabilities, dtype "
                f"{seen}) disagree with its config.json ({told})"
            )
        for attr in _MODEL_ATTRS:
            self.__dict__[attr] = eager.__dict__[attr]

    def __getattr__(self, attr: str) -> Any:
        # only called for attributes not set yet: the model's, before the weights load
        if attr not in _MODEL_ATTRS or "_spec" not in self.__dict__ or self.loaded:
            raise AttributeError(attr)
        self._materialize()
        return self.__dict__[attr]

    @property
    def fingerprint(self) -> str:
        """The files' hash until the weights load, then :attr:`HFTokenScorer.fingerprint`."""
        if not self.loaded:
            return self._fingerprint or ""
        return super().fingerprint

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype if not self.loaded else super().dtype

"""An :class:`~miakit.backends.hf.scorer.HFTokenScorer` whose weights and tokenizer load on
first use.

A rerun whose signals are all cached needs only what names the cache (the files' fingerprint,
the tokenizer's fingerprint and lead ids, the dtype): :class:`LazyHFTokenScorer` has those at
construction without loading anything, the tokenizer's facts from a record keyed by the
tokenizer files' bytes (:mod:`miakit.backends.hf.tokenizer_facts`), so such a run imports
neither transformers nor tokenizers; ``device``/``dtype`` ``auto`` resolve without torch
(:mod:`miakit.backends.placement`), and nothing on this path imports torch before a model
runs (:mod:`miakit._core.lazy`). The tokenizer loads the first time a text is tokenised
(:class:`LazyTokenizer`), the weights the first time a forward pass (or anything else that
reads the model) needs them. Its identity, ``vocab_size``, ``device`` and
:class:`~miakit.backends.base.Capabilities` are those the eager scorer would have: read from
``config.json`` and checked against the loaded model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from miakit._core.lazy import lazy_module
from miakit.backends.base import Capabilities
from miakit.backends.hf.adapter_config import open_adapter, with_adapter
from miakit.backends.hf.attention import PACKABLE_MODEL_TYPES
from miakit.backends.hf.files import ModelSpec, cached_fingerprint, locate
from miakit.backends.hf.loading import check_files, load_weights, open_tokenizer, read_config
from miakit.backends.hf.scorer import HFTokenScorer
from miakit.backends.hf.tokenizer_facts import FactsStore, TokenizerFacts, facts_of
from miakit.backends.placement import DeviceName, DTypeName, resolve
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

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


class LazyTokenizer:
    """A tokenizer loaded by ``load`` on first use: calling it, ``len`` and any attribute
    reach the loaded tokenizer (:meth:`resolve` returns it)."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._real: Any = None

    @property
    def loaded(self) -> bool:
        """Whether the tokenizer is loaded."""
        return self._real is not None

    def resolve(self) -> Any:
        """The loaded tokenizer (loaded now if it is not yet)."""
        if self._real is None:
            self._real = self._load()
        return self._real

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr in ("_load", "_real"):
            raise AttributeError(attr)
        return getattr(self.resolve(), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __len__(self) -> int:
        return len(self.resolve())


class LazyHFTokenScorer(HFTokenScorer):
    """A folder-loaded :class:`HFTokenScorer` that loads its weights on first use.

    Build it with :meth:`load`, which falls back to the eager :meth:`HFTokenScorer.load` where
    the model's shape cannot be known without its weights (GGUF files, custom code, a
    ``config.json`` without ``model_type`` or ``vocab_size``).
    """

    def __init__(self, spec: ModelSpec, *, name: str, config: dict[str, Any]) -> None:
        folder, gguf = check_files(spec)
        # ``auto`` resolved without torch where it can be (miakit.backends.placement): the
        # dtype names the cache entries, so it is resolved exactly as the loaded model's
        placement = resolve(spec.device, spec.dtype, record_dir=spec.fingerprint_cache)
        self._spec = spec
        #: the tokenizer, loaded on first use (a fully cached run loads none)
        self.tokenizer = LazyTokenizer(self._open_tokenizer)
        self._facts_store = FactsStore(folder, spec.fingerprint_cache)
        self._facts: TokenizerFacts | None = None
        self.name = name
        # where the eager scorer's parameters would be (``cuda`` -> ``cuda:<current>``): a
        # DeviceName (a str torch takes as a device) until the weights load, then theirs
        self.device = cast("torch.device", placement.device)
        self._dtype: DTypeName = placement.dtype
        self._fingerprint = spec.fingerprint or cached_fingerprint(
            folder, gguf, spec.fingerprint_cache
        )
        self._adapter = open_adapter(
            spec.adapter,
            base_folder=folder,
            gguf=gguf,
            base_fingerprint=self._fingerprint,
            allow_pickle=spec.allow_pickle,
            fingerprint_cache=spec.fingerprint_cache,
        )
        if self._adapter is not None:
            self._fingerprint = with_adapter(self._fingerprint, self._adapter.fingerprint)
        self._tok_fingerprint = None
        self.vocab_size = int(config["vocab_size"])
        self.capabilities = Capabilities(
            packed=config["model_type"] in PACKABLE_MODEL_TYPES,
            prefix_kv=True,
            char_offsets=True,
            tokenizer=True,
            gradients=True,
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
            device = DeviceName(self.device).to_torch()
            model = load_weights(
                self._spec, self._folder, self._gguf, self._dtype.to_torch(), device=device
            )
            if self._adapter is not None:
                from miakit.backends.hf.adapter import apply_adapter

                apply_adapter(model, self._adapter)
            eager = HFTokenScorer(
                model,
                self.tokenizer.resolve(),
                name=self.name,
                fingerprint=self._fingerprint,
                device=device,
                compile=self._spec.compile,
            )
        seen = (eager.vocab_size, str(eager.device), eager.capabilities, str(eager.dtype))
        told = (self.vocab_size, str(self.device), self.capabilities, str(self._dtype))
        if seen != told:
            raise ModelLoadError(
                f"model {self.name!r}: its weights (vocab, device, capabilities, dtype "
                f"{seen}) disagree with its config.json ({told})"
            )
        for attr in _MODEL_ATTRS:
            self.__dict__[attr] = eager.__dict__[attr]
        self.device = eager.device

    def __getattr__(self, attr: str) -> Any:
        # only called for attributes not set yet: the model's, before the weights load
        if attr not in _MODEL_ATTRS or "_spec" not in self.__dict__ or self.loaded:
            raise AttributeError(attr)
        self._materialize()
        return self.__dict__[attr]

    def _open_tokenizer(self) -> Any:
        tokenizer = open_tokenizer(self._spec, self._folder, self._gguf)
        derived = facts_of(tokenizer)
        recorded = self._facts if self._facts is not None else self._facts_store.read()
        if recorded is not None and recorded != derived:
            raise ModelLoadError(
                f"model {self.name!r}: the tokenizer loaded from {self._folder} disagrees with "
                f"its recorded facts ({self._facts_store.path()}: {recorded} vs {derived}); "
                "delete that record (or the fingerprints folder of the cache) and run again"
            )
        if recorded is None:
            self._facts_store.write(derived)
        self._facts = derived
        return tokenizer

    def tokenizer_facts(self) -> TokenizerFacts:
        """The tokenizer's :class:`TokenizerFacts`: from its record when there is one (the
        tokenizer is not loaded), else derived from the loaded tokenizer and recorded."""
        if self._facts is None:
            self._facts = self._facts_store.read()
        if self._facts is None:
            self.tokenizer.resolve()  # derives and records them
        if self._facts is None:  # a tokenizer already resolved before the record went away
            self._facts = facts_of(self.tokenizer.resolve())
        return self._facts

    @property
    def tokenizer_fingerprint(self) -> str:
        return self.tokenizer_facts().fingerprint

    def lead_ids(self, bos: str) -> list[int]:
        """:meth:`HFTokenScorer.lead_ids`, from the tokenizer's facts."""
        return self.tokenizer_facts().lead_ids(bos, self.name)

    @property
    def fingerprint(self) -> str:
        """The files' hash until the weights load, then :attr:`HFTokenScorer.fingerprint`."""
        if not self.loaded:
            return self._fingerprint or ""
        return super().fingerprint

    @property
    def dtype(self) -> torch.dtype:
        """The loaded model's dtype; before the weights load a
        :class:`~miakit.backends.placement.DTypeName`, a ``str`` equal to ``str()`` of that
        dtype (all a cache key needs, and no torch import)."""
        return cast("torch.dtype", self._dtype) if not self.loaded else super().dtype

"""Local Hugging Face causal LMs as capability-typed backends.

- :mod:`~miakit.backends.hf.scorer`: :class:`HFTokenScorer`, every protocol of
  :mod:`miakit.backends.base`, its :class:`~miakit.backends.base.Capabilities` decided once;
- :mod:`~miakit.backends.hf.lazy`: :class:`LazyHFTokenScorer`, the same scorer with its weights
  and tokenizer loaded on first use (a run whose signals are all cached loads neither, and
  imports no transformers);
- :mod:`~miakit.backends.hf.tokenizer_facts`: what a cached run needs from a tokenizer
  (fingerprint, lead ids), recorded by the tokenizer files' bytes;
- :mod:`~miakit.backends.hf.loading`: loading from local files with the safety rules (no hub,
  no pickle, no remote code without opt-in);
- :mod:`~miakit.backends.hf.adapter_config` and :mod:`~miakit.backends.hf.adapter`: a PEFT
  LoRA adapter folder checked (no torch), then merged into the loaded base (``--adapter``);
- :mod:`~miakit.backends.hf.files`: where a model is, whether it is safe, its fingerprints
  (weights, configuration, tokenizer), device and dtype resolution;
- :mod:`~miakit.backends.hf.attention`: the varlen attention function for packed rows, the
  prefix-KV plumbing of prefix reuse, the grouped-query probe, the packable architectures.

``miakit.backends.hf.HFTokenScorer`` and ``ModelSpec`` are public API.
"""

from miakit.backends.hf.files import (
    ModelSpec,
    fingerprint_files,
    fingerprint_module,
    fingerprint_tokenizer,
    resolve_device,
    resolve_dtype,
    transformers_progress,
)
from miakit.backends.hf.lazy import LazyHFTokenScorer
from miakit.backends.hf.scorer import HFTokenScorer

__all__ = [
    "HFTokenScorer",
    "LazyHFTokenScorer",
    "ModelSpec",
    "fingerprint_files",
    "fingerprint_module",
    "fingerprint_tokenizer",
    "resolve_device",
    "resolve_dtype",
    "transformers_progress",
]

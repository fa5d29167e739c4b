"""Model backends, typed by capability (:mod:`miakit.backends.base`).

- :mod:`~miakit.backends.base`: the capability protocols and the :class:`Capabilities` record
  checked once per scorer;
- :mod:`~miakit.backends.hf`: local Hugging Face causal LMs;
- :mod:`~miakit.backends.transfer` and :mod:`~miakit.backends.compiled`: plain torch helpers
  (non-blocking host-to-device copies; ``torch.compile`` that never fails a run) shared by the
  backends and the signal engine above them, kept outside ``hf/`` because nothing in them
  depends on transformers.

Nothing here imports :mod:`miakit.signals` or any layer above it.
"""

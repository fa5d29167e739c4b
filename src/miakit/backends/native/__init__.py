"""Native (transformers-free) decoders for the architectures miakit scores most: Llama and
GPT-NeoX. See :mod:`miakit.backends.native.models` for why, and
:mod:`miakit.backends.native.load` for when they are used."""

"""Shared fixtures (the builders live in ``tinymodels.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinymodels import build_gpt2, build_llama, build_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return build_tokenizer(bos=True)


@pytest.fixture(scope="session")
def tokenizer_nobos():
    return build_tokenizer(bos=False)


@pytest.fixture(scope="session")
def tiny_llama(tokenizer):
    return build_llama(len(tokenizer))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer, tiny_llama) -> Path:
    """A model folder with config.json, tokenizer files and model.safetensors."""
    path = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_reference_dir(tmp_path_factory) -> Path:
    """A second model with a *different* tokenizer (no BOS, other vocabulary size)."""
    tok = build_tokenizer(bos=False, vocab_size=300)
    model = build_gpt2(len(tok))
    path = tmp_path_factory.mktemp("tiny-gpt2")
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path

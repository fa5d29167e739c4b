"""Local model files: the loading progress switch."""

from __future__ import annotations

import io

import pytest

from miakit.backends.hf.files import transformers_progress


def test_no_progress_hides_the_gguf_bar_and_restores_everything():
    gguf = pytest.importorskip("transformers.modeling_gguf_pytorch_utils")
    from transformers.utils import logging as hf_logging

    original = gguf.tqdm
    enabled_before = hf_logging.is_progress_bar_enabled()
    with transformers_progress(False):
        assert not hf_logging.is_progress_bar_enabled()
        out = io.StringIO()
        for _ in gguf.tqdm(range(3), desc="de-quantizing", file=out):
            pass
        assert out.getvalue() == ""  # the bar GGUF loading draws is disabled
    assert gguf.tqdm is original
    assert hf_logging.is_progress_bar_enabled() == enabled_before


def test_progress_on_changes_nothing():
    gguf = pytest.importorskip("transformers.modeling_gguf_pytorch_utils")
    original = gguf.tqdm
    with transformers_progress(True):
        assert gguf.tqdm is original


def test_progress_setting_restored_after_an_error():
    gguf = pytest.importorskip("transformers.modeling_gguf_pytorch_utils")
    original = gguf.tqdm
    with pytest.raises(RuntimeError), transformers_progress(False):
        raise RuntimeError("load failed")
    assert gguf.tqdm is original

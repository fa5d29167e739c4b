"""Safe local loading of Hugging Face models."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from miakit.backends.hf import HFTokenScorer, ModelSpec, resolve_device, resolve_dtype
from miakit.errors import InvalidParameterError, ModelLoadError, UnsafeModelError


def test_load_folder_matches_in_memory(tiny_model_dir, tiny_llama, tokenizer):
    scorer = HFTokenScorer.load(ModelSpec(str(tiny_model_dir), device="cpu"))
    assert scorer.device.type == "cpu" and scorer.dtype == torch.float32
    ids = torch.tensor([[0, 5, 9, 12]])
    mask = torch.ones_like(ids)
    h_loaded = scorer.hidden_states(ids, mask)
    h_mem = HFTokenScorer(tiny_llama, tokenizer).hidden_states(ids, mask)
    torch.testing.assert_close(h_loaded, h_mem)
    assert (
        scorer.tokenizer_fingerprint == HFTokenScorer(tiny_llama, tokenizer).tokenizer_fingerprint
    )


def test_fingerprint_changes_with_weights(tmp_path, tiny_model_dir):
    a = HFTokenScorer.load(ModelSpec(str(tiny_model_dir), device="cpu")).fingerprint
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    assert HFTokenScorer.load(ModelSpec(str(copy), device="cpu")).fingerprint == a
    from safetensors.torch import load_file, save_file

    weights = load_file(copy / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 1.0
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    assert HFTokenScorer.load(ModelSpec(str(copy), device="cpu")).fingerprint != a


def test_missing_path_never_goes_to_a_hub():
    with pytest.raises(ModelLoadError, match="never downloads"):
        HFTokenScorer.load(ModelSpec("HuggingFaceTB/SmolLM2-135M"))


def test_pickle_checkpoint_refused(tmp_path, tiny_model_dir):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(tiny_model_dir / "config.json", folder)
    torch.save({"x": torch.zeros(1)}, folder / "pytorch_model.bin")
    with pytest.raises(UnsafeModelError, match="--allow-pickle"):
        HFTokenScorer.load(ModelSpec(str(folder)))
    with pytest.raises(UnsafeModelError, match="--allow-pickle"):
        HFTokenScorer.load(ModelSpec(str(folder / "pytorch_model.bin")))


def test_pickle_allowed_with_opt_in(tmp_path, tiny_model_dir, tiny_llama, tokenizer):
    folder = tmp_path / "pickled-ok"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    torch.save(tiny_llama.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(UnsafeModelError):
        HFTokenScorer.load(ModelSpec(str(folder)))
    scorer = HFTokenScorer.load(ModelSpec(str(folder), allow_pickle=True, device="cpu"))
    assert scorer.vocab_size == len(tokenizer)


def test_remote_code_refused(tmp_path, tiny_model_dir):
    folder = tmp_path / "remote"
    shutil.copytree(tiny_model_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnsafeModelError, match="--trust-remote-code"):
        HFTokenScorer.load(ModelSpec(str(folder)))


def test_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="no weights"):
        HFTokenScorer.load(ModelSpec(str(tmp_path)))


def test_gguf_file_name_checked(tmp_path, tiny_model_dir):
    with pytest.raises(ModelLoadError, match="GGUF file"):
        HFTokenScorer.load(ModelSpec(str(tiny_model_dir), gguf_file="missing.gguf"))


def test_device_and_dtype_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(InvalidParameterError, match="dtype"):
        resolve_dtype("float8", torch.device("cpu"))
    with pytest.raises(InvalidParameterError, match="device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidParameterError, match="CUDA is not available"):
            resolve_device("cuda")


def test_bos_policies(tokenizer, tokenizer_nobos, tiny_llama):
    assert HFTokenScorer(tiny_llama, tokenizer).lead_ids("auto") == [0]
    assert HFTokenScorer(tiny_llama, tokenizer_nobos).lead_ids("auto") == []
    assert HFTokenScorer(tiny_llama, tokenizer_nobos).lead_ids("always") == [0]
    assert HFTokenScorer(tiny_llama, tokenizer).lead_ids("never") == []
    with pytest.raises(InvalidParameterError):
        HFTokenScorer(tiny_llama, tokenizer).lead_ids("sometimes")


def test_fingerprint_follows_in_place_training(tiny_model_dir, tiny_llama, tokenizer):
    """A model changed in place after its fingerprint was taken (a notebook training the
    same object between two runs) must not keep the old fingerprint: the signal cache and
    the shard plan would serve the old model's signals."""
    import copy as copy_module

    model = copy_module.deepcopy(tiny_llama)
    scorer = HFTokenScorer(model, tokenizer)
    before = scorer.fingerprint
    assert scorer.fingerprint == before  # stable while nothing changes
    with torch.no_grad():
        next(model.parameters()).add_(0.5)  # an optimiser step does the same
    after = scorer.fingerprint
    assert after != before
    assert after == HFTokenScorer(copy_module.deepcopy(model), tokenizer).fingerprint

    loaded = HFTokenScorer.load(ModelSpec(str(tiny_model_dir), device="cpu"))
    from_files = loaded.fingerprint
    with torch.no_grad():
        next(loaded.model.parameters()).mul_(2.0)
    assert loaded.fingerprint != from_files


def test_tokenizer_fingerprint_ignores_truncation_and_padding_state(tiny_llama, tokenizer):
    """Calling the tokenizer with truncation or padding changes its backend's serialisation;
    the fingerprint (part of every cache key and shard plan) must not follow it."""
    import copy as copy_module

    tok = copy_module.deepcopy(tokenizer)
    before = HFTokenScorer(tiny_llama, tok).tokenizer_fingerprint
    # what a call with truncation=True / padding=... leaves behind in the backend
    tok.backend_tokenizer.enable_truncation(max_length=3)
    tok.backend_tokenizer.enable_padding(length=8)
    assert tok.backend_tokenizer.truncation is not None
    assert HFTokenScorer(tiny_llama, tok).tokenizer_fingerprint == before


def test_fingerprint_follows_edits_through_param_data(tiny_llama, tokenizer):
    """``weight.data += delta`` (an adapter merged in place) bypasses the tensors' version
    counters; the fingerprint must still change."""
    import copy as copy_module

    model = copy_module.deepcopy(tiny_llama)
    scorer = HFTokenScorer(model, tokenizer)
    before = scorer.fingerprint
    model.get_output_embeddings().weight.data.mul_(0.1)
    assert scorer.fingerprint != before
    assert scorer.fingerprint == HFTokenScorer(copy_module.deepcopy(model), tokenizer).fingerprint

"""Loading a Hugging Face causal LM from local files, with miakit's safety rules.

Safety rules, enforced here and nowhere else:

* Nothing is ever fetched from a hub: every ``from_pretrained`` call passes
  ``local_files_only=True``; a path that does not exist is an error, never a hub id.
* Weights load from safetensors (or GGUF). Pickle checkpoints (``.bin``, ``.pt``, ``.pth``,
  ``.ckpt``) are refused unless ``allow_pickle=True`` (``--allow-pickle``), because unpickling
  runs arbitrary code.
* ``trust_remote_code`` is off unless the user opts in (``--trust-remote-code``).
"""

from __future__ import annotations

import json
from typing import Any

import torch

from miakit.backends.hf.files import (
    ModelSpec,
    cached_fingerprint,
    has_safetensors,
    locate,
    resolve_device,
    resolve_dtype,
    transformers_progress,
)
from miakit.errors import ModelLoadError, UnsafeModelError


def load_local(spec: ModelSpec) -> tuple[Any, Any, str, torch.device]:
    """Load the model and tokenizer of ``spec`` from local files, applying the safety rules.

    Returns:
        ``(model, tokenizer, fingerprint, device)``: the model in ``spec``'s dtype (not yet
        moved to ``device``), its tokenizer, the files' fingerprint, the resolved device.

    Raises:
        ModelLoadError: missing or unreadable files.
        UnsafeModelError: pickle weights or custom code without the opt-in.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, gguf = locate(spec)
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    kwargs: dict[str, Any] = {
        "local_files_only": True,
        "trust_remote_code": spec.trust_remote_code,
    }
    if gguf is not None:
        kwargs["gguf_file"] = gguf
    cfg_path = folder / "config.json"
    if gguf is None and not spec.trust_remote_code and cfg_path.is_file():
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"cannot read {cfg_path}: {exc}") from exc
        if "auto_map" in cfg:
            raise UnsafeModelError(
                f"{folder} defines custom model code (auto_map in config.json); pass "
                "--trust-remote-code to run it, only if you trust its author."
            )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    except Exception as exc:  # transformers raises many types here
        raise ModelLoadError(f"cannot load the tokenizer from {folder}: {exc}") from exc
    model_kwargs = dict(kwargs)
    if gguf is None:
        model_kwargs["use_safetensors"] = not spec.allow_pickle or has_safetensors(folder)
    try:
        with transformers_progress(spec.progress):
            try:
                model = AutoModelForCausalLM.from_pretrained(
                    str(folder), dtype=dtype, **model_kwargs
                )
            except TypeError:  # transformers < 4.56 names it torch_dtype
                model = AutoModelForCausalLM.from_pretrained(
                    str(folder), torch_dtype=dtype, **model_kwargs
                )
    except Exception as exc:  # transformers raises many types here
        raise ModelLoadError(f"cannot load the model from {folder}: {exc}") from exc
    model = model.to(dtype=dtype)  # type: ignore[call-arg]
    return model, tokenizer, cached_fingerprint(folder, gguf, spec.fingerprint_cache), device

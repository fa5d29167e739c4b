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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miakit.backends.hf.adapter_config import open_adapter, with_adapter
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

if TYPE_CHECKING:
    import torch


def load_local(spec: ModelSpec) -> tuple[Any, Any, str, torch.device]:
    """Load the model and tokenizer of ``spec`` from local files, applying the safety rules.

    Returns:
        ``(model, tokenizer, fingerprint, device)``: the model in ``spec``'s dtype (loaded
        straight onto ``device`` when it is a GPU: :func:`load_weights`), with ``spec``'s
        adapter merged in, its tokenizer, the files' fingerprint (of the base and the
        adapter: :func:`~miakit.backends.hf.adapter_config.with_adapter`), the resolved device.

    Raises:
        ModelLoadError: missing or unreadable files.
        UnsafeModelError: pickle weights (the model's or the adapter's) or custom code
            without the opt-in.
    """
    folder, gguf, tokenizer, device, dtype = load_tokenizer(spec)
    fingerprint = cached_fingerprint(folder, gguf, spec.fingerprint_cache)
    adapter = open_adapter(
        spec.adapter,
        base_folder=folder,
        gguf=gguf,
        base_fingerprint=fingerprint,
        allow_pickle=spec.allow_pickle,
        fingerprint_cache=spec.fingerprint_cache,
    )
    model = load_weights(spec, folder, gguf, dtype, device=device)
    if adapter is not None:  # merged into the weights: miakit.backends.hf.adapter
        from miakit.backends.hf.adapter import apply_adapter

        apply_adapter(model, adapter)
        fingerprint = with_adapter(fingerprint, adapter.fingerprint)
    return model, tokenizer, fingerprint, device


def _kwargs(spec: ModelSpec, gguf: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "local_files_only": True,
        "trust_remote_code": spec.trust_remote_code,
    }
    if gguf is not None:
        kwargs["gguf_file"] = gguf
    return kwargs


def load_tokenizer(spec: ModelSpec) -> tuple[Path, str | None, Any, torch.device, torch.dtype]:
    """The safety checks and the tokenizer of ``spec``, without the weights.

    Returns:
        ``(folder, gguf file name or None, tokenizer, device, dtype)``, device and dtype
        resolved.
    """
    folder, gguf, device, dtype = check_local(spec)
    return folder, gguf, open_tokenizer(spec, folder, gguf), device, dtype


def check_local(spec: ModelSpec) -> tuple[Path, str | None, torch.device, torch.dtype]:
    """The safety checks of ``spec`` (no tokenizer, no weights, no transformers import).

    Returns:
        ``(folder, gguf file name or None, device, dtype)``, device and dtype resolved.
    """
    folder, gguf = check_files(spec)
    device = resolve_device(spec.device)
    return folder, gguf, device, resolve_dtype(spec.dtype, device)


def check_files(spec: ModelSpec) -> tuple[Path, str | None]:
    """The safety checks of ``spec``'s files, without torch: ``(folder, GGUF file or None)``."""
    folder, gguf = locate(spec)
    local_code = gguf is None and not spec.trust_remote_code
    if local_code and (folder / "config.json").is_file() and "auto_map" in read_config(folder):
        raise UnsafeModelError(
            f"{folder} defines custom model code (auto_map in config.json); pass "
            "--trust-remote-code to run it, only if you trust its author."
        )
    return folder, gguf


def open_tokenizer(spec: ModelSpec, folder: Path, gguf: str | None) -> Any:
    """The tokenizer of ``spec`` (already checked by :func:`check_local`)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), **_kwargs(spec, gguf))
    except Exception as exc:  # transformers raises many types here
        raise ModelLoadError(f"cannot load the tokenizer from {folder}: {exc}") from exc


def read_config(folder: Path) -> dict[str, Any]:
    """``folder/config.json`` as a dict (no weights read)."""
    cfg_path = folder / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {cfg_path}: {exc}") from exc
    return cfg if isinstance(cfg, dict) else {}


def load_weights(
    spec: ModelSpec,
    folder: Path,
    gguf: str | None,
    dtype: torch.dtype,
    *,
    device: torch.device | None = None,
) -> Any:
    """The model of ``spec`` (already checked by :func:`load_tokenizer`) in ``dtype``.

    On a GPU ``device`` the weights are read straight onto it in ``dtype`` (``device_map``):
    an fp32 checkpoint is never materialised in fp32 on the CPU first (issue 15: a 1.4B
    model's 5.7 GB). Elsewhere, and for GGUF files (which transformers dequantizes on the
    CPU), the model is built on the CPU and the caller moves it."""
    local = gguf is None and not spec.trust_remote_code and (folder / "config.json").is_file()
    if local and device is not None:  # Llama/GPT-NeoX without transformers
        from miakit.backends.native.load import try_native

        native = try_native(folder, read_config(folder), dtype, device)
        if native is not None:
            return native
    from transformers import AutoModelForCausalLM

    model_kwargs = _kwargs(spec, gguf)
    if gguf is None:
        model_kwargs["use_safetensors"] = not spec.allow_pickle or has_safetensors(folder)
        if device is not None and device.type == "cuda":
            model_kwargs["device_map"] = {"": str(device)}
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
    return model.to(dtype=dtype)  # type: ignore[call-arg]

"""Load a checkpoint folder into a native decoder, straight onto the device in the run's dtype.

``MIAKIT_NATIVE`` chooses when: ``auto`` (default) on CUDA devices, ``always`` (CPU too: the
tests), ``never``. A folder the native decoders do not implement (see
:func:`miakit.backends.native.config.parse`), a GGUF file, custom code or pickle weights load
through transformers as before; the reason is logged.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from miakit.backends.native.config import parse
from miakit.backends.native.models import NativeCausalLM
from miakit.errors import InvalidParameterError, ModelLoadError

log = logging.getLogger("miakit")

#: Checkpoint entries that hold no weights (transformers skips them too).
IGNORED_SUFFIXES = (".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq")


def native_mode() -> str:
    """``MIAKIT_NATIVE``: ``auto``, ``always`` or ``never``."""
    mode = os.environ.get("MIAKIT_NATIVE", "auto").strip().lower() or "auto"
    if mode not in ("auto", "always", "never"):
        raise InvalidParameterError(
            f"MIAKIT_NATIVE must be auto, always or never, got {mode!r}: unset it for auto"
        )
    return mode


def weight_files(folder: Path) -> list[Path] | None:
    """The safetensors files of ``folder`` (sharded or not), or ``None`` if it has none."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(
                set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"cannot read {index}: {exc}") from exc
        return [folder / n for n in names]
    single = folder / "model.safetensors"
    return [single] if single.is_file() else None


def try_native(
    folder: Path, config: dict, dtype: torch.dtype, device: torch.device
) -> NativeCausalLM | None:
    """The model of ``folder`` as a :class:`NativeCausalLM` on ``device`` in ``dtype``, or
    ``None`` when ``MIAKIT_NATIVE`` or the folder calls for transformers."""
    mode = native_mode()
    if mode == "never" or (mode == "auto" and device.type != "cuda"):
        return None
    cfg = parse(config)
    files = weight_files(folder)
    if isinstance(cfg, str) or files is None:
        why = cfg if isinstance(cfg, str) else "no safetensors weights"
        log.info("loading %s through transformers: native decoders lack %s", folder, why)
        return None
    with torch.device("meta"):
        model = NativeCausalLM(cfg)
    expected = dict(model.named_parameters())
    state: dict[str, torch.Tensor] = {}
    from safetensors import safe_open

    for path in files:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            for name in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                stored = name
                if name == "embed_out.weight":  # GPT-NeoX checkpoints before transformers 5
                    name = "lm_head.weight"
                if name not in expected:
                    if name.endswith(IGNORED_SUFFIXES):
                        continue
                    log.info("loading %s through transformers: unknown weight %s", folder, name)
                    return None
                state[name] = f.get_tensor(stored).to(dtype)
    head = "lm_head.weight"
    embed = (
        f"{cfg.base_prefix}.{'embed_tokens' if cfg.model_type == 'llama' else 'embed_in'}.weight"
    )
    if head not in state and cfg.tie_word_embeddings and embed in state:
        state[head] = state[embed]
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ModelLoadError(
            f"{folder}: the checkpoint lacks {len(missing)} weight(s) its config.json needs, "
            f"such as {missing[:3]}: the files are incomplete or belong to another model"
        )
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ModelLoadError(
                f"{folder}: weight {name} has shape {tuple(tensor.shape)}, config.json implies "
                f"{tuple(expected[name].shape)}: the files belong to another model"
            )
    model.load_state_dict(state, strict=True, assign=True)
    if cfg.tie_word_embeddings:  # one tensor, as transformers ties them
        model.get_output_embeddings().weight = model.decoder.embedding().weight
    return model.eval()


__all__ = ["native_mode", "try_native", "weight_files"]

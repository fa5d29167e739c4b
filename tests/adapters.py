"""PEFT LoRA adapter folders written by hand (no peft), and an independent reference: the
adapter applied *unmerged*, by forward hooks that add ``s * B(A(x))`` to each adapted module's
output, as PEFT's LoRA layers compute it in training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file

PREFIX = "base_model.model."


def lora_tensors(
    model: torch.nn.Module,
    modules: dict[str, int],
    *,
    seed: int = 0,
    bias: bool = False,
    std: float = 0.3,
) -> dict[str, torch.Tensor]:
    """Random LoRA tensors for ``modules`` (name -> rank) of ``model``, keyed as PEFT saves
    them (``base_model.model.<module>.lora_A.weight``...). Embeddings get
    ``lora_embedding_A`` ``(r, vocab)`` and ``lora_embedding_B`` ``(dim, r)``."""
    from transformers.pytorch_utils import Conv1D

    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, r in modules.items():
        m = model.get_submodule(name)
        if isinstance(m, torch.nn.Embedding):
            n, d = m.weight.shape
            out[f"{PREFIX}{name}.lora_embedding_A"] = torch.randn(r, n, generator=g) * std
            out[f"{PREFIX}{name}.lora_embedding_B"] = torch.randn(d, r, generator=g) * std
            continue
        if isinstance(m, Conv1D):
            d_in, d_out = m.weight.shape
        else:
            d_out, d_in = m.weight.shape
        out[f"{PREFIX}{name}.lora_A.weight"] = torch.randn(r, d_in, generator=g) * std
        out[f"{PREFIX}{name}.lora_B.weight"] = torch.randn(d_out, r, generator=g) * std
        if bias:
            out[f"{PREFIX}{name}.lora_B.bias"] = torch.randn(d_out, generator=g) * std
    return out


def write_adapter(
    folder: Path,
    tensors: dict[str, torch.Tensor],
    *,
    r: int,
    alpha: float,
    pickle: bool = False,
    **config: object,
) -> Path:
    """An adapter folder: ``adapter_config.json`` (``config`` over plain LoRA defaults) and
    ``adapter_model.safetensors`` (``adapter_model.bin`` when ``pickle``)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {
        "peft_type": "LORA",
        "r": r,
        "lora_alpha": alpha,
        "use_rslora": False,
        "fan_in_fan_out": False,
        "rank_pattern": {},
        "alpha_pattern": {},
        "target_modules": ["q_proj"],
        "lora_dropout": 0.0,
        "bias": "none",
        "base_model_name_or_path": None,
        **config,
    }
    (folder / "adapter_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    if pickle:
        torch.save(tensors, folder / "adapter_model.bin")
    else:
        save_file(
            {k: v.contiguous() for k, v in tensors.items()},
            str(folder / "adapter_model.safetensors"),
        )
    return folder


def hooked(
    model: torch.nn.Module,
    tensors: dict[str, torch.Tensor],
    scales: dict[str, float],
) -> list[torch.utils.hooks.RemovableHandle]:
    """Forward hooks on ``model`` adding each module's LoRA output ``s * B(A(x))`` (plus
    ``s * bias_B``); embeddings: ``s * embedding(ids, A.T) @ B.T``. Remove them when done."""
    handles = []
    names = {k[len(PREFIX) :].split(".lora_")[0] for k in tensors if ".lora_" in k}
    for name in names:
        module = model.get_submodule(name)
        s = scales[name]
        if isinstance(module, torch.nn.Embedding):
            a = tensors[f"{PREFIX}{name}.lora_embedding_A"].double()
            b = tensors[f"{PREFIX}{name}.lora_embedding_B"].double()

            def emb_hook(mod, args, out, a=a, b=b, s=s):
                extra = torch.nn.functional.embedding(args[0], a.T) @ b.T
                return (out.double() + s * extra).to(out.dtype)

            handles.append(module.register_forward_hook(emb_hook))
            continue
        a = tensors[f"{PREFIX}{name}.lora_A.weight"].double()
        b = tensors[f"{PREFIX}{name}.lora_B.weight"].double()
        bias = tensors.get(f"{PREFIX}{name}.lora_B.bias")

        def hook(mod, args, out, a=a, b=b, s=s, bias=bias):
            extra = args[0].double() @ a.T @ b.T
            if bias is not None:
                extra = extra + bias.double()
            return (out.double() + s * extra).to(out.dtype)

        handles.append(module.register_forward_hook(hook))
    return handles


def plain_scale(alpha: float, r: int, *, rslora: bool = False) -> float:
    return alpha / math.sqrt(r) if rslora else alpha / r

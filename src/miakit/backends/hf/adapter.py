"""Applying a PEFT LoRA adapter to a loaded base model, without peft.

The adapter is **merged** into the base's weights, once, at load: for each adapted layer
``W <- W + s * B @ A`` (transposed for layers that store ``(in, out)``: Hugging Face's
``Conv1D``, and embeddings, whose ``A`` is ``(r, vocab)``), with ``s = alpha / r`` or, for
rsLoRA (arXiv 2312.03732), ``alpha / sqrt(r)``; ``r`` and ``alpha`` per layer from
``rank_pattern``/``alpha_pattern`` as PEFT matches them (the pattern must match the end of the
module name at a dot). ``B @ A`` is computed in float32 on the model's device and
added to ``W`` in float32, then rounded once to the compute dtype; in float32 this is PEFT's own
``merge_and_unload`` operation for operation (``tests/backends/test_hf_adapter_peft.py``).
A merged model scores exactly as fast as its base (no extra matmuls per token) and every
signal, the gradients included, is that of the fine-tuned model. Whole tensors the adapter
carries (``modules_to_save``, trained biases, saved embeddings) replace the base's.

A weight shared by two modules (tied input and output embeddings) is untied before one of
them is changed: PEFT's unmerged model applies the adapter to the module it targets only, and
that is the model that was trained (PEFT's in-place ``merge_and_unload`` would change both).

Nothing is written to the base's files: the base is read as usual, the adapter changes the
tensors in memory.

Every tensor of the adapter is checked against the base before any weight is changed: its
module must exist, be of a supported kind, and have the shape the tensor implies. The error
lists each mismatch and the fix (the adapter's own base, named in its config).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from miakit.backends.hf.adapter_config import CONFIG_NAME, SUPPORTED, AdapterInfo
from miakit.errors import ModelLoadError

logger = logging.getLogger("miakit")

#: Every key of a PEFT state dict starts with this (the PeftModel's ``base_model.model``).
PREFIX = "base_model.model."
_LORA = {
    ".lora_A.weight": ("linear", "A"),
    ".lora_B.weight": ("linear", "B"),
    ".lora_B.bias": ("linear", "bias"),
    ".lora_embedding_A": ("embedding", "A"),
    ".lora_embedding_B": ("embedding", "B"),
}
#: Mismatches listed in full before the rest are counted.
_SHOWN = 8


@dataclass
class _Pair:
    """One adapted module's tensors."""

    kind: str
    tensors: dict[str, torch.Tensor]


def read_tensors(info: AdapterInfo) -> dict[str, torch.Tensor]:
    """The adapter's tensors, on the CPU (safetensors; a pickle only when it was allowed)."""
    try:
        if info.weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(info.weights), device="cpu"))
        loaded = torch.load(str(info.weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors and torch raise many types here
        raise ModelLoadError(f"cannot read the adapter weights {info.weights}: {exc}") from exc
    if not isinstance(loaded, Mapping):
        raise ModelLoadError(f"{info.weights} does not hold a mapping of tensors")
    return {str(k): v for k, v in loaded.items()}


def split_tensors(
    state: Mapping[str, torch.Tensor], info: AdapterInfo
) -> tuple[dict[str, _Pair], dict[str, torch.Tensor]]:
    """``(module name -> its LoRA tensors, parameter name -> a whole replacement tensor)``."""
    pairs: dict[str, _Pair] = {}
    whole: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if not key.startswith(PREFIX):
            raise ModelLoadError(
                f"{info.weights}: tensor {key!r} does not start with {PREFIX!r}: this is not a "
                "PEFT adapter's state dict (save it with peft's save_pretrained)"
            )
        name = key[len(PREFIX) :]
        for suffix, (kind, part) in _LORA.items():
            if name.endswith(suffix):
                module = name[: -len(suffix)]
                pair = pairs.setdefault(module, _Pair(kind, {}))
                if pair.kind != kind:
                    raise ModelLoadError(
                        f"{info.weights}: module {module!r} has both linear and embedding "
                        "LoRA tensors"
                    )
                pair.tensors[part] = tensor
                break
        else:
            if ".lora_" in name:
                raise ModelLoadError(
                    f"{info.weights}: tensor {key!r} is not plain LoRA; miakit applies "
                    f"{SUPPORTED}. Merge the adapter with peft (merge_and_unload) and give "
                    "the merged folder as the model."
                )
            whole[name.replace(".base_layer.", ".")] = tensor
    return pairs, whole


def _pattern(patterns: Mapping[str, Any], module: str, default: Any) -> Any:
    # peft.utils.other.get_pattern_key: the first pattern matching the end of the name
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def scale_of(info: AdapterInfo, module: str, rank: int) -> float:
    """The LoRA scaling of ``module``: ``alpha / r`` or, for rsLoRA, ``alpha / sqrt(r)``."""
    alpha = float(_pattern(info.alpha_pattern, module, info.alpha))
    return alpha / math.sqrt(rank) if info.rslora else alpha / rank


def _transposed(module: torch.nn.Module) -> bool:
    from transformers.pytorch_utils import Conv1D

    return isinstance(module, Conv1D)


def _check_pair(
    module_name: str, pair: _Pair, modules: Mapping[str, torch.nn.Module], info: AdapterInfo
) -> str | None:
    """What is wrong with applying ``pair`` to the base's ``module_name`` (``None``: fine)."""
    module = modules.get(module_name)
    if module is None:
        return f"{module_name}: no such module in the base model"
    a, b = pair.tensors.get("A"), pair.tensors.get("B")
    if a is None or b is None:
        return f"{module_name}: has lora {'A' if a is not None else 'B'} but not the other"
    if a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0]:
        return f"{module_name}: A {tuple(a.shape)} and B {tuple(b.shape)} do not form B @ A"
    rank = int(a.shape[0])
    want_rank = int(_pattern(info.rank_pattern, module_name, info.r))
    if rank != want_rank:
        return f"{module_name}: rank {rank} in the tensors, r={want_rank} in {CONFIG_NAME}"
    embedding = isinstance(module, torch.nn.Embedding)
    linear = isinstance(module, torch.nn.Linear) or _transposed(module)
    if pair.kind == "embedding" and not embedding:
        return f"{module_name}: embedding LoRA on a {type(module).__name__}"
    if pair.kind == "linear" and not linear:
        return f"{module_name}: LoRA on a {type(module).__name__} is not supported ({SUPPORTED})"
    shape = tuple(module.get_parameter("weight").shape)
    delta = (int(b.shape[0]), int(a.shape[1]))
    if embedding or _transposed(module):
        delta = delta[::-1]
    if shape != delta:
        return (
            f"{module_name}: the adapter changes a weight of shape {delta}, the base's is {shape}"
        )
    if "bias" in pair.tensors:
        bias = module.bias
        got = tuple(pair.tensors["bias"].shape)
        if not isinstance(bias, torch.Tensor):
            return f"{module_name}: lora_bias of shape {got}, but the base layer has no bias"
        if tuple(bias.shape) != got:
            return f"{module_name}: lora_bias of shape {got}, the base's bias {tuple(bias.shape)}"
    return None


def check_adapter(
    model: torch.nn.Module, info: AdapterInfo, state: Mapping[str, torch.Tensor]
) -> tuple[dict[str, _Pair], dict[str, torch.Tensor]]:
    """Every tensor of ``state`` checked against ``model``; one error lists each mismatch.

    Raises:
        ModelLoadError: a module is missing, of an unsupported kind or of another shape, or
            the adapter holds no tensor.
    """
    pairs, whole = split_tensors(state, info)
    if not pairs and not whole:
        raise ModelLoadError(f"adapter {info.folder} holds no tensors ({info.weights})")
    modules = dict(model.named_modules())
    params = dict(model.named_parameters(remove_duplicate=False))
    problems = [p for m, pair in pairs.items() if (p := _check_pair(m, pair, modules, info))]
    for name, tensor in whole.items():
        if name not in params:
            problems.append(f"{name}: no such parameter in the base model")
        elif params[name].shape != tensor.shape:
            problems.append(
                f"{name}: shape {tuple(tensor.shape)} in the adapter, "
                f"{tuple(params[name].shape)} in the base (was the vocabulary resized?)"
            )
    if problems:
        shown = "\n  ".join(problems[:_SHOWN])
        more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        recorded = f" (its {CONFIG_NAME} names {info.base_name!r})" if info.base_name else ""
        raise ModelLoadError(
            f"adapter {info.folder} does not fit this base model: it was made for another "
            f"base{recorded}.\n  {shown}{more}\nGive the adapter's own base model as the "
            "model of this role (--model, or the role's flag, with --adapter)."
        )
    return pairs, whole


def _own(model: torch.nn.Module, module_name: str, attr: str) -> torch.nn.Parameter:
    """``module_name``'s parameter ``attr``, untied first when another module shares it."""
    module = model.get_submodule(module_name)
    param = module.get_parameter(attr)
    full = f"{module_name}.{attr}" if module_name else attr
    shared = any(
        p is param and name != full for name, p in model.named_parameters(remove_duplicate=False)
    )
    if shared:
        param = torch.nn.Parameter(param.detach().clone(), requires_grad=param.requires_grad)
        setattr(module, attr, param)
        logger.info("adapter: untied %s from the weights it shared", full)
    return param


@torch.no_grad()
def apply_adapter(model: torch.nn.Module, info: AdapterInfo) -> None:
    """Merge the LoRA adapter ``info`` into ``model``'s weights in place (see the module doc).

    Raises:
        ModelLoadError: the adapter does not fit the model (nothing is changed then).
    """
    state = read_tensors(info)
    pairs, whole = check_adapter(model, info, state)
    # whole tensors first: a LoRA-targeted embedding's saved base weight, then its LoRA on top
    for name, tensor in sorted(whole.items()):
        module_name, _, attr = name.rpartition(".")
        param = _own(model, module_name, attr)
        param.copy_(tensor.to(param.device, param.dtype))
    for module_name, pair in sorted(pairs.items()):
        module = model.get_submodule(module_name)
        weight = _own(model, module_name, "weight")
        a = pair.tensors["A"].to(weight.device, torch.float32)
        b = pair.tensors["B"].to(weight.device, torch.float32)
        scale = scale_of(info, module_name, int(a.shape[0]))
        delta = b @ a
        if pair.kind == "embedding" or _transposed(module):
            delta = delta.T
        delta = delta * scale
        weight.copy_((weight.float() + delta).to(weight.dtype))
        if "bias" in pair.tensors:
            bias = _own(model, module_name, "bias")
            extra = pair.tensors["bias"].to(bias.device, torch.float32) * scale
            bias.copy_((bias.float() + extra).to(bias.dtype))
    logger.info(
        "adapter %s: merged LoRA into %d modules, replaced %d tensors",
        info.folder,
        len(pairs),
        len(whole),
    )

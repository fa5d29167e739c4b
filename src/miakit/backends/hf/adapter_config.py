"""A PEFT adapter folder: where its files are, what it is, whether miakit can apply it.

A PEFT adapter folder holds ``adapter_config.json`` and ``adapter_model.safetensors``
(``adapter_model.bin`` from old PEFT versions: a pickle, refused unless the user's pickle
opt-in ``--allow-pickle`` is given, and then read with ``torch.load(weights_only=True)``).
This module reads and checks the folder without torch or its tensors, so a run whose signals
are all cached knows the adapter's identity without loading anything; applying it to a model
is :mod:`miakit.backends.hf.adapter`.

Supported: **LoRA** (arXiv 2106.09685), ``peft_type: LORA``, on ``nn.Linear``, Hugging Face's
``Conv1D`` (GPT-2) and ``nn.Embedding`` layers, with ``r``, ``lora_alpha``, ``use_rslora``
(scaling ``alpha/sqrt(r)``, arXiv 2312.03732), ``rank_pattern``/``alpha_pattern``,
``fan_in_fan_out``, ``lora_bias``, ``bias`` and ``modules_to_save`` (whole tensors that
replace the base's). Everything else PEFT can save (IA3, prompt tuning, prefix tuning, DoRA,
QA-LoRA, activated LoRA, trainable tokens, layer replication, LoRA on bare parameters...) is
refused with a message naming what is supported: applying it as if it were LoRA would score a
model that is not the one trained.

The adapter's **fingerprint** is the SHA-256 over (name, SHA-256 of the file) of its config
and weights file, the per-file digests cached by file identity like a model's
(:mod:`miakit.backends.hf.digests`). A model loaded with an adapter is fingerprinted as the
hash of the base's fingerprint and the adapter's (:func:`with_adapter`), so the signal cache
and the shard plan never mix scores of two adapters, nor of an adapter and its base.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miakit.backends.hf.digests import DigestCache
from miakit.errors import ModelLoadError, UnsafeModelError

CONFIG_NAME = "adapter_config.json"
SAFETENSORS_NAME = "adapter_model.safetensors"
PICKLE_NAME = "adapter_model.bin"

#: What the messages say miakit applies.
SUPPORTED = (
    "LoRA (peft_type LORA, with use_rslora, rank_pattern/alpha_pattern, fan_in_fan_out, "
    "lora_bias, modules_to_save) on Linear, Conv1D and Embedding layers"
)

#: Keys of ``adapter_config.json`` that either change how LoRA is applied (read by
#: :class:`AdapterInfo`) or change nothing once the adapter is trained (which modules were
#: targeted is read from the tensors themselves; dropout and initialisation only matter in
#: training). Any other key with a set value is refused, so a future variant is never taken
#: for plain LoRA.
KNOWN_KEYS = frozenset(
    {
        "peft_type",
        "r",
        "lora_alpha",
        "use_rslora",
        "rank_pattern",
        "alpha_pattern",
        "fan_in_fan_out",
        "lora_bias",
        "bias",
        "modules_to_save",
        "target_modules",
        "exclude_modules",
        "layers_to_transform",
        "layers_pattern",
        "base_model_name_or_path",
        "revision",
        "task_type",
        "inference_mode",
        "lora_dropout",
        "init_lora_weights",
        "auto_mapping",
        "peft_version",
        "megatron_core",
        "qalora_group_size",
        "loftq_config",
        "eva_config",
        "corda_config",
        "lora_ga_config",
    }
)

#: Set keys that name a variant miakit does not apply, and what it is called.
VARIANTS = {
    "use_dora": "DoRA (weight-decomposed LoRA)",
    "use_qalora": "QA-LoRA",
    "target_parameters": "LoRA on bare parameters (target_parameters)",
    "trainable_token_indices": "trainable tokens",
    "layer_replication": "layer replication",
    "alora_invocation_tokens": "activated LoRA (aLoRA)",
    "use_bdlora": "block-diagonal LoRA",
    "megatron_config": "Megatron-parallel LoRA",
    "ensure_weight_tying": "LoRA tied across tied weights (ensure_weight_tying)",
}


#: ``init_lora_weights`` values whose initialisation also rewrites the base weights.
BASE_CHANGING_INITS = ("pissa", "olora", "corda", "loftq", "lora_ga")


@dataclass(frozen=True)
class AdapterInfo:
    """A checked PEFT LoRA adapter folder (nothing of its tensors read).

    Attributes:
        folder: the adapter folder.
        weights: its weights file (``adapter_model.safetensors``, or the pickle when allowed).
        fingerprint: SHA-256 over its config and weights files (see the module doc).
        base_name: ``base_model_name_or_path`` of its config (``None`` when absent).
        r: the default rank.
        alpha: the default ``lora_alpha``.
        rslora: scaling ``alpha/sqrt(r)`` instead of ``alpha/r``.
        fan_in_fan_out: the base layers store their weight as ``(in, out)``.
        rank_pattern: module-name pattern -> rank.
        alpha_pattern: module-name pattern -> alpha.
    """

    folder: Path
    weights: Path
    fingerprint: str
    base_name: str | None
    r: int
    alpha: float
    rslora: bool
    fan_in_fan_out: bool
    rank_pattern: dict[str, int]
    alpha_pattern: dict[str, float]


def _set(value: Any) -> bool:
    return value not in (None, False, "", [], {}, ())


def read_adapter(
    path: str | Path, *, allow_pickle: bool = False, fingerprint_cache: Path | None = None
) -> AdapterInfo:
    """Read and check the PEFT adapter folder ``path`` (no tensor is read).

    Args:
        path: the adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``).
        allow_pickle: accept ``adapter_model.bin`` (a pickle) when there is no safetensors file.
        fingerprint_cache: folder of the persistent per-file digest records
            (:mod:`miakit.backends.hf.digests`); ``None`` keeps digests in this process only.

    Raises:
        ModelLoadError: the folder or its files are missing or unreadable, or the adapter is
            not a kind miakit applies.
        UnsafeModelError: its weights are a pickle and ``allow_pickle`` is off.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(
            f"adapter {str(folder)!r} is not a folder: give the PEFT adapter folder (holding "
            f"{CONFIG_NAME} and {SAFETENSORS_NAME}), as written by save_pretrained"
        )
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file():
        raise ModelLoadError(
            f"adapter folder {folder} has no {CONFIG_NAME}: give the folder a PEFT adapter was "
            "saved to (save_pretrained), not a model folder or a checkpoint file"
        )
    weights = folder / SAFETENSORS_NAME
    if not weights.is_file():
        pickle = folder / PICKLE_NAME
        if not pickle.is_file():
            raise ModelLoadError(f"adapter folder {folder} has no {SAFETENSORS_NAME}")
        if not allow_pickle:
            raise UnsafeModelError(
                f"adapter folder {folder} holds only pickle weights ({PICKLE_NAME}); loading "
                "them can run arbitrary code. Convert them to safetensors (load the adapter "
                "with peft and save_pretrained it again), or pass --allow-pickle to accept "
                "the risk."
            )
        weights = pickle
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {cfg_path}: {exc}") from exc
    if not isinstance(cfg, dict):
        raise ModelLoadError(f"{cfg_path} is not a JSON object")
    _check_kind(cfg, cfg_path)
    init = cfg.get("init_lora_weights")
    if isinstance(init, str) and init.lower().startswith(BASE_CHANGING_INITS):
        logging.getLogger("miakit").warning(
            "adapter %s was initialised with %r, which changes the base weights too: it fits "
            "only the base it was saved against (give that base, or save the adapter with "
            "peft's conversion to a plain LoRA of the original base)",
            folder,
            init,
        )
    names = [CONFIG_NAME, weights.name]
    digests = DigestCache(fingerprint_cache).digests([folder / n for n in names])
    h = hashlib.sha256()
    for name, digest in zip(names, digests, strict=True):
        h.update(name.encode())
        h.update(digest.encode())
    base = cfg.get("base_model_name_or_path")
    try:
        return AdapterInfo(
            folder=folder,
            weights=weights,
            fingerprint=h.hexdigest(),
            base_name=str(base) if base else None,
            r=int(cfg.get("r", 8)),
            alpha=float(cfg.get("lora_alpha", 8)),
            rslora=bool(cfg.get("use_rslora", False)),
            fan_in_fan_out=bool(cfg.get("fan_in_fan_out", False)),
            rank_pattern={str(k): int(v) for k, v in (cfg.get("rank_pattern") or {}).items()},
            alpha_pattern={str(k): float(v) for k, v in (cfg.get("alpha_pattern") or {}).items()},
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ModelLoadError(f"{cfg_path}: malformed LoRA settings: {exc}") from exc


def _check_kind(cfg: dict[str, Any], where: Path) -> None:
    kind = cfg.get("peft_type")
    if kind != "LORA":
        raise ModelLoadError(
            f"{where}: peft_type {kind!r} is not supported; miakit applies {SUPPORTED}. Merge "
            "the adapter into its base with peft (merge_and_unload, save_pretrained) and give "
            "the merged folder as the model."
        )
    for key, what in VARIANTS.items():
        if _set(cfg.get(key)):
            raise ModelLoadError(
                f"{where}: {key} is set: {what} is not supported; miakit applies {SUPPORTED}. "
                "Merge the adapter with peft (merge_and_unload) and give the merged folder."
            )
    unknown = sorted(k for k, v in cfg.items() if k not in KNOWN_KEYS | VARIANTS.keys() and _set(v))
    if unknown:
        raise ModelLoadError(
            f"{where}: sets {', '.join(unknown)}, which miakit does not know how to apply; it "
            f"applies {SUPPORTED}. Merge the adapter with peft (merge_and_unload) and give "
            "the merged folder as the model."
        )


def with_adapter(base_fingerprint: str, adapter_fingerprint: str) -> str:
    """The fingerprint of a base model (``base_fingerprint``) with an adapter applied."""
    return hashlib.sha256(f"{base_fingerprint}+lora:{adapter_fingerprint}".encode()).hexdigest()


def check_base(
    info: AdapterInfo,
    *,
    base_folder: Path,
    gguf: str | None,
    base_fingerprint: str,
    fingerprint_cache: Path | None = None,
) -> None:
    """Refuse ``info`` when the base it records is a local model other than the one given.

    ``base_model_name_or_path`` is compared where it can mean something: when it names a local
    model folder (not the given one), the two folders' weight fingerprints must agree (a copy
    of the base passes; another model does not). A hub id or a path that is not here cannot
    be checked by name alone (local folders are named freely): the tensor shapes decide
    (:func:`miakit.backends.hf.adapter.apply_adapter`), and a name that does not match is
    logged.

    Raises:
        ModelLoadError: the recorded base is another local model.
    """
    name = info.base_name
    if not name:
        return
    recorded = Path(name).expanduser()
    where = info.folder / CONFIG_NAME
    if (recorded / "config.json").is_file():
        if recorded.resolve() == base_folder.resolve() or gguf is not None:
            return
        from miakit.backends.hf.files import cached_fingerprint

        if cached_fingerprint(recorded, None, fingerprint_cache) == base_fingerprint:
            return
        raise ModelLoadError(
            f"adapter {info.folder} was trained on {name} (base_model_name_or_path in {where}), "
            f"but the base model given is {base_folder}, whose weights differ. Give {name} as "
            "the model of this role; or, if this base is the one meant, set "
            f"base_model_name_or_path in {where} to it."
        )
    tail = name.rstrip("/").rsplit("/", 1)[-1].lower()
    if tail and tail not in str(base_folder.resolve()).lower():
        logging.getLogger("miakit").warning(
            "adapter %s was trained on %r (base_model_name_or_path); the base given is %s. "
            "It is applied when its layers and shapes fit this base; check that it is its base.",
            info.folder,
            name,
            base_folder,
        )


def open_adapter(
    path: str | None,
    *,
    base_folder: Path,
    gguf: str | None,
    base_fingerprint: str,
    allow_pickle: bool = False,
    fingerprint_cache: Path | None = None,
) -> AdapterInfo | None:
    """:func:`read_adapter` then :func:`check_base` for the adapter folder ``path`` of a model
    (``None``: the model has no adapter)."""
    if path is None:
        return None
    info = read_adapter(path, allow_pickle=allow_pickle, fingerprint_cache=fingerprint_cache)
    check_base(
        info,
        base_folder=base_folder,
        gguf=gguf,
        base_fingerprint=base_fingerprint,
        fingerprint_cache=fingerprint_cache,
    )
    return info

"""Local model files: where a model is, whether it is safe to load, and what it is.

The loading safety rules of :mod:`miakit.backends.hf.loading` are checked here, before transformers
sees a path: a path that does not exist is an error (never a hub id); pickle checkpoints are
refused unless the user opts in; a folder needs safetensors (or a GGUF file) and a
``config.json``. Fingerprints (hashes of weights, configuration and tokenizer) key the signal
cache.

A model's file fingerprint is the SHA-256 over (name, SHA-256 of the file) of each weight and
configuration file. :func:`fingerprint_files` hashes every file; :func:`cached_fingerprint`
gives the same value bit for bit from per-file digests remembered by file identity (real
path, size, mtime, ctime, inode, device) in the process and, given a folder, across runs
(:mod:`miakit.backends.hf.digests`, which also states the one limit of trusting ``stat``).
Measured (``benchmarks/fingerprint.py``, H200 host, 16 cores): one file hashes at about 1.1
GB/s (SHA-256 on one core; the old loop was no slower per file), four shards in parallel at
4.4 GB/s, and a model whose digests are all cached costs about 0.3 ms.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miakit._core.lazy import lazy_module
from miakit.backends.hf.digests import DigestCache, sha256_file
from miakit.backends.placement import dtype_for
from miakit.errors import InvalidParameterError, ModelLoadError, UnsafeModelError

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@dataclass(frozen=True)
class ModelSpec:
    """Where and how to load a model.

    Attributes:
        path: a model folder (config + tokenizer + safetensors) or a ``.gguf`` file.
        gguf_file: the GGUF file name inside ``path`` (when ``path`` is a folder).
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        dtype: ``"auto"`` (bf16 on CUDA, fp32 on CPU) or one of float32/bfloat16/float16.
        allow_pickle: permit pickle checkpoints (runs code from the file; opt-in).
        trust_remote_code: permit the model folder's own Python code (opt-in).
        compile: ``torch.compile`` the decoder.
        progress: let transformers show its loading progress bars (GGUF de-quantisation).
        fingerprint_cache: folder of the persistent per-file digest records that spare
            re-hashing unchanged weights (:mod:`miakit.backends.hf.digests`); ``None`` keeps
            digests in this process only.
        adapter: a PEFT LoRA adapter folder merged into the weights at load
            (:mod:`miakit.backends.hf.adapter`); the fingerprint then covers it too.
        fingerprint: the weights' fingerprint when the caller knows what determines them
            (``miakit demo``: its fine-tune's key), used instead of the files' hash.
    """

    path: str
    gguf_file: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    allow_pickle: bool = False
    trust_remote_code: bool = False
    compile: bool = False
    progress: bool = True
    fingerprint_cache: Path | None = None
    adapter: str | None = None
    fingerprint: str | None = None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise InvalidParameterError(
            f"invalid device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(
            f"device {device!r} requested but CUDA is not available; use --device cpu"
        )
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    return dtype_for(dtype, device.type).to_torch()


def locate(spec: ModelSpec) -> tuple[Path, str | None]:
    """Return (folder, gguf file name or None) after the safety checks."""
    path = Path(spec.path).expanduser()
    if not path.exists():
        raise ModelLoadError(
            f"model path {str(path)!r} does not exist. miakit never downloads models: give a "
            "local folder (config.json, tokenizer files, *.safetensors) or a .gguf file."
        )
    gguf = spec.gguf_file
    if path.is_file():
        if path.suffix == ".gguf":
            return path.parent, path.name
        if path.suffix in PICKLE_SUFFIXES:
            raise UnsafeModelError(
                f"{path} is a pickle checkpoint; give its folder and pass --allow-pickle to "
                "accept the risk of running code from it, or convert it to safetensors."
            )
        raise ModelLoadError(f"{path} is a file but not a .gguf file; give the model folder")
    if gguf is not None:
        if not (path / gguf).is_file():
            raise ModelLoadError(f"GGUF file {gguf!r} not found in {path}")
        return path, gguf
    files = [p.name for p in path.iterdir() if p.is_file()]
    has_st = any(f.endswith(".safetensors") for f in files)
    ggufs = sorted(f for f in files if f.endswith(".gguf"))
    pickles = sorted(f for f in files if f.endswith(PICKLE_SUFFIXES) and "training_args" not in f)
    if not has_st and len(ggufs) == 1 and "config.json" not in files:
        return path, ggufs[0]
    if not has_st and pickles and not spec.allow_pickle:
        raise UnsafeModelError(
            f"{path} holds only pickle weights ({', '.join(pickles[:3])}); loading them can run "
            "arbitrary code. Convert them to safetensors, or pass --allow-pickle to accept the "
            "risk."
        )
    if not has_st and not pickles:
        raise ModelLoadError(
            f"{path} holds no weights (*.safetensors, or a .gguf file via --gguf-file)"
        )
    if "config.json" not in files:
        raise ModelLoadError(f"{path} has no config.json")
    return path, None


def fingerprinted_names(folder: Path, gguf_file: str | None) -> list[str]:
    """The names of the files a model's fingerprint covers, sorted: weights and configuration
    (``*.safetensors``, ``*.json``, pickle weights), not the tokenizer's files."""
    if gguf_file is not None:
        return [gguf_file]
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file()
        and (p.suffix in (".safetensors", ".json", *PICKLE_SUFFIXES))
        and "tokenizer" not in p.name
        and p.name not in ("special_tokens_map.json", "vocab.json")
    )


def combine_digests(names: list[str], digests: list[str]) -> str:
    """The fingerprint of files named ``names`` whose SHA-256 (hex) are ``digests``."""
    h = hashlib.sha256()
    for name, digest in zip(names, digests, strict=True):
        h.update(name.encode())
        h.update(digest.encode())
    return h.hexdigest()


def fingerprint_files(folder: Path, gguf_file: str | None) -> str:
    """Hash of the files that define a model: weights and configuration (not tokenizer).

    Every file is hashed; :func:`cached_fingerprint` gives the same value without re-hashing
    unchanged files."""
    names = fingerprinted_names(folder, gguf_file)
    return combine_digests(names, [sha256_file(folder / name) for name in names])


def fingerprint_module(model: torch.nn.Module) -> str:
    """Hash of an in-memory model's configuration and parameters."""
    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "to_json_string"):
        h.update(cfg.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        t = tensor.detach().to("cpu").contiguous()
        h.update(str(t.dtype).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def fingerprint_tokenizer(tokenizer: Any) -> str:
    """Hash of a tokenizer's full definition (vocabulary, merges, normaliser, special tokens)."""
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        h.update(_definition(backend).encode())
    else:
        vocab = tokenizer.get_vocab()
        h.update(json.dumps(sorted(vocab.items())).encode())
    special = {
        k: getattr(tokenizer, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")
    }
    h.update(json.dumps(special, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _definition(backend: Any) -> str:
    """A fast tokenizer's serialised definition without its truncation and padding state.

    Calling a tokenizer with ``truncation=True`` or ``padding=...`` stores those settings in
    its backend, and ``to_str()`` includes them, so the same tokenizer would hash differently
    after such a call (the neighbor generator makes one). A copy with both cleared serialises
    exactly as a tokenizer that never made such a call.
    """
    text = backend.to_str()
    if backend.truncation is None and backend.padding is None:
        return text
    from tokenizers import Tokenizer

    clean = Tokenizer.from_str(text)
    clean.no_truncation()
    clean.no_padding()
    return clean.to_str()


@contextlib.contextmanager
def transformers_progress(enabled: bool) -> Iterator[None]:
    """Hide transformers' own progress bars while loading, then restore their setting.

    Most of transformers' bars follow its logging switch; the GGUF de-quantisation bar calls
    tqdm directly, so its module's ``tqdm`` is swapped for a disabled one meanwhile.
    """
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    gguf_module: Any = None
    original: Any = None
    if not enabled:
        try:
            import transformers.modeling_gguf_pytorch_utils as gguf_module
        except ImportError:  # transformers without GGUF support
            gguf_module = None
        original = getattr(gguf_module, "tqdm", None)
        if original is not None:
            gguf_module.tqdm = functools.partial(original, disable=True)
        if was:
            hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if original is not None:
            gguf_module.tqdm = original
        if not enabled and was:
            hf_logging.enable_progress_bar()


def has_safetensors(folder: Path) -> bool:
    return any(p.suffix == ".safetensors" for p in folder.iterdir())


def cached_fingerprint(folder: Path, gguf: str | None, cache_dir: Path | None = None) -> str:
    """:func:`fingerprint_files`, bit for bit, from per-file digests cached by file identity.

    Args:
        folder: the model folder (see :func:`locate`).
        gguf: the GGUF file name inside ``folder``, or ``None``.
        cache_dir: folder of the persistent digest records (the runner passes
            ``<cache_dir>/fingerprints``); ``None`` remembers digests in this process only.
    """
    names = fingerprinted_names(folder, gguf)
    digests = DigestCache(cache_dir).digests([folder / name for name in names])
    return combine_digests(names, digests)

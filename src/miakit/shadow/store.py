"""An experiment folder: manifest, membership matrix, models (safetensors), signals.

Layout of ``DIR``::

    manifest.json        what was trained: data, model, seeds, hyperparameters, pool
    membership.npy       (n_pool, n_models) bool, membership[i, m]: example i trains model m
    pool.npy             (n_pool,) int64: the data set row of each pool example
    models/model-0000.safetensors ...   one file per model (never pickle)
    signals.npz          per-query signals of every model on every pool example

Every file is written atomically (:mod:`miakit._core.io`), so a run killed mid-way leaves
only complete models behind, and a rerun with the same manifest trains only the missing ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from miakit._core.io import atomic_write, atomic_write_text
from miakit.errors import DataError, InvalidParameterError

MANIFEST = "manifest.json"
MEMBERSHIP = "membership.npy"
POOL = "pool.npy"
MODELS = "models"
SIGNALS = "signals.npz"


def model_path(folder: Path, m: int) -> Path:
    return folder / MODELS / f"model-{m:04d}.safetensors"


def data_fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """sha256 (first 16 hex digits) of the inputs' and labels' bytes and shapes."""
    h = hashlib.sha256()
    for a in (x, y):
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def save_model(path: Path, state: Mapping[str, torch.Tensor]) -> None:
    """A state dict as safetensors, atomically (tensors copied to contiguous CPU memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    atomic_write(path, lambda p: save_file(tensors, str(p)))


def load_model_state(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise DataError(
            f"{folder} is not a shadow experiment (no {MANIFEST}); create one with "
            "`miakit shadow train --out DIR` or miakit.shadow.train(out=DIR)"
        )
    return dict(json.loads(path.read_text("utf-8")))


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"epochs": 3}}`` -> ``{"train.epochs": 3}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_resumable(
    folder: Path, manifest: Mapping[str, Any], *, ignore: tuple[str, ...] = ()
) -> None:
    """Raise when ``folder`` holds another experiment (a different manifest; the keys in
    ``ignore`` may differ).

    Raises:
        InvalidParameterError: naming the settings that differ.
    """
    if not (folder / MANIFEST).is_file():
        return
    old, new = _flat(read_manifest(folder)), _flat(manifest)
    keys = sorted(set(old) | set(new))
    differ = [k for k in keys if old.get(k) != new.get(k) and k not in ignore]
    if differ:
        raise InvalidParameterError(
            f"{folder} holds another shadow experiment (different {', '.join(differ)}); "
            "choose another --out folder, or delete this one to start again"
        )


def stored_queries(path: Path) -> list[str] | None:
    """The query names of a signals file, or ``None`` when there is none (or it is unreadable:
    it is then recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return [str(q) for q in z["queries"]]
    except (OSError, ValueError, KeyError):
        return None


def save_array(folder: Path, name: str, a: np.ndarray) -> None:
    atomic_write(folder / name, lambda p: np.save(p, a, allow_pickle=False))


def load_array(folder: Path, name: str) -> np.ndarray:
    path = folder / name
    if not path.is_file():
        raise DataError(f"{path} is missing: the experiment folder is incomplete")
    return np.load(path, allow_pickle=False)


__all__ = [
    "MANIFEST",
    "MEMBERSHIP",
    "POOL",
    "SIGNALS",
    "check_resumable",
    "data_fingerprint",
    "load_array",
    "load_model_state",
    "model_path",
    "read_manifest",
    "save_array",
    "save_model",
    "stored_queries",
    "write_manifest",
]

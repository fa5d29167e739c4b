"""Where a model runs and in which dtype, resolved without importing torch where it can be.

The signal cache's key holds the dtype of the forward pass, and ``--device auto`` / ``--dtype
auto`` resolve by the host: CUDA (bf16) where torch sees a GPU, else the CPU (fp32).
``import torch`` alone cost 4.6 s on the issue-15 H200 host, so a rerun whose signals are all
cached resolves them here without it (issue 15):

* ``cpu``, or a torch build without CUDA and ROCm (its ``torch/version.py``, read as text): the
  CPU, certainly; no record is needed.
* ``auto``, ``cuda`` and ``cuda:N`` with a GPU-capable torch build: the answer torch gave on
  this host the first time (whether CUDA is available, how many devices), recorded under
  ``<cache>/fingerprints/hosts/`` and keyed by the SHA-256 of cheap host facts that decide
  it: the torch build (path and ``version.py`` bytes), the environment variables that hide or
  pick GPUs, the NVIDIA driver's version and GPU list (``/proc/driver/nvidia``) and the
  ``/dev`` GPU nodes. Another host, another torch, another ``CUDA_VISIBLE_DEVICES``, a driver
  update, a GPU added or removed: another key, so torch is asked again. What stays equal
  while the answer changes is a GPU that fails at run time with all of these unchanged; its
  record still says CUDA, so a run that must score loads the model onto CUDA and fails there
  with torch's error, and a fully cached run serves the bf16 signals that this host computed
  while the GPU worked. No cached signal is ever served under another dtype: the dtype is
  resolved first and is part of the key.
* anything else (``mps``, ``cuda:N`` forms torch spells otherwise, a process where torch is
  already imported): torch resolves it, as :func:`miakit.backends.hf.files.resolve_device`.

Nothing here imports torch at module level. :class:`DeviceName` and :class:`DTypeName` are the
names torch prints (``str(torch.device)``, ``str(torch.dtype)``), so a cache key built from
them is the key built from the torch objects, bit for bit.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miakit._core.io import atomic_write_text
from miakit.errors import InvalidParameterError

if TYPE_CHECKING:
    import torch

#: ``--dtype`` spellings -> torch's attribute name.
DTYPE_NAMES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}
#: Bumped when the host record's layout or meaning changes.
HOST_FORMAT = 1
#: Environment variables that decide which GPUs torch sees.
_GPU_ENV = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "PYTORCH_NVML_BASED_CUDA_CHECK",
)
_CUDA = re.compile(r"cuda(?::(\d+))?")


class _TorchName(str):
    """A torch object's printed name; equal to that object (and to the name)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other if isinstance(other, str) else str(other))

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__


class DeviceName(_TorchName):
    """A device as torch prints it (``"cpu"``, ``"cuda:0"``): a ``str``, which torch takes
    wherever it takes a device, with :class:`torch.device`'s ``type``; equal to that
    :class:`torch.device`."""

    __slots__ = ()

    @property
    def type(self) -> str:
        return self.split(":", 1)[0]

    def to_torch(self) -> torch.device:
        import torch

        return torch.device(str(self))


class DTypeName(_TorchName):
    """A dtype as torch prints it (``"torch.float32"``), a ``str`` equal to that
    :class:`torch.dtype`; :meth:`to_torch` gives the dtype."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return self.removeprefix("torch.")

    def to_torch(self) -> torch.dtype:
        import torch

        dtype = getattr(torch, self.name)
        assert isinstance(dtype, torch.dtype)
        return dtype

    @classmethod
    def of(cls, name: str) -> DTypeName:
        return cls(f"torch.{name}")


@dataclass(frozen=True)
class Placement:
    """A resolved device and dtype."""

    device: DeviceName
    dtype: DTypeName


def dtype_for(dtype: str, device_type: str) -> DTypeName:
    """The dtype ``--dtype`` asks for on a device of ``device_type`` (``auto``: bf16 on CUDA,
    fp32 elsewhere)."""
    if dtype == "auto":
        return DTypeName.of("bfloat16" if device_type == "cuda" else "float32")
    if dtype not in DTYPE_NAMES:
        raise InvalidParameterError(
            f"invalid dtype {dtype!r}; use 'auto' or one of {sorted(DTYPE_NAMES)}"
        )
    return DTypeName.of(DTYPE_NAMES[dtype])


def resolve(device: str, dtype: str, *, record_dir: Path | None = None) -> Placement:
    """The device and dtype of ``--device DEVICE --dtype DTYPE`` on this host, as
    :func:`miakit.backends.hf.files.resolve_device` and ``resolve_dtype`` give them (``cuda``
    means the current CUDA device: ``cuda:0`` in a process that did not change it).

    Args:
        record_dir: the fingerprint cache folder; the host records go to ``record_dir/hosts``
            (``None``: torch is asked whenever the build has CUDA or ROCm).

    Raises:
        InvalidParameterError: an invalid device or dtype, or CUDA asked for where there is
            none.
    """
    dtype_for(dtype, "cpu")  # an invalid dtype fails before anything else
    cuda = _CUDA.fullmatch(device)
    if device == "cpu":
        return Placement(DeviceName("cpu"), dtype_for(dtype, "cpu"))
    if cuda is None and device != "auto":
        return _resolve_with_torch(device, dtype)
    if "torch" in sys.modules:  # free when torch is imported already, and exact in-process
        resolved = _resolve_with_torch(device, dtype)
        cuda_host(record_dir)  # this host's answer, for later runs without torch
        return resolved
    available, count = cuda_host(record_dir)
    if not available:
        if device != "auto":
            raise InvalidParameterError(
                f"device {device!r} requested but CUDA is not available; use --device cpu"
            )
        return Placement(DeviceName("cpu"), dtype_for(dtype, "cpu"))
    index = int(cuda.group(1)) if cuda is not None and cuda.group(1) else 0
    if index >= count:
        raise InvalidParameterError(
            f"device {device!r} requested but this host has {count} CUDA device(s)"
        )
    return Placement(DeviceName(f"cuda:{index}"), dtype_for(dtype, "cuda"))


def _resolve_with_torch(device: str, dtype: str) -> Placement:
    import torch

    from miakit.backends.hf.files import resolve_device

    resolved = torch.empty(0, device=resolve_device(device)).device  # cuda -> cuda:<current>
    return Placement(DeviceName(str(resolved)), dtype_for(dtype, resolved.type))


def torch_gpu_build() -> bool | None:
    """Whether the installed torch is built with CUDA or ROCm, read from its
    ``version.py`` without importing it; ``None`` when that file cannot tell."""
    version = _torch_version_file()
    if version is None:
        return None
    try:
        tree = ast.parse(version.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    found: dict[str, Any] = {}
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and target.id in ("cuda", "hip"):
            if not isinstance(value, ast.Constant):
                return None
            found[target.id] = value.value
    if set(found) != {"cuda", "hip"}:
        return None
    return found["cuda"] is not None or found["hip"] is not None


def _torch_version_file() -> Path | None:
    spec = importlib.util.find_spec("torch")  # finds, does not import
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "version.py"
    return path if path.is_file() else None


def host_facts() -> dict[str, Any]:
    """What decides whether torch sees CUDA here, cheaply read (no torch import)."""
    version = _torch_version_file()
    nvidia = Path("/proc/driver/nvidia")
    return {
        "format": HOST_FORMAT,
        "machine": platform.machine(),
        "torch": None if version is None else str(version),
        "torch_version_sha256": None if version is None else _sha256_of(version),
        "env": {name: os.environ.get(name) for name in _GPU_ENV},
        "driver": _text_of(nvidia / "version"),
        "gpus": _names_in(nvidia / "gpus"),
        "dev": [n for n in _names_in(Path("/dev")) if n.startswith(("nvidia", "kfd"))],
    }


def _sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _names_in(folder: Path) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir())
    except OSError:
        return []


def cuda_host(record_dir: Path | None) -> tuple[bool, int]:
    """``(CUDA available, device count)`` as torch says on this host: no CUDA for a torch
    built without it; else the host record of :func:`host_facts`, or torch asked (and its
    answer recorded)."""
    if torch_gpu_build() is False:
        return False, 0
    facts = host_facts()
    key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    path = None if record_dir is None else record_dir / "hosts" / f"{key}.json"
    if path is not None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record["facts"] == facts:
                return bool(record["cuda_available"]), int(record["device_count"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing or damaged: torch is asked and the record rewritten
    import torch

    available = bool(torch.cuda.is_available())
    count = int(torch.cuda.device_count()) if available else 0
    if path is not None:
        record = {"facts": facts, "cuda_available": available, "device_count": count}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
        except OSError:  # a read-only or full cache keeps no record
            pass
    return available, count


__all__ = [
    "DTYPE_NAMES",
    "DTypeName",
    "DeviceName",
    "Placement",
    "cuda_host",
    "dtype_for",
    "host_facts",
    "resolve",
    "torch_gpu_build",
]

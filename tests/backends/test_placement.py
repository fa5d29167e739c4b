"""``--device`` / ``--dtype`` resolved without torch (miakit.backends.placement, issue 15).

The dtype is part of every signal cache key, so the torch-free resolution must give what
torch gives, and a host whose answer is recorded must be asked again when a fact that decides
it changes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from miakit.backends import placement
from miakit.backends.hf import LazyHFTokenScorer, ModelSpec
from miakit.backends.hf.files import resolve_device, resolve_dtype
from miakit.backends.placement import DeviceName, DTypeName, cuda_host, resolve
from miakit.errors import InvalidParameterError
from miakit.signals.engine import SignalEngine
from miakit.signals.spec import PLAIN


@pytest.mark.parametrize("dtype", ["auto", "float32", "fp32", "bf16", "bfloat16", "fp16"])
def test_cpu_resolution_is_torchs(dtype):
    got = resolve("cpu", dtype)
    assert got.device == resolve_device("cpu") and got.device.type == "cpu"
    assert got.dtype == resolve_dtype(dtype, torch.device("cpu"))
    assert got.dtype.to_torch() is resolve_dtype(dtype, torch.device("cpu"))
    assert str(got.dtype) == str(resolve_dtype(dtype, torch.device("cpu")))


def test_names_equal_the_torch_objects():
    assert DeviceName("cuda:0") == torch.device("cuda:0") and DeviceName("cpu").type == "cpu"
    assert DeviceName("cpu") != torch.device("cuda:0")
    assert DTypeName("torch.bfloat16") == torch.bfloat16
    assert DTypeName("torch.bfloat16") != torch.float32
    assert hash(DeviceName("cpu")) == hash("cpu")


def test_an_invalid_request_is_an_error_naming_the_fix():
    with pytest.raises(InvalidParameterError, match="invalid dtype 'fp64'"):
        resolve("cpu", "fp64")
    with pytest.raises(InvalidParameterError, match="invalid device"):
        resolve("gpu", "auto")


_NO_TORCH = """
import json, sys
from pathlib import Path
from miakit.backends import placement
record_dir = Path(sys.argv[1])
out = {"build": placement.torch_gpu_build()}
if out["build"] is False:  # a CPU-only torch: no record, no torch
    out["auto_here"] = [str(x) for x in placement.resolve("auto", "auto").__dict__.values()]
placement.torch_gpu_build = lambda: True  # as on a GPU host whose answer is recorded
facts = placement.host_facts()
import hashlib
key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
(record_dir / "hosts").mkdir(parents=True, exist_ok=True)
(record_dir / "hosts" / f"{key}.json").write_text(
    json.dumps({"facts": facts, "cuda_available": True, "device_count": 2}))
for device, dtype in [("auto", "auto"), ("cuda", "auto"), ("cuda:1", "fp16"), ("cpu", "auto")]:
    got = placement.resolve(device, dtype, record_dir=record_dir)
    out[f"{device}/{dtype}"] = [str(got.device), str(got.dtype)]
try:
    placement.resolve("cuda:2", "auto", record_dir=record_dir)
except Exception as exc:
    out["cuda:2"] = str(exc)
out["torch"] = "torch" in sys.modules
print(json.dumps(out))
"""


def test_resolution_without_torch(tmp_path):
    """A CPU build of torch (this machine's) resolves ``auto`` to the CPU from its
    ``version.py``; a GPU host's recorded answer gives CUDA and bf16: torch is never imported."""
    done = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["torch"] is False
    if out["build"] is False:  # a CPU-only torch, as on the development machine
        assert out["auto_here"] == ["cpu", "torch.float32"]
    assert out["auto/auto"] == ["cuda:0", "torch.bfloat16"]
    assert out["cuda/auto"] == ["cuda:0", "torch.bfloat16"]
    assert out["cuda:1/fp16"] == ["cuda:1", "torch.float16"]
    assert out["cpu/auto"] == ["cpu", "torch.float32"]
    assert "has 2 CUDA device(s)" in out["cuda:2"]


def test_the_host_record_is_asked_again_when_a_fact_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(placement, "torch_gpu_build", lambda: True)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    asked = []

    def available() -> bool:
        asked.append(1)
        return True

    monkeypatch.setattr(torch.cuda, "is_available", available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert cuda_host(tmp_path) == (True, 3) and len(asked) == 1
    assert cuda_host(tmp_path) == (True, 3) and len(asked) == 1  # from the record
    (record,) = (tmp_path / "hosts").glob("*.json")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # every GPU hidden: another answer
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cuda_host(tmp_path) == (False, 0)
    assert len(list((tmp_path / "hosts").glob("*.json"))) == 2
    record.write_text("{damaged")  # a damaged record: torch is asked again, and it is rewritten
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(torch.cuda, "is_available", available)
    assert cuda_host(tmp_path) == (True, 3) and len(asked) == 2
    assert json.loads(record.read_text())["device_count"] == 3
    assert cuda_host(None) == (True, 3) and len(asked) == 3  # no record folder: torch each time


def test_a_cpu_only_torch_needs_no_record(tmp_path, monkeypatch):
    monkeypatch.setattr(placement, "torch_gpu_build", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: pytest.fail("torch was asked"))
    assert cuda_host(tmp_path) == (False, 0)
    assert not (tmp_path / "hosts").exists()


def namespace(scorer) -> str:
    return SignalEngine(scorer, progress=False).namespace(PLAIN)


def test_the_cache_key_follows_the_resolved_dtype(tiny_model_dir, tmp_path):
    """A lazy scorer (nothing loaded) keys its signals as the loaded model would: ``auto`` on
    the CPU is fp32's key, an explicit bf16 is bf16's, and the two differ."""
    from miakit.backends.hf import HFTokenScorer

    def lazy(dtype: str) -> LazyHFTokenScorer:
        spec = ModelSpec(path=str(tiny_model_dir), device="cpu", dtype=dtype)
        scorer = LazyHFTokenScorer.load(spec)
        assert isinstance(scorer, LazyHFTokenScorer)
        return scorer

    auto, bf16 = lazy("auto"), lazy("bfloat16")
    keys = {name: namespace(s) for name, s in (("auto", auto), ("bf16", bf16))}
    assert not auto.loaded and not bf16.loaded
    assert keys["auto"] != keys["bf16"]
    for dtype, key in (("float32", keys["auto"]), ("bfloat16", keys["bf16"])):
        spec = ModelSpec(path=str(tiny_model_dir), device="cpu", dtype=dtype)
        assert namespace(HFTokenScorer.load(spec)) == key

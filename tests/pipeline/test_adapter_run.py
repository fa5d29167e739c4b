"""A base model plus a PEFT LoRA adapter as a role of ``miakit.run``, end to end: scores equal
those of the explicitly merged model (merged here in fp64, independently of miakit), the signal
cache keys on the adapter, the base's files are untouched, and metrics.json and the report
name the base and the adapter's fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import miakit
from adapters import PREFIX, lora_tensors, plain_scale, write_adapter
from miakit.backends.hf import HFTokenScorer, ModelSpec
from miakit.backends.hf.adapter_config import read_adapter
from miakit.errors import InvalidParameterError
from tinymodels import build_llama, build_tokenizer

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon, and the world watched.",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast in the starter.",
    "Glaciers carve valleys over thousands of years.",
    "A language model assigns probabilities to sequences of tokens.",
]
ATTACKS = ["loss", "zlib", "min_k", "reference", "gradnorm"]
RANKS = {"model.layers.0.self_attn.q_proj": 4, "model.layers.1.mlp.gate_proj": 4}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The base folder, two adapters and their explicitly merged models' folders."""
    root = tmp_path_factory.mktemp("adapter-run")
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    model.save_pretrained(root / "base", safe_serialization=True)
    tok.save_pretrained(root / "base")
    out = {"root": root, "base": root / "base"}
    for name, seed in (("a", 1), ("b", 2)):
        tensors = lora_tensors(model, RANKS, seed=seed)
        out[name] = write_adapter(root / name, tensors, r=4, alpha=8, use_rslora=True)
        merged = build_llama(len(tok))
        with torch.no_grad():  # W + s * B @ A in fp64, by hand
            for module in RANKS:
                w = merged.get_submodule(module).weight
                a = tensors[f"{PREFIX}{module}.lora_A.weight"].double()
                b = tensors[f"{PREFIX}{module}.lora_B.weight"].double()
                w.copy_(w.double() + plain_scale(8, 4, rslora=True) * (b @ a))
        merged.save_pretrained(root / f"merged_{name}", safe_serialization=True)
        tok.save_pretrained(root / f"merged_{name}")
        out[f"merged_{name}"] = root / f"merged_{name}"
    for label, texts in (("m", MEMBERS), ("n", NONMEMBERS)):
        (root / f"{label}.jsonl").write_text(
            "".join(
                json.dumps({"id": f"{label}{i}", "text": t}) + "\n" for i, t in enumerate(texts)
            )
        )
    return out


def run(setup, out: Path, *, cache: Path | None = None, **models):
    result = miakit.run(
        members=str(setup["root"] / "m.jsonl"),
        nonmembers=str(setup["root"] / "n.jsonl"),
        reference=str(setup["base"]),
        attacks=ATTACKS,
        out=str(out),
        device="cpu",
        n_bootstrap=20,
        blind=False,
        **({"cache_dir": str(cache)} if cache else {"no_cache": True}),
        **models,
    )
    scores = pd.read_parquet(out / "scores.parquet").sort_values("id").reset_index(drop=True)
    metrics = json.loads((out / "metrics.json").read_text())
    return result, scores, metrics


def scores_of(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {a: frame[a].to_numpy(dtype=float) for a in ATTACKS}  # one column per attack


def test_scores_equal_the_merged_models(setup, tmp_path) -> None:
    """The reference role is the base's own folder: it is not an alias of the adapted target
    (the reference attack reads both; were it aliased, its scores would be zero)."""
    _, adapted, metrics = run(
        setup, tmp_path / "ad", model=str(setup["base"]), adapter=str(setup["a"])
    )
    _, merged, _ = run(setup, tmp_path / "merged", model=str(setup["merged_a"]))
    got, want = scores_of(adapted), scores_of(merged)
    for attack in ATTACKS:
        assert len(got[attack]) == 6, attack
        np.testing.assert_allclose(got[attack], want[attack], rtol=1e-5, atol=1e-6, err_msg=attack)
    assert np.all(np.abs(got["reference"]) > 1e-4)  # target and reference differ
    assert "alias_of" not in metrics["models"]["reference"]


def test_cache_keys_on_the_adapter_and_base_files_stay(setup, tmp_path) -> None:
    base_bytes = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in setup["base"].iterdir()
    }
    cache = tmp_path / "cache"
    kw = {"model": str(setup["base"]), "cache": cache}
    _, first, m1 = run(setup, tmp_path / "1", adapter=str(setup["a"]), **kw)
    _, second, m2 = run(setup, tmp_path / "2", adapter=str(setup["b"]), **kw)
    _, _, m0 = run(setup, tmp_path / "0", **kw)  # the base alone
    _, merged_b, _ = run(setup, tmp_path / "mb", model=str(setup["merged_b"]))
    for attack in ATTACKS:  # the second adapter's signals are its own, not the cached first's
        np.testing.assert_allclose(
            scores_of(second)[attack], scores_of(merged_b)[attack], rtol=1e-5, atol=1e-6
        )
        assert not np.allclose(scores_of(second)[attack], scores_of(first)[attack]), attack
    fps = {m["models"]["target"]["fingerprint"] for m in (m0, m1, m2)}
    assert len(fps) == 3
    assert m0["models"]["reference"].get("alias_of") == "target"  # base vs base: one model
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in setup["base"].iterdir()}
    assert after == base_bytes


def test_setup_and_report_show_base_and_adapter(setup, tmp_path) -> None:
    ad = str(setup["a"])
    _, _, metrics = run(setup, tmp_path / "r", model=str(setup["base"]), adapter=ad)
    fp = read_adapter(ad).fingerprint
    assert metrics["setup"]["model"] == str(setup["base"])
    assert metrics["setup"]["adapters"] == {
        "target": {"path": ad, "base": str(setup["base"]), "fingerprint": fp}
    }
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Adapter of" in html and fp[:12] in html and ad in html
    resolved = (tmp_path / "r" / "config.resolved.yaml").read_text()
    assert f"adapter: {ad}" in resolved
    _, _, plain = run(setup, tmp_path / "p", model=str(setup["base"]))
    assert "adapters" not in plain["setup"]
    assert "\nadapter:" not in (tmp_path / "p" / "config.resolved.yaml").read_text()


def test_gradient_run_leaves_the_adapted_weights_unchanged(setup) -> None:
    spec = ModelSpec(str(setup["base"]), adapter=str(setup["a"]), device="cpu")
    scorer = HFTokenScorer.load(spec)
    before = {k: v.clone() for k, v in scorer.model.state_dict().items()}
    fingerprint = scorer.fingerprint
    ids = scorer.encode(MEMBERS)
    layers, norms = scorer.gradient_norms([([0, *x], 1) for x in ids])
    assert np.all(np.isfinite(norms)) and len(layers) > 1
    after = scorer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert scorer.fingerprint == fingerprint
    merged = HFTokenScorer.load(ModelSpec(str(setup["merged_a"]), device="cpu"))
    _, want = merged.gradient_norms([([0, *x], 1) for x in ids])
    np.testing.assert_allclose(norms, want, rtol=1e-4)


def test_adapter_needs_a_base_model(setup) -> None:
    with pytest.raises(InvalidParameterError, match=r"reference_adapter is .* has no base model"):
        miakit.RunConfig(model=str(setup["base"]), reference_adapter=str(setup["a"]))


def test_an_adapter_on_an_in_memory_model_is_refused(setup, tmp_path) -> None:
    scorer = HFTokenScorer.load(ModelSpec(str(setup["base"]), device="cpu"))
    with pytest.raises(InvalidParameterError, match=r"'target' is given in memory.*apply_adapter"):
        miakit.run(
            scorers={"target": scorer},
            model=str(setup["base"]),
            adapter=str(setup["a"]),
            members=str(setup["root"] / "m.jsonl"),
            nonmembers=str(setup["root"] / "n.jsonl"),
            out=str(tmp_path / "o"),
        )

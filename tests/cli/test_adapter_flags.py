"""The adapter of a model role in every spelling: ``--adapter`` (the target),
``--reference-adapter``..., ``--model-role ROLE.adapter=DIR``, the YAML keys and
``miakit.run(adapter=...)``'s keyword all fill ``models.ROLE.adapter``; the resolved YAML reads
back to the same config."""

from __future__ import annotations

import pytest
import yaml

from miakit.cli.main import build_parser
from miakit.cli.run import config_from_args
from miakit.config import ModelRef, RunConfig, make_config
from miakit.config.models import BUILTIN_ROLES


def config_of(*argv: str) -> RunConfig:
    return config_from_args(build_parser().parse_args(["run", *argv]))


def test_every_builtin_role_has_an_adapter_flag() -> None:
    for s in BUILTIN_ROLES:
        c = config_of(s.flag, "base", s.adapter_flag, f"lora-{s.role}")
        assert c.models[s.role] == ModelRef(path="base", adapter=f"lora-{s.role}"), s.flag
    assert [s.adapter_flag for s in BUILTIN_ROLES][:2] == ["--adapter", "--reference-adapter"]


def test_model_role_yaml_and_keyword_spellings_agree(tmp_path) -> None:
    want = {"target": ModelRef("t", adapter="a"), "shadow_1": ModelRef("s", adapter="sa")}
    flags = config_of(
        "--model", "t", "--adapter", "a",
        "--model-role", "shadow_1=s", "--model-role", "shadow_1.adapter=sa",
    )  # fmt: skip
    assert dict(flags.models) == want
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {"model": "t", "adapter": "a", "models": {"shadow_1": {"path": "s", "adapter": "sa"}}}
        )
    )
    assert dict(config_of("--config", str(cfg)).models) == want
    grouped = make_config(
        {
            "models": {
                "target": {"path": "t", "adapter": "a"},
                "shadow_1": {"path": "s", "adapter": "sa"},
            }
        }
    )
    assert dict(grouped.models) == want
    keyword = make_config(
        {"model": "t", "adapter": "a", "models": {"shadow_1": {"path": "s", "adapter": "sa"}}}
    )
    assert keyword == flags
    # the resolved YAML reads back unchanged; the flag overrides the file
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(flags.to_dict(), sort_keys=False))
    assert config_of("--config", str(again)) == flags
    assert config_of("--config", str(again), "--adapter", "b").models["target"].adapter == "b"


def test_adapter_problems_are_named() -> None:
    with pytest.raises(ValueError, match=r"adapter is 'a' but role 'target' has no base model"):
        make_config({"adapter": "a"})
    with pytest.raises(ValueError, match=r"reference_adapter: expected a string"):
        make_config({"model": "t", "reference": "r", "reference_adapter": 3})
    with pytest.raises(
        ValueError, match=r"'target' given twice: adapter: 'a' and models.target.adapter: 'b'"
    ):
        make_config({"model": "t", "adapter": "a", "models": {"target": {"adapter": "b"}}})


def test_cli_rerun_with_the_same_adapter_loads_no_weights(
    tmp_path, tiny_model_dir, tiny_llama, monkeypatch
) -> None:
    """``miakit run --adapter``: a rerun with the same adapter is served from the cache (no
    weights load); another adapter loads and scores anew."""
    import json

    import pandas as pd
    from transformers import AutoModelForCausalLM

    from adapters import lora_tensors, write_adapter
    from miakit.cli.main import main

    ranks = {"model.layers.0.self_attn.v_proj": 2}
    one = write_adapter(tmp_path / "one", lora_tensors(tiny_llama, ranks, seed=1), r=2, alpha=4)
    two = write_adapter(tmp_path / "two", lora_tensors(tiny_llama, ranks, seed=2), r=2, alpha=4)
    for name, texts in (
        ("m", ["The quick brown fox.", "In 1969, the Moon."]),
        ("n", ["Hi there.", "Glaciers carve."]),
    ):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": f"{name}{i}", "text": t}) + "\n" for i, t in enumerate(texts))
        )
    calls: list[str] = []
    original = AutoModelForCausalLM.from_pretrained

    def counting(path, *args, **kwargs):
        calls.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", counting)
    common = ["run", "--model", str(tiny_model_dir), "--reference", str(tiny_model_dir)]
    common += ["--members", str(tmp_path / "m.jsonl"), "--nonmembers", str(tmp_path / "n.jsonl")]
    common += ["--cache-dir", str(tmp_path / "cache"), "--attacks", "loss,reference,gradnorm"]
    common += ["--n-bootstrap", "20", "--no-progress", "--no-blind"]
    assert main([*common, "--adapter", str(one), "--out", str(tmp_path / "a")]) == 0
    assert len(calls) == 2  # the adapted target and the base reference: two models
    calls.clear()
    assert main([*common, "--adapter", str(one), "--out", str(tmp_path / "b")]) == 0
    assert calls == []
    assert main([*common, "--adapter", str(two), "--out", str(tmp_path / "c")]) == 0
    assert calls == [str(tiny_model_dir)]  # the target only: the base's signals are cached
    a, b, c = (pd.read_parquet(tmp_path / d / "scores.parquet") for d in "abc")
    pd.testing.assert_frame_equal(a, b)
    assert not a["loss"].equals(c["loss"])

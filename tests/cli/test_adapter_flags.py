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

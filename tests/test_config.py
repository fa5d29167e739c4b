"""Config errors say the key, the expected type, what arrived and an example."""

from __future__ import annotations

import pytest

from miakit.cli.main import main
from miakit.config import make_config
from miakit.errors import InvalidParameterError


@pytest.mark.parametrize(
    ("key", "value", "expected", "example"),
    [
        ("max_length", "lots", "an integer", "max_length: 2048"),
        ("max_length", True, "an integer", "max_length: 2048"),
        ("neighbor_fraction", "half", "a number", "neighbor_fraction: 0.15"),
        ("no_cache", "yes please", "true or false", "no_cache: true"),
        ("model", 3, "a string", "model: "),
        ("attacks", 5, "a list of attack names", "attacks: [loss, min_k]"),
        ("attack_params", {"min_k": 0.1}, "a mapping", "attack_params: {min_k: {k: 0.2}}"),
    ],
)
def test_type_errors_name_key_expected_type_value_and_example(key, value, expected, example):
    with pytest.raises(InvalidParameterError) as info:
        make_config({key: value}, source="run.yaml")
    msg = str(info.value)
    assert f"{key}: expected {expected}" in msg
    assert repr(value) in msg and type(value).__name__ in msg
    assert example in msg and "run.yaml" in msg


def test_yaml_type_error_through_the_cli(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text('max_length: "lots"\n')
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "max_length: expected an integer" in err and "'lots' (str)" in err
    assert "max_length: 2048" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--max-length", "lots", "expected an integer"),
        ("--seed", "1.5", "expected an integer"),
        ("--neighbor-fraction", "half", "expected a number"),
    ],
)
def test_flag_type_errors_say_what_is_expected(flag, value, expected, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and expected in err and repr(value) in err and "e.g." in err


# -- the schema: one declaration per setting -----------------------------------------------
def test_run_config_construction_checks_and_fills_roles():
    from miakit.config import ModelRef, RunConfig

    c = RunConfig(model="t", reference="r", reference_gguf_file="r.gguf", max_length=64)
    assert c.models == {"target": ModelRef("t"), "reference": ModelRef("r", "r.gguf")}
    assert c.max_length == 64 and c.batch_tokens is None and c.prefix_reuse is True
    assert RunConfig() == make_config({})
    with pytest.raises(InvalidParameterError, match="batch_tokens must be an integer >= 1"):
        RunConfig(batch_tokens=0)
    with pytest.raises(InvalidParameterError) as info:  # every problem at once
        RunConfig(batch_tokens=0, max_length=1, seed="x", modle="m")
    msg = str(info.value)
    assert "batch_tokens" in msg and "max_length" in msg and "seed: expected an integer" in msg
    assert "Did you mean 'model'" in msg


def test_grouped_flat_and_role_spellings_are_one_config():
    flat = make_config({"model": "t", "gguf_file": "g", "max_length": 64, "seed": 3})
    nested = make_config(
        {
            "models": {"target": {"path": "t", "gguf_file": "g"}},
            "engine": {"max_length": 64},
            "evaluation": {"seed": 3},
        }
    )
    assert flat == nested
    # the same value under two spellings is fine; two different values are not
    assert make_config({"max_length": 64, "engine": {"max_length": 64}}).max_length == 64
    with pytest.raises(InvalidParameterError, match="max_length given twice"):
        make_config({"max_length": 64, "engine": {"max_length": 32}})


def test_config_round_trips_through_yaml():
    import yaml

    from miakit.config import dump_yaml

    config = make_config(
        {
            "models": {
                "target": {"path": "t", "gguf_file": "t.gguf"},
                "reference_2": "r2",
                "shadow_17": {"path": "s", "gguf_file": "s.gguf"},
            },
            "sampling_model": "s0",
            "attacks": "loss, min_k",
            "attack_params": {"min_k": {"k": 0.3}},
            "engine": {"chunk_tokens": 9, "prefix_reuse": False, "batch_tokens": 128},
            "recall_separator": "\n\n",
            "blind_alpha": 0.1,
        }
    )
    text = dump_yaml(config)
    assert make_config(yaml.safe_load(text)) == config
    d = yaml.safe_load(text)
    assert d["model"] == "t" and d["gguf_file"] == "t.gguf" and d["sampling_model"] == "s0"
    assert set(d["models"]) == {"reference_2", "shadow_17"}  # built-in roles stay flat keys


def test_python_api_keys_keep_working():
    """``miakit.run(model=..., members=..., ...)`` and ``run(config, **more)`` build configs
    from the same keys (the runner merges ``more`` into ``config.to_dict()``)."""
    from miakit.config import ModelRef, merge

    base = make_config({"model": "t", "members": "m.jsonl", "nonmembers": "n.jsonl"})
    more = make_config(merge(base.to_dict(), {"models": {"target": "u"}, "reference": "r"}))
    assert more.models == {"target": ModelRef("u"), "reference": ModelRef("r")}
    assert make_config(merge(base.to_dict(), {"model": None})).models == {}


def test_role_flags_for_messages():
    from miakit.config import role_flag

    assert role_flag("target") == "--model" and role_flag("sampling_model") == "--sampling-model"
    assert role_flag("shadow_3") == "--model-role shadow_3=PATH"


def test_docs_come_from_the_schema():
    from miakit.config import KEYS, RunConfig

    doc = RunConfig.__doc__ or ""
    for name, key in KEYS.items():
        assert f"{name}: {key.setting.help}" in doc

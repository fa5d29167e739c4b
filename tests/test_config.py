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

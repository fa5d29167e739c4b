"""The command line's settings come from the config schema: checked before any model loads,
every old flag still parsed, engine options reaching the engine, model roles as data."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from miakit.cli.main import build_parser, main

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon.",
    "the cat sat on the mat and the dog sat on the log",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast.",
    "The committee postponed the vote until next spring.",
    "Glaciers carve valleys over thousands of years.",
    "Tax forms are due at the end of April in many countries.",
]


@pytest.fixture()
def inputs(tmp_path):
    paths = []
    for name, texts in (("members", MEMBERS), ("nonmembers", NONMEMBERS)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text(
            "".join(
                json.dumps({"id": f"{name[0]}{i}", "text": t}) + "\n" for i, t in enumerate(texts)
            )
        )
        paths.append(str(path))
    return ["--members", paths[0], "--nonmembers", paths[1]]


def quick(tmp_path):
    return ["--out", str(tmp_path / "o"), "--no-cache", "--no-progress", "--n-bootstrap", "20"]


# -- every value is checked before anything loads ---------------------------------------------
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--batch-tokens", "0"], "batch_tokens must be an integer >= 1, got 0"),
        (["--max-length", "1"], "max_length must be an integer >= 2, got 1"),
        (["--chunk-tokens", "0"], "chunk_tokens must be an integer >= 1, got 0"),
        (["--shard-size", "0"], "shard_size must be an integer >= 1, got 0"),
        (["--n-bootstrap", "0"], "n_bootstrap must be an integer >= 1, got 0"),
        (["--seed", "-1"], "seed must be an integer >= 0, got -1"),
        (["--recall-shots", "0"], "recall_shots must be an integer >= 1, got 0"),
        (["--neighbor-fraction", "0"], "neighbor_fraction must be a number in (0, 1]"),
        (["--dtype", "fp8"], "invalid choice: 'fp8'"),
        (["--device", "GPU please"], "device must be a string (auto, cpu, cuda or cuda:N)"),
    ],
)
def test_bad_flag_values_are_refused_before_any_model_loads(tmp_path, capsys, flags, message):
    # neither the model nor the data exist: the error must be about the value
    args = ["run", "--model", str(tmp_path / "no-model"), "--members", str(tmp_path / "m")]
    args += ["--nonmembers", str(tmp_path / "n"), "--out", str(tmp_path / "o"), *flags]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own refusals (choices) exit 2 too
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "never downloads" not in err and "does not exist" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("batch_tokens: 0\n", "batch_tokens must be an integer >= 1, got 0; e.g. batch_tokens: "),
        ("engine: {batch_tokens: 0}\n", "batch_tokens must be an integer >= 1, got 0"),
        ("max_length: 1\n", "max_length must be an integer >= 2, got 1; e.g. max_length: 2048"),
        ("engine: {seed: 1}\n", "'seed' belongs under evaluation:"),
        ("engine: {max_lenght: 9}\n", "Did you mean 'max_length'"),
        ("models: {reference: {pth: x}}\n", "Did you mean 'path'"),
        ("models: {Bad-Role: x}\n", "role names are lower-case letters"),
        (
            "reference_gguf_file: m.gguf\n",
            "role 'reference' has no model: give it with --reference",
        ),
    ],
)
def test_bad_yaml_values_are_refused_before_any_model_loads(tmp_path, capsys, yaml_text, message):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"model: {tmp_path / 'no-model'}\nmembers: {tmp_path / 'm'}\n" + yaml_text)
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and str(cfg) in err and "Traceback" not in err
    assert "never downloads" not in err
    assert not (tmp_path / "o").exists()


def test_the_same_role_given_twice_differently_is_an_error(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: a\nmodels: {target: {path: b}}\n")
    assert main(["run", "--config", str(cfg)]) == 2
    assert "model role 'target' given twice" in capsys.readouterr().err


# -- flags generated from the schema ---------------------------------------------------------
def test_generated_flags_are_in_help(capsys):
    from miakit.cli.flags import flag_keys

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for flag in ("--chunk-tokens", "--no-prefix-reuse", "--model-role", "--overlap-warn-fraction"):
        assert flag in out
    for key in flag_keys():
        assert key.flag in out
    assert "signal engine" in out and "(default: 2048)" in out


# -- engine options reach the engine -------------------------------------------------------------
@pytest.fixture()
def engine_kwargs(monkeypatch):
    import miakit.signals.plan as plan

    seen: list[dict] = []
    real = plan.SignalEngine

    def recording(scorer, **kwargs):
        seen.append(kwargs)
        return real(scorer, **kwargs)

    monkeypatch.setattr(plan, "SignalEngine", recording)
    return seen


def test_chunk_tokens_and_prefix_reuse_reach_the_engine(
    tmp_path, tiny_model_dir, inputs, engine_kwargs
):
    args = ["run", "--model", str(tiny_model_dir), *inputs, "--attacks", "loss,min_k"]
    assert main([*args, *quick(tmp_path)]) == 0
    assert engine_kwargs[-1]["chunk_tokens"] is None and engine_kwargs[-1]["prefix_reuse"] is True
    default = pd.read_parquet(tmp_path / "o" / "scores.parquet")

    flags = ["--chunk-tokens", "3", "--no-prefix-reuse", "--batch-tokens", "64"]
    assert main([*args, *quick(tmp_path), *flags]) == 0
    got = engine_kwargs[-1]
    assert (got["chunk_tokens"], got["prefix_reuse"], got["batch_tokens"]) == (3, False, 64)
    chunked = pd.read_parquet(tmp_path / "o" / "scores.parquet")  # same numbers, up to rounding
    pd.testing.assert_frame_equal(default, chunked, rtol=1e-5)
    resolved = yaml.safe_load((tmp_path / "o" / "config.resolved.yaml").read_text())
    assert resolved["chunk_tokens"] == 3 and resolved["prefix_reuse"] is False

    cfg = tmp_path / "run.yaml"  # the same through YAML, in its group
    cfg.write_text(yaml.safe_dump({"engine": {"chunk_tokens": 5, "prefix_reuse": False}}))
    assert main([*args, *quick(tmp_path), "--config", str(cfg)]) == 0
    assert (engine_kwargs[-1]["chunk_tokens"], engine_kwargs[-1]["prefix_reuse"]) == (5, False)


# -- model roles as data ---------------------------------------------------------------------
def test_reference_given_only_through_models(tmp_path, tiny_model_dir, tiny_reference_dir, inputs):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "models": {
                    "target": {"path": str(tiny_model_dir)},
                    "reference": {"path": str(tiny_reference_dir)},
                    "reference_2": str(tiny_reference_dir),  # a role no attack uses (yet)
                },
                "attacks": ["loss", "reference"],
            }
        )
    )
    assert main(["run", "--config", str(cfg), *inputs, *quick(tmp_path)]) == 0
    out = tmp_path / "o"
    scores = pd.read_parquet(out / "scores.parquet")
    assert scores["reference"].notna().all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["reference"]["name"] == str(tiny_reference_dir)
    assert metrics["setup"]["reference"] == str(tiny_reference_dir)
    assert metrics["setup"]["models"] == {"reference_2": str(tiny_reference_dir)}
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["reference"] == str(tiny_reference_dir)  # built-in roles: flat keys
    assert resolved["models"] == {
        "reference_2": {"path": str(tiny_reference_dir), "gguf_file": None}
    }


def test_model_role_flag_gives_any_role(tmp_path, tiny_model_dir, tiny_reference_dir, inputs):
    args = ["run", "--model-role", f"target={tiny_model_dir}", *inputs, *quick(tmp_path)]
    args += ["--model-role", f"reference={tiny_reference_dir}", "--attacks", "reference"]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["models"]["reference"]["name"] == str(tiny_reference_dir)


@pytest.mark.parametrize("value", ["reference", "=x", "Bad=x", "ref.dtype=x"])
def test_model_role_flag_syntax_errors(capsys, value):
    with pytest.raises(SystemExit) as info:
        main(["run", "--model-role", value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "expected ROLE=PATH or ROLE.KEY=VALUE" in err and repr(value) in err


def test_missing_role_flag_stays_the_shorthand(tmp_path, tiny_model_dir, inputs, capsys):
    args = ["run", "--model", str(tiny_model_dir), *inputs, *quick(tmp_path)]
    assert main([*args, "--attacks", "reference"]) == 2
    assert "attack 'reference' needs --reference" in capsys.readouterr().err


# -- config.resolved.yaml round-trips through --config --------------------------------------
def test_resolved_config_round_trips_through_config(tmp_path, tiny_model_dir, inputs):
    from miakit.cli.run import config_from_args

    args = ["run", "--model", str(tiny_model_dir), *inputs, *quick(tmp_path)]
    args += ["--attacks", "loss,min_k", "--param", "min_k.k=0.3", "--chunk-tokens", "7"]
    args += ["--model-role", f"shadow_1={tiny_model_dir}", "--model-role", "shadow_1.gguf_file=x"]
    args += ["--recall-separator", "\n\n", "--blind-alpha", "0.1"]
    assert main(args) == 0
    original = config_from_args(build_parser().parse_args(args))
    resolved = tmp_path / "o" / "config.resolved.yaml"
    again = config_from_args(build_parser().parse_args(["run", "--config", str(resolved)]))
    assert again == original
    assert again.models["shadow_1"].gguf_file == "x" and again.attack_params == {
        "min_k": {"k": 0.3}
    }
    assert again.attacks == ("loss", "min_k") and again.chunk_tokens == 7

"""Every flag of ``miakit run`` parses into the config key it always did; every setting's
generated flag parses its example value."""

from __future__ import annotations

import pytest
import yaml

from miakit.cli.flags import flag_keys
from miakit.cli.main import build_parser
from miakit.cli.run import config_from_args
from miakit.config import KEYS, ModelRef


def config_of(*argv: str):
    return config_from_args(build_parser().parse_args(["run", *argv]))


#: The flags of ``miakit run`` before the schema generated them: (argv, attribute, value).
OLD_FLAGS = [
    (["--members", "m.jsonl"], "members", "m.jsonl"),
    (["--nonmembers", "n.jsonl"], "nonmembers", "n.jsonl"),
    (["--data", "d.jsonl"], "data", "d.jsonl"),
    (["--attacks", "loss, min_k"], "attacks", ("loss", "min_k")),
    (["--param", "min_k.k=0.1"], "attack_params", {"min_k": {"k": 0.1}}),
    (["--out", "o"], "out", "o"),
    (["--max-length", "128"], "max_length", 128),
    (["--batch-tokens", "512"], "batch_tokens", 512),
    (["--device", "cpu"], "device", "cpu"),
    (["--dtype", "bfloat16"], "dtype", "bfloat16"),
    (["--bos", "never"], "bos", "never"),
    (["--shard-size", "10"], "shard_size", 10),
    (["--packing", "padded"], "packing", "padded"),
    (["--text-field", "body"], "text_field", "body"),
    (["--id-field", "key"], "id_field", "key"),
    (["--label-field", "y"], "label_field", "y"),
    (["--cache-dir", "c"], "cache_dir", "c"),
    (["--seed", "3"], "seed", 3),
    (["--n-bootstrap", "10"], "n_bootstrap", 10),
    (["--blind-permutations", "0"], "blind_permutations", 0),
    (["--blind-alpha", "0.1"], "blind_alpha", 0.1),
    (["--aux-nonmembers", "a.jsonl"], "aux_nonmembers", "a.jsonl"),
    (["--aux-members", "b.jsonl"], "aux_members", "b.jsonl"),
    (["--recall-shots", "2"], "recall_shots", 2),
    (["--recall-separator", "\n\n"], "recall_separator", "\n\n"),
    (["--calibrate", "c.jsonl"], "calibrate", "c.jsonl"),
    (["--frequency-corpus", "corpus"], "frequency_corpus", "corpus"),
    (["--neighbors", "3"], "neighbors", 3),
    (["--fill-mask-model", "bert"], "fill_mask_model", "bert"),
    (["--neighbor-fraction", "0.3"], "neighbor_fraction", 0.3),
    (["--neighbor-top-k", "5"], "neighbor_top_k", 5),
    (["--no-cache"], "no_cache", True),
    (["--allow-overlap"], "allow_overlap", True),
    (["--allow-pickle"], "allow_pickle", True),
    (["--trust-remote-code"], "trust_remote_code", True),
    (["--no-progress"], "progress", False),
    (["--compile"], "compile", True),
    (["--no-blind"], "blind", False),
]

#: The model-role flags: (argv, role, ModelRef).
OLD_ROLE_FLAGS = [
    (["--model", "t"], "target", ModelRef("t")),
    (["--model", "t", "--gguf-file", "t.gguf"], "target", ModelRef("t", "t.gguf")),
    (["--reference", "r"], "reference", ModelRef("r")),
    (["--reference", "r", "--reference-gguf-file", "g"], "reference", ModelRef("r", "g")),
    (["--performer", "p"], "performer", ModelRef("p")),
    (["--performer", "p", "--performer-gguf-file", "g"], "performer", ModelRef("p", "g")),
    (["--observer", "o"], "observer", ModelRef("o")),
    (["--observer", "o", "--observer-gguf-file", "g"], "observer", ModelRef("o", "g")),
    (["--sampling-model", "s"], "sampling_model", ModelRef("s")),
    (
        ["--sampling-model", "s", "--sampling-model-gguf-file", "g"],
        "sampling_model",
        ModelRef("s", "g"),
    ),
]


@pytest.mark.parametrize(("argv", "attribute", "value"), OLD_FLAGS, ids=lambda x: str(x))
def test_every_old_flag_still_parses(argv, attribute, value):
    assert getattr(config_of(*argv), attribute) == value


@pytest.mark.parametrize(("argv", "role", "ref"), OLD_ROLE_FLAGS, ids=lambda x: str(x))
def test_every_old_model_flag_fills_its_role(argv, role, ref):
    assert config_of(*argv).models == {role: ref}


def test_flags_override_the_yaml_key_by_key(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "models": {"target": {"path": "a", "gguf_file": "a.gguf"}, "extra": "e"},
                "attack_params": {"min_k": {"k": 0.5}, "zlib": {}},
                "engine": {"max_length": 64},
                "seed": 4,
            }
        )
    )
    c = config_of("--config", str(cfg), "--model", "b", "--param", "min_k.k=0.25", "--seed", "5")
    assert c.models == {"target": ModelRef("b", "a.gguf"), "extra": ModelRef("e")}
    assert c.attack_params == {"min_k": {"k": 0.25}, "zlib": {}}
    assert (c.max_length, c.seed) == (64, 5)


def test_unset_flags_leave_the_defaults():
    c = config_of()
    for name, key in KEYS.items():
        assert getattr(c, name) == key.default, name


def _example_argv(key) -> tuple[list[str], object]:
    """A command line that sets ``key`` to a value other than its default, and that value."""
    if key.base is bool:
        return [key.flag], not key.default
    if key.setting.choices:
        value = next(c for c in key.setting.choices if c != key.default)
        return [key.flag, value], value
    raw = key.setting.example if key.setting.example is not None else None
    value = yaml.safe_load(raw) if raw is not None else key.default
    if key.base is int:
        value = int(value or 0) + 1
    elif key.base is float:
        value = min(float(value) * 0.5, 0.5)
    elif value is None or key.base is str:
        value = "some/value" if key.name != "device" else "cuda:1"
    if isinstance(value, list):
        return [key.flag, ",".join(value)], tuple(value)
    return [key.flag, str(value)], value


@pytest.mark.parametrize("key", list(flag_keys()), ids=lambda k: k.name)
def test_every_setting_flag_parses(key):
    argv, value = _example_argv(key)
    assert getattr(config_of(*argv), key.name) == value

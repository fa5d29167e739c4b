"""One name per model role: the sampling model's role is ``sampling_model`` (as its flag
``--sampling-model`` and YAML key ``sampling_model``); the old ``sampling`` still works in
``scorers=``, ``models:`` and ``--model-role``, with a ``DeprecationWarning`` (issue 11)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import miakit
from auxmodels import write_jsonl
from miakit.backends.hf import HFTokenScorer
from miakit.cli.flags import values_of
from miakit.cli.main import build_parser
from miakit.config import ModelRef, RunConfig
from miakit.config.build import check
from miakit.errors import InvalidParameterError
from tinymodels import build_llama, build_tokenizer

MEMBERS = ["The quick brown fox jumps over the lazy dog.", "Paris is the capital of France."]
NONMEMBERS = ["Sourdough bread rises slowly.", "The committee postponed the vote."]


def _run(tmp_path, scorers):
    write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")
    write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")
    return miakit.run(
        members=str(tmp_path / "m.jsonl"),
        nonmembers=str(tmp_path / "n.jsonl"),
        attacks=["fast_detectgpt_ref"],
        scorers=scorers,
        no_cache=True,
        write=False,
        blind=False,
        n_bootstrap=10,
    )


def test_scorers_under_the_old_role_name_run_the_same_with_a_warning(tmp_path) -> None:
    tok = build_tokenizer(bos=True)
    target = HFTokenScorer(build_llama(len(tok), seed=0), tok, name="t")
    sampler = HFTokenScorer(build_llama(len(tok), seed=4), tok, name="s")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new = _run(tmp_path, {"target": target, "sampling_model": sampler})
    with pytest.warns(
        DeprecationWarning, match="'sampling' is deprecated; use 'sampling_model'"
    ) as w:
        old = _run(tmp_path, {"target": target, "sampling": sampler})
    assert w[0].filename == __file__  # the warning names the caller's line
    np.testing.assert_array_equal(
        old.outputs["fast_detectgpt_ref"].scores, new.outputs["fast_detectgpt_ref"].scores
    )
    assert old.metrics["models"]["sampling_model"]["name"] == "s"
    with pytest.raises(
        InvalidParameterError, match="'sampling_model' twice, as 'sampling' and as 'sampling_model'"
    ):
        _run(tmp_path, {"target": target, "sampling": sampler, "sampling_model": sampler})


def test_models_key_and_model_role_flag_accept_the_old_name_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="model role in models:"):
        config = RunConfig(model="t", models={"sampling": "s"})
    assert config.models["sampling_model"] == ModelRef("s")
    assert "sampling" not in config.models
    args = build_parser().parse_args(["run", "--model", "t", "--model-role", "sampling=s"])
    with pytest.warns(DeprecationWarning, match="use 'sampling_model'"):
        values = check(values_of(args))
    assert values["models"]["sampling_model"] == ModelRef("s")


def test_the_flag_and_the_role_are_one_config() -> None:
    a = RunConfig(model="t", sampling_model="s")
    b = RunConfig(model="t", models={"sampling_model": {"path": "s"}})
    assert a == b and a.models["sampling_model"] == ModelRef("s")


def test_old_and_new_name_together_are_an_error() -> None:
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(
            InvalidParameterError,
            match="'sampling_model' is given twice, as 'sampling_model' and as 'sampling'",
        ),
    ):
        RunConfig(model="t", models={"sampling_model": "a", "sampling": "b"})

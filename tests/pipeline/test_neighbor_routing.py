"""An in-memory ``perturber=`` writes only the neighbors it stands for: the paper's generator
feeds ``neighborhood``, never the variant ``neighborhood_causal``, and a custom perturber that
feeds ``neighborhood`` is named in the run's warnings as not the paper's method."""

from __future__ import annotations

import numpy as np
import pytest

import miakit
from auxmodels import build_bert, build_wordpiece_tokenizer, write_jsonl
from miakit.backends.hf import HFTokenScorer
from miakit.errors import InvalidParameterError
from miakit.perturb import DropoutSwapPerturber
from tinymodels import build_llama, build_tokenizer

MEMBERS = [
    "The quick brown fox jumps over the lazy dog today.",
    "Paris is the capital of France and a big city.",
    "In 1969 humans first walked on the Moon.",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast.",
    "The committee postponed the vote until next spring.",
    "A language model assigns probabilities to tokens.",
]


class FixedPerturber:
    """A custom generator: each text's neighbors are the text with one word dropped."""

    @property
    def identity(self):
        return {"kind": "fixed"}

    def neighbors(self, texts, m, seed):
        return [[" ".join(t.split()[:i] + t.split()[i + 1 :]) for i in range(m)] for t in texts]


def _run(tmp_path, perturber, attacks):
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")
    write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")
    tok = build_tokenizer()
    return miakit.run(
        members=str(tmp_path / "m.jsonl"),
        nonmembers=str(tmp_path / "n.jsonl"),
        attacks=attacks,
        scorers={"target": HFTokenScorer(build_llama(len(tok)), tok, name="t")},
        perturber=perturber,
        neighbors=2,
        no_cache=True,
        write=False,
        blind=False,
        n_bootstrap=10,
    )


def test_the_papers_generator_does_not_write_the_variants_neighbors(tmp_path) -> None:
    tok = build_wordpiece_tokenizer()
    paper = DropoutSwapPerturber(build_bert(len(tok)), tok, top_k=4)
    result = _run(tmp_path, paper, ["neighborhood", "neighborhood_causal"])
    hoods = result.metrics["auxiliary"]["neighbors"]
    assert hoods["neighborhood"]["perturber"]["kind"] == "mlm_dropout_swap"
    assert hoods["neighborhood_causal"]["perturber"]["kind"] == "causal_lm"
    assert not any("not the paper's method" in w for w in result.metrics["warnings"])


def test_a_custom_perturber_feeding_the_papers_attack_is_named_in_the_warnings(tmp_path) -> None:
    result = _run(tmp_path, FixedPerturber(), ["neighborhood"])
    assert result.metrics["auxiliary"]["neighbors"]["neighborhood"]["perturber"]["kind"] == (
        "fixed"
    )
    (warning,) = [w for w in result.metrics["warnings"] if "not the paper's method" in w]
    assert "neighborhood" in warning and "'fixed'" in warning


class OldSpellingPerturber:
    """A perturber written before issue 11: its method is ``neighbours``."""

    @property
    def identity(self):
        return {"kind": "fixed"}

    def neighbours(self, texts, m, seed):
        return FixedPerturber().neighbors(texts, m, seed)


def test_a_perturber_of_the_old_spelling_still_runs_with_a_warning(tmp_path) -> None:
    with pytest.warns(DeprecationWarning, match="'neighbours' is deprecated; use 'neighbors'"):
        old = _run(tmp_path / "old", OldSpellingPerturber(), ["neighborhood"])
    new = _run(tmp_path / "new", FixedPerturber(), ["neighborhood"])
    np.testing.assert_array_equal(
        old.outputs["neighborhood"].scores, new.outputs["neighborhood"].scores
    )


def test_an_object_that_is_no_perturber_is_refused_by_name(tmp_path) -> None:
    with pytest.raises(InvalidParameterError, match=r"neighbors\(texts, m, seed\).*got object"):
        _run(tmp_path, object(), ["neighborhood"])


def test_the_builtin_perturbers_keep_the_old_method_name() -> None:
    tok = build_wordpiece_tokenizer()
    paper = DropoutSwapPerturber(build_bert(len(tok)), tok, top_k=4)
    with pytest.warns(DeprecationWarning, match="DropoutSwapPerturber.neighbours"):
        old = paper.neighbours(MEMBERS, 2, 0)
    assert old == paper.neighbors(MEMBERS, 2, 0)

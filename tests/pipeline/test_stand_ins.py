"""``miakit.run(stand_ins=...)``: an in-memory object for any input provider that declares a
stand-in (``Input(stand_in=NAME)``), not only the built-in ``perturber=``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import miakit
from auxmodels import MEMBERS, NONMEMBERS, write_jsonl
from miakit.attacks import AttackOutput, AttackSpec, SignalView, register_attack
from miakit.attacks import _registry as attack_registry
from miakit.backends.hf import HFTokenScorer
from miakit.data import Sample
from miakit.errors import InvalidParameterError
from miakit.pipeline import Input, InputProvider, register_provider
from miakit.pipeline import inputs as provider_registry
from miakit.pipeline.inputs import given_stand_ins
from miakit.signals.plan import SignalPlanner
from tinymodels import build_llama, build_tokenizer


class Lengths:
    """The in-memory object: scores a text by its length times a factor."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.factor * len(t) for t in texts])


@pytest.fixture()
def fresh(monkeypatch):
    monkeypatch.setattr(attack_registry, "_DEFAULT", attack_registry.default_registry().copy())
    monkeypatch.setattr(provider_registry, "_DEFAULT", provider_registry.default_providers().copy())

    @register_provider(
        "lengths", inputs=[Input("extra:lengths", "an in-memory scorer", "data", "lengths")]
    )
    class LengthsProvider(InputProvider):
        def extras(
            self,
            wanted: set[str],
            planner: SignalPlanner,
            texts: Sequence[str],
            specs: Sequence[AttackSpec],
            *,
            evaluation: Sequence[Sample] | None,
        ) -> dict[str, Any]:
            if "lengths" not in wanted:
                return {}
            return {"lengths": self.run.stand_ins["lengths"](texts)}

    @register_attack("by_length", needs=("token_log_prob",), extras=("lengths",), paper="n/a")
    def by_length(signals: SignalView) -> AttackOutput:
        """The stand-in's score as the attack's (a test double)."""
        return AttackOutput.from_scores(np.asarray(signals.extras["lengths"], dtype=float))


def test_a_providers_stand_in_reaches_it_through_run(fresh, tmp_path):
    tok = build_tokenizer(bos=True)
    scorer = HFTokenScorer(build_llama(len(tok)), tok, name="target")
    result = miakit.run(
        members=str(write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")),
        nonmembers=str(write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")),
        attacks=["by_length"],
        scorers={"target": scorer},
        stand_ins={"lengths": Lengths(2.0)},
        write=False,
        no_cache=True,
        blind=False,
    )
    texts = [s.text for s in result.samples]
    np.testing.assert_allclose(result.scores["by_length"], [2.0 * len(t) for t in texts])


def test_without_its_stand_in_the_attack_is_skipped_naming_it(fresh, tmp_path):
    tok = build_tokenizer(bos=True)
    scorer = HFTokenScorer(build_llama(len(tok)), tok, name="target")
    result = miakit.run(
        members=str(write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")),
        nonmembers=str(write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")),
        scorers={"target": scorer},
        write=False,
        no_cache=True,
        blind=False,
    )
    assert "by_length" in result.skipped


def test_unknown_stand_in_is_an_error_listing_the_known_ones():
    expected = r"no input provider takes 'lenghts'.*perturber"
    with pytest.raises(InvalidParameterError, match=expected):
        given_stand_ins({"lenghts": object()})


def test_perturber_given_twice_is_an_error():
    with pytest.raises(InvalidParameterError, match="given twice"):
        given_stand_ins({"perturber": object()}, perturber=object())


def test_none_values_are_not_stand_ins():
    assert given_stand_ins({"perturber": None}) == {}

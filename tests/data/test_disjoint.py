"""Auxiliary/evaluation disjointness: exact and normalised-text matches."""

from __future__ import annotations

import pytest

from miakit.data import Sample
from miakit.data.disjoint import find_matches, normalise_text, require_disjoint
from miakit.errors import DataError


def s(i: str, text: str) -> Sample:
    return Sample(id=i, text=text)


def test_normalise_text() -> None:
    assert normalise_text("Hello,  World!\n") == "hello world"
    assert normalise_text("“Quoted” — text…") == "quoted text"
    assert normalise_text("ＦＵＬＬ width") == "full width"  # NFKC
    assert normalise_text("Straße") == normalise_text("STRASSE")  # casefold
    assert normalise_text("!!!") == ""


def test_find_matches_exact_and_normalised() -> None:
    evaluation = [s("e1", "The cat sat."), s("e2", "A dog ran"), s("e3", "Unrelated")]
    aux = [s("a1", "The cat sat."), s("a2", "a DOG, ran!"), s("a3", "Other"), s("a4", "...")]
    matches = find_matches(aux, evaluation)
    assert [(m.aux_id, m.eval_id, m.kind) for m in matches] == [
        ("a1", "e1", "exact"),
        ("a2", "e2", "normalised"),
    ]


def test_require_disjoint_names_ids() -> None:
    evaluation = [s("m1", "Paris is the capital of France."), s("n1", "Glaciers carve valleys")]
    with pytest.raises(DataError) as exc:
        require_disjoint(
            [s("x7", "glaciers  carve valleys!"), s("x8", "Paris is the capital of France.")],
            evaluation,
            what="--aux-nonmembers (aux.jsonl)",
        )
    msg = str(exc.value)
    assert "--aux-nonmembers (aux.jsonl)" in msg and "2 text(s)" in msg
    assert "'x7' ≈ evaluation 'n1' (normalised)" in msg
    assert "'x8' = evaluation 'm1' (exact)" in msg
    require_disjoint([s("ok", "Something else")], evaluation, what="--aux-members")

"""Auxiliary/evaluation disjointness: exact and normalised-text matches."""

from __future__ import annotations

import pytest

from miakit.data import Sample
from miakit.data.disjoint import (
    find_containments,
    find_matches,
    normalise_text,
    require_disjoint,
)
from miakit.errors import DataError


def s(i: str, text: str) -> Sample:
    return Sample(id=i, text=text)


def test_normalise_text() -> None:
    assert normalise_text("Hello,  World!\n") == "hello world"
    assert normalise_text("“Quoted” — text…") == "quoted text"
    assert normalise_text("ＦＵＬＬ width") == "full width"  # NFKC
    assert normalise_text("Straße") == normalise_text("STRASSE")  # casefold
    assert normalise_text("!!!") == ""
    assert normalise_text("zero\u200bwidth, soft\u00adhyphen") == "zerowidth softhyphen"  # Cf


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


#: Evaluation texts longer than the 13-word n-gram, sharing no 13-gram with each other.
LONG = [
    "The river valley was settled by farmers who grew barley and wheat on the terraces above "
    "the flood plain, and every spring they repaired the stone walls that the rains had broken.",
    "A small observatory on the ridge recorded the positions of comets for more than forty "
    "years, and its notebooks are now kept in the library of the university in the town.",
]


def test_an_evaluation_text_plus_one_sentence_is_refused() -> None:
    """WikiMIA's longer splits extend its shorter ones: a prefix drawn from another split holds
    the evaluation text verbatim, although no two strings are equal."""
    evaluation = [Sample(id="m0", text=LONG[0], source="m.jsonl:1"), s("n0", LONG[1])]
    aux = [
        s("ok", "Owls hunt at night in the forest."),
        Sample(id="x1", text=LONG[1] + " It closed in 1990.", source="aux.jsonl:2"),
    ]
    with pytest.raises(DataError) as exc:
        require_disjoint(aux, evaluation, what="--aux-nonmembers (aux.jsonl)")
    msg = str(exc.value)
    assert "--aux-nonmembers (aux.jsonl)" in msg and "1 text(s)" in msg
    assert "'x1' (aux.jsonl:2) contains evaluation 'n0'" in msg
    assert "containment 1.00" in msg and "13-grams" in msg
    assert "Remove" in msg and "'ok'" not in msg


def test_a_long_sub_passage_of_an_evaluation_text_is_refused() -> None:
    evaluation = [Sample(id="m0", text=LONG[0], source="m.jsonl:1")]
    passage = " ".join(LONG[0].split()[3:25])  # 22 of its 31 words
    with pytest.raises(DataError) as exc:
        require_disjoint([s("x0", passage)], evaluation, what="--calibrate (c.jsonl)")
    msg = str(exc.value)
    assert "'x0' is inside evaluation 'm0' (m.jsonl:1)" in msg and "containment 1.00" in msg


def test_unrelated_and_loosely_related_texts_pass() -> None:
    evaluation = [s("m0", LONG[0]), s("n0", LONG[1])]
    aux = [
        s("a0", "Farmers grew barley in the valley."),  # shares words, no long phrase
        s(
            "a1",
            " ".join(LONG[0].split()[:10]) + " and then the story turns to something else "
            "entirely, about ships and harbours and the trade in salt fish across the sea.",
        ),
        s("a2", "ok"),  # too short for any phrase: exact and normalised copies only
    ]
    require_disjoint(aux, evaluation, what="--aux-members")
    assert not [c for c in find_containments(aux, evaluation) if c.refused()]


def test_short_texts_are_compared_at_their_own_length() -> None:
    """A text of 3..12 words uses n = its word count: an evaluation text of 7 words inside an
    auxiliary text is refused; fewer than 3 words count only as exact/normalised copies."""
    evaluation = [s("e0", "Glaciers carve valleys over thousands of years."), s("e1", "Owls")]
    aux = [s("x0", "Far north, glaciers carve valleys over thousands of years. Slowly.")]
    with pytest.raises(DataError, match="'x0' contains evaluation 'e0'"):
        require_disjoint(aux, evaluation, what="--aux-nonmembers")
    require_disjoint([s("x1", "Owls hunt at night.")], evaluation, what="--aux-nonmembers")
    # a phrase of fewer than 13 words inside an evaluation text is not refused
    require_disjoint([s("x3", "carve valleys over thousands")], evaluation, what="--aux-members")
    require_disjoint([s("x4", " ".join(LONG[0].split()[:12]))], [s("m0", LONG[0])], what="-")
    with pytest.raises(DataError, match="'x2' ≈ evaluation 'e1'"):
        require_disjoint([s("x2", "owls!")], evaluation, what="--aux-nonmembers")


def test_many_contained_pairs_are_listed_ten_then_counted() -> None:
    evaluation = [s(f"e{k}", f"{LONG[0]} Number {k} of them.") for k in range(12)]
    aux = [s(f"x{k}", f"{LONG[0]} Number {k} of them. And more.") for k in range(12)]
    with pytest.raises(DataError) as exc:
        require_disjoint(aux, evaluation, what="--aux-nonmembers")
    msg = str(exc.value)
    assert "and " in msg and "more" in msg and "'x0' contains evaluation 'e0'" in msg

"""ReCaLL prefixes: seeded shots, independent streams, the separator, too few texts."""

from __future__ import annotations

import pytest

from miakit.data import Sample
from miakit.errors import InvalidParameterError
from miakit.pipeline.providers.recall_prefix import build_prefix, draw_shots

POOL = [Sample(id=f"a{i}", text=f"Auxiliary text number {i}.") for i in range(12)]


def test_seeded_and_without_replacement() -> None:
    a = draw_shots(POOL, 5, seed=3, stream=0)
    assert [s.id for s in a] == [s.id for s in draw_shots(POOL, 5, seed=3, stream=0)]
    assert len({s.id for s in a}) == 5
    assert [s.id for s in a] != [s.id for s in draw_shots(POOL, 5, seed=4, stream=0)]
    assert [s.id for s in a] != [s.id for s in draw_shots(POOL, 5, seed=3, stream=1)]


def test_prefix_context_joins_shots_in_draw_order() -> None:
    p = build_prefix("recall_nonmember", POOL, n=3, seed=0, separator="\n\n", source="f.jsonl")
    texts = {s.id: s.text for s in POOL}
    assert p.context.name == "recall_nonmember"
    assert p.context.prefix == "\n\n".join(texts[i] for i in p.shot_ids)
    d = p.to_dict()
    assert d["n_shots"] == 3 and d["separator"] == "\n\n" and d["source"] == "f.jsonl"
    default = build_prefix("recall_nonmember", POOL, n=3, seed=0)
    assert default.context.prefix == "".join(texts[i] for i in default.shot_ids)


@pytest.mark.parametrize(("n", "match"), [(13, "at least 13"), (0, ">= 1")])
def test_bad_shot_counts(n, match) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        draw_shots(POOL, n, seed=0, stream=0)

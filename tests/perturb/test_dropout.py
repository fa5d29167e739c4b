"""The paper's neighbor generator (arXiv 2305.18462): embedding dropout, ranked single swaps."""

from __future__ import annotations

import re

import pytest
import torch

from auxmodels import build_bert, build_wordpiece_tokenizer, save_fill_mask_model
from miakit.errors import InvalidParameterError
from miakit.perturb import DropoutSwapPerturber
from miakit.perturb.base import generator_for

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "...",
]


@pytest.fixture(scope="module")
def tok():
    return build_wordpiece_tokenizer()


@pytest.fixture(scope="module")
def model64(tok):
    return build_bert(len(tok)).double()


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def test_single_word_swaps_ranked_by_mlm_score(tok, model64) -> None:
    p = DropoutSwapPerturber(model64, tok, top_k=4)
    for text in TEXTS[:2]:
        ranked = p.ranked_swaps(text, seed=0)
        assert len(ranked) > 4
        scores = [s.score for s in ranked]
        assert scores == sorted(scores, reverse=True)
        assert all(0 < s <= 1 for s in scores)
        # at most top_k proposals per word, never the original word in any letter case
        per_word: dict[int, int] = {}
        for s in ranked:
            per_word[s.start] = per_word.get(s.start, 0) + 1
            assert s.replacement.casefold() != s.original.casefold()
            assert text[s.start : s.end] == s.original
        assert max(per_word.values()) <= 4
        # the neighbors are the best distinct swaps, in rank order, each one word changed
        neighbors = p.neighbors([text], 6, seed=0)[0]
        expected: list[str] = []
        for s in ranked:
            if s.apply(text) not in expected:
                expected.append(s.apply(text))
        assert neighbors == expected[:6]
        for n in neighbors:
            old, new = words(text), words(n)
            assert len(new) == len(old)
            assert sum(a != b for a, b in zip(old, new, strict=True)) == 1
            assert re.sub(r"\w+", "W", n) == re.sub(r"\w+", "W", text)  # the rest unchanged
    assert p.neighbors(["..."], 5, seed=0) == [[]]  # no word, no neighbor


def test_deterministic_with_a_seed(tok, model64, monkeypatch) -> None:
    p = DropoutSwapPerturber(model64, tok, top_k=5)
    a = p.neighbors(TEXTS, 5, seed=1)
    assert a == DropoutSwapPerturber(model64, tok, top_k=5, batch_size=3).neighbors(TEXTS, 5, 1)
    assert a[::-1] == p.neighbors(TEXTS[::-1], 5, seed=1)  # independent of order/batching
    with monkeypatch.context() as mp:  # one position per pass (the logit budget of long texts)
        mp.setattr("miakit.perturb.dropout._LOGIT_BUDGET", 1)
        assert p.neighbors(TEXTS, 5, seed=1) == a
    assert a != p.neighbors(TEXTS, 5, seed=2)  # the dropout masks come from the seed
    # without dropout the ranking does not depend on the seed at all
    plain = DropoutSwapPerturber(model64, tok, dropout=0.0, top_k=5)
    assert plain.neighbors(TEXTS, 5, seed=1) == plain.neighbors(TEXTS, 5, seed=2)


def _slow_ranked_swaps(model, tok, text, seed, *, p, k):
    """An independent per-position recomputation of the paper's ranking, unbatched, fp64."""
    enc = tok(text, return_offsets_mapping=True)
    ids = enc["input_ids"]
    spans = {m.span() for m in re.finditer(r"\w+", text)}
    vocab = tok.convert_ids_to_tokens(list(range(len(tok))))
    special = set(tok.all_special_ids)

    def whole(i):
        return i not in special and vocab[i].isalnum()

    spots = [
        (t, a, b)
        for t, (a, b) in enumerate(enc["offset_mapping"])
        if (a, b) in spans and ids[t] not in special and whole(ids[t])
    ]
    g = generator_for(seed, text)
    hidden = model.config.hidden_size
    masks = [(torch.rand(hidden, generator=g) >= p).double() for _ in spots]
    out = []
    for order, ((t, a, b), mask) in enumerate(zip(spots, masks, strict=True)):
        with torch.no_grad():
            emb = model.get_input_embeddings()(torch.tensor([ids])).clone()
            emb[0, t] = emb[0, t] * mask / (1 - p)
            probs = torch.softmax(model(inputs_embeds=emb).logits[0, t].double(), -1)
        original = text[a:b]
        cands = [
            (float(probs[c]), c)
            for c in range(len(vocab))
            if whole(c) and vocab[c].casefold() != original.casefold() and c != ids[t]
        ]
        cands.sort(key=lambda x: -x[0])
        for rank, (pc, c) in enumerate(cands[:k]):
            word = vocab[c].capitalize() if original[0].isupper() else vocab[c]
            score = pc / (1 - float(probs[ids[t]]))
            out.append((score, order, rank, a, word))
    out.sort(key=lambda x: (-x[0], x[1], x[2]))
    return [(a, word, score) for score, _, _, a, word in out]


@pytest.mark.parametrize("dropout", [0.7, 0.0])
def test_matches_a_slow_recomputation(tok, model64, dropout) -> None:
    text = "the dog sat on the log, and the cat ran."
    p = DropoutSwapPerturber(model64, tok, dropout=dropout, top_k=3, batch_size=4)
    fast = [(s.start, s.replacement, s.score) for s in p.ranked_swaps(text, seed=5)]
    slow = _slow_ranked_swaps(model64, tok, text, 5, p=dropout, k=3)
    assert [x[:2] for x in fast] == [x[:2] for x in slow]
    assert [x[2] for x in fast] == pytest.approx([x[2] for x in slow], rel=1e-9)


def test_load_from_a_local_folder(tmp_path) -> None:
    folder = save_fill_mask_model(tmp_path / "bert")
    p = DropoutSwapPerturber.load(str(folder), device="cpu", top_k=3)
    assert p.identity["kind"] == "mlm_dropout_swap" and p.identity["dropout"] == 0.7
    assert p.identity != DropoutSwapPerturber.load(str(folder), device="cpu").identity
    assert p.neighbors(TEXTS[:1], 2, seed=0)[0]


def test_in_memory_models_are_fingerprinted_by_their_weights(tok) -> None:
    """Without a fingerprint, the weights are hashed (it keys the neighbor cache): two
    different models with one tokenizer must not share cached neighbors, and a model
    changed in place is hashed again (review of issue 10)."""
    a = DropoutSwapPerturber(build_bert(len(tok), seed=3), tok)
    b = DropoutSwapPerturber(build_bert(len(tok), seed=99), tok)
    assert a.fingerprint and a.fingerprint != b.fingerprint
    assert a.identity["model"] != b.identity["model"]
    assert DropoutSwapPerturber(build_bert(len(tok), seed=3), tok).fingerprint == a.fingerprint
    before = a.fingerprint
    with torch.no_grad():
        next(a.model.parameters()).add_(0.5)
    assert a.fingerprint != before


def test_a_loaded_model_keeps_its_files_fingerprint_until_changed(tmp_path) -> None:
    from miakit.backends.hf import fingerprint_files

    folder = save_fill_mask_model(tmp_path / "bert")
    p = DropoutSwapPerturber.load(str(folder), device="cpu")
    assert p.fingerprint == fingerprint_files(folder, None)
    with torch.no_grad():
        next(p.model.parameters()).mul_(2.0)
    assert p.fingerprint != fingerprint_files(folder, None)


def test_the_neighbor_cache_tells_two_in_memory_models_apart(tmp_path, tok) -> None:
    """The reviewer's reproduction: two BERTs with one tokenizer gave identical
    ``neighborhood`` scores with the neighbor cache on."""
    import miakit
    from auxmodels import write_jsonl
    from miakit.backends.hf import HFTokenScorer
    from tinymodels import build_llama, build_tokenizer

    write_jsonl(tmp_path / "m.jsonl", [*TEXTS[:2], "In 1969 humans first walked on the Moon."], "m")
    write_jsonl(
        tmp_path / "n.jsonl",
        [
            "Sourdough bread rises slowly because of wild yeast.",
            "The committee postponed the vote until next spring.",
            "A language model assigns probabilities to tokens.",
        ],
        "n",
    )
    causal = build_tokenizer()
    target = HFTokenScorer(build_llama(len(causal)), causal, name="t")

    def scores(seed: int, cache: bool) -> list[float]:
        tok("reset")  # a plain call: the same tokenizer state in every run
        result = miakit.run(
            members=str(tmp_path / "m.jsonl"),
            nonmembers=str(tmp_path / "n.jsonl"),
            attacks=["neighborhood"],
            scorers={"target": target},
            perturber=DropoutSwapPerturber(build_bert(len(tok), seed=seed), tok, top_k=4),
            cache_dir=str(tmp_path / "cache"),
            no_cache=not cache,
            write=False,
            n_bootstrap=10,
        )
        return list(result.scores["neighborhood"])

    first = scores(3, cache=True)
    second = scores(99, cache=True)
    assert second != first
    assert second == scores(99, cache=False)


@pytest.mark.parametrize(("kw", "match"), [({"dropout": 1.0}, r"\[0, 1\)"), ({"top_k": 0}, ">= 1")])
def test_bad_settings(tok, model64, kw, match) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        DropoutSwapPerturber(model64, tok, **kw)

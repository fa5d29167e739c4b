"""The signal engine against an fp64 recomputation from full logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miakit.backends.hf import HFTokenScorer
from miakit.errors import InvalidParameterError
from miakit.signals import LOWERCASE, PLAIN, TOKEN_STATS, Context
from miakit.signals.cache import SignalCache
from miakit.signals.engine import SignalEngine
from tinymodels import build_gpt2, build_llama, build_tokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France",
    "a",
    "Ünïcode ✓ text, with more words so that it is the longest of all the texts here.",
    "In 1969, humans first walked on the Moon.",
    "x y",
]


def reference_stats(model, lead, prefix_ids, text_ids):
    """Obviously-correct fp64 statistics from the full logits of one unbatched input."""
    ids = list(lead) + list(prefix_ids) + list(text_ids)
    first = max(1, len(lead) + len(prefix_ids))
    model64 = model.double()
    try:
        with torch.no_grad():
            logits = model64(torch.tensor([ids])).logits[0].double()
    finally:
        model.float()
    out = {s: [] for s in TOKEN_STATS}
    for t in range(first, len(ids)):
        z = logits[t - 1]
        logp = torch.log_softmax(z, -1)
        p = logp.exp()
        mu = float((p * logp).sum())
        out["token_log_prob"].append(float(logp[ids[t]]))
        out["mean_log_prob"].append(mu)
        out["var_log_prob"].append(float((p * (logp - mu) ** 2).sum()))
        out["token_rank"].append(int((z > z[ids[t]]).sum()))
        if "token_id" in out:
            out["token_id"].append(ids[t])
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}


def check_parity(model, tok, texts, table, *, lead, context=PLAIN):
    prefix_ids = tok(context.prefix, add_special_tokens=False).input_ids if context.prefix else []
    for i, text in enumerate(texts):
        text_ids = tok(context.apply(text), add_special_tokens=False).input_ids
        ref = reference_stats(model, lead, prefix_ids, text_ids)
        for stat in TOKEN_STATS:
            got = table.rows(stat)[i]
            assert got.shape == ref[stat].shape, (stat, i)
            np.testing.assert_allclose(got, ref[stat], atol=1e-4, rtol=1e-4, err_msg=stat)


@pytest.mark.parametrize("bos", [True, False])
def test_llama_parity_all_stats(bos):
    tok = build_tokenizer(bos=bos)
    model = build_llama(len(tok))
    engine = SignalEngine(HFTokenScorer(model, tok), progress=False, batch_tokens=128)
    table = engine.compute(TEXTS, stats=TOKEN_STATS)
    lead = [0] if bos else []
    assert list(engine.lead) == lead
    check_parity(model, tok, TEXTS, table, lead=lead)
    # several batches were used (budget 128 < all texts), and results do not depend on it
    assert engine.n_forward_batches > 1


def test_gpt2_parity_and_first_token_not_scored():
    tok = build_tokenizer(bos=False)
    model = build_gpt2(len(tok))
    engine = SignalEngine(HFTokenScorer(model, tok), progress=False)
    table = engine.compute(TEXTS, stats=TOKEN_STATS)
    check_parity(model, tok, TEXTS, table, lead=[])
    n_ids = [len(tok(t, add_special_tokens=False).input_ids) for t in TEXTS]
    assert list(table.n_scored) == [n - 1 for n in n_ids]


def test_bos_always_scores_first_token():
    tok = build_tokenizer(bos=False)
    model = build_llama(len(tok))
    engine = SignalEngine(HFTokenScorer(model, tok), progress=False, bos="always")
    table = engine.compute(TEXTS, stats=["token_log_prob"])
    n_ids = [len(tok(t, add_special_tokens=False).input_ids) for t in TEXTS]
    assert list(table.n_scored) == n_ids
    check_parity(model, tok, TEXTS[:2], engine.compute(TEXTS[:2], stats=TOKEN_STATS), lead=[0])


def test_lowercase_and_prefix_contexts_are_masked():
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    engine = SignalEngine(HFTokenScorer(model, tok), progress=False)
    low = engine.compute(TEXTS, stats=TOKEN_STATS, context=LOWERCASE)
    check_parity(model, tok, TEXTS, low, lead=[0], context=LOWERCASE)
    ctx = Context("shots", prefix="The cat sat on the mat. Berlin is a city.")
    pre = engine.compute(TEXTS, stats=TOKEN_STATS, context=ctx)
    check_parity(model, tok, TEXTS, pre, lead=[0], context=ctx)
    plain = engine.compute(TEXTS, stats=["token_log_prob"])
    # only the text's tokens are scored (BOS tokenizer: the same count as without prefix),
    # and the prefix changes their values
    assert list(pre.n_scored) == list(plain.n_scored)
    assert not np.allclose(pre.rows("token_log_prob")[0], plain.rows("token_log_prob")[0])


def test_truncation_flag_and_lengths():
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    engine = SignalEngine(HFTokenScorer(model, tok), progress=False, max_length=8)
    table = engine.compute(TEXTS, stats=["token_log_prob"])
    n_ids = np.array([len(tok(t, add_special_tokens=False).input_ids) for t in TEXTS])
    np.testing.assert_array_equal(table.n_text_tokens, n_ids)
    np.testing.assert_array_equal(table.truncated, n_ids > 7)
    assert table.n_scored.max() <= 7
    full = SignalEngine(HFTokenScorer(model, tok), progress=False).compute(
        TEXTS, stats=["token_log_prob"]
    )
    for i in range(len(TEXTS)):  # truncation keeps the head of the text unchanged
        k = table.n_scored[i]
        np.testing.assert_allclose(
            table.rows("token_log_prob")[i], full.rows("token_log_prob")[i][:k], atol=1e-5
        )


def test_prefix_longer_than_max_length_is_an_error():
    tok = build_tokenizer(bos=True)
    engine = SignalEngine(HFTokenScorer(build_llama(len(tok)), tok), progress=False, max_length=4)
    with pytest.raises(InvalidParameterError, match="max_length"):
        engine.compute(
            ["hello"], stats=["token_log_prob"], context=Context("p", prefix="a b c d e")
        )


def test_cache_rerun_does_no_forward_pass(tmp_path):
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    cache = SignalCache(tmp_path)
    first = SignalEngine(HFTokenScorer(model, tok), progress=False, cache=cache)
    a = first.compute(TEXTS, stats=TOKEN_STATS)
    assert first.n_forward_batches >= 1

    scorer = HFTokenScorer(model, tok)

    def boom(*args, **kwargs):
        raise AssertionError("a forward pass ran although every text was cached")

    scorer.hidden_states = boom  # type: ignore[method-assign]
    second = SignalEngine(scorer, progress=False, cache=SignalCache(tmp_path))
    b = second.compute(list(reversed(TEXTS)), stats=["token_log_prob", "token_rank"])
    assert second.n_forward_batches == 0
    for i, j in enumerate(reversed(range(len(TEXTS)))):
        np.testing.assert_array_equal(b.rows("token_rank")[i], a.rows("token_rank")[j])
        np.testing.assert_array_equal(b.truncated[i], a.truncated[j])


def test_cache_scores_only_new_texts_and_keys_on_model(tmp_path):
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    cache = SignalCache(tmp_path)
    SignalEngine(HFTokenScorer(model, tok), progress=False, cache=cache).compute(
        TEXTS[:3], stats=["token_log_prob"]
    )
    engine = SignalEngine(HFTokenScorer(model, tok), progress=False, cache=cache)
    calls = []
    original = engine.score

    def spy(inputs, stats, *, desc):
        calls.append(len(inputs))
        return original(inputs, stats, desc=desc)

    engine.score = spy  # type: ignore[method-assign]
    engine.compute(TEXTS, stats=["token_log_prob"])
    assert calls == [len(TEXTS) - 3]
    # a different model (other weights) never reads these rows
    other = SignalEngine(
        HFTokenScorer(build_llama(len(tok), seed=5), tok), progress=False, cache=cache
    )
    other.compute(TEXTS[:1], stats=["token_log_prob"])
    assert other.n_forward_batches == 1
    # a different context or max_length never reads them either
    engine2 = SignalEngine(HFTokenScorer(model, tok), progress=False, cache=cache, max_length=64)
    engine2.compute(TEXTS[:1], stats=["token_log_prob"])
    assert engine2.n_forward_batches == 1


def test_duplicate_texts_scored_once_and_order_kept():
    tok = build_tokenizer(bos=True)
    engine = SignalEngine(HFTokenScorer(build_llama(len(tok)), tok), progress=False)
    texts = [TEXTS[0], TEXTS[1], TEXTS[0]]
    table = engine.compute(texts, stats=["token_log_prob"])
    np.testing.assert_array_equal(table.rows("token_log_prob")[0], table.rows("token_log_prob")[2])


def test_unknown_stat_is_an_error():
    tok = build_tokenizer(bos=True)
    engine = SignalEngine(HFTokenScorer(build_llama(len(tok)), tok), progress=False)
    with pytest.raises(InvalidParameterError, match="subset"):
        engine.compute(["hi"], stats=["token_logprob"])


@pytest.mark.parametrize("bos", [True, False])
def test_packed_rows_equal_padded_batches(bos):
    tok = build_tokenizer(bos=bos)
    model = build_llama(len(tok))
    texts = TEXTS * 3
    padded = SignalEngine(HFTokenScorer(model, tok), progress=False, packing="padded")
    packed = SignalEngine(
        HFTokenScorer(model, tok), progress=False, packing="packed", batch_tokens=48
    )
    a = padded.compute(texts, stats=TOKEN_STATS)
    b = packed.compute(texts, stats=TOKEN_STATS)
    assert packed.n_forward_batches > 1  # several rows, several samples per row
    np.testing.assert_array_equal(a.offsets, b.offsets)
    for stat in TOKEN_STATS:
        np.testing.assert_allclose(b.flat(stat), a.flat(stat), atol=1e-5, rtol=1e-5)
    # the packed model is left with its own attention implementation
    assert model.config._attn_implementation != "miakit_varlen"


def test_packing_refused_for_unknown_architectures():
    tok = build_tokenizer(bos=False)
    engine = SignalEngine(
        HFTokenScorer(build_gpt2(len(tok)), tok), progress=False, packing="packed"
    )
    with pytest.raises(InvalidParameterError, match="padded"):
        engine.compute(["hello there"], stats=["token_log_prob"])


def test_pack_rows_is_first_fit_decreasing():
    from miakit.signals.batching import pack_rows

    rows = pack_rows([5, 3, 8, 2, 9], row_tokens=10)
    assert rows == [[4], [2, 3], [0, 1]]
    assert sorted(i for r in rows for i in r) == list(range(5))
    assert pack_rows([12], row_tokens=10) == [[0]]


@pytest.mark.parametrize("bos", [True, False])
def test_prefix_reuse_equals_prepend_and_score(bos):
    tok = build_tokenizer(bos=bos)
    model = build_llama(len(tok))
    ctx = Context("shots", prefix="The cat sat on the mat. Berlin is a city. In 1969, the Moon.")
    texts = TEXTS * 2
    plain = SignalEngine(HFTokenScorer(model, tok), progress=False, prefix_reuse=False)
    reuse = SignalEngine(HFTokenScorer(model, tok), progress=False, batch_tokens=64)
    calls = []
    original = reuse.scorer.prefix_state
    reuse.scorer.prefix_state = lambda ids: calls.append(ids) or original(ids)  # type: ignore[method-assign]
    a = plain.compute(texts, stats=TOKEN_STATS, context=ctx)
    b = reuse.compute(texts, stats=TOKEN_STATS, context=ctx)
    assert len(calls) == 1 and reuse.n_forward_batches > 1  # prefix run once, many batches
    np.testing.assert_array_equal(a.offsets, b.offsets)
    for stat in TOKEN_STATS:
        np.testing.assert_allclose(b.flat(stat), a.flat(stat), atol=1e-5, rtol=1e-5)
    check_parity(model, tok, texts, b, lead=[0] if bos else [], context=ctx)


def test_packed_prefix_reuse_equals_prepend_and_score():
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    ctx = Context("shots", prefix="The cat sat on the mat. Berlin is a city. In 1969, the Moon.")
    texts = TEXTS * 2
    plain = SignalEngine(HFTokenScorer(model, tok), progress=False, prefix_reuse=False)
    reuse = SignalEngine(
        HFTokenScorer(model, tok), progress=False, packing="packed", batch_tokens=40
    )
    a = plain.compute(texts, stats=TOKEN_STATS, context=ctx)
    b = reuse.compute(texts, stats=TOKEN_STATS, context=ctx)
    assert reuse.n_forward_batches > 1
    np.testing.assert_array_equal(a.offsets, b.offsets)
    for stat in TOKEN_STATS:
        np.testing.assert_allclose(b.flat(stat), a.flat(stat), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bos", [True, False])
def test_tables_record_scored_text_tokens_and_characters(tmp_path, bos):
    """``text_start`` (first scored text token) and ``kept_chars`` (characters the kept tokens
    cover) under truncation, with and without a prefix, from a cold and a warm cache."""
    tok = build_tokenizer(bos=bos)
    scorer = HFTokenScorer(build_llama(len(tok)), tok)
    lead = [0] if bos else []
    for context in (PLAIN, Context("pre", prefix="the cat sat")):
        prefix_ids = (
            tok(context.prefix, add_special_tokens=False).input_ids if context.prefix else []
        )
        room = 12 - len(lead) - len(prefix_ids)
        cache = SignalCache(tmp_path / context.name)
        for _ in range(2):  # the second pass reads the cache
            engine = SignalEngine(scorer, progress=False, max_length=12, cache=cache)
            table = engine.compute(TEXTS, stats=["token_log_prob"], context=context)
            assert table.text_start is not None and table.kept_chars is not None
            start = 0 if lead or prefix_ids else 1
            assert table.text_start.tolist() == [start] * len(TEXTS)
            text_spans = table.text_spans()
            for i, text in enumerate(TEXTS):
                ids = tok(text, add_special_tokens=False).input_ids
                assert (text_spans[0][i], text_spans[1][i]) == (start, min(len(ids), room))
                decoded = tok.decode(ids[:room])
                if len(ids) <= room:
                    assert table.kept_chars[i] == len(text)
                elif text.startswith(decoded):
                    assert table.kept_chars[i] == len(decoded) < len(text)
                else:  # a character split over byte tokens: it counts as kept
                    assert len(decoded) <= table.kept_chars[i] < len(text)
        assert engine.n_forward_batches == 0
